//! The CIFAR-10 binary version: `data_batch_1.bin` .. `data_batch_5.bin` and `test_batch.bin`.
//!
//! Each record is one label byte followed by 3072 pixel bytes: the 1024 red, then green,
//! then blue values of a 32x32 image, each plane row-major. Records are copied unchanged,
//! so the pixels keep this plane-major order.

use std::path::{Path, PathBuf};

use super::files::{class_names, read_records, required_file};
use super::{DataError, Dataset, Split};

pub(crate) const LAYOUT: &str = "CIFAR-10 binary";
pub(crate) const LAYOUT_FILES: &str = "data_batch_1.bin .. data_batch_5.bin and test_batch.bin, \
     optional batches.meta.txt (directly or in cifar-10-batches-bin/)";

const SUBFOLDER: &str = "cifar-10-batches-bin";
const TRAIN_FILES: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST_FILE: &str = "test_batch.bin";
const NAMES_FILE: &str = "batches.meta.txt";
const SHIPPED_NAMES: &str = include_str!("../../assets/cifar10_label_names.txt");

const CLASSES: usize = 10;
const SIDE: usize = 32;
const PIXELS_LEN: usize = 3 * SIDE * SIDE;
const RECORD_LEN: usize = 1 + PIXELS_LEN;

/// Returns the folder holding the batch files when `dir` or its `cifar-10-batches-bin/`
/// subfolder contains any of them.
pub(crate) fn detect(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join(SUBFOLDER)]
        .into_iter()
        .find(|candidate| {
            TRAIN_FILES
                .iter()
                .chain([&TEST_FILE])
                .any(|name| candidate.join(name).is_file())
        })
}

/// Loads all six batch files from `root`.
pub(crate) fn load(root: &Path) -> Result<Dataset, DataError> {
    let mut train = Split::default();
    for name in TRAIN_FILES {
        let path = required_file(root, name, LAYOUT)?;
        read_batch(&path, &mut train)?;
    }

    let mut test = Split::default();
    let test_path = required_file(root, TEST_FILE, LAYOUT)?;
    read_batch(&test_path, &mut test)?;

    Ok(Dataset {
        name: "cifar10".to_owned(),
        classes: class_names(root, NAMES_FILE, SHIPPED_NAMES, CLASSES)?,
        channels: 3,
        height: SIDE,
        width: SIDE,
        train,
        test,
    })
}

/// Appends the records of one batch file to `split`.
fn read_batch(path: &Path, split: &mut Split) -> Result<(), DataError> {
    let bytes = read_records(path, RECORD_LEN, LAYOUT)?;
    let count = bytes.len() / RECORD_LEN;
    split.images.reserve(count * PIXELS_LEN);
    split.labels.reserve(count);

    for (index, record) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let label = u32::from(record[0]);
        if label as usize >= CLASSES {
            return Err(DataError::LabelOutOfRange {
                path: path.to_path_buf(),
                kind: "label",
                record: index,
                value: label,
                classes: CLASSES,
            });
        }
        split.labels.push(label);
        split.images.extend_from_slice(&record[1..]);
    }
    Ok(())
}
