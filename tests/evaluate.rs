//! The evaluate and predict commands through the library: reports, reproducibility of the
//! validation split, the collapse diagnosis on deliberately mis-scaled inputs, and
//! checkpoints that are corrupt or do not match.

#[path = "common/synthetic.rs"]
mod synthetic;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cifar_gpu::checkpoint::{self, CheckpointError};
use cifar_gpu::eval::command::{
    fault_injection, run_evaluation, EvalError, EvalSplit, EvaluateOptions,
};
use cifar_gpu::eval::predict::{run_prediction, PredictOptions};
use cifar_gpu::ops::Augment;
use cifar_gpu::train::{train, TrainOptions, TrainReport};

/// A classic model trained once on a 10-class synthetic folder of 12x12 images, shared
/// by every test of this file.
struct Trained {
    data: tempfile::TempDir,
    out: tempfile::TempDir,
    report: TrainReport,
}

impl Trained {
    fn checkpoint(&self) -> PathBuf {
        self.out.path().join("checkpoint")
    }

    fn options(&self) -> EvaluateOptions {
        EvaluateOptions {
            progress: false,
            ..EvaluateOptions::new(self.checkpoint(), self.data.path())
        }
    }
}

fn trained() -> &'static Trained {
    static TRAINED: OnceLock<Trained> = OnceLock::new();
    TRAINED.get_or_init(|| {
        let _ = env_logger::builder().is_test(true).try_init();
        let (data, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        synthetic::write_image_folder(data.path(), 10, 30, 10, 12, 9);
        let options = TrainOptions {
            epochs: 3,
            batch_size: 16,
            seed: 4,
            out: Some(out.path().to_path_buf()),
            augment: Augment {
                max_shift: 1,
                horizontal_flip: false,
            },
            test_limit: Some(60),
            progress: false,
            ..TrainOptions::new(data.path())
        };
        let report = train(&options).unwrap();
        Trained { data, out, report }
    })
}

/// Copies the trained checkpoint into a new folder, for tests that damage it.
fn checkpoint_copy() -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for file in [checkpoint::WEIGHTS_FILE, checkpoint::METADATA_FILE] {
        std::fs::copy(trained().checkpoint().join(file), copy.path().join(file)).unwrap();
    }
    copy
}

#[test]
fn scaled_inputs_trigger_collapse_diagnosis() {
    let trained = trained();
    let normal = run_evaluation(&trained.options()).unwrap();
    let scaled = fault_injection::evaluate_with_scaled_inputs(&trained.options(), 255.0).unwrap();
    assert!(normal.diagnosis.checked);
    assert!(
        !normal.diagnosis.collapsed,
        "healthy model flagged: {:?}",
        normal.diagnosis
    );
    assert!(normal.diagnosis.warning().is_none());
    assert!(
        scaled.diagnosis.collapsed,
        "scaled inputs not flagged: {:?}",
        scaled.diagnosis
    );
    let warning = scaled.diagnosis.warning().unwrap();
    let top = &scaled.diagnosis.dominant[0];
    assert!(
        warning.contains(&top.name),
        "warning names the dominant class {}:\n{warning}",
        top.name
    );
    assert!(
        warning.contains("scaled differently from training"),
        "{warning}"
    );
    assert!(scaled.accuracy < normal.accuracy);
}

#[test]
fn val_split_reproduces_training_accuracy() {
    let trained = trained();
    let options = EvaluateOptions {
        split: EvalSplit::Val,
        ..trained.options()
    };
    let report = run_evaluation(&options).unwrap();
    let last = trained.report.history.last().unwrap();
    assert_eq!(report.images, trained.report.summary.val_images);
    assert_eq!(Some(report.accuracy), last.val_accuracy);
    assert_eq!(Some(report.loss), last.val_loss);
}

#[test]
fn test_split_matches_training_test_figures() {
    let trained = trained();
    // Training tested on 60 of the 100 test images.
    let options = EvaluateOptions {
        limit: Some(60),
        ..trained.options()
    };
    let report = run_evaluation(&options).unwrap();
    assert_eq!(report.images, 60);
    assert_eq!(Some(report.accuracy), trained.report.summary.test_accuracy);
    assert_eq!(Some(report.loss), trained.report.summary.test_loss);

    let whole = run_evaluation(&trained.options()).unwrap();
    assert_eq!(whole.images, 100);
}

#[test]
fn report_files_are_consistent() {
    let trained = trained();
    let out = tempfile::tempdir().unwrap();
    let options = EvaluateOptions {
        out: Some(out.path().to_path_buf()),
        ..trained.options()
    };
    let report = run_evaluation(&options).unwrap();

    let text = std::fs::read_to_string(out.path().join("confusion_matrix.json")).unwrap();
    let matrix: Vec<Vec<u64>> = serde_json::from_str(&text).unwrap();
    assert_eq!(matrix.len(), 10);
    assert!(matrix.iter().all(|row| row.len() == 10));
    let total: u64 = matrix.iter().flatten().sum();
    assert_eq!(total as usize, report.images);
    let diagonal: u64 = (0..10).map(|i| matrix[i][i]).sum();
    assert_eq!(diagonal as f64 / total as f64, report.accuracy);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("report.json")).unwrap())
            .unwrap();
    for key in [
        "loss",
        "accuracy",
        "top5_accuracy",
        "per_class",
        "confusion_matrix",
        "diagnosis",
    ] {
        assert!(json.get(key).is_some(), "report.json lacks {key}");
    }
    assert!(json["top5_accuracy"].as_f64().unwrap() >= json["accuracy"].as_f64().unwrap());

    let csv = std::fs::read_to_string(out.path().join("per_class.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 11, "header and one row per class");
    assert!(rows[0].starts_with("class,name,support,predicted"));
    let support_sum: u64 = rows[1..]
        .iter()
        .map(|row| row.split(',').nth(2).unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(support_sum as usize, report.images);

    for (file, names) in [
        ("confusion_matrix.png", &report.classes),
        ("prediction_histogram.png", &report.classes),
    ] {
        let image = image::open(out.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            image.width() >= 300 && image.height() >= 300,
            "{file} is {}x{}",
            image.width(),
            image.height()
        );
        assert_eq!(names.len(), 10);
    }
    // A cell with more images is drawn brighter. Cells of 10-class matrices print their
    // count at the centre, so sample near a corner of each cell instead.
    let image = image::open(out.path().join("confusion_matrix.png"))
        .unwrap()
        .to_rgb8();
    let cell = cifar_gpu::eval::plot::confusion_cell_center(&report.classes, 0, 1).0
        - cifar_gpu::eval::plot::confusion_cell_center(&report.classes, 0, 0).0;
    let corner = |row: usize, column: usize| {
        let (x, y) = cifar_gpu::eval::plot::confusion_cell_center(&report.classes, row, column);
        let pixel = image.get_pixel(x - cell * 2 / 5, y - cell * 2 / 5);
        pixel.0.iter().map(|&c| c as u32).sum::<u32>()
    };
    let (max_row, max_column) = (0..10)
        .flat_map(|row| (0..10).map(move |column| (row, column)))
        .max_by_key(|&(row, column)| matrix[row][column])
        .unwrap();
    let (min_row, min_column) = (0..10)
        .flat_map(|row| (0..10).map(move |column| (row, column)))
        .min_by_key(|&(row, column)| matrix[row][column])
        .unwrap();
    assert!(matrix[max_row][max_column] > matrix[min_row][min_column]);
    assert!(corner(max_row, max_column) > corner(min_row, min_column));
}

#[test]
fn training_writes_history_chart() {
    let trained = trained();
    let image = image::open(trained.out.path().join("history.png")).unwrap();
    assert!(image.width() > 400, "history.png is {} wide", image.width());
    assert!(
        image.height() > 200,
        "history.png is {} high",
        image.height()
    );
}

#[test]
fn predict_ranks_classes_of_image_files() {
    let trained = trained();
    let class = trained.data.path().join("test").join("class_03");
    let first = class.join("0000.png");
    // A larger copy that must be resized to the model's 12x12 input.
    let large = tempfile::tempdir().unwrap();
    let resized_path = large.path().join("large.png");
    image::open(&first)
        .unwrap()
        .resize_exact(30, 30, image::imageops::FilterType::Nearest)
        .save(&resized_path)
        .unwrap();
    let options = PredictOptions {
        checkpoint: trained.checkpoint(),
        images: vec![first.clone(), resized_path.clone()],
        top_k: 3,
        adapter: None,
    };
    let predictions = run_prediction(&options).unwrap();
    assert_eq!(predictions.len(), 2);
    assert_eq!(predictions[0].resized_from, None);
    assert_eq!(predictions[1].resized_from, Some((30, 30)));
    for prediction in &predictions {
        assert_eq!(prediction.top.len(), 3);
        assert!(prediction.top[0].probability >= prediction.top[1].probability);
        assert!(prediction.top[1].probability >= prediction.top[2].probability);
    }
    assert_eq!(predictions[0].top[0].name, "class_03");
}

fn load_error(dir: &Path) -> String {
    match checkpoint::load(dir) {
        Ok(_) => panic!("checkpoint in {} loaded", dir.display()),
        Err(error) => error.to_string(),
    }
}

#[test]
fn truncated_weights_fail_naming_file() {
    let copy = checkpoint_copy();
    let weights = copy.path().join(checkpoint::WEIGHTS_FILE);
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let message = load_error(copy.path());
    assert!(message.contains("weights.safetensors"), "{message}");
    assert!(
        message.contains("not a valid safetensors file"),
        "{message}"
    );
}

#[test]
fn corrupt_metadata_fails_naming_file() {
    let copy = checkpoint_copy();
    std::fs::write(copy.path().join(checkpoint::METADATA_FILE), "{\"format\": ").unwrap();
    let message = load_error(copy.path());
    assert!(message.contains("model.json"), "{message}");
    assert!(
        message.contains("not valid checkpoint metadata"),
        "{message}"
    );
}

#[test]
fn missing_weights_fail_naming_file() {
    let copy = checkpoint_copy();
    std::fs::remove_file(copy.path().join(checkpoint::WEIGHTS_FILE)).unwrap();
    let message = load_error(copy.path());
    assert!(message.contains("weights.safetensors"), "{message}");
}

#[test]
fn architecture_mismatch_names_tensor_and_shapes() {
    let copy = checkpoint_copy();
    let path = copy.path().join(checkpoint::METADATA_FILE);
    let mut metadata: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    // Layer 13 is the dense layer of 1024 units; claim 512.
    assert_eq!(metadata["architecture"]["layers"][13]["units"], 1024);
    metadata["architecture"]["layers"][13]["units"] = 512.into();
    std::fs::write(&path, serde_json::to_string(&metadata).unwrap()).unwrap();
    let message = load_error(copy.path());
    assert!(message.contains("layers.13.weight"), "{message}");
    assert!(
        message.contains("[64, 1024]") && message.contains("[64, 512]"),
        "{message}"
    );
}

#[test]
fn non_finite_weights_are_rejected() {
    let copy = checkpoint_copy();
    let weights = copy.path().join(checkpoint::WEIGHTS_FILE);
    let mut bytes = std::fs::read(&weights).unwrap();
    // The last four bytes are the last element of the last tensor.
    let end = bytes.len();
    bytes[end - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&weights, &bytes).unwrap();
    let message = load_error(copy.path());
    assert!(message.contains("non-finite"), "{message}");
}

#[test]
fn class_count_mismatch_names_both_counts() {
    let trained = trained();
    let other = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(other.path(), 4, 3, 2, 12, 1);
    let options = EvaluateOptions {
        data: other.path().to_path_buf(),
        ..trained.options()
    };
    let error = run_evaluation(&options).unwrap_err();
    assert!(
        matches!(
            error,
            EvalError::Checkpoint(CheckpointError::ClassCount {
                checkpoint: 10,
                dataset: 4
            })
        ),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("10 classes") && message.contains("has 4"),
        "{message}"
    );
}

#[test]
fn input_shape_mismatch_names_both_shapes() {
    let trained = trained();
    let other = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(other.path(), 10, 1, 1, 16, 1);
    let options = EvaluateOptions {
        data: other.path().to_path_buf(),
        ..trained.options()
    };
    let message = run_evaluation(&options).unwrap_err().to_string();
    assert!(
        message.contains("3x12x12") && message.contains("3x16x16"),
        "{message}"
    );
}
