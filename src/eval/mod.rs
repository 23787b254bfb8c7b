//! Evaluation: running a network over a list of images without training (loss, accuracy,
//! every prediction and probability row, read back once at the end), and the reports
//! built from the results.

pub mod command;
pub mod diagnosis;
pub mod metrics;
pub mod plot;
pub mod predict;

use crate::gpu::dispatch::encode_pass;
use crate::gpu::{Gpu, GpuError};
use crate::model::network::{InputBinding, Network};
use crate::ops::StepState;

/// Batches between progress reports; each report waits for the GPU to catch up.
const PROGRESS_BATCHES: usize = 16;

/// Results of one evaluation.
#[derive(Clone, Debug, Default)]
pub struct Evaluation {
    /// Mean cross-entropy over the evaluated images.
    pub loss: f64,
    /// Share of images whose top-1 prediction is the label.
    pub accuracy: f64,
    /// Predicted class of each image, in input order.
    pub predictions: Vec<u32>,
    /// Softmax probabilities, one row of `classes` per image.
    pub probabilities: Vec<f32>,
    pub labels: Vec<u32>,
    pub classes: usize,
}

impl Evaluation {
    /// Share of images whose label is among the `k` most probable classes.
    pub fn top_k_accuracy(&self, k: usize) -> f64 {
        if self.labels.is_empty() {
            return 0.0;
        }
        let hits = self
            .labels
            .iter()
            .enumerate()
            .filter(|&(index, &label)| {
                let row = &self.probabilities[index * self.classes..(index + 1) * self.classes];
                let target = row[label as usize];
                // Rank = classes strictly more probable, plus equal ones of lower index.
                let rank = row
                    .iter()
                    .enumerate()
                    .filter(|&(m, &p)| p > target || (p == target && m < label as usize))
                    .count();
                rank < k
            })
            .count();
        hits as f64 / self.labels.len() as f64
    }
}

/// Evaluates `network` (dropout off, no augmentation) on the images `indices` of the store
/// bound in `input`, whose labels are `labels`. `progress` is called after each batch with
/// the number of images done.
pub fn evaluate(
    gpu: &Gpu,
    network: &Network,
    input: &InputBinding,
    indices: &[usize],
    labels: &[u32],
    mut progress: impl FnMut(usize),
) -> Result<Evaluation, GpuError> {
    assert_eq!(indices.len(), labels.len(), "one label per evaluated image");
    let batch = network.config.batch;
    let classes = network.classes();
    let count = indices.len();
    if count == 0 {
        return Ok(Evaluation {
            classes,
            ..Default::default()
        });
    }
    // Every batch's predictions and probabilities are copied into these, so the host
    // waits once at the end instead of once per batch.
    let all_predictions = gpu.storage("evaluation predictions", count)?;
    let all_probabilities = gpu.storage("evaluation probabilities", count * classes)?;

    let mut batch_indices = vec![0u32; batch];
    let mut batch_labels = vec![0u32; batch];
    for (batch_number, start) in (0..count).step_by(batch).enumerate() {
        let valid = batch.min(count - start);
        for slot in 0..batch {
            // Padding repeats the first image of the batch; the loss ignores it.
            let source = if slot < valid { start + slot } else { start };
            batch_indices[slot] = indices[source] as u32;
            batch_labels[slot] = labels[source];
        }
        let state = StepState {
            step: 0,
            valid: valid as u32,
            learning_rate: 0.0,
            padding: 0,
        };
        network.write_batch(gpu, &batch_indices, &batch_labels, state);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if batch_number == 0 {
            network.clear_metrics(&mut encoder);
        }
        encode_pass(&mut encoder, &network.evaluation_step(input));
        encoder.copy_buffer_to_buffer(
            &network.predictions.buffer,
            network.predictions.offset_bytes,
            &all_predictions.buffer,
            start as u64 * 4,
            valid as u64 * 4,
        );
        encoder.copy_buffer_to_buffer(
            &network.probabilities.buffer,
            network.probabilities.offset_bytes,
            &all_probabilities.buffer,
            (start * classes) as u64 * 4,
            (valid * classes) as u64 * 4,
        );
        gpu.queue.submit([encoder.finish()]);
        // Submission runs ahead of the GPU, so wait now and then for the count to be true.
        let last = start + valid == count;
        if last || (batch_number + 1) % PROGRESS_BATCHES == 0 {
            gpu.wait_idle()?;
            progress(start + valid);
        }
    }
    let metrics = network.read_metrics(gpu)?;
    let predictions = gpu.read_u32(&all_predictions)?;
    let probabilities = gpu.read_f32(&all_probabilities)?;
    let samples = metrics[2] as f64;
    Ok(Evaluation {
        loss: metrics[0] as f64 / samples,
        accuracy: metrics[1] as f64 / samples,
        predictions,
        probabilities,
        labels: labels.to_vec(),
        classes,
    })
}
