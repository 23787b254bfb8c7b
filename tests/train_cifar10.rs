//! Training on real CIFAR-10 images: a small subset of the JPEG set shipped beside the
//! repository, unpacked into a temporary folder. Fails in CI when the set is missing.

#[path = "common/data.rs"]
mod common_data;

use cifar_gpu::ops::Augment;
use cifar_gpu::train::{train, TrainOptions};

#[test]
fn cifar10_subset_trains_above_chance() {
    let _ = env_logger::builder().is_test(true).try_init();
    // 200 training and 50 test images per class: about 2,000 training images, which the
    // classic model learns to well above the 10% chance level in three epochs.
    let Some(data) = common_data::cifar10_subset(200, 50) else {
        return;
    };
    let options = TrainOptions {
        epochs: 3,
        val_split: 0.0,
        augment: Augment::default(),
        progress: false,
        ..TrainOptions::new(data.path())
    };
    let report = train(&options).unwrap();
    assert_eq!(report.summary.classes, 10);
    assert_eq!(report.summary.train_images, 2000);
    assert_eq!(report.summary.test_images, 500);
    let accuracy = report.summary.test_accuracy.unwrap();
    assert!(
        accuracy >= 0.30,
        "test accuracy {accuracy:.3} after 3 epochs, expected at least 0.30"
    );
    let first = report.history.first().unwrap().loss;
    let last = report.history.last().unwrap().loss;
    assert!(
        last < first,
        "training loss did not fall: {first} -> {last}"
    );
}
