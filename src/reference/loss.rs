//! Softmax cross-entropy over integer labels, averaged over the batch.

use crate::ops::SoftmaxCrossEntropyParams;

/// Everything the loss stage produces for one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct CrossEntropyOutput {
    /// Mean of `losses` over the batch.
    pub loss: f64,
    /// Per-sample loss `-ln softmax(logits)[label]`, N values.
    pub losses: Vec<f64>,
    /// Gradient of `loss` with respect to the logits, `(softmax - onehot) / N`, N x M.
    pub dlogits: Vec<f64>,
    /// Whether the argmax of each row equals its label. A tie goes to the lowest index.
    pub correct: Vec<bool>,
    /// Softmax of each row, N x M.
    pub probabilities: Vec<f64>,
}

/// Computes the softmax of each row of logits, the cross-entropy against the labels, its
/// gradient and the per-sample correctness. The row maximum is subtracted before `exp`, so
/// large logits do not overflow.
///
/// # Shapes
/// - `logits`: N x M
/// - `labels`: N, each below M
/// - returns: see [`CrossEntropyOutput`]
pub fn softmax_cross_entropy(
    p: &SoftmaxCrossEntropyParams,
    logits: &[f64],
    labels: &[u32],
) -> CrossEntropyOutput {
    let (n_count, m_count) = (p.batch, p.classes);
    assert!(
        m_count >= 1,
        "softmax_cross_entropy: classes must be at least 1, got 0"
    );
    assert_eq!(
        logits.len(),
        n_count * m_count,
        "softmax_cross_entropy: logits length"
    );
    assert_eq!(
        labels.len(),
        n_count,
        "softmax_cross_entropy: labels length"
    );

    let mut losses = Vec::with_capacity(n_count);
    let mut dlogits = vec![0.0; n_count * m_count];
    let mut correct = Vec::with_capacity(n_count);
    let mut probabilities = vec![0.0; n_count * m_count];
    for n in 0..n_count {
        let label = labels[n] as usize;
        assert!(
            label < m_count,
            "softmax_cross_entropy: label {label} of sample {n} is not below classes {m_count}"
        );
        let row = &logits[n * m_count..(n + 1) * m_count];

        // The argmax keeps the first maximum because later equal values do not compare greater.
        let mut argmax = 0;
        for (m, &z) in row.iter().enumerate() {
            if z > row[argmax] {
                argmax = m;
            }
        }
        let max = row[argmax];

        // ln softmax(z)[m] = (z[m] - max) - ln(sum exp(z - max)).
        let sum_exp: f64 = row.iter().map(|&z| (z - max).exp()).sum();
        let log_sum_exp = sum_exp.ln();
        losses.push(log_sum_exp - (row[label] - max));
        correct.push(argmax == label);

        for (m, &z) in row.iter().enumerate() {
            let probability = (z - max).exp() / sum_exp;
            let onehot = if m == label { 1.0 } else { 0.0 };
            probabilities[n * m_count + m] = probability;
            dlogits[n * m_count + m] = (probability - onehot) / n_count as f64;
        }
    }

    let loss = losses.iter().sum::<f64>() / n_count as f64;
    CrossEntropyOutput {
        loss,
        losses,
        dlogits,
        correct,
        probabilities,
    }
}
