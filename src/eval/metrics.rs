//! Classification figures from labels and predictions: confusion matrix, per-class
//! precision, recall and F1, and the prediction histogram.

use std::path::Path;

use serde::Serialize;

/// Counts with row = true class and column = predicted class.
pub fn confusion_matrix(labels: &[u32], predictions: &[u32], classes: usize) -> Vec<Vec<u64>> {
    assert_eq!(labels.len(), predictions.len(), "one prediction per label");
    let mut matrix = vec![vec![0u64; classes]; classes];
    for (&label, &prediction) in labels.iter().zip(predictions) {
        matrix[label as usize][prediction as usize] += 1;
    }
    matrix
}

/// Figures of one class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassStats {
    pub class: usize,
    pub name: String,
    /// Images whose true class this is.
    pub support: u64,
    /// Images predicted as this class.
    pub predicted: u64,
    pub true_positives: u64,
    /// `true_positives / predicted`, 0 when the class is never predicted.
    pub precision: f64,
    /// `true_positives / support`, 0 when the class has no images.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// `predicted / total` against `support / total`: how often the class is predicted
    /// compared with how often it occurs.
    pub predicted_share: f64,
    pub true_share: f64,
}

/// Per-class figures from a confusion matrix.
pub fn class_stats(matrix: &[Vec<u64>], names: &[String]) -> Vec<ClassStats> {
    let classes = matrix.len();
    let total: u64 = matrix.iter().flatten().sum();
    let share = |count: u64| {
        if total == 0 {
            0.0
        } else {
            count as f64 / total as f64
        }
    };
    (0..classes)
        .map(|class| {
            let support: u64 = matrix[class].iter().sum();
            let predicted: u64 = matrix.iter().map(|row| row[class]).sum();
            let true_positives = matrix[class][class];
            let ratio = |num: u64, den: u64| {
                if den == 0 {
                    0.0
                } else {
                    num as f64 / den as f64
                }
            };
            let precision = ratio(true_positives, predicted);
            let recall = ratio(true_positives, support);
            let f1 = if precision + recall == 0.0 {
                0.0
            } else {
                2.0 * precision * recall / (precision + recall)
            };
            ClassStats {
                class,
                name: names
                    .get(class)
                    .cloned()
                    .unwrap_or_else(|| class.to_string()),
                support,
                predicted,
                true_positives,
                precision,
                recall,
                f1,
                predicted_share: share(predicted),
                true_share: share(support),
            }
        })
        .collect()
}

pub const PER_CLASS_HEADER: &str =
    "class,name,support,predicted,true_positives,precision,recall,f1,predicted_share,true_share";

/// Writes `per_class.csv`, one row per class.
pub fn write_per_class_csv(path: &Path, stats: &[ClassStats]) -> std::io::Result<()> {
    let mut text = String::from(PER_CLASS_HEADER);
    text.push('\n');
    for s in stats {
        // Quote names so commas in folder names cannot shift columns.
        let name = format!("\"{}\"", s.name.replace('"', "\"\""));
        text.push_str(&format!(
            "{},{},{},{},{},{:.6},{:.6},{:.6},{:.6},{:.6}\n",
            s.class,
            name,
            s.support,
            s.predicted,
            s.true_positives,
            s.precision,
            s.recall,
            s.f1,
            s.predicted_share,
            s.true_share
        ));
    }
    crate::checkpoint::write_atomically(path, text.as_bytes())
        .map_err(|error| std::io::Error::other(error.to_string()))
}

/// Macro averages of precision, recall and F1 over classes with support.
pub fn macro_averages(stats: &[ClassStats]) -> (f64, f64, f64) {
    let present: Vec<&ClassStats> = stats.iter().filter(|s| s.support > 0).collect();
    if present.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let count = present.len() as f64;
    let mean = |f: fn(&ClassStats) -> f64| present.iter().map(|s| f(s)).sum::<f64>() / count;
    (mean(|s| s.precision), mean(|s| s.recall), mean(|s| s.f1))
}
