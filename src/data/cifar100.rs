//! The CIFAR-100 binary version: `train.bin` and `test.bin`.
//!
//! Each record is a coarse label byte (0..20), a fine label byte (0..100), then 3072 pixel
//! bytes in the same plane-major order as CIFAR-10.

use std::path::{Path, PathBuf};

use super::files::{class_names, read_records, required_file};
use super::{DataError, Dataset, LabelMode, Split};

pub(crate) const LAYOUT: &str = "CIFAR-100 binary";
pub(crate) const LAYOUT_FILES: &str = "train.bin and test.bin, optional fine_label_names.txt \
     and coarse_label_names.txt (directly or in cifar-100-binary/)";

const SUBFOLDER: &str = "cifar-100-binary";
const TRAIN_FILE: &str = "train.bin";
const TEST_FILE: &str = "test.bin";
const FINE_NAMES_FILE: &str = "fine_label_names.txt";
const COARSE_NAMES_FILE: &str = "coarse_label_names.txt";
const SHIPPED_FINE_NAMES: &str = include_str!("../../assets/cifar100_fine_label_names.txt");
const SHIPPED_COARSE_NAMES: &str = include_str!("../../assets/cifar100_coarse_label_names.txt");

const FINE_CLASSES: usize = 100;
const COARSE_CLASSES: usize = 20;
const SIDE: usize = 32;
const PIXELS_LEN: usize = 3 * SIDE * SIDE;
const RECORD_LEN: usize = 2 + PIXELS_LEN;

/// Returns the folder holding `train.bin` or `test.bin`: `dir` itself or its
/// `cifar-100-binary/` subfolder.
pub(crate) fn detect(dir: &Path) -> Option<PathBuf> {
    [dir.to_path_buf(), dir.join(SUBFOLDER)]
        .into_iter()
        .find(|candidate| {
            candidate.join(TRAIN_FILE).is_file() || candidate.join(TEST_FILE).is_file()
        })
}

/// Loads both splits from `root`, labelling each image with its fine or coarse class.
pub(crate) fn load(root: &Path, label_mode: LabelMode) -> Result<Dataset, DataError> {
    let train_path = required_file(root, TRAIN_FILE, LAYOUT)?;
    let test_path = required_file(root, TEST_FILE, LAYOUT)?;
    let train = read_split(&train_path, label_mode)?;
    let test = read_split(&test_path, label_mode)?;

    let classes = match label_mode {
        LabelMode::Fine => class_names(root, FINE_NAMES_FILE, SHIPPED_FINE_NAMES, FINE_CLASSES)?,
        LabelMode::Coarse => class_names(
            root,
            COARSE_NAMES_FILE,
            SHIPPED_COARSE_NAMES,
            COARSE_CLASSES,
        )?,
    };

    Ok(Dataset {
        name: "cifar100".to_owned(),
        classes,
        channels: 3,
        height: SIDE,
        width: SIDE,
        train,
        test,
    })
}

/// Reads one split file. Both label bytes of every record are checked, whichever one
/// `label_mode` keeps, because a bad byte in either means the file is corrupt.
fn read_split(path: &Path, label_mode: LabelMode) -> Result<Split, DataError> {
    let bytes = read_records(path, RECORD_LEN, LAYOUT)?;
    let count = bytes.len() / RECORD_LEN;
    let mut split = Split {
        images: Vec::with_capacity(count * PIXELS_LEN),
        labels: Vec::with_capacity(count),
    };

    for (index, record) in bytes.chunks_exact(RECORD_LEN).enumerate() {
        let coarse = check_label(path, "coarse label", index, record[0], COARSE_CLASSES)?;
        let fine = check_label(path, "fine label", index, record[1], FINE_CLASSES)?;
        split.labels.push(match label_mode {
            LabelMode::Fine => fine,
            LabelMode::Coarse => coarse,
        });
        split.images.extend_from_slice(&record[2..]);
    }
    Ok(split)
}

fn check_label(
    path: &Path,
    kind: &'static str,
    record: usize,
    byte: u8,
    classes: usize,
) -> Result<u32, DataError> {
    let value = u32::from(byte);
    if (value as usize) < classes {
        Ok(value)
    } else {
        Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            kind,
            record,
            value,
            classes,
        })
    }
}
