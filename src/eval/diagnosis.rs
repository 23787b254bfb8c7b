//! Collapse diagnosis: detects when a model's predictions concentrate on a few classes,
//! names those classes and lists the likely causes.
//!
//! Three figures decide, all computed from the prediction histogram against the label
//! histogram of the same images:
//! - the dominant share: the share of all predictions that goes to dominant classes,
//!   those predicted at least [`DOMINANCE_FACTOR`] times as often as they occur;
//! - the effective-class ratio `exp(H(predicted)) / exp(H(true))`, where H is the Shannon
//!   entropy of the class shares. It is 1 when predictions are spread like the labels and
//!   `1 / classes` when a single class takes every prediction;
//! - the share of classes present in the labels that are never predicted.
//!
//! Predictions count as collapsed when any figure crosses its threshold. The thresholds
//! were chosen from measurements of healthy and collapsed models, listed in README.md.

use serde::Serialize;

use super::metrics::ClassStats;

/// At or above this dominant share predictions count as collapsed. Healthy CIFAR-10
/// models measured 0 to 0.23; the same models fed inputs scaled by 255 measured 0.74 and
/// 0.82.
pub const DOMINANT_SHARE_THRESHOLD: f64 = 0.5;

/// Below this effective-class ratio predictions count as collapsed. Healthy CIFAR-10
/// models measured 0.83 and 0.87; with inputs scaled by 255, 0.35 and 0.63, so this
/// figure alone misses one of them and the dominant share catches it.
pub const EFFECTIVE_CLASS_RATIO_THRESHOLD: f64 = 0.5;

/// At or above this share of never-predicted classes predictions count as collapsed.
/// Healthy models measured 0; a model after one training step measured 0.9.
///
/// NOTE: every measurement behind these thresholds is of 10-class models. A weak
/// 100-class model may over-predict more classes by chance; no CIFAR-100 run checked it.
pub const NEVER_PREDICTED_THRESHOLD: f64 = 0.3;

/// A class counts as dominant when predicted at least this many times its true share.
pub const DOMINANCE_FACTOR: f64 = 2.0;

/// Fewer evaluated images per class than this make the histogram too noisy to judge.
pub const MIN_IMAGES_PER_CLASS: usize = 5;

/// A class predicted far more often than it occurs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DominantClass {
    pub class: usize,
    pub name: String,
    pub predicted_share: f64,
    pub true_share: f64,
}

/// Result of the diagnosis, stored in `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnosis {
    /// Whether the histogram was judged at all; false when too few images were evaluated.
    pub checked: bool,
    pub collapsed: bool,
    pub effective_class_ratio: f64,
    /// Share of all predictions taken by the dominant classes.
    pub dominant_share: f64,
    pub never_predicted: Vec<String>,
    pub never_predicted_share: f64,
    /// Classes predicted at least [`DOMINANCE_FACTOR`] times their true share, most
    /// predicted first.
    pub dominant: Vec<DominantClass>,
}

fn entropy(shares: impl Iterator<Item = f64>) -> f64 {
    shares.filter(|&p| p > 0.0).map(|p| -p * p.ln()).sum()
}

/// Diagnoses the prediction histogram in `stats`.
pub fn diagnose(stats: &[ClassStats]) -> Diagnosis {
    let images: u64 = stats.iter().map(|s| s.support).sum();
    let present: Vec<&ClassStats> = stats.iter().filter(|s| s.support > 0).collect();
    let effective_class_ratio = (entropy(stats.iter().map(|s| s.predicted_share))
        - entropy(stats.iter().map(|s| s.true_share)))
    .exp();
    let never: Vec<&ClassStats> = present
        .iter()
        .copied()
        .filter(|s| s.predicted == 0)
        .collect();
    let never_predicted_share = if present.is_empty() {
        0.0
    } else {
        never.len() as f64 / present.len() as f64
    };
    let mut dominant: Vec<DominantClass> = stats
        .iter()
        .filter(|s| s.predicted > 0 && s.predicted_share >= DOMINANCE_FACTOR * s.true_share)
        .map(|s| DominantClass {
            class: s.class,
            name: s.name.clone(),
            predicted_share: s.predicted_share,
            true_share: s.true_share,
        })
        .collect();
    dominant.sort_by(|a, b| b.predicted_share.total_cmp(&a.predicted_share));
    let dominant_share = dominant
        .iter()
        .fold(0.0, |sum, class| sum + class.predicted_share);

    let checked = !present.is_empty() && images as usize >= MIN_IMAGES_PER_CLASS * present.len();
    let collapsed = checked
        && (dominant_share >= DOMINANT_SHARE_THRESHOLD
            || effective_class_ratio < EFFECTIVE_CLASS_RATIO_THRESHOLD
            || never_predicted_share >= NEVER_PREDICTED_THRESHOLD);
    Diagnosis {
        checked,
        collapsed,
        effective_class_ratio,
        dominant_share,
        never_predicted: never.iter().map(|s| s.name.clone()).collect(),
        never_predicted_share,
        dominant,
    }
}

impl Diagnosis {
    /// Returns the warning to print for a collapsed model, or `None` when predictions look
    /// healthy.
    pub fn warning(&self) -> Option<String> {
        if !self.collapsed {
            return None;
        }
        // Name every rule that fired, with its figure and threshold.
        let mut reasons = Vec::new();
        if self.dominant_share >= DOMINANT_SHARE_THRESHOLD {
            let count = self.dominant.len();
            reasons.push(format!(
                "{count} over-predicted {} take {:.0}% of all predictions (collapse at {:.0}%)",
                if count == 1 { "class" } else { "classes" },
                100.0 * self.dominant_share,
                100.0 * DOMINANT_SHARE_THRESHOLD
            ));
        }
        if self.effective_class_ratio < EFFECTIVE_CLASS_RATIO_THRESHOLD {
            reasons.push(format!(
                "the effective number of predicted classes is {:.0}% of the labels' (collapse \
                 below {:.0}%)",
                100.0 * self.effective_class_ratio,
                100.0 * EFFECTIVE_CLASS_RATIO_THRESHOLD
            ));
        }
        if self.never_predicted_share >= NEVER_PREDICTED_THRESHOLD {
            reasons.push(format!(
                "{:.0}% of the classes are never predicted (collapse at {:.0}%)",
                100.0 * self.never_predicted_share,
                100.0 * NEVER_PREDICTED_THRESHOLD
            ));
        }
        let mut text = format!(
            "predictions concentrate on a few classes: {}",
            reasons.join("; ")
        );
        for class in self.dominant.iter().take(8) {
            text.push_str(&format!(
                "\n  {:<20} predicted for {:>5.1}% of images, true share {:>5.1}%",
                class.name,
                100.0 * class.predicted_share,
                100.0 * class.true_share
            ));
        }
        if self.dominant.len() > 8 {
            text.push_str(&format!(
                "\n  ... and {} more over-predicted classes",
                self.dominant.len() - 8
            ));
        }
        if !self.never_predicted.is_empty() {
            let shown: Vec<&str> = self
                .never_predicted
                .iter()
                .take(10)
                .map(String::as_str)
                .collect();
            let more = self.never_predicted.len().saturating_sub(shown.len());
            text.push_str(&format!(
                "\n  {} classes are never predicted: {}{}",
                self.never_predicted.len(),
                shown.join(", "),
                if more > 0 {
                    format!(", ... ({more} more)")
                } else {
                    String::new()
                }
            ));
        }
        text.push_str(
            "\n  likely causes to check:\
             \n  - evaluation inputs scaled differently from training, such as raw 0-255 pixels \
             fed to a model trained on pixels / 255 (cifar-gpu's own evaluate and predict \
             apply the checkpoint's normalization, so look at any other evaluation code)\
             \n  - a learning rate too high (try --lr 10 times lower)\
             \n  - dead ReLUs or saturated tanh units (a loss that stopped falling early)\
             \n  - class imbalance in the training data (compare the true shares above)",
        );
        Some(text)
    }
}
