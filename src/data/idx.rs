//! Fashion-MNIST in the IDX format of MNIST, plain or gzip-compressed.
//!
//! An IDX file starts with a big-endian magic number (0x00000803 for a 3-D array of
//! unsigned bytes, 0x00000801 for a 1-D one) and one big-endian u32 size per dimension,
//! followed by the bytes in row-major order. Image files are `count x rows x cols`, label
//! files are `count`.
//!
//! Each file may be plain or gzipped (`.gz`). When both forms of a file exist, the plain one
//! is read.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

use super::files::read_file;
use super::{DataError, Dataset, Split};

pub(crate) const LAYOUT: &str = "Fashion-MNIST IDX";
pub(crate) const LAYOUT_FILES: &str = "train-images-idx3-ubyte, train-labels-idx1-ubyte, \
     t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each optionally gzipped (.gz)";

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;
const IMAGES_HEADER_LEN: usize = 16;
const LABELS_HEADER_LEN: usize = 8;

/// Class names of Fashion-MNIST, index = label.
const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Returns `dir` when it contains any of the four IDX files, plain or gzipped.
pub(crate) fn detect(dir: &Path) -> Option<PathBuf> {
    let found = [TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS]
        .iter()
        .any(|name| dir.join(name).is_file() || dir.join(format!("{name}.gz")).is_file());
    found.then(|| dir.to_path_buf())
}

/// Loads the train and test images and labels from `root`.
pub(crate) fn load(root: &Path) -> Result<Dataset, DataError> {
    let train_images = require(root, TRAIN_IMAGES)?;
    let train_labels = require(root, TRAIN_LABELS)?;
    let test_images = require(root, TEST_IMAGES)?;
    let test_labels = require(root, TEST_LABELS)?;

    let (train, train_height, train_width) = read_split(&train_images, &train_labels)?;
    let (test, test_height, test_width) = read_split(&test_images, &test_labels)?;
    if (test_height, test_width) != (train_height, train_width) {
        return Err(DataError::IdxShapeMismatch {
            train_path: train_images,
            train_height,
            train_width,
            test_path: test_images,
            test_height,
            test_width,
        });
    }

    Ok(Dataset {
        name: "fashion-mnist".to_owned(),
        classes: CLASS_NAMES.iter().map(|name| name.to_string()).collect(),
        channels: 1,
        height: train_height,
        width: train_width,
        train,
        test,
    })
}

/// Returns the path of `name` or `name.gz` in `dir`. When both exist, as `gunzip --keep`
/// leaves them, the uncompressed file is used and an info message names both.
fn find_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let plain = dir.join(name);
    let gzipped = dir.join(format!("{name}.gz"));
    match (plain.is_file(), gzipped.is_file()) {
        (true, true) => {
            log::info!(
                "both {} and {} exist; using the uncompressed {}",
                plain.display(),
                gzipped.display(),
                plain.display()
            );
            Some(plain)
        }
        (true, false) => Some(plain),
        (false, true) => Some(gzipped),
        (false, false) => None,
    }
}

fn require(dir: &Path, name: &str) -> Result<PathBuf, DataError> {
    find_file(dir, name).ok_or_else(|| DataError::MissingFile {
        path: dir.join(name),
        layout: LAYOUT,
    })
}

/// Reads an images file and its labels file, returning the split and the image height and
/// width.
fn read_split(images_path: &Path, labels_path: &Path) -> Result<(Split, usize, usize), DataError> {
    let images = read_decompressed(images_path)?;
    let image_dims = parse_header(images_path, &images, IMAGES_MAGIC, "image", 3)?;
    let (image_count, height, width) = (image_dims[0], image_dims[1], image_dims[2]);

    let labels = read_decompressed(labels_path)?;
    let label_count = parse_header(labels_path, &labels, LABELS_MAGIC, "label", 1)?[0];
    if label_count != image_count {
        return Err(DataError::IdxCountMismatch {
            images_path: images_path.to_path_buf(),
            image_count,
            labels_path: labels_path.to_path_buf(),
            label_count,
        });
    }

    let mut split = Split {
        images: images[IMAGES_HEADER_LEN..].to_vec(),
        labels: Vec::with_capacity(label_count),
    };
    for (index, &byte) in labels[LABELS_HEADER_LEN..].iter().enumerate() {
        let label = u32::from(byte);
        if label as usize >= CLASS_NAMES.len() {
            return Err(DataError::LabelOutOfRange {
                path: labels_path.to_path_buf(),
                kind: "label",
                record: index,
                value: label,
                classes: CLASS_NAMES.len(),
            });
        }
        split.labels.push(label);
    }
    Ok((split, height, width))
}

fn is_gzipped(path: &Path) -> bool {
    path.extension().is_some_and(|extension| extension == "gz")
}

/// Reads a file, gunzipping it when its name ends in `.gz`.
fn read_decompressed(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = read_file(path)?;
    if !is_gzipped(path) {
        return Ok(raw);
    }

    let mut bytes = Vec::new();
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut bytes)
        .map_err(|source| DataError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

/// Checks the magic number and the total size of an IDX file of unsigned bytes with `rank`
/// dimensions, returning the dimension sizes. `bytes` are the decompressed contents of
/// `path`.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    kind: &'static str,
    rank: usize,
) -> Result<Vec<usize>, DataError> {
    let size_error = |expected: u64| DataError::IdxSize {
        path: path.to_path_buf(),
        size: bytes.len() as u64,
        expected,
        decompressed: is_gzipped(path),
    };

    let header_len = 4 + 4 * rank;
    if bytes.len() < header_len {
        return Err(size_error(header_len as u64));
    }

    let found = read_u32_be(bytes, 0);
    if found != magic {
        return Err(DataError::IdxMagic {
            path: path.to_path_buf(),
            found,
            expected: magic,
            kind,
        });
    }

    let dims: Vec<u32> = (0..rank)
        .map(|dim| read_u32_be(bytes, 4 + 4 * dim))
        .collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |total, &dim| total.checked_mul(u64::from(dim)))
        .and_then(|data_len| data_len.checked_add(header_len as u64));
    let Some(expected) = expected else {
        return Err(DataError::IdxSizeOverflow {
            path: path.to_path_buf(),
            dims,
        });
    };
    if bytes.len() as u64 != expected {
        return Err(size_error(expected));
    }
    Ok(dims.into_iter().map(|dim| dim as usize).collect())
}

fn read_u32_be(bytes: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes([
        bytes[offset],
        bytes[offset + 1],
        bytes[offset + 2],
        bytes[offset + 3],
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(magic: u32, dims: &[u32]) -> Vec<u8> {
        let mut bytes = magic.to_be_bytes().to_vec();
        for dim in dims {
            bytes.extend(dim.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn header_with_overflowing_dims_fails() {
        let bytes = header(IMAGES_MAGIC, &[u32::MAX, u32::MAX, u32::MAX]);
        let error = parse_header(Path::new("x"), &bytes, IMAGES_MAGIC, "image", 3).unwrap_err();
        assert!(
            matches!(&error, DataError::IdxSizeOverflow { dims, .. } if dims == &[u32::MAX; 3]),
            "{error:?}"
        );
    }

    #[test]
    fn header_with_huge_dims_reports_real_size() {
        // 60000 * 60000 * 60000 = 2.16e14 bytes, plus the 16-byte header.
        let bytes = header(IMAGES_MAGIC, &[60_000, 60_000, 60_000]);
        let error = parse_header(Path::new("x"), &bytes, IMAGES_MAGIC, "image", 3).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::IdxSize {
                    expected: 216_000_000_000_016,
                    decompressed: false,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn header_shorter_than_dims_fails() {
        let bytes = header(LABELS_MAGIC, &[]);
        let error = parse_header(Path::new("x"), &bytes, LABELS_MAGIC, "label", 1).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::IdxSize {
                    size: 4,
                    expected: 8,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn header_returns_dims() {
        let mut bytes = header(IMAGES_MAGIC, &[2, 1, 3]);
        bytes.extend([0u8; 6]);
        let dims = parse_header(Path::new("x"), &bytes, IMAGES_MAGIC, "image", 3).unwrap();
        assert_eq!(dims, vec![2, 1, 3]);
    }
}
