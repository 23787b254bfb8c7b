//! Errors raised while finding and parsing a dataset on disk.

use std::io;
use std::path::PathBuf;

/// A dataset that could not be found, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("dataset directory {} does not exist or is not a directory", dir.display())]
    DirNotFound { dir: PathBuf },

    #[error(
        "no dataset found in {}; put the files of one of these layouts there:\n{}",
        dir.display(),
        layouts.join("\n")
    )]
    NoLayout {
        dir: PathBuf,
        /// One line per layout looked for, naming the files it expects.
        layouts: Vec<String>,
    },

    #[error("{} is missing but the {layout} layout requires it; add it", path.display())]
    MissingFile { path: PathBuf, layout: &'static str },

    #[error("failed to read {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },

    #[error(
        "{} is {size} bytes, which is not a whole number of {record_len}-byte {format} records \
         ({} whole records would be {} bytes); the file is truncated or not in that format",
        path.display(),
        size / *record_len as u64,
        size / *record_len as u64 * *record_len as u64
    )]
    RecordSize {
        path: PathBuf,
        size: u64,
        record_len: usize,
        format: &'static str,
    },

    #[error("{} contains no records; replace it with a complete copy", path.display())]
    EmptyFile { path: PathBuf },

    #[error(
        "{kind} {value} in record {record} of {} is out of range; valid values are 0..={}",
        path.display(),
        classes - 1
    )]
    LabelOutOfRange {
        path: PathBuf,
        /// Label byte of the record: "label", "coarse label" or "fine label".
        kind: &'static str,
        record: usize,
        value: u32,
        classes: usize,
    },

    #[error(
        "{} lists {found} class names but the dataset has {expected} classes; \
         write one name per line",
        path.display()
    )]
    ClassNameCount {
        path: PathBuf,
        found: usize,
        expected: usize,
    },

    #[error(
        "{} has IDX magic number {found:#010x}, expected {expected:#010x} for an IDX {kind} \
         file; the file is corrupt or contains other data",
        path.display()
    )]
    IdxMagic {
        path: PathBuf,
        found: u32,
        expected: u32,
        kind: &'static str,
    },

    #[error(
        "{} is {size} bytes{} but its IDX header implies {expected} bytes; \
         the file is truncated or corrupt",
        path.display(),
        if *decompressed { " after decompression" } else { "" }
    )]
    IdxSize {
        path: PathBuf,
        size: u64,
        expected: u64,
        /// Whether `size` counts the bytes of a gunzipped `.gz` file.
        decompressed: bool,
    },

    #[error(
        "{} has IDX dimensions {}, whose total size overflows a 64-bit byte count; \
         the file is corrupt",
        path.display(),
        dims.iter().map(u32::to_string).collect::<Vec<_>>().join(" x ")
    )]
    IdxSizeOverflow { path: PathBuf, dims: Vec<u32> },

    #[error(
        "{} contains {image_count} images but {} contains {label_count} labels; \
         both files must come from the same split",
        images_path.display(),
        labels_path.display()
    )]
    IdxCountMismatch {
        images_path: PathBuf,
        image_count: usize,
        labels_path: PathBuf,
        label_count: usize,
    },

    #[error(
        "{} contains {test_height}x{test_width} images but {} contains {train_height}x{train_width}; \
         train and test images must have one size",
        test_path.display(),
        train_path.display()
    )]
    IdxShapeMismatch {
        train_path: PathBuf,
        train_height: usize,
        train_width: usize,
        test_path: PathBuf,
        test_height: usize,
        test_width: usize,
    },

    #[error("failed to decode image {}: {source}", path.display())]
    Decode {
        path: PathBuf,
        source: image::ImageError,
    },

    #[error(
        "image {} is {width}x{height} pixels (width x height), expected \
         {expected_width}x{expected_height}; resize it or remove it",
        path.display()
    )]
    ImageSize {
        path: PathBuf,
        width: usize,
        height: usize,
        expected_width: usize,
        expected_height: usize,
    },

    #[error(
        "image {} is {width}x{height} pixels (width x height), above the maximum of \
         {max_side} pixels per side; the image folder layout is meant for small training \
         images, so resize it or remove it",
        path.display()
    )]
    ImageTooLarge {
        path: PathBuf,
        width: usize,
        height: usize,
        max_side: usize,
    },

    #[error(
        "failed to allocate {bytes} bytes for {count} images of {width}x{height} pixels with \
         {channels} channels: {source}; use fewer or smaller images"
    )]
    ImagesAllocation {
        count: usize,
        width: usize,
        height: usize,
        channels: usize,
        bytes: usize,
        source: std::collections::TryReserveError,
    },

    #[error(
        "{count} images of {width}x{height} pixels with {channels} channels need a byte count \
         that overflows usize; use fewer or smaller images"
    )]
    ImagesSizeOverflow {
        count: usize,
        width: usize,
        height: usize,
        channels: usize,
    },

    #[error("{} has no class folders; put each class's images in train/<class>/", dir.display())]
    NoClasses { dir: PathBuf },

    #[error(
        "the {layout} dataset in {} has {found} class(es) [{}], but training needs at least 2 \
         classes; add a class",
        dir.display(),
        classes.join(", ")
    )]
    TooFewClasses {
        layout: &'static str,
        dir: PathBuf,
        found: usize,
        classes: Vec<String>,
    },

    #[error(
        "class name {name:?} appears twice in {}, on lines {first_line} and {second_line}; \
         class names must be unique",
        path.display()
    )]
    DuplicateClassName {
        path: PathBuf,
        name: String,
        first_line: usize,
        second_line: usize,
    },

    #[error(
        "class folder {} contains no .png, .jpg or .jpeg images; add images or remove the folder",
        path.display()
    )]
    EmptyClass { path: PathBuf },

    #[error(
        "the class folders [{}] of {} are not class folders of {}; every test class needs \
         training images, so add them to train or remove the folders from test",
        extra_in_test.join(", "),
        test_dir.display(),
        train_dir.display()
    )]
    TestClassNotInTrain {
        train_dir: PathBuf,
        test_dir: PathBuf,
        extra_in_test: Vec<String>,
    },
}
