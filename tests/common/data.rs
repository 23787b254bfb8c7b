//! Small subsets of the real CIFAR-10 images for tests.
//!
//! The images come from a tarball of the 60,000 CIFAR-10 images as JPEG files, laid out as
//! `train/<class>/0000.jpg ..` and `test/<class>/0000.jpg ..`, kept in the shared data
//! folder beside the repository. Include this file with
//! `#[path = "common/data.rs"] mod common_data;`.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

/// Location of the CIFAR-10 JPEG tarball, relative to the crate root.
#[allow(dead_code)]
pub const CIFAR10_ARCHIVE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/data/cifar10-jpeg/cifar10-jpeg.tar.gz"
);

/// Unpacks the first `train_per_class` training and `test_per_class` test images of every
/// CIFAR-10 class into a new temporary folder in the image-folder layout.
///
/// "First" follows archive order, which is sorted by file name. Returns `None` after
/// printing the reason to stderr when the archive is missing, unless the environment
/// variable `CI` is `true`, in which case it panics because CI must run these tests.
#[allow(dead_code)]
pub fn cifar10_subset(train_per_class: usize, test_per_class: usize) -> Option<tempfile::TempDir> {
    let archive_path = Path::new(CIFAR10_ARCHIVE);
    if !archive_path.is_file() {
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!(
                "the CIFAR-10 archive {} is required in CI but is missing",
                archive_path.display()
            );
        }
        eprintln!(
            "skipping: the CIFAR-10 archive {} is missing",
            archive_path.display()
        );
        return None;
    }

    let output = tempfile::tempdir().expect("failed to create a temporary folder");
    let archive_file = File::open(archive_path)
        .unwrap_or_else(|error| panic!("failed to open {}: {error}", archive_path.display()));
    let mut archive = tar::Archive::new(GzDecoder::new(archive_file));
    let mut unpacked: HashMap<PathBuf, usize> = HashMap::new();

    for entry in archive
        .entries()
        .expect("failed to read the CIFAR-10 archive")
    {
        let mut entry = entry.expect("failed to read an entry of the CIFAR-10 archive");
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .expect("archive entry has an invalid path")
            .into_owned();
        let Some(class_dir) = path.parent() else {
            continue;
        };
        let limit = match path.components().next() {
            Some(split) if split.as_os_str() == "train" => train_per_class,
            Some(split) if split.as_os_str() == "test" => test_per_class,
            _ => continue,
        };

        let count = unpacked.entry(class_dir.to_path_buf()).or_insert(0);
        if *count >= limit {
            continue;
        }
        *count += 1;
        let target = output.path().join(&path);
        std::fs::create_dir_all(target.parent().expect("archive entry has a parent folder"))
            .expect("failed to create a class folder");
        entry
            .unpack(&target)
            .unwrap_or_else(|error| panic!("failed to unpack {}: {error}", path.display()));
    }
    Some(output)
}
