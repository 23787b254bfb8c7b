//! A folder of PNG or JPEG images: `train/<class>/*` and `test/<class>/*`.
//!
//! Classes are the class folder names of `train/` sorted by their bytes, and images within a
//! class are in sorted file-name order, so labels and image order do not depend on the file
//! system. A folder name that is not valid UTF-8 is still read through its real path, and its
//! class name is the lossy UTF-8 form, with U+FFFD in place of invalid bytes.
//!
//! Every training class needs at least one image, and there must be at least 2 classes. The
//! test split may lack some classes, as a missing or empty folder, and a warning names them.
//! A test class folder without a training class folder is an error.
//!
//! Every image is decoded to 3-channel RGB and must have the size of the first training
//! image, which is at most [`MAX_IMAGE_SIDE`] pixels per side. Names starting with `.` are
//! skipped, and so are files whose extension is not `.png`, `.jpg` or `.jpeg` (in any letter
//! case).

use std::ffi::{OsStr, OsString};
use std::io::Cursor;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use image::ImageDecoder;

use super::files::read_file;
use super::{DataError, Dataset, Split};

pub(crate) const LAYOUT: &str = "image folder";
pub(crate) const LAYOUT_FILES: &str =
    "train/<class>/*.png|*.jpg|*.jpeg and test/<class>/*.png|*.jpg|*.jpeg, one folder per class";

/// Largest width or height accepted for an image, in pixels. CIFAR-style training uses
/// images of tens to a few hundred pixels per side, far below this, and the limit stops a
/// corrupt or hostile header from sizing a split buffer of many gigabytes.
pub(crate) const MAX_IMAGE_SIDE: usize = 1024;

const CHANNELS: usize = 3;
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// A class folder of one split.
struct ClassFolder {
    /// Folder name as stored on disk, used to match train and test folders.
    file_name: OsString,
    /// Class name: `file_name` as lossy UTF-8.
    name: String,
    path: PathBuf,
}

/// Returns `dir` when it contains a `train/` or `test/` folder.
pub(crate) fn detect(dir: &Path) -> Option<PathBuf> {
    let found = dir.join("train").is_dir() || dir.join("test").is_dir();
    found.then(|| dir.to_path_buf())
}

/// Loads both splits from `root`. `expected_size` is the required `(height, width)`; when it
/// is `None`, the size of the first training image is required of all the others.
pub(crate) fn load(
    root: &Path,
    expected_size: Option<(usize, usize)>,
) -> Result<Dataset, DataError> {
    let train_dir = split_dir(root, "train")?;
    let test_dir = split_dir(root, "test")?;

    let classes = class_folders(&train_dir)?;
    if classes.is_empty() {
        return Err(DataError::NoClasses { dir: train_dir });
    }
    if classes.len() < 2 {
        return Err(DataError::TooFewClasses {
            layout: LAYOUT,
            dir: train_dir,
            found: classes.len(),
            classes: classes.into_iter().map(|class| class.name).collect(),
        });
    }
    let test_classes = class_folders(&test_dir)?;
    check_test_classes(&train_dir, &classes, &test_dir, &test_classes)?;

    let train_files = train_image_files(&classes)?;
    let test_files = test_image_files(&test_dir, &classes, &test_classes)?;
    let (height, width) = first_image_size(&train_files[0].0, expected_size)?;

    Ok(Dataset {
        name: "image-folder".to_owned(),
        classes: classes.into_iter().map(|class| class.name).collect(),
        channels: CHANNELS,
        height,
        width,
        train: decode_all(&train_files, height, width)?,
        test: decode_all(&test_files, height, width)?,
    })
}

fn split_dir(root: &Path, name: &str) -> Result<PathBuf, DataError> {
    let dir = root.join(name);
    if dir.is_dir() {
        Ok(dir)
    } else {
        Err(DataError::MissingFile {
            path: dir,
            layout: LAYOUT,
        })
    }
}

/// Lists the entries of `dir` whose names do not start with `.`, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<(OsString, PathBuf)>, DataError> {
    let read_error = |source| DataError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let file_name = entry.file_name();
        if !file_name.as_encoded_bytes().starts_with(b".") {
            entries.push((file_name, entry.path()));
        }
    }
    entries.sort();
    Ok(entries)
}

/// Returns the class folders of a split folder, sorted by name.
fn class_folders(split_dir: &Path) -> Result<Vec<ClassFolder>, DataError> {
    let entries = sorted_entries(split_dir)?;
    let folders = entries
        .into_iter()
        .filter(|(_, path)| path.is_dir())
        .map(|(file_name, path)| ClassFolder {
            name: file_name.to_string_lossy().into_owned(),
            file_name,
            path,
        })
        .collect();
    Ok(folders)
}

/// Rejects test class folders that have no training class folder of the same name.
fn check_test_classes(
    train_dir: &Path,
    train_classes: &[ClassFolder],
    test_dir: &Path,
    test_classes: &[ClassFolder],
) -> Result<(), DataError> {
    let extra_in_test: Vec<String> = test_classes
        .iter()
        .filter(|test| find_class(train_classes, &test.file_name).is_none())
        .map(|test| test.name.clone())
        .collect();
    if extra_in_test.is_empty() {
        return Ok(());
    }
    Err(DataError::TestClassNotInTrain {
        train_dir: train_dir.to_path_buf(),
        test_dir: test_dir.to_path_buf(),
        extra_in_test,
    })
}

fn find_class<'a>(classes: &'a [ClassFolder], file_name: &OsStr) -> Option<&'a ClassFolder> {
    classes.iter().find(|class| class.file_name == file_name)
}

fn is_image_file(path: &Path) -> bool {
    let extension = path.extension().and_then(OsStr::to_str).unwrap_or("");
    path.is_file()
        && EXTENSIONS
            .iter()
            .any(|known| extension.eq_ignore_ascii_case(known))
}

/// Lists the images of one class folder in sorted order.
fn class_images(class_dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let images = sorted_entries(class_dir)?
        .into_iter()
        .map(|(_, path)| path)
        .filter(|path| is_image_file(path))
        .collect();
    Ok(images)
}

/// Lists every training image as `(path, label)`, classes in label order and files in
/// sorted order within a class. A class folder without images is an error.
fn train_image_files(classes: &[ClassFolder]) -> Result<Vec<(PathBuf, u32)>, DataError> {
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let images = class_images(&class.path)?;
        if images.is_empty() {
            return Err(DataError::EmptyClass {
                path: class.path.clone(),
            });
        }
        files.extend(images.into_iter().map(|path| (path, label as u32)));
    }
    Ok(files)
}

/// Lists every test image as `(path, label)`, labelled by the training class of the same
/// folder name. Training classes whose test folder is missing or has no images are logged
/// as a warning.
fn test_image_files(
    test_dir: &Path,
    train_classes: &[ClassFolder],
    test_classes: &[ClassFolder],
) -> Result<Vec<(PathBuf, u32)>, DataError> {
    let mut files = Vec::new();
    let mut classes_without_images = Vec::new();
    for (label, class) in train_classes.iter().enumerate() {
        let images = match find_class(test_classes, &class.file_name) {
            Some(test_class) => class_images(&test_class.path)?,
            None => Vec::new(),
        };
        if images.is_empty() {
            classes_without_images.push(class.name.as_str());
        }
        files.extend(images.into_iter().map(|path| (path, label as u32)));
    }

    if !classes_without_images.is_empty() {
        log::warn!(
            "{} has no test images for {} of {} classes: [{}]; test accuracy covers only the \
             other classes",
            test_dir.display(),
            classes_without_images.len(),
            train_classes.len(),
            classes_without_images.join(", ")
        );
    }
    Ok(files)
}

/// Reads the `(height, width)` of an image from its header without decoding the pixels, and
/// rejects sizes above [`MAX_IMAGE_SIDE`] and sizes other than `expected_size`.
fn first_image_size(
    path: &Path,
    expected_size: Option<(usize, usize)>,
) -> Result<(usize, usize), DataError> {
    let read_error = |source| DataError::Read {
        path: path.to_path_buf(),
        source,
    };
    let (width, height) = image::ImageReader::open(path)
        .map_err(read_error)?
        .with_guessed_format()
        .map_err(read_error)?
        .into_dimensions()
        .map_err(|source| DataError::Decode {
            path: path.to_path_buf(),
            source,
        })?;
    let (height, width) = (height as usize, width as usize);

    if height > MAX_IMAGE_SIDE || width > MAX_IMAGE_SIDE {
        return Err(DataError::ImageTooLarge {
            path: path.to_path_buf(),
            width,
            height,
            max_side: MAX_IMAGE_SIDE,
        });
    }
    if let Some((expected_height, expected_width)) = expected_size {
        if (height, width) != (expected_height, expected_width) {
            return Err(DataError::ImageSize {
                path: path.to_path_buf(),
                width,
                height,
                expected_width,
                expected_height,
            });
        }
    }
    Ok((height, width))
}

/// Allocates the zeroed pixel buffer of `count` images, returning an error instead of
/// aborting when the size overflows or the allocator fails.
fn allocate_images(count: usize, height: usize, width: usize) -> Result<Vec<u8>, DataError> {
    let bytes = CHANNELS
        .checked_mul(height)
        .and_then(|len| len.checked_mul(width))
        .and_then(|len| len.checked_mul(count))
        .ok_or(DataError::ImagesSizeOverflow {
            count,
            width,
            height,
            channels: CHANNELS,
        })?;

    let mut images = Vec::new();
    images
        .try_reserve_exact(bytes)
        .map_err(|source| DataError::ImagesAllocation {
            count,
            width,
            height,
            channels: CHANNELS,
            bytes,
            source,
        })?;
    images.resize(bytes, 0);
    Ok(images)
}

/// Decodes every file into one split, spreading contiguous runs of files over the available
/// cores. Image order is file order whatever the thread count, and when several files fail,
/// the error is that of the first failing file in that order.
fn decode_all(files: &[(PathBuf, u32)], height: usize, width: usize) -> Result<Split, DataError> {
    let image_len = CHANNELS * height * width;
    let mut images = allocate_images(files.len(), height, width)?;
    let labels = files.iter().map(|&(_, label)| label).collect();
    if files.is_empty() {
        return Ok(Split { images, labels });
    }

    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(files.len());
    let files_per_thread = files.len().div_ceil(threads);
    let results: Vec<Result<(), DataError>> = std::thread::scope(|scope| {
        let workers: Vec<_> = files
            .chunks(files_per_thread)
            .zip(images.chunks_mut(files_per_thread * image_len))
            .map(|(chunk, output)| {
                scope.spawn(move || {
                    for ((path, _), slot) in chunk.iter().zip(output.chunks_exact_mut(image_len)) {
                        decode_into(path, height, width, slot)?;
                    }
                    Ok(())
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("an image decoding thread panicked"))
            .collect()
    });
    results.into_iter().collect::<Result<(), _>>()?;

    Ok(Split { images, labels })
}

/// Decodes one image into `output` as three planes (red, green, blue) of `height x width`
/// bytes. The size in the header is checked before the pixels are decoded.
fn decode_into(
    path: &Path,
    height: usize,
    width: usize,
    output: &mut [u8],
) -> Result<(), DataError> {
    let bytes = read_file(path)?;
    let decode_error = |source| DataError::Decode {
        path: path.to_path_buf(),
        source,
    };
    let decoder = image::ImageReader::new(Cursor::new(bytes.as_slice()))
        .with_guessed_format()
        .map_err(|source| DataError::Read {
            path: path.to_path_buf(),
            source,
        })?
        .into_decoder()
        .map_err(decode_error)?;

    let (decoded_width, decoded_height) = decoder.dimensions();
    if decoded_height as usize != height || decoded_width as usize != width {
        return Err(DataError::ImageSize {
            path: path.to_path_buf(),
            width: decoded_width as usize,
            height: decoded_height as usize,
            expected_width: width,
            expected_height: height,
        });
    }
    let decoded = image::DynamicImage::from_decoder(decoder).map_err(decode_error)?;

    let rgb = decoded.into_rgb8();
    let plane_len = height * width;
    let (red, rest) = output.split_at_mut(plane_len);
    let (green, blue) = rest.split_at_mut(plane_len);
    for (index, pixel) in rgb.pixels().enumerate() {
        red[index] = pixel[0];
        green[index] = pixel[1];
        blue[index] = pixel[2];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_allocation_overflow_fails() {
        let error = allocate_images(usize::MAX, 2, 2).unwrap_err();
        assert!(
            matches!(
                error,
                DataError::ImagesSizeOverflow {
                    count: usize::MAX,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    /// A size that fits in usize but exceeds `isize::MAX`, which no `Vec` can hold, so the
    /// reservation fails on every allocator.
    #[test]
    fn image_allocation_failure_is_error() {
        let count = usize::MAX / (CHANNELS * 4) - 1;
        let error = allocate_images(count, 2, 2).unwrap_err();
        assert!(
            matches!(error, DataError::ImagesAllocation { bytes, .. } if bytes == count * 12),
            "{error:?}"
        );
        assert!(error.to_string().contains(&format!("{count} images")));
    }

    #[test]
    fn image_allocation_is_zeroed() {
        let images = allocate_images(3, 2, 5).unwrap();
        assert_eq!(images, vec![0u8; 90]);
    }
}
