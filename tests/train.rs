//! Training runs through the library on small synthetic image folders.

#[path = "common/synthetic.rs"]
mod synthetic;

use cifar_gpu::ops::Augment;
use cifar_gpu::train::{train, TrainError, TrainOptions};

/// Options for a quick run on a 12x12 synthetic folder, the smallest input the classic
/// model accepts with a margin (12 -> 10 -> 5 -> 3 -> 1 after its valid convolutions and
/// pools).
fn quick_options(data: &std::path::Path, out: &std::path::Path, seed: u32) -> TrainOptions {
    let _ = env_logger::builder().is_test(true).try_init();
    TrainOptions {
        epochs: 2,
        batch_size: 8,
        seed,
        out: Some(out.to_path_buf()),
        augment: Augment {
            max_shift: 1,
            horizontal_flip: true,
        },
        metrics_interval: 3,
        progress: false,
        ..TrainOptions::new(data)
    }
}

fn synthetic_folder(classes: usize, train: usize, test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    synthetic::write_image_folder(dir.path(), classes, train, test, 12, 5);
    dir
}

#[test]
fn same_seed_gives_bit_identical_weights() {
    let data = synthetic_folder(3, 14, 4);
    let (first, second, other) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    train(&quick_options(data.path(), first.path(), 7)).unwrap();
    train(&quick_options(data.path(), second.path(), 7)).unwrap();
    train(&quick_options(data.path(), other.path(), 8)).unwrap();
    let weights = |dir: &tempfile::TempDir| {
        std::fs::read(dir.path().join("checkpoint").join("weights.safetensors")).unwrap()
    };
    assert!(
        weights(&first) == weights(&second),
        "same seed gave different weights"
    );
    assert!(
        weights(&first) != weights(&other),
        "different seeds gave the same weights"
    );
    let history = |dir: &tempfile::TempDir| {
        let text = std::fs::read_to_string(dir.path().join("history.csv")).unwrap();
        // Drop the timing columns, which vary between runs.
        text.lines()
            .map(|line| line.split(',').take(5).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
    };
    assert_eq!(history(&first), history(&second));
}

#[test]
fn training_learns_separable_classes() {
    let data = synthetic_folder(3, 40, 10);
    let out = tempfile::tempdir().unwrap();
    let options = TrainOptions {
        epochs: 3,
        ..quick_options(data.path(), out.path(), 3)
    };
    let report = train(&options).unwrap();
    let first = &report.history[0];
    let last = report.history.last().unwrap();
    assert!(
        last.loss < first.loss,
        "loss did not fall: {} -> {}",
        first.loss,
        last.loss
    );
    let test_accuracy = report.summary.test_accuracy.unwrap();
    assert!(
        test_accuracy >= 0.8,
        "test accuracy {test_accuracy} on separable classes"
    );
}

#[test]
fn writes_history_summary_and_checkpoint() {
    let data = synthetic_folder(3, 10, 3);
    let out = tempfile::tempdir().unwrap();
    let report = train(&quick_options(data.path(), out.path(), 1)).unwrap();

    let history = std::fs::read_to_string(out.path().join("history.csv")).unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(
        lines[0],
        "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_second"
    );
    assert_eq!(lines.len(), 3, "header plus one row per epoch:\n{history}");
    assert!(
        lines[2].starts_with("2,"),
        "second row is epoch 2: {}",
        lines[2]
    );

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("summary.json")).unwrap())
            .unwrap();
    for key in [
        "dataset",
        "classes",
        "train_images",
        "val_images",
        "test_images",
        "epochs",
        "batch_size",
        "adapter",
        "val_accuracy",
        "test_accuracy",
        "test_loss",
        "train_seconds",
        "train_images_per_second",
    ] {
        assert!(
            summary.get(key).is_some(),
            "summary.json lacks {key}: {summary}"
        );
    }
    for key in ["name", "backend", "device_type"] {
        assert!(
            summary["adapter"].get(key).is_some(),
            "summary adapter lacks {key}"
        );
    }
    assert_eq!(summary["classes"], 3);
    assert_eq!(summary["dataset"], "image-folder");
    // 10 per class with a stratified 0.2 validation split: 8 train and 2 validation each.
    assert_eq!(summary["train_images"], 24);
    assert_eq!(summary["val_images"], 6);
    assert_eq!(summary["test_images"], 9);
    assert_eq!(
        summary["test_accuracy"].as_f64(),
        report.summary.test_accuracy
    );

    let checkpoint = cifar_gpu::checkpoint::load(&out.path().join("checkpoint")).unwrap();
    assert_eq!(
        checkpoint.metadata.classes,
        vec!["class_00", "class_01", "class_02"]
    );
    assert_eq!(checkpoint.metadata.normalization.scale, 1.0 / 255.0);
    assert_eq!(checkpoint.metadata.normalization.mean.len(), 3);
    assert_eq!(checkpoint.metadata.training.epochs_completed, 2);
}

#[test]
fn non_finite_loss_stops_with_step_and_hint() {
    let data = synthetic_folder(3, 10, 2);
    let out = tempfile::tempdir().unwrap();
    let options = TrainOptions {
        optimizer: cifar_gpu::train::OptimizerKind::Sgd,
        learning_rate: Some(1e30),
        metrics_interval: 1,
        ..quick_options(data.path(), out.path(), 2)
    };
    let error = train(&options).unwrap_err();
    let TrainError::NonFiniteLoss { step, .. } = &error else {
        panic!("expected a non-finite loss error, got {error}");
    };
    let message = error.to_string();
    assert!(message.contains(&format!("at step {step}")), "{message}");
    assert!(message.contains("lower learning rate"), "{message}");
    // Steps count from 1, and the first step's loss comes from the initial weights and
    // is finite.
    assert!(*step >= 2, "step {step}");
}
