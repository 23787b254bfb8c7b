//! Dataset loaders, splits, shuffles and statistics, checked on small files written in the
//! exact public formats and on the real CIFAR-10 images where available.

#[path = "common/data.rs"]
mod common_data;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, Once};

use cifar_gpu::data::{
    channel_stats, load, shuffled_indices, stratified_split, DataError, Dataset, LabelMode,
    LoadOptions, Split,
};
use flate2::write::{GzEncoder, ZlibEncoder};
use flate2::{Compression, Crc};

const CIFAR_PIXELS: usize = 3072;

// ---------------------------------------------------------------------------------------
// File writers

/// Pixels of a synthetic CIFAR image. Every byte depends on the record's `seed` and on
/// its position, so a record read at a wrong offset or from a wrong file does not match.
fn cifar_pixels(seed: usize) -> Vec<u8> {
    (0..CIFAR_PIXELS)
        .map(|i| ((i * 7 + seed * 31 + i / 1024 * 101) % 256) as u8)
        .collect()
}

fn cifar10_records(records: &[(u8, usize)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for &(label, seed) in records {
        bytes.push(label);
        bytes.extend(cifar_pixels(seed));
    }
    bytes
}

fn cifar100_records(records: &[(u8, u8, usize)]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for &(coarse, fine, seed) in records {
        bytes.push(coarse);
        bytes.push(fine);
        bytes.extend(cifar_pixels(seed));
    }
    bytes
}

/// Writes a CIFAR-10 folder. Batch `b` (1-based) contains records with labels `b - 1` and
/// `b` and seeds `2b` and `2b + 1`. The test batch contains labels 9, 0, 5 with seeds 100..103.
fn write_cifar10(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for batch in 1..=5u8 {
        let seed = 2 * batch as usize;
        let bytes = cifar10_records(&[(batch - 1, seed), (batch, seed + 1)]);
        fs::write(dir.join(format!("data_batch_{batch}.bin")), bytes).unwrap();
    }
    let test = cifar10_records(&[(9, 100), (0, 101), (5, 102)]);
    fs::write(dir.join("test_batch.bin"), test).unwrap();
}

fn write_cifar100(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let train = cifar100_records(&[(4, 30, 1), (19, 99, 2), (0, 0, 3)]);
    fs::write(dir.join("train.bin"), train).unwrap();
    let test = cifar100_records(&[(7, 55, 4), (18, 12, 5)]);
    fs::write(dir.join("test.bin"), test).unwrap();
}

fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = 0x0803u32.to_be_bytes().to_vec();
    for dim in [count, rows, cols] {
        bytes.extend(dim.to_be_bytes());
    }
    bytes.extend_from_slice(pixels);
    bytes
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut bytes = 0x0801u32.to_be_bytes().to_vec();
    bytes.extend((labels.len() as u32).to_be_bytes());
    bytes.extend_from_slice(labels);
    bytes
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes a 4x5 IDX set: three train images (gzipped) and two test images (plain). Pixel
/// `p` of image `i` is `10 * i + p`.
fn write_idx(dir: &Path) {
    let pixels = |count: usize| -> Vec<u8> {
        (0..count)
            .flat_map(|image| (0..20).map(move |p| (10 * image + p) as u8))
            .collect()
    };
    let train_images = idx_images(3, 4, 5, &pixels(3));
    fs::write(dir.join("train-images-idx3-ubyte.gz"), gzip(&train_images)).unwrap();
    let train_labels = idx_labels(&[9, 0, 3]);
    fs::write(dir.join("train-labels-idx1-ubyte.gz"), gzip(&train_labels)).unwrap();
    fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx_images(2, 4, 5, &pixels(2)),
    )
    .unwrap();
    fs::write(dir.join("t10k-labels-idx1-ubyte"), idx_labels(&[1, 8])).unwrap();
}

/// Writes a `width x height` RGB PNG whose pixel at (x, y) is `(10x + y, 100 + x, 200 + y)`.
fn write_rgb_png(path: &Path, width: u32, height: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    let image = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(10 * x + y) as u8, (100 + x) as u8, (200 + y) as u8])
    });
    image.save(path).unwrap();
}

fn write_grey_png(path: &Path, width: u32, height: u32, value: u8) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::GrayImage::from_pixel(width, height, image::Luma([value]))
        .save(path)
        .unwrap();
}

/// Writes a 3x2 image folder with classes `cat` (two PNGs) and `dog` (one JPEG, one grey
/// PNG) in train, and one image per class in test.
fn write_image_folder(dir: &Path) {
    write_rgb_png(&dir.join("train/cat/b.png"), 3, 2);
    write_grey_png(&dir.join("train/cat/a.png"), 3, 2, 77);
    let jpeg = image::RgbImage::from_pixel(3, 2, image::Rgb([120, 60, 30]));
    fs::create_dir_all(dir.join("train/dog")).unwrap();
    jpeg.save(dir.join("train/dog/x.jpg")).unwrap();
    write_grey_png(&dir.join("train/dog/y.PNG"), 3, 2, 5);
    write_rgb_png(&dir.join("test/cat/only.png"), 3, 2);
    write_grey_png(&dir.join("test/dog/only.png"), 3, 2, 9);
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    let mut crc = Crc::new();
    crc.update(kind);
    crc.update(data);
    chunk.extend(crc.sum().to_be_bytes());
    chunk
}

/// Writes a 66-byte PNG whose header claims `width x height` 8-bit RGB pixels but whose
/// data is one zero byte, far too little for that size.
fn write_png_header_only(path: &Path, width: u32, height: u32) {
    let mut header = width.to_be_bytes().to_vec();
    header.extend(height.to_be_bytes());
    header.extend([8, 2, 0, 0, 0]);
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    zlib.write_all(&[0]).unwrap();
    let data = zlib.finish().unwrap();

    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &header));
    png.extend(png_chunk(b"IDAT", &data));
    png.extend(png_chunk(b"IEND", &[]));
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, png).unwrap();
}

/// Log records of every test in this binary as `(level, message)`. Tests run in parallel,
/// so a test looks only for messages that name its own temporary folder.
static LOGGED: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct CaptureLogger;

impl log::Log for CaptureLogger {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }

    fn log(&self, record: &log::Record) {
        let message = record.args().to_string();
        LOGGED.lock().unwrap().push((record.level(), message));
    }

    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&CaptureLogger).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

/// Returns the captured messages of `level` that contain `dir`'s path.
fn logged_about(dir: &Path, level: log::Level) -> Vec<String> {
    let dir = dir.display().to_string();
    LOGGED
        .lock()
        .unwrap()
        .iter()
        .filter(|(logged_level, message)| *logged_level == level && message.contains(&dir))
        .map(|(_, message)| message.clone())
        .collect()
}

fn load_default(dir: &Path) -> Result<Dataset, DataError> {
    load(dir, &LoadOptions::default())
}

fn load_error(dir: &Path) -> String {
    match load_default(dir) {
        Ok(dataset) => panic!("expected an error, loaded {} instead", dataset.name),
        Err(error) => error.to_string(),
    }
}

fn assert_contains(message: &str, expected: &str) {
    assert!(
        message.contains(expected),
        "message does not contain {expected:?}: {message}"
    );
}

// ---------------------------------------------------------------------------------------
// CIFAR-10

#[test]
fn cifar10_loads_batches_in_order() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.name, "cifar10");
    assert_eq!(
        (dataset.channels, dataset.height, dataset.width),
        (3, 32, 32)
    );
    assert_eq!(dataset.image_len(), 3072);
    assert_eq!(dataset.train.labels, vec![0, 1, 1, 2, 2, 3, 3, 4, 4, 5]);
    assert_eq!(dataset.test.labels, vec![9, 0, 5]);
    assert_eq!(dataset.train.images.len(), 10 * 3072);

    // Record 3 of train is the second record of data_batch_2.bin, seed 5.
    assert_eq!(dataset.train.image(3, 3072), cifar_pixels(5).as_slice());
    assert_eq!(dataset.test.image(2, 3072), cifar_pixels(102).as_slice());
}

#[test]
fn cifar10_pixels_are_plane_major() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    // Replace the first test record with a red image: red plane 255, green and blue 0.
    let mut record = vec![3u8];
    record.extend(std::iter::repeat_n(255u8, 1024));
    record.extend(std::iter::repeat_n(0u8, 2048));
    fs::write(dir.path().join("test_batch.bin"), record).unwrap();

    let dataset = load_default(dir.path()).unwrap();
    let image = dataset.test.image(0, 3072);
    assert!(image[..1024].iter().all(|&value| value == 255));
    assert!(image[1024..].iter().all(|&value| value == 0));
    let (means, _) = channel_stats(&dataset.test, 3, 3072);
    assert_eq!(means, vec![1.0, 0.0, 0.0]);
}

#[test]
fn cifar10_uses_shipped_class_names() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());

    let dataset = load_default(dir.path()).unwrap();
    let expected = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];
    assert_eq!(dataset.classes, expected);
}

#[test]
fn cifar10_subfolder_with_meta_names() {
    let dir = tempfile::tempdir().unwrap();
    let batches = dir.path().join("cifar-10-batches-bin");
    write_cifar10(&batches);
    let names = "c0\nc1\n\nc2\nc3\nc4\nc5\nc6\nc7\nc8\n  c9  \n\n";
    fs::write(batches.join("batches.meta.txt"), names).unwrap();

    let dataset = load_default(dir.path()).unwrap();
    let expected: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    assert_eq!(dataset.classes, expected);
    assert_eq!(dataset.train.len(), 10);
}

#[test]
fn cifar10_meta_with_wrong_count_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    fs::write(dir.path().join("batches.meta.txt"), "a\nb\nc\n").unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "batches.meta.txt");
    assert_contains(&message, "lists 3 class names");
    assert_contains(&message, "has 10 classes");
}

/// Line numbers count blank lines, so they match what an editor shows.
#[test]
fn cifar10_meta_with_duplicate_name_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let names = "a\nb\ncat\n\nd\ne\nf\ncat\ng\nh\n";
    fs::write(dir.path().join("batches.meta.txt"), names).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "batches.meta.txt");
    assert_contains(&message, "\"cat\"");
    assert_contains(&message, "lines 3 and 8");
}

#[test]
fn cifar10_truncated_batch_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let mut bytes = cifar10_records(&[(1, 1), (2, 2)]);
    bytes.extend([0u8; 100]);
    fs::write(dir.path().join("data_batch_2.bin"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "data_batch_2.bin");
    assert_contains(&message, "6246 bytes");
    assert_contains(&message, "3073-byte");
    assert_contains(&message, "2 whole records would be 6146 bytes");
}

#[test]
fn cifar10_empty_batch_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    fs::write(dir.path().join("test_batch.bin"), []).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "test_batch.bin");
    assert_contains(&message, "contains no records");
}

#[test]
fn cifar10_label_out_of_range_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    let bytes = cifar10_records(&[(1, 1), (10, 2)]);
    fs::write(dir.path().join("data_batch_3.bin"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "data_batch_3.bin");
    assert_contains(&message, "label 10");
    assert_contains(&message, "record 1 ");
    assert_contains(&message, "0..=9");
}

#[test]
fn cifar10_missing_batch_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    fs::remove_file(dir.path().join("data_batch_4.bin")).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "data_batch_4.bin is missing");
    assert_contains(&message, "CIFAR-10 binary");
}

#[cfg(unix)]
#[test]
fn cifar10_unreadable_batch_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar10(dir.path());
    // A directory in place of the file exists but cannot be read as one.
    let path = dir.path().join("data_batch_5.bin");
    fs::remove_file(&path).unwrap();
    fs::create_dir(&path).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "failed to read");
    assert_contains(&message, "data_batch_5.bin");
}

// ---------------------------------------------------------------------------------------
// CIFAR-100

#[test]
fn cifar100_fine_labels_by_default() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.name, "cifar100");
    assert_eq!(dataset.train.labels, vec![30, 99, 0]);
    assert_eq!(dataset.test.labels, vec![55, 12]);
    assert_eq!(dataset.train.image(1, 3072), cifar_pixels(2).as_slice());
    assert_eq!(dataset.test.image(1, 3072), cifar_pixels(5).as_slice());

    assert_eq!(dataset.classes.len(), 100);
    assert_eq!(dataset.classes[0], "apple");
    assert_eq!(dataset.classes[1], "aquarium_fish");
    assert_eq!(dataset.classes[30], "dolphin");
    assert_eq!(dataset.classes[99], "worm");
}

#[test]
fn cifar100_coarse_label_mode() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    let options = LoadOptions {
        label_mode: LabelMode::Coarse,
        ..LoadOptions::default()
    };

    let dataset = load(dir.path(), &options).unwrap();
    assert_eq!(dataset.train.labels, vec![4, 19, 0]);
    assert_eq!(dataset.test.labels, vec![7, 18]);
    assert_eq!(dataset.classes.len(), 20);
    assert_eq!(dataset.classes[0], "aquatic_mammals");
    assert_eq!(dataset.classes[4], "fruit_and_vegetables");
    assert_eq!(dataset.classes[19], "vehicles_2");
}

#[test]
fn cifar100_shipped_names_are_official() {
    let fine = include_str!("../assets/cifar100_fine_label_names.txt");
    let fine: Vec<&str> = fine.lines().collect();
    assert_eq!(fine.len(), 100);
    // The official indices follow alphabetical order.
    let mut sorted = fine.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, fine);
    for (index, name) in [(4, "beaver"), (55, "otter"), (72, "seal"), (95, "whale")] {
        assert_eq!(fine[index], name);
    }

    let coarse = include_str!("../assets/cifar100_coarse_label_names.txt");
    let coarse: Vec<&str> = coarse.lines().collect();
    assert_eq!(coarse.len(), 20);
    let mut sorted = coarse.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, coarse);
    assert_eq!(coarse[9], "large_man-made_outdoor_things");
}

#[test]
fn cifar100_subfolder_with_name_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cifar-100-binary");
    write_cifar100(&root);
    let fine: String = (0..100).map(|i| format!("fine{i}\n")).collect();
    fs::write(root.join("fine_label_names.txt"), fine).unwrap();
    let coarse: String = (0..20).map(|i| format!("coarse{i}\n")).collect();
    fs::write(root.join("coarse_label_names.txt"), coarse).unwrap();

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.classes[30], "fine30");
    assert_eq!(dataset.classes.len(), 100);

    let options = LoadOptions {
        label_mode: LabelMode::Coarse,
        ..LoadOptions::default()
    };
    let dataset = load(dir.path(), &options).unwrap();
    assert_eq!(dataset.classes[19], "coarse19");
    assert_eq!(dataset.classes.len(), 20);
}

#[test]
fn cifar100_duplicate_names_fail() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    let mut fine: Vec<String> = (0..100).map(|i| format!("fine{i}")).collect();
    fine[99] = "fine5".to_owned();
    fs::write(dir.path().join("fine_label_names.txt"), fine.join("\n")).unwrap();
    let mut coarse: Vec<String> = (0..20).map(|i| format!("coarse{i}")).collect();
    coarse[1] = "coarse0".to_owned();
    fs::write(dir.path().join("coarse_label_names.txt"), coarse.join("\n")).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "fine_label_names.txt");
    assert_contains(&message, "\"fine5\"");
    assert_contains(&message, "lines 6 and 100");

    let options = LoadOptions {
        label_mode: LabelMode::Coarse,
        ..LoadOptions::default()
    };
    let message = load(dir.path(), &options).unwrap_err().to_string();
    assert_contains(&message, "coarse_label_names.txt");
    assert_contains(&message, "\"coarse0\"");
    assert_contains(&message, "lines 1 and 2");
}

#[test]
fn cifar100_fine_label_out_of_range_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    let bytes = cifar100_records(&[(0, 0, 1), (1, 1, 2), (2, 100, 3)]);
    fs::write(dir.path().join("test.bin"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "test.bin");
    assert_contains(&message, "fine label 100 in record 2");
    assert_contains(&message, "0..=99");
}

#[test]
fn cifar100_coarse_label_checked_in_fine_mode() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    let bytes = cifar100_records(&[(20, 5, 1)]);
    fs::write(dir.path().join("train.bin"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "train.bin");
    assert_contains(&message, "coarse label 20 in record 0");
    assert_contains(&message, "0..=19");
}

#[test]
fn cifar100_wrong_size_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    // Three CIFAR-10 records (3073 bytes each) are not whole CIFAR-100 records.
    fs::write(dir.path().join("train.bin"), cifar10_records(&[(0, 0); 3])).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "train.bin is 9219 bytes");
    assert_contains(&message, "3074-byte CIFAR-100 binary records");
    assert_contains(&message, "2 whole records would be 6148 bytes");
}

#[test]
fn cifar100_missing_test_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_cifar100(dir.path());
    fs::remove_file(dir.path().join("test.bin")).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "test.bin is missing");
    assert_contains(&message, "CIFAR-100 binary");
}

// ---------------------------------------------------------------------------------------
// Fashion-MNIST IDX

#[test]
fn idx_loads_plain_and_gzipped() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.name, "fashion-mnist");
    assert_eq!((dataset.channels, dataset.height, dataset.width), (1, 4, 5));
    assert_eq!(dataset.train.labels, vec![9, 0, 3]);
    assert_eq!(dataset.test.labels, vec![1, 8]);
    let expected: Vec<u8> = (20..40).collect();
    assert_eq!(dataset.train.image(2, 20), expected.as_slice());
    assert_eq!(dataset.test.images.len(), 40);
    assert_eq!(dataset.classes.len(), 10);
    assert_eq!(dataset.classes[0], "T-shirt/top");
    assert_eq!(dataset.classes[9], "Ankle boot");
}

#[test]
fn idx_wrong_magic_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    let mut bytes = idx_images(2, 4, 5, &[0; 40]);
    bytes[3] = 0x02;
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-images-idx3-ubyte");
    assert_contains(&message, "magic number 0x00000802");
    assert_contains(&message, "expected 0x00000803");
}

#[test]
fn idx_truncated_images_fail() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    let bytes = idx_images(3, 4, 5, &[0; 59]);
    fs::write(dir.path().join("train-images-idx3-ubyte.gz"), gzip(&bytes)).unwrap();

    let message = load_error(dir.path());
    assert_contains(
        &message,
        "train-images-idx3-ubyte.gz is 75 bytes after decompression",
    );
    assert_contains(&message, "76 bytes");
}

#[test]
fn idx_truncated_plain_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    let bytes = idx_images(2, 4, 5, &[0; 39]);
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-images-idx3-ubyte is 55 bytes but");
    assert_contains(&message, "implies 56 bytes");
    assert!(!message.contains("decompression"), "{message}");
}

#[test]
fn idx_huge_dims_report_real_size() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    // 2 * 60000 * 60000 pixel bytes plus the 16-byte header.
    let bytes = idx_images(2, 60_000, 60_000, &[0; 40]);
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-images-idx3-ubyte is 56 bytes");
    assert_contains(&message, "implies 7200000016 bytes");
}

#[test]
fn idx_overflowing_dims_fail() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    let bytes = idx_images(u32::MAX, u32::MAX, u32::MAX, &[0; 40]);
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-images-idx3-ubyte");
    assert_contains(&message, "4294967295 x 4294967295 x 4294967295");
    assert_contains(&message, "overflows");
}

/// The uncompressed file wins, and an info message names both files.
#[test]
fn idx_plain_and_gzipped_pair_uses_plain() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    let plain_pixels: Vec<u8> = (100..160).collect();
    fs::write(
        dir.path().join("train-images-idx3-ubyte"),
        idx_images(3, 4, 5, &plain_pixels),
    )
    .unwrap();

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.train.images, plain_pixels);

    let messages = logged_about(dir.path(), log::Level::Info);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_contains(&messages[0], "train-images-idx3-ubyte.gz");
    assert_contains(&messages[0], "using the uncompressed");
}

#[test]
fn idx_count_mismatch_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        idx_labels(&[1, 2, 3]),
    )
    .unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-images-idx3-ubyte contains 2 images");
    assert_contains(&message, "t10k-labels-idx1-ubyte contains 3 labels");
}

#[test]
fn idx_label_out_of_range_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        idx_labels(&[1, 12]),
    )
    .unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-labels-idx1-ubyte");
    assert_contains(&message, "label 12 in record 1");
    assert_contains(&message, "0..=9");
}

#[test]
fn idx_shape_mismatch_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    let bytes = idx_images(2, 5, 4, &[0; 40]);
    fs::write(dir.path().join("t10k-images-idx3-ubyte"), bytes).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-images-idx3-ubyte contains 5x4 images");
    assert_contains(&message, "train-images-idx3-ubyte.gz contains 4x5");
}

#[test]
fn idx_corrupt_gzip_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    fs::write(dir.path().join("train-labels-idx1-ubyte.gz"), b"not gzip").unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "failed to read");
    assert_contains(&message, "train-labels-idx1-ubyte.gz");
}

#[test]
fn idx_missing_labels_fail() {
    let dir = tempfile::tempdir().unwrap();
    write_idx(dir.path());
    fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "t10k-labels-idx1-ubyte is missing");
}

/// Loads the real Fashion-MNIST files that the Debian package `dataset-fashion-mnist`
/// installs and compares with the published train statistics. CI installs the package,
/// so there a missing folder fails; elsewhere the test is skipped.
#[test]
fn idx_real_fashion_mnist() {
    let dir = Path::new("/usr/share/datasets/fashion-mnist");
    if !dir.is_dir() {
        if std::env::var("CI").is_ok_and(|value| value == "true") {
            panic!(
                "{} is required in CI: apt-get install -y dataset-fashion-mnist",
                dir.display()
            );
        }
        eprintln!(
            "skipping: {} is missing (apt-get install -y dataset-fashion-mnist)",
            dir.display()
        );
        return;
    }

    let dataset = load_default(dir).unwrap();
    assert_eq!(dataset.train.len(), 60_000);
    assert_eq!(dataset.test.len(), 10_000);
    assert_eq!((dataset.height, dataset.width), (28, 28));
    let (means, stds) = channel_stats(&dataset.train, 1, dataset.image_len());
    assert!((means[0] - 0.2860).abs() < 5e-4, "mean {}", means[0]);
    assert!((stds[0] - 0.3530).abs() < 5e-4, "std {}", stds[0]);
    let class_counts = (0..10).map(|class| {
        let count = dataset
            .train
            .labels
            .iter()
            .filter(|&&label| label == class)
            .count();
        (class, count)
    });
    for (class, count) in class_counts {
        assert_eq!(count, 6000, "train images of class {class}");
    }
}

// ---------------------------------------------------------------------------------------
// Image folder

#[test]
fn folder_loads_sorted_planar_rgb() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.name, "image-folder");
    assert_eq!(dataset.classes, vec!["cat", "dog"]);
    assert_eq!((dataset.channels, dataset.height, dataset.width), (3, 2, 3));
    assert_eq!(dataset.train.labels, vec![0, 0, 1, 1]);
    assert_eq!(dataset.test.labels, vec![0, 1]);

    // train/cat/a.png sorts first: grey 77 becomes 77 in every plane.
    assert_eq!(dataset.train.image(0, 18), [77u8; 18].as_slice());

    // train/cat/b.png: plane-major R, G, B, each row-major over (y, x).
    let expected: Vec<u8> = vec![
        0, 10, 20, 1, 11, 21, // red: 10x + y
        100, 101, 102, 100, 101, 102, // green: 100 + x
        200, 200, 200, 201, 201, 201, // blue: 200 + y
    ];
    assert_eq!(dataset.train.image(1, 18), expected.as_slice());
    assert_eq!(dataset.test.image(0, 18), expected.as_slice());

    // train/dog/x.jpg is lossy: each plane stays near its colour.
    let jpeg = dataset.train.image(2, 18);
    for (plane, colour) in [120i32, 60, 30].into_iter().enumerate() {
        for &value in &jpeg[plane * 6..(plane + 1) * 6] {
            assert!(
                (i32::from(value) - colour).abs() <= 8,
                "plane {plane}: {value} vs {colour}"
            );
        }
    }
}

#[test]
fn folder_skips_hidden_and_other_files() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    fs::write(dir.path().join("train/cat/notes.txt"), "not an image").unwrap();
    fs::write(dir.path().join("train/cat/.hidden.png"), "not an image").unwrap();
    fs::create_dir_all(dir.path().join("train/.cache")).unwrap();
    fs::create_dir_all(dir.path().join("test/.cache")).unwrap();

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.classes, vec!["cat", "dog"]);
    assert_eq!(dataset.train.len(), 4);
}

#[test]
fn folder_wrong_image_size_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    write_rgb_png(&dir.path().join("test/dog/big.png"), 4, 2);

    let message = load_error(dir.path());
    assert_contains(&message, "big.png");
    assert_contains(&message, "is 4x2 pixels");
    assert_contains(&message, "expected 3x2");
}

#[test]
fn folder_expected_size_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    let options = LoadOptions {
        expected_size: Some((32, 32)),
        ..LoadOptions::default()
    };

    let error = load(dir.path(), &options).unwrap_err();
    let message = error.to_string();
    assert_contains(&message, "a.png");
    assert_contains(&message, "is 3x2 pixels");
    assert_contains(&message, "expected 32x32");
}

#[test]
fn folder_test_class_not_in_train_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    fs::remove_dir_all(dir.path().join("test/dog")).unwrap();
    write_rgb_png(&dir.path().join("test/bird/one.png"), 3, 2);
    write_rgb_png(&dir.path().join("test/emu/one.png"), 3, 2);

    let message = load_error(dir.path());
    assert_contains(&message, "[bird, emu]");
    assert_contains(&message, "not class folders of");
    assert!(!message.contains("dog"), "{message}");
}

/// A training class with a missing or empty test folder loads, keeps its label, and is
/// named in a warning.
#[test]
fn folder_test_may_lack_classes() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    write_rgb_png(&dir.path().join("train/blue/one.png"), 3, 2);

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.classes, vec!["blue", "cat", "dog"]);
    assert_eq!(dataset.train.labels, vec![0, 1, 1, 2, 2]);
    assert_eq!(dataset.test.labels, vec![1, 2]);
    let warnings = logged_about(dir.path(), log::Level::Warn);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_contains(&warnings[0], "1 of 3 classes: [blue]");

    fs::create_dir_all(dir.path().join("test/blue")).unwrap();
    fs::write(dir.path().join("test/blue/notes.txt"), "no images").unwrap();
    fs::remove_dir_all(dir.path().join("test/dog")).unwrap();
    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.classes, vec!["blue", "cat", "dog"]);
    assert_eq!(dataset.test.labels, vec![1]);
    let warnings = logged_about(dir.path(), log::Level::Warn);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_contains(&warnings[1], "2 of 3 classes: [blue, dog]");
}

#[test]
fn folder_single_class_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_rgb_png(&dir.path().join("train/cat/one.png"), 3, 2);
    write_rgb_png(&dir.path().join("test/cat/one.png"), 3, 2);

    let message = load_error(dir.path());
    assert_contains(&message, "image folder dataset");
    assert_contains(&message, "has 1 class(es) [cat]");
    assert_contains(&message, "at least 2 classes");
}

/// The header alone rejects the image, before any buffer of its claimed size exists.
#[test]
fn folder_huge_first_image_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    let path = dir.path().join("train/cat/a.png");
    write_png_header_only(&path, 60_000, 60_000);

    let message = load_error(dir.path());
    assert_contains(&message, "a.png");
    assert_contains(&message, "is 60000x60000 pixels");
    assert_contains(&message, "maximum of 1024 pixels per side");
}

#[test]
fn folder_huge_later_image_fails_on_header() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    write_png_header_only(&dir.path().join("test/dog/huge.png"), 60_000, 60_000);

    let message = load_error(dir.path());
    assert_contains(&message, "huge.png");
    assert_contains(&message, "is 60000x60000 pixels");
    assert_contains(&message, "expected 3x2");
}

/// The folder is read through its real name, and the class name is its lossy UTF-8 form.
#[cfg(unix)]
#[test]
fn folder_non_utf8_class_loads() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    let name = OsStr::from_bytes(b"c\xff");
    write_grey_png(
        &dir.path().join("train").join(name).join("one.png"),
        3,
        2,
        42,
    );
    write_grey_png(
        &dir.path().join("test").join(name).join("one.png"),
        3,
        2,
        43,
    );

    let dataset = load_default(dir.path()).unwrap();
    // Folders sort by their bytes, and 0xff sorts after "a".
    assert_eq!(dataset.classes, vec!["cat", "c\u{fffd}", "dog"]);
    assert_eq!(dataset.train.labels, vec![0, 0, 1, 2, 2]);
    assert_eq!(dataset.train.image(2, 18), [42u8; 18].as_slice());
    assert_eq!(dataset.test.image(1, 18), [43u8; 18].as_slice());
}

#[test]
fn folder_empty_class_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    fs::create_dir_all(dir.path().join("train/emu")).unwrap();
    fs::write(dir.path().join("train/emu/readme.txt"), "none yet").unwrap();
    fs::create_dir_all(dir.path().join("test/emu")).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "emu");
    assert_contains(&message, "contains no .png, .jpg or .jpeg images");
}

#[test]
fn folder_undecodable_image_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    fs::write(
        dir.path().join("train/dog/z.png"),
        b"these bytes are no image",
    )
    .unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "failed to decode image");
    assert_contains(&message, "z.png");
}

#[test]
fn folder_without_test_fails() {
    let dir = tempfile::tempdir().unwrap();
    write_image_folder(dir.path());
    fs::remove_dir_all(dir.path().join("test")).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "test is missing");
    assert_contains(&message, "image folder");
}

#[test]
fn folder_without_classes_fails() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("train")).unwrap();
    fs::create_dir_all(dir.path().join("test")).unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "has no class folders");
}

/// Enough images that every decoding thread gets several, so a mix-up between threads'
/// output ranges would show.
#[test]
fn folder_keeps_order_across_threads() {
    let dir = tempfile::tempdir().unwrap();
    for class in 0..3u8 {
        for index in 0..40u8 {
            let value = class * 80 + index;
            let path = dir.path().join(format!("train/c{class}/{index:03}.png"));
            write_grey_png(&path, 2, 2, value);
        }
        write_grey_png(&dir.path().join(format!("test/c{class}/0.png")), 2, 2, 0);
    }

    let dataset = load_default(dir.path()).unwrap();
    assert_eq!(dataset.train.len(), 120);
    for i in 0..120 {
        let class = i / 40;
        let expected = (class * 80 + i % 40) as u8;
        assert_eq!(dataset.train.labels[i], class as u32, "label of image {i}");
        assert_eq!(dataset.train.image(i, 12), [expected; 12].as_slice());
    }
}

// ---------------------------------------------------------------------------------------
// Layout detection

#[test]
fn unknown_layout_lists_expected_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("readme.txt"), "nothing here").unwrap();

    let message = load_error(dir.path());
    assert_contains(&message, "no dataset found in");
    for expected in [
        "CIFAR-10 binary",
        "data_batch_1.bin",
        "test_batch.bin",
        "CIFAR-100 binary",
        "train.bin",
        "Fashion-MNIST IDX",
        "train-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
        "image folder",
        "train/<class>/",
    ] {
        assert_contains(&message, expected);
    }
}

#[test]
fn missing_directory_fails() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");

    let message = load_error(&missing);
    assert_contains(&message, "nowhere does not exist");
}

// ---------------------------------------------------------------------------------------
// Split helpers

#[test]
fn split_image_and_subset() {
    let split = Split {
        images: (0..12).collect(),
        labels: vec![7, 8, 9],
    };
    assert_eq!(split.len(), 3);
    assert!(!split.is_empty());
    assert_eq!(split.image(1, 4), [4, 5, 6, 7].as_slice());

    let subset = split.subset(&[2, 0, 2], 4);
    assert_eq!(subset.labels, vec![9, 7, 9]);
    assert_eq!(subset.images, vec![8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11]);
    assert!(Split::default().is_empty());
}

fn class_counts(labels: &[u32], indices: &[usize], classes: usize) -> Vec<usize> {
    let mut counts = vec![0; classes];
    for &index in indices {
        counts[labels[index] as usize] += 1;
    }
    counts
}

/// Labels with 10, 25 and 3 members of classes 0, 1 and 2, interleaved.
fn uneven_labels() -> Vec<u32> {
    let mut labels = Vec::new();
    for i in 0..25 {
        labels.push(1);
        if i < 10 {
            labels.push(0);
        }
        if i < 3 {
            labels.push(2);
        }
    }
    labels
}

#[test]
fn stratified_split_keeps_class_shares() {
    let labels = uneven_labels();
    let (train, validation) = stratified_split(&labels, 3, 0.2, 7);

    // round(10 * 0.2) = 2, round(25 * 0.2) = 5, round(3 * 0.2) = 1.
    assert_eq!(class_counts(&labels, &validation, 3), vec![2, 5, 1]);
    assert_eq!(class_counts(&labels, &train, 3), vec![8, 20, 2]);

    assert!(train.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(validation.windows(2).all(|pair| pair[0] < pair[1]));
    let mut all: Vec<usize> = train.iter().chain(&validation).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (0..labels.len()).collect::<Vec<_>>());
}

#[test]
fn stratified_split_depends_on_seed_only() {
    let labels = uneven_labels();
    let first = stratified_split(&labels, 3, 0.3, 11);
    let again = stratified_split(&labels, 3, 0.3, 11);
    assert_eq!(first, again);

    let other_seeds: Vec<_> = (12..16)
        .map(|seed| stratified_split(&labels, 3, 0.3, seed).1)
        .collect();
    assert!(
        other_seeds.iter().any(|validation| *validation != first.1),
        "four other seeds all gave the same validation set"
    );
}

#[test]
fn stratified_split_edge_fractions() {
    let labels = uneven_labels();
    let (train, validation) = stratified_split(&labels, 3, 0.0, 1);
    assert_eq!(train.len(), labels.len());
    assert!(validation.is_empty());

    let (train, validation) = stratified_split(&labels, 3, 1.0, 1);
    assert!(train.is_empty());
    assert_eq!(validation.len(), labels.len());
}

#[test]
#[should_panic(expected = "label 3 of sample")]
fn stratified_split_rejects_large_label() {
    stratified_split(&[0, 1, 3], 3, 0.5, 1);
}

#[test]
fn shuffled_indices_is_permutation() {
    let indices = shuffled_indices(1000, 5, 2);
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
    assert_ne!(indices, (0..1000).collect::<Vec<_>>());
}

#[test]
fn shuffled_indices_is_deterministic() {
    assert_eq!(shuffled_indices(500, 5, 2), shuffled_indices(500, 5, 2));
    assert_ne!(shuffled_indices(500, 5, 2), shuffled_indices(500, 5, 3));
    assert_ne!(shuffled_indices(500, 5, 2), shuffled_indices(500, 6, 2));
    assert!(shuffled_indices(0, 5, 2).is_empty());
    assert_eq!(shuffled_indices(1, 5, 2), vec![0]);
}

#[test]
fn shuffled_indices_moves_first_element_uniformly() {
    // Over 4000 epochs, index 0 should land in each of 4 positions about 1000 times. The
    // binomial standard deviation is about 27, so a margin of 150 is more than five of them.
    let mut counts = [0usize; 4];
    for epoch in 0..4000 {
        let indices = shuffled_indices(4, 9, epoch);
        let position = indices.iter().position(|&index| index == 0).unwrap();
        counts[position] += 1;
    }
    for (position, &count) in counts.iter().enumerate() {
        assert!(
            count.abs_diff(1000) < 150,
            "index 0 landed at position {position} {count} times out of 4000"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Channel statistics

#[test]
fn channel_stats_hand_computed() {
    // Two images of two channels with two pixels each.
    // Channel 0 contains 0, 255, 255, 0: mean 0.5, std 0.5.
    // Channel 1 contains 51, 51, 102, 102: mean 76.5 / 255 = 0.3, std 25.5 / 255 = 0.1.
    let split = Split {
        images: vec![0, 255, 51, 51, 255, 0, 102, 102],
        labels: vec![0, 1],
    };
    let (means, stds) = channel_stats(&split, 2, 4);
    assert!((means[0] - 0.5).abs() < 1e-7, "mean 0: {}", means[0]);
    assert!((stds[0] - 0.5).abs() < 1e-7, "std 0: {}", stds[0]);
    assert!((means[1] - 0.3).abs() < 1e-7, "mean 1: {}", means[1]);
    assert!((stds[1] - 0.1).abs() < 1e-7, "std 1: {}", stds[1]);
}

#[test]
fn channel_stats_of_empty_split_is_identity() {
    let (means, stds) = channel_stats(&Split::default(), 3, 12);
    assert_eq!(means, vec![0.0; 3]);
    assert_eq!(stds, vec![1.0; 3]);
}

// ---------------------------------------------------------------------------------------
// Real CIFAR-10 images

#[test]
fn cifar10_jpeg_subset_loads() {
    let Some(dir) = common_data::cifar10_subset(300, 5) else {
        return;
    };

    let dataset = load_default(dir.path()).unwrap();
    let expected_classes = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];
    assert_eq!(dataset.classes, expected_classes);
    assert_eq!(
        (dataset.channels, dataset.height, dataset.width),
        (3, 32, 32)
    );
    assert_eq!(dataset.train.len(), 3000);
    assert_eq!(dataset.test.len(), 50);
    assert_eq!(&dataset.test.labels[..6], &[0, 0, 0, 0, 0, 1]);
    assert_eq!(dataset.test.labels[49], 9);

    // Published train means are (0.4914, 0.4822, 0.4465); 3000 images are a sample, so
    // allow 0.015.
    let (means, _) = channel_stats(&dataset.train, 3, dataset.image_len());
    for (channel, expected) in [0.4914f32, 0.4822, 0.4465].into_iter().enumerate() {
        assert!(
            (means[channel] - expected).abs() < 0.015,
            "channel {channel} mean {} vs {expected}",
            means[channel]
        );
    }
}
