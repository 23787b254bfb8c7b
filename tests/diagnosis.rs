//! The collapse diagnosis on hand-built confusion matrices; needs no GPU.

use cifar_gpu::eval::diagnosis::diagnose;
use cifar_gpu::eval::metrics::{class_stats, confusion_matrix};

fn names(classes: usize) -> Vec<String> {
    (0..classes).map(|class| format!("class_{class}")).collect()
}

/// Labels with `per_class` images of each class, and predictions from `predict`.
fn diagnosis_of(
    classes: usize,
    per_class: usize,
    predict: impl Fn(usize, usize) -> usize,
) -> cifar_gpu::eval::diagnosis::Diagnosis {
    let mut labels = Vec::new();
    let mut predictions = Vec::new();
    for class in 0..classes {
        for index in 0..per_class {
            labels.push(class as u32);
            predictions.push(predict(class, index) as u32);
        }
    }
    let matrix = confusion_matrix(&labels, &predictions, classes);
    diagnose(&class_stats(&matrix, &names(classes)))
}

#[test]
fn balanced_predictions_are_healthy() {
    // Half right, half the next class: every class predicted as often as it occurs.
    let diagnosis = diagnosis_of(10, 20, |class, index| {
        if index % 2 == 0 {
            class
        } else {
            (class + 1) % 10
        }
    });
    assert!(diagnosis.checked);
    assert!(!diagnosis.collapsed, "{diagnosis:?}");
    assert!((diagnosis.effective_class_ratio - 1.0).abs() < 1e-9);
    assert!(diagnosis.warning().is_none());
}

#[test]
fn one_dominant_class_is_named() {
    // Class 7 takes 80% of predictions.
    let diagnosis = diagnosis_of(10, 20, |class, index| if index < 16 { 7 } else { class });
    assert!(diagnosis.collapsed);
    assert_eq!(diagnosis.dominant[0].name, "class_7");
    let warning = diagnosis.warning().unwrap();
    assert!(warning.contains("1 over-predicted class take"), "{warning}");
    assert!(warning.contains("class_7"), "{warning}");
}

#[test]
fn never_predicted_rule_alone_is_reported() {
    // Images of classes 0-2 are spread over classes 3-9, each of which is then predicted
    // about 1.4 times as often as it occurs, below the dominance factor of 2.
    let diagnosis = diagnosis_of(
        10,
        20,
        |class, index| if class < 3 { 3 + index % 7 } else { class },
    );
    assert!(diagnosis.collapsed, "{diagnosis:?}");
    assert!((diagnosis.never_predicted_share - 0.3).abs() < 1e-9);
    let warning = diagnosis.warning().unwrap();
    assert!(
        warning.contains("30% of the classes are never predicted"),
        "{warning}"
    );
    assert!(diagnosis.dominant.is_empty(), "{:?}", diagnosis.dominant);
    assert!(
        !warning.contains("effective number"),
        "a rule that did not fire is not claimed:\n{warning}"
    );
    assert!(
        !warning.contains("over-predicted"),
        "a rule that did not fire is not claimed:\n{warning}"
    );
    assert!(warning.contains("class_0, class_1, class_2"), "{warning}");
}

#[test]
fn too_few_images_give_no_verdict() {
    let diagnosis = diagnosis_of(10, 3, |_, _| 0);
    assert!(!diagnosis.checked);
    assert!(!diagnosis.collapsed);
    assert!(diagnosis.warning().is_none());
}
