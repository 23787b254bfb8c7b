//! Launchers for `shaders/softmax_cross_entropy.wgsl`.

use super::{Cost, SoftmaxCrossEntropyParams};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::LOSS;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Prediction written for batch padding; mirrors `NO_PREDICTION` in the shader.
pub const NO_PREDICTION: u32 = u32::MAX;

/// Buffers written by [`softmax_cross_entropy`].
pub struct LossOutputs<'a> {
    /// N, M: `(softmax - one_hot) / valid`.
    pub dlogits: &'a View,
    /// N: per-sample loss.
    pub losses: &'a View,
    /// N: argmax class, or [`NO_PREDICTION`] past `valid`.
    pub predictions: &'a View,
    /// N, M: softmax probabilities.
    pub probabilities: &'a View,
}

/// Elements of the running metrics buffer: loss sum, correct count, sample count and the
/// first non-finite step marker.
pub const METRICS_LEN: usize = 4;

fn uniform(p: &SoftmaxCrossEntropyParams) -> [u32; 2] {
    [p.batch as u32, p.classes as u32]
}

/// Prepares the loss, its gradient, predictions and probabilities of the first
/// `valid` samples, with `valid` read from `step_state`. Overwrites every output.
///
/// # Shapes
/// - logits: N, M; labels: N (u32, each below M).
pub fn softmax_cross_entropy(
    gpu: &Gpu,
    p: &SoftmaxCrossEntropyParams,
    step_state: &wgpu::Buffer,
    logits: &View,
    labels: &View,
    outputs: &LossOutputs<'_>,
) -> Dispatch {
    let (n, m) = (p.batch, p.classes);
    assert_eq!(logits.len, n * m, "loss logits length");
    assert_eq!(labels.len, n, "loss labels length");
    assert_eq!(outputs.dlogits.len, n * m, "loss dlogits length");
    assert_eq!(outputs.losses.len, n, "loss per-sample length");
    assert_eq!(outputs.predictions.len, n, "loss predictions length");
    assert_eq!(
        outputs.probabilities.len,
        n * m,
        "loss probabilities length"
    );
    gpu.prepare(
        LOSS,
        "softmax_cross_entropy",
        &uniform(p),
        1,
        &[
            Binding::Uniform(step_state),
            Binding::Storage(logits),
            Binding::Storage(labels),
            Binding::Storage(outputs.dlogits),
            Binding::Storage(outputs.losses),
            Binding::Storage(outputs.predictions),
            Binding::Storage(outputs.probabilities),
        ],
        grid_1d(n),
        Cost {
            flops: 6 * (n * m) as u64,
            bytes: 4 * (3 * n * m + 3 * n) as u64,
        },
    )
}

/// Prepares the addition of the batch's loss sum, correct count and sample count to
/// `metrics`, in sample order. `metrics[3]` records `1 + step` of the first step whose
/// loss was not finite, and stays 0 while every loss is finite.
pub fn accumulate_metrics(
    gpu: &Gpu,
    p: &SoftmaxCrossEntropyParams,
    step_state: &wgpu::Buffer,
    labels: &View,
    losses: &View,
    predictions: &View,
    metrics: &View,
) -> Dispatch {
    assert_eq!(metrics.len, METRICS_LEN, "metrics length");
    gpu.prepare(
        LOSS,
        "accumulate_metrics",
        &uniform(p),
        8,
        &[
            Binding::Uniform(step_state),
            Binding::Storage(labels),
            Binding::Storage(losses),
            Binding::Storage(predictions),
            Binding::Storage(metrics),
        ],
        [1, 1, 1],
        Cost {
            flops: 2 * p.batch as u64,
            bytes: 12 * p.batch as u64 + 24,
        },
    )
}
