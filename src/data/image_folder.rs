//! A folder of PNG or JPEG images: `train/<class>/*` and `test/<class>/*`.
//!
//! Classes are the class folder names in sorted order, and images within a class are in
//! sorted file-name order, so labels and image order do not depend on the file system.
//! Every image is decoded to 3-channel RGB. Names starting with `.` are skipped, and so are
//! files whose extension is not `.png`, `.jpg` or `.jpeg` (in any letter case).

use std::ffi::OsStr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use super::files::read_file;
use super::{DataError, Dataset, Split};

pub(crate) const LAYOUT: &str = "image folder";
pub(crate) const LAYOUT_FILES: &str =
    "train/<class>/*.png|*.jpg|*.jpeg and test/<class>/*.png|*.jpg|*.jpeg, one folder per class";

const CHANNELS: usize = 3;
const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

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
    let test_classes = class_folders(&test_dir)?;
    check_same_classes(&train_dir, &classes, &test_dir, &test_classes)?;

    let train_files = image_files(&train_dir, &classes)?;
    let test_files = image_files(&test_dir, &classes)?;
    let (height, width) = match expected_size {
        Some(size) => size,
        None => image_size(&train_files[0].0)?,
    };

    Ok(Dataset {
        name: "image-folder".to_owned(),
        classes,
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

/// Lists the entries of `dir` that are not hidden, sorted by name.
fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf)>, DataError> {
    let read_error = |source| DataError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            entries.push((name, entry.path()));
        }
    }
    entries.sort();
    Ok(entries)
}

/// Returns the sorted names of the class folders in a split folder.
fn class_folders(split_dir: &Path) -> Result<Vec<String>, DataError> {
    let entries = sorted_entries(split_dir)?;
    let folders = entries
        .into_iter()
        .filter(|(_, path)| path.is_dir())
        .map(|(name, _)| name)
        .collect();
    Ok(folders)
}

fn check_same_classes(
    train_dir: &Path,
    train_classes: &[String],
    test_dir: &Path,
    test_classes: &[String],
) -> Result<(), DataError> {
    let missing_in_test: Vec<String> = train_classes
        .iter()
        .filter(|class| !test_classes.contains(class))
        .cloned()
        .collect();
    let extra_in_test: Vec<String> = test_classes
        .iter()
        .filter(|class| !train_classes.contains(class))
        .cloned()
        .collect();
    if missing_in_test.is_empty() && extra_in_test.is_empty() {
        return Ok(());
    }
    Err(DataError::ClassMismatch {
        train_dir: train_dir.to_path_buf(),
        test_dir: test_dir.to_path_buf(),
        missing_in_test,
        extra_in_test,
    })
}

fn is_image_file(path: &Path) -> bool {
    let extension = path.extension().and_then(OsStr::to_str).unwrap_or("");
    path.is_file()
        && EXTENSIONS
            .iter()
            .any(|known| extension.eq_ignore_ascii_case(known))
}

/// Lists every image of every class as `(path, label)`, classes in label order and files in
/// sorted order within a class.
fn image_files(split_dir: &Path, classes: &[String]) -> Result<Vec<(PathBuf, u32)>, DataError> {
    let mut files = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let class_dir = split_dir.join(class);
        let before = files.len();
        for (_, path) in sorted_entries(&class_dir)? {
            if is_image_file(&path) {
                files.push((path, label as u32));
            }
        }
        if files.len() == before {
            return Err(DataError::EmptyClass { path: class_dir });
        }
    }
    Ok(files)
}

/// Reads the `(height, width)` of an image from its header without decoding the pixels.
fn image_size(path: &Path) -> Result<(usize, usize), DataError> {
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
    Ok((height as usize, width as usize))
}

/// Decodes every file into one split, spreading contiguous runs of files over the available
/// cores. Image order is file order whatever the thread count, and when several files fail,
/// the error is that of the first failing file in that order.
fn decode_all(files: &[(PathBuf, u32)], height: usize, width: usize) -> Result<Split, DataError> {
    let image_len = CHANNELS * height * width;
    let mut images = vec![0u8; files.len() * image_len];
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
/// bytes.
fn decode_into(
    path: &Path,
    height: usize,
    width: usize,
    output: &mut [u8],
) -> Result<(), DataError> {
    let bytes = read_file(path)?;
    let decoded = image::load_from_memory(&bytes).map_err(|source| DataError::Decode {
        path: path.to_path_buf(),
        source,
    })?;
    if decoded.height() as usize != height || decoded.width() as usize != width {
        return Err(DataError::ImageSize {
            path: path.to_path_buf(),
            width: decoded.width() as usize,
            height: decoded.height() as usize,
            expected_width: width,
            expected_height: height,
        });
    }

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
