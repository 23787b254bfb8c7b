//! Chart writers: each PNG opens at the returned size, the confusion colours follow the counts,
//! and invalid inputs fail with errors that name the value.

use std::path::{Path, PathBuf};

use cifar_gpu::eval::plot::{
    confusion_cell_center, write_confusion_png, write_history_png, write_prediction_histogram_png,
    HistorySeries, PlotError,
};
use image::{Rgb, RgbImage};

const CIFAR10_NAMES: &str = include_str!("../assets/cifar10_label_names.txt");
const CIFAR100_NAMES: &str = include_str!("../assets/cifar100_fine_label_names.txt");

/// Output folder of one test: a fresh temporary folder, or the folder named by
/// `CIFAR_GPU_PLOT_DIR` so the pictures can be looked at after the run.
enum OutputDir {
    Temporary(tempfile::TempDir),
    Kept(PathBuf),
}

impl OutputDir {
    fn new() -> Self {
        match std::env::var_os("CIFAR_GPU_PLOT_DIR") {
            Some(dir) => {
                let dir = PathBuf::from(dir);
                std::fs::create_dir_all(&dir).expect("CIFAR_GPU_PLOT_DIR can be created");
                Self::Kept(dir)
            }
            None => Self::Temporary(tempfile::tempdir().expect("temporary folder")),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Self::Temporary(dir) => dir.path(),
            Self::Kept(dir) => dir,
        }
    }
}

fn names(list: &str) -> Vec<String> {
    list.lines().map(str::to_string).collect()
}

/// Builds a matrix with `correct` images on the diagonal and 0 to 10 errors in other cells.
fn confusion_matrix(classes: usize, correct: u64) -> Vec<Vec<u64>> {
    (0..classes)
        .map(|row| {
            (0..classes)
                .map(|column| {
                    if row == column {
                        correct
                    } else {
                        ((row * 7 + column * 3) % 11) as u64
                    }
                })
                .collect()
        })
        .collect()
}

/// Opens the PNG at `path`, checks that it has the returned size and that the `.tmp` file of
/// the atomic write is gone.
fn open_png(path: &Path, size: (u32, u32)) -> RgbImage {
    let image = image::open(path)
        .unwrap_or_else(|error| panic!("{} does not open: {error}", path.display()))
        .to_rgb8();
    assert_eq!(image.dimensions(), size, "{} size", path.display());
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    assert!(
        !PathBuf::from(temporary).exists(),
        "temporary file left behind"
    );
    image
}

/// Writes the confusion PNG of `matrix` and returns the picture.
fn write_confusion(
    dir: &Path,
    file: &str,
    matrix: &[Vec<u64>],
    class_names: &[String],
    zero_diagonal: bool,
) -> RgbImage {
    let path = dir.join(file);
    let size = write_confusion_png(&path, matrix, class_names, zero_diagonal, "test set")
        .expect("confusion PNG is written");
    open_png(&path, size)
}

fn pixel_at(image: &RgbImage, (x, y): (u32, u32)) -> Rgb<u8> {
    *image.get_pixel(x, y)
}

/// Samples a cell at a quarter of its size from the centre, clear of a printed count.
fn cell_color(image: &RgbImage, class_names: &[String], row: usize, column: usize) -> Rgb<u8> {
    let (x, y) = confusion_cell_center(class_names, row, column);
    let (x_next, _) = confusion_cell_center(class_names, row, (column + 1) % class_names.len());
    let offset = x.abs_diff(x_next) / 4;
    pixel_at(image, (x - offset, y - offset))
}

#[test]
fn confusion_png_ten_classes() {
    let dir = OutputDir::new();
    let class_names = names(CIFAR10_NAMES);
    let matrix = confusion_matrix(10, 900);
    let image = write_confusion(dir.path(), "confusion10.png", &matrix, &class_names, false);
    assert!(image.width() > 640, "width {}", image.width());
    assert!(image.height() > 640, "height {}", image.height());
}

#[test]
fn confusion_png_hundred_classes() {
    let dir = OutputDir::new();
    let class_names = names(CIFAR100_NAMES);
    assert_eq!(class_names.len(), 100);
    let matrix = confusion_matrix(100, 80);
    let image = write_confusion(dir.path(), "confusion100.png", &matrix, &class_names, false);
    let last = confusion_cell_center(&class_names, 99, 99);
    assert!(last.0 < image.width(), "last cell x {} outside", last.0);
    assert!(last.1 < image.height(), "last cell y {} outside", last.1);
}

#[test]
fn confusion_max_cell_differs_from_zero() {
    let dir = OutputDir::new();
    let class_names = names(CIFAR10_NAMES);
    let mut matrix = vec![vec![0u64; 10]; 10];
    matrix[2][3] = 500;
    let image = write_confusion(dir.path(), "max.png", &matrix, &class_names, false);
    let max_cell = cell_color(&image, &class_names, 2, 3);
    let zero_cell = cell_color(&image, &class_names, 4, 5);
    assert_ne!(max_cell, zero_cell);
    // Viridis runs from dark purple at zero to bright yellow at the maximum.
    assert!(max_cell.0[1] > 200, "max cell {max_cell:?} is not bright");
    assert!(zero_cell.0[1] < 50, "zero cell {zero_cell:?} is not dark");
}

#[test]
fn confusion_zero_diagonal_changes_image() {
    let dir = OutputDir::new();
    let class_names = names(CIFAR10_NAMES);
    let matrix = confusion_matrix(10, 900);
    let plain = write_confusion(dir.path(), "plain.png", &matrix, &class_names, false);
    let blanked = write_confusion(dir.path(), "blanked.png", &matrix, &class_names, true);
    assert_ne!(plain.as_raw(), blanked.as_raw());

    // The diagonal turns neutral grey, no longer the brightest colour of the scale.
    let diagonal_plain = cell_color(&plain, &class_names, 1, 1);
    let diagonal_blanked = cell_color(&blanked, &class_names, 1, 1);
    assert_ne!(diagonal_plain, diagonal_blanked);
    let [r, g, b] = diagonal_blanked.0;
    assert!(
        r == g && g == b,
        "diagonal {diagonal_blanked:?} is not grey"
    );

    // Off the diagonal the colours rescale to the largest error count, so the same cell
    // turns brighter.
    let (row, column) = (0, 8);
    assert_eq!(matrix[row][column], 24 % 11);
    let brightness = |color: Rgb<u8>| color.0.iter().map(|&c| c as u32).sum::<u32>();
    let error_plain = cell_color(&plain, &class_names, row, column);
    let error_blanked = cell_color(&blanked, &class_names, row, column);
    assert!(brightness(error_blanked) > brightness(error_plain));
}

#[test]
fn confusion_cell_center_inside_matrix() {
    let class_names = names(CIFAR10_NAMES);
    let (x0, y0) = confusion_cell_center(&class_names, 0, 0);
    let (x1, y1) = confusion_cell_center(&class_names, 1, 1);
    assert!(x1 > x0, "column 1 at x {x1}, column 0 at x {x0}");
    assert!(y1 > y0, "row 1 at y {y1}, row 0 at y {y0}");
    assert_eq!(x1 - x0, y1 - y0, "cells are square");
}

#[test]
fn history_png_one_epoch() {
    let dir = OutputDir::new();
    let path = dir.path().join("history1.png");
    let series = HistorySeries {
        epochs: &[1],
        loss: &[2.1],
        accuracy: &[0.23],
        val_loss: &[Some(2.0)],
        val_accuracy: &[Some(0.25)],
    };
    let size = write_history_png(&path, &series, "one epoch").expect("history PNG is written");
    open_png(&path, size);
}

#[test]
fn history_png_thirty_epochs_with_gaps() {
    let dir = OutputDir::new();
    let path = dir.path().join("history30.png");
    let epochs: Vec<usize> = (1..=30).collect();
    let loss: Vec<f64> = epochs
        .iter()
        .map(|&e| 2.3 / (1.0 + 0.15 * e as f64))
        .collect();
    let accuracy: Vec<f64> = epochs
        .iter()
        .map(|&e| 0.1 + 0.6 * (1.0 - (-0.1 * e as f64).exp()))
        .collect();
    // Validation only every third epoch, as with a validation interval.
    let every_third = |values: &[f64], shift: f64| -> Vec<Option<f64>> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i % 3 == 2).then_some(v + shift))
            .collect()
    };
    let val_loss = every_third(&loss, 0.1);
    let val_accuracy = every_third(&accuracy, -0.05);
    let series = HistorySeries {
        epochs: &epochs,
        loss: &loss,
        accuracy: &accuracy,
        val_loss: &val_loss,
        val_accuracy: &val_accuracy,
    };
    let size = write_history_png(&path, &series, "thirty epochs").expect("history PNG is written");
    open_png(&path, size);

    let without_validation = vec![None; 30];
    let series = HistorySeries {
        val_loss: &without_validation,
        val_accuracy: &without_validation,
        ..series
    };
    let path = dir.path().join("history30_train_only.png");
    let size = write_history_png(&path, &series, "no validation").expect("history PNG is written");
    open_png(&path, size);
}

#[test]
fn history_png_non_finite_loss() {
    let dir = OutputDir::new();
    let path = dir.path().join("history_nan.png");
    let series = HistorySeries {
        epochs: &[1, 2, 3],
        loss: &[2.3, f64::NAN, f64::INFINITY],
        accuracy: &[0.1, 0.1, 0.1],
        val_loss: &[None, None, Some(f64::NAN)],
        val_accuracy: &[None, None, Some(0.1)],
    };
    let size = write_history_png(&path, &series, "diverged").expect("history PNG is written");
    open_png(&path, size);
}

#[test]
fn histogram_png_ten_and_hundred_classes() {
    let dir = OutputDir::new();
    for (list, file) in [
        (CIFAR10_NAMES, "histogram10.png"),
        (CIFAR100_NAMES, "histogram100.png"),
    ] {
        let class_names = names(list);
        let classes = class_names.len();
        let actual = vec![10_000 / classes as u64; classes];
        // A collapsed model: two classes take almost every prediction.
        let mut predicted = vec![3u64; classes];
        predicted[1] = 6_000;
        predicted[classes - 2] = 10_000 - 6_000 - 3 * (classes as u64 - 2);
        let path = dir.path().join(file);
        let size = write_prediction_histogram_png(
            &path,
            &predicted,
            &actual,
            &class_names,
            &[1, classes - 2],
            "predictions",
        )
        .expect("histogram PNG is written");
        open_png(&path, size);
    }
}

#[test]
fn many_classes_fall_back_to_indices() {
    let dir = OutputDir::new();
    let class_names: Vec<String> = (0..400).map(|i| format!("class_{i}")).collect();
    let matrix = confusion_matrix(400, 5);
    let image = write_confusion(dir.path(), "confusion400.png", &matrix, &class_names, true);
    let last = confusion_cell_center(&class_names, 399, 399);
    assert!(last.0 < image.width(), "last cell x {} outside", last.0);
    assert!(last.1 < image.height(), "last cell y {} outside", last.1);

    let counts = vec![1u64; 400];
    let path = dir.path().join("histogram400.png");
    let size = write_prediction_histogram_png(&path, &counts, &counts, &class_names, &[], "many")
        .expect("histogram PNG is written");
    open_png(&path, size);
}

/// Asserts that `result` is an invalid-input error whose message contains every fragment.
fn assert_invalid(result: Result<(u32, u32), PlotError>, fragments: &[&str]) {
    let error = result.expect_err("invalid input is rejected");
    assert!(matches!(error, PlotError::InvalidInput { .. }), "{error:?}");
    let message = error.to_string();
    for fragment in fragments {
        assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
    }
}

#[test]
fn confusion_invalid_inputs_rejected() {
    let dir = OutputDir::new();
    let path = dir.path().join("bad.png");
    let class_names = names(CIFAR10_NAMES);
    assert_invalid(
        write_confusion_png(&path, &[], &[], false, "t"),
        &["bad.png", "empty"],
    );

    let matrix = confusion_matrix(10, 1);
    let result = write_confusion_png(&path, &matrix, &class_names[..9], false, "t");
    assert_invalid(result, &["10 rows", "class_names has 9"]);

    let mut ragged = matrix.clone();
    ragged[3].pop();
    let result = write_confusion_png(&path, &ragged, &class_names, false, "t");
    assert_invalid(result, &["row 3", "9 columns", "expected 10"]);
    assert!(!path.exists(), "no file for rejected input");
}

#[test]
fn history_invalid_inputs_rejected() {
    let dir = OutputDir::new();
    let path = dir.path().join("bad_history.png");
    let empty = HistorySeries {
        epochs: &[],
        loss: &[],
        accuracy: &[],
        val_loss: &[],
        val_accuracy: &[],
    };
    assert_invalid(
        write_history_png(&path, &empty, "t"),
        &["bad_history.png", "empty"],
    );

    let valid = HistorySeries {
        epochs: &[1, 2],
        loss: &[2.0, 1.5],
        accuracy: &[0.2, 0.3],
        val_loss: &[None, Some(1.6)],
        val_accuracy: &[None, Some(0.28)],
    };
    let short_loss = HistorySeries {
        loss: &[2.0],
        ..valid
    };
    assert_invalid(
        write_history_png(&path, &short_loss, "t"),
        &["loss has 1", "epochs has 2"],
    );
    let short_validation = HistorySeries {
        val_accuracy: &[None],
        ..valid
    };
    let result = write_history_png(&path, &short_validation, "t");
    assert_invalid(result, &["val_accuracy has 1"]);
    let repeated_epoch = HistorySeries {
        epochs: &[2, 2],
        ..valid
    };
    assert_invalid(
        write_history_png(&path, &repeated_epoch, "t"),
        &["epochs[1] = 2"],
    );
    let percentage = HistorySeries {
        accuracy: &[20.0, 30.0],
        ..valid
    };
    let result = write_history_png(&path, &percentage, "t");
    assert_invalid(result, &["accuracy of epoch 1 is 20", "[0, 1]"]);
}

#[test]
fn histogram_invalid_inputs_rejected() {
    let dir = OutputDir::new();
    let path = dir.path().join("bad_histogram.png");
    let class_names = names(CIFAR10_NAMES);
    let counts = vec![1u64; 10];
    let result = write_prediction_histogram_png(&path, &[], &[], &[], &[], "t");
    assert_invalid(result, &["bad_histogram.png", "class_names is empty"]);
    let result =
        write_prediction_histogram_png(&path, &counts[..4], &counts, &class_names, &[], "t");
    assert_invalid(result, &["predicted has 4", "class_names has 10"]);
    let result =
        write_prediction_histogram_png(&path, &counts, &counts[..9], &class_names, &[], "t");
    assert_invalid(result, &["actual has 9"]);
    let result = write_prediction_histogram_png(&path, &counts, &counts, &class_names, &[10], "t");
    assert_invalid(result, &["highlighted class 10", "below 10"]);
}

#[test]
fn missing_directory_write_fails() {
    let dir = OutputDir::new();
    let path = dir.path().join("missing").join("confusion.png");
    let class_names = names(CIFAR10_NAMES);
    let error = write_confusion_png(&path, &confusion_matrix(10, 1), &class_names, false, "t")
        .expect_err("writing into a missing directory fails");
    assert!(matches!(error, PlotError::Write { .. }), "{error:?}");
    assert!(error.to_string().contains("confusion.png"), "{error}");
}
