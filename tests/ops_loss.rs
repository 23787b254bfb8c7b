//! `shaders/softmax_cross_entropy.wgsl` against `reference::loss`: gradients, per-sample
//! losses, predictions and probabilities, batch padding past `StepState.valid`, and the
//! running metrics.

mod common;

use cifar_gpu::gpu::{Gpu, View};
use cifar_gpu::ops::loss::{
    accumulate_metrics, softmax_cross_entropy, LossOutputs, METRICS_LEN, NO_PREDICTION,
};
use cifar_gpu::ops::{SoftmaxCrossEntropyParams, StepState};
use cifar_gpu::reference::loss as reference;
use common::{assert_close, gpu, poisoned, upload, widen, Rng, Tolerance, REDUCTION};

/// Padding rows are written as constants, so they must be exactly zero.
const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

/// Output buffers of one loss dispatch, poisoned before the run.
struct Outputs {
    dlogits: View,
    losses: View,
    predictions: View,
    probabilities: View,
}

/// What the GPU wrote, read back.
struct Results {
    dlogits: Vec<f32>,
    losses: Vec<f32>,
    predictions: Vec<u32>,
    probabilities: Vec<f32>,
}

impl Outputs {
    fn new(gpu: &Gpu, p: &SoftmaxCrossEntropyParams) -> Self {
        let (n, m) = (p.batch, p.classes);
        Self {
            dlogits: poisoned(gpu, n * m),
            losses: poisoned(gpu, n),
            // Neither a class index nor NO_PREDICTION, so an unwritten prediction shows up.
            predictions: gpu
                .storage_u32("poisoned predictions", &vec![0xdead_beef; n])
                .unwrap(),
            probabilities: poisoned(gpu, n * m),
        }
    }

    fn bindings(&self) -> LossOutputs<'_> {
        LossOutputs {
            dlogits: &self.dlogits,
            losses: &self.losses,
            predictions: &self.predictions,
            probabilities: &self.probabilities,
        }
    }

    fn read(&self, gpu: &Gpu) -> Results {
        Results {
            dlogits: gpu.read_f32(&self.dlogits).unwrap(),
            losses: gpu.read_f32(&self.losses).unwrap(),
            predictions: gpu.read_u32(&self.predictions).unwrap(),
            probabilities: gpu.read_f32(&self.probabilities).unwrap(),
        }
    }
}

fn step_state(gpu: &Gpu, valid: usize) -> wgpu::Buffer {
    let state = StepState {
        valid: valid as u32,
        ..Default::default()
    };
    gpu.uniform("step", bytemuck::bytes_of(&state))
}

/// Index of the first largest value of each row, the argmax the kernel must report.
fn first_argmax(logits: &[f32], classes: usize) -> Vec<u32> {
    logits
        .chunks(classes)
        .map(|row| {
            let mut best = 0;
            for (m, &value) in row.iter().enumerate() {
                if value > row[best] {
                    best = m;
                }
            }
            best as u32
        })
        .collect()
}

fn random_labels(rng: &mut Rng, batch: usize, classes: usize) -> Vec<u32> {
    (0..batch).map(|_| rng.below(classes as u32)).collect()
}

/// Runs the loss kernel on `logits` with `valid` real samples and returns what it wrote.
fn run_loss(
    gpu: &Gpu,
    p: &SoftmaxCrossEntropyParams,
    valid: usize,
    logits: &[f32],
    labels: &[u32],
) -> Results {
    let outputs = Outputs::new(gpu, p);
    let state = step_state(gpu, valid);
    let dispatch = softmax_cross_entropy(
        gpu,
        p,
        &state,
        &upload(gpu, logits),
        &gpu.storage_u32("labels", labels).unwrap(),
        &outputs.bindings(),
    );
    gpu.run(&[&dispatch]).unwrap();
    outputs.read(gpu)
}

/// Compares the first `valid` samples of `results` with the reference computed on those
/// samples alone, so the gradient is averaged over `valid`.
fn check_valid_rows(
    p: &SoftmaxCrossEntropyParams,
    valid: usize,
    logits: &[f32],
    labels: &[u32],
    results: &Results,
    context: &str,
) {
    let m = p.classes;
    let valid_params = SoftmaxCrossEntropyParams {
        batch: valid,
        classes: m,
    };
    let expected = reference::softmax_cross_entropy(
        &valid_params,
        &widen(&logits[..valid * m]),
        &labels[..valid],
    );
    let context = format!("{context}, {p:?}, valid {valid}");
    assert_close(
        &format!("loss dlogits, {context}"),
        &results.dlogits[..valid * m],
        &expected.dlogits,
        REDUCTION,
    );
    assert_close(
        &format!("loss per-sample losses, {context}"),
        &results.losses[..valid],
        &expected.losses,
        REDUCTION,
    );
    assert_close(
        &format!("loss probabilities, {context}"),
        &results.probabilities[..valid * m],
        &expected.probabilities,
        REDUCTION,
    );

    let argmax = first_argmax(&logits[..valid * m], m);
    assert_eq!(
        &results.predictions[..valid],
        &argmax[..],
        "loss predictions, {context}: expected the first argmax of each row"
    );
    let samples = results
        .predictions
        .iter()
        .zip(labels)
        .zip(&expected.correct);
    for (n, ((prediction, label), &correct)) in samples.enumerate() {
        assert_eq!(
            prediction == label,
            correct,
            "loss prediction of sample {n}, {context}: correctness differs from the reference"
        );
    }
}

/// (N, M): one sample of one class, batches 3, 17 and 33, more samples than one
/// workgroup, and 100 classes as in CIFAR-100.
const CASES: &[(usize, usize)] = &[(1, 1), (1, 10), (3, 10), (17, 3), (33, 100), (70, 17)];

#[test]
fn softmax_cross_entropy_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(61);
    for &(batch, classes) in CASES {
        let p = SoftmaxCrossEntropyParams { batch, classes };
        let logits: Vec<f32> = (0..batch * classes)
            .map(|_| rng.uniform(-5.0, 5.0))
            .collect();
        let labels = random_labels(&mut rng, batch, classes);
        let results = run_loss(&gpu, &p, batch, &logits, &labels);
        check_valid_rows(&p, batch, &logits, &labels, &results, "random logits");
    }
}

/// Logits near 300 overflow exp in f32 (which overflows past about 88.7) unless the row
/// maximum is subtracted first. Logits of +-80 give losses near 160 and probabilities
/// that underflow to zero.
#[test]
fn softmax_cross_entropy_forward_matches_reference_large_logits() {
    let gpu = gpu();
    let mut rng = Rng::new(62);
    for &(batch, classes) in &[(3, 10), (17, 3), (33, 100)] {
        let p = SoftmaxCrossEntropyParams { batch, classes };
        let extreme: Vec<f32> = (0..batch * classes)
            .map(|_| if rng.below(2) == 0 { -80.0 } else { 80.0 } + rng.uniform(-1.0, 1.0))
            .collect();
        let labels = random_labels(&mut rng, batch, classes);
        let results = run_loss(&gpu, &p, batch, &extreme, &labels);
        check_valid_rows(&p, batch, &extreme, &labels, &results, "logits near +-80");

        let shifted: Vec<f32> = (0..batch * classes)
            .map(|_| 300.0 + rng.uniform(-4.0, 4.0))
            .collect();
        let results = run_loss(&gpu, &p, batch, &shifted, &labels);
        check_valid_rows(&p, batch, &shifted, &labels, &results, "logits near 300");
    }
}

/// Logits drawn from three levels tie within most rows, and the prediction must be the
/// first of the tied maxima.
#[test]
fn softmax_cross_entropy_forward_matches_reference_ties() {
    let gpu = gpu();
    let mut rng = Rng::new(63);
    let (batch, classes) = (33, 10);
    let p = SoftmaxCrossEntropyParams { batch, classes };
    let logits: Vec<f32> = (0..batch * classes)
        .map(|_| [-1.0, 0.5, 2.0][rng.below(3) as usize])
        .collect();
    let labels = random_labels(&mut rng, batch, classes);
    let results = run_loss(&gpu, &p, batch, &logits, &labels);
    check_valid_rows(&p, batch, &logits, &labels, &results, "tied logits");
}

/// With `valid < N` the padding rows get zero gradient, loss and probabilities and no
/// prediction, and the gradient of the real rows is averaged over `valid`, not N.
#[test]
fn softmax_cross_entropy_forward_matches_reference_padding() {
    let gpu = gpu();
    let mut rng = Rng::new(64);
    for &(batch, classes, valid) in &[(5, 10, 3), (3, 4, 1), (70, 17, 65), (17, 3, 0)] {
        let p = SoftmaxCrossEntropyParams { batch, classes };
        let logits: Vec<f32> = (0..batch * classes)
            .map(|_| rng.uniform(-5.0, 5.0))
            .collect();
        let labels = random_labels(&mut rng, batch, classes);
        let results = run_loss(&gpu, &p, valid, &logits, &labels);
        if valid > 0 {
            check_valid_rows(&p, valid, &logits, &labels, &results, "padded batch");
        }

        let context = format!("{p:?}, valid {valid}");
        let padding = (batch - valid) * classes;
        assert_close(
            &format!("loss dlogits of padding rows, {context}"),
            &results.dlogits[valid * classes..],
            &vec![0.0; padding],
            EXACT,
        );
        assert_close(
            &format!("loss probabilities of padding rows, {context}"),
            &results.probabilities[valid * classes..],
            &vec![0.0; padding],
            EXACT,
        );
        assert_close(
            &format!("loss per-sample losses of padding rows, {context}"),
            &results.losses[valid..],
            &vec![0.0; batch - valid],
            EXACT,
        );
        assert!(
            results.predictions[valid..]
                .iter()
                .all(|&prediction| prediction == NO_PREDICTION),
            "loss predictions of padding rows, {context}: expected NO_PREDICTION, got {:?}",
            &results.predictions[valid..]
        );
    }
}

/// Two batches, the second padded, add their loss sums, correct counts and valid sample
/// counts to the same metrics buffer.
#[test]
fn accumulate_metrics_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(65);
    let (batch, classes) = (70, 10);
    let p = SoftmaxCrossEntropyParams { batch, classes };
    let logits_view = upload(&gpu, &vec![0.0; batch * classes]);
    let labels_view = gpu.storage_u32("labels", &vec![0; batch]).unwrap();
    let outputs = Outputs::new(&gpu, &p);
    let state = step_state(&gpu, batch);
    let metrics = upload(&gpu, &[0.0; METRICS_LEN]);
    let loss = softmax_cross_entropy(
        &gpu,
        &p,
        &state,
        &logits_view,
        &labels_view,
        &outputs.bindings(),
    );
    let accumulate = accumulate_metrics(
        &gpu,
        &p,
        &state,
        &labels_view,
        &outputs.losses,
        &outputs.predictions,
        &metrics,
    );

    let mut expected = [0.0f64; 3];
    for (round, valid) in [(1, batch), (2, 37)] {
        let logits: Vec<f32> = (0..batch * classes)
            .map(|_| rng.uniform(-3.0, 3.0))
            .collect();
        // Labels equal to the argmax for about half of the samples, so the correct count
        // is neither zero nor the whole batch.
        let argmax = first_argmax(&logits, classes);
        let labels: Vec<u32> = (0..batch)
            .map(|n| {
                if rng.below(2) == 0 {
                    argmax[n]
                } else {
                    rng.below(classes as u32)
                }
            })
            .collect();
        gpu.write_f32(&logits_view, &logits);
        gpu.write_u32(&labels_view, &labels);
        let step_values = StepState {
            valid: valid as u32,
            ..Default::default()
        };
        gpu.queue
            .write_buffer(&state, 0, bytemuck::bytes_of(&step_values));
        gpu.run(&[&loss, &accumulate]).unwrap();

        let valid_params = SoftmaxCrossEntropyParams {
            batch: valid,
            classes,
        };
        let reference = reference::softmax_cross_entropy(
            &valid_params,
            &widen(&logits[..valid * classes]),
            &labels[..valid],
        );
        expected[0] += reference.losses.iter().sum::<f64>();
        expected[1] += reference.correct.iter().filter(|&&correct| correct).count() as f64;
        expected[2] += valid as f64;

        let actual = gpu.read_f32(&metrics).unwrap();
        assert_close(
            &format!("metrics loss sum after batch {round}"),
            &actual[..1],
            &expected[..1],
            REDUCTION,
        );
        assert_eq!(
            actual[1] as f64, expected[1],
            "metrics correct count after batch {round}"
        );
        assert_eq!(
            actual[2] as f64, expected[2],
            "metrics sample count after batch {round}"
        );
        assert_eq!(
            actual[3], 0.0,
            "metrics non-finite step after batch {round} of finite losses"
        );
    }
}

/// Runs only `accumulate_metrics` on given per-sample losses, one batch per step, and
/// returns the metrics after each step.
fn accumulate_losses(gpu: &Gpu, batches: &[(u32, Vec<f32>)]) -> Vec<Vec<f32>> {
    let batch = batches[0].1.len();
    let p = SoftmaxCrossEntropyParams { batch, classes: 2 };
    let labels = gpu.storage_u32("labels", &vec![1; batch]).unwrap();
    let predictions = gpu.storage_u32("predictions", &vec![1; batch]).unwrap();
    let losses = upload(gpu, &vec![0.0; batch]);
    let state = step_state(gpu, batch);
    let metrics = upload(gpu, &[0.0; METRICS_LEN]);
    let accumulate = accumulate_metrics(gpu, &p, &state, &labels, &losses, &predictions, &metrics);
    let mut after_each = Vec::new();
    for (step, batch_losses) in batches {
        let step_values = StepState {
            step: *step,
            valid: batch as u32,
            ..Default::default()
        };
        gpu.queue
            .write_buffer(&state, 0, bytemuck::bytes_of(&step_values));
        gpu.write_f32(&losses, batch_losses);
        gpu.run(&[&accumulate]).unwrap();
        after_each.push(gpu.read_f32(&metrics).unwrap());
    }
    after_each
}

/// `metrics[3]` stays 0 while every loss is finite, then records `1 + step` of the first
/// step whose loss sum is infinite or NaN and keeps it through later steps.
#[test]
fn accumulate_metrics_records_first_non_finite_step() {
    let gpu = gpu();
    for poison in [f32::INFINITY, f32::NEG_INFINITY, f32::NAN] {
        let batches = vec![
            (0, vec![0.5, 1.5, 2.0]),
            (1, vec![0.25, 0.25, 0.5]),
            (4, vec![1.0, poison, 1.0]),
            (5, vec![f32::NAN, 1.0, 1.0]),
            (6, vec![1.0, 1.0, 1.0]),
        ];
        let after_each = accumulate_losses(&gpu, &batches);
        let recorded: Vec<f32> = after_each.iter().map(|metrics| metrics[3]).collect();
        assert_eq!(
            recorded,
            vec![0.0, 0.0, 5.0, 5.0, 5.0],
            "metrics non-finite step per step, with loss {poison} at step 4"
        );
        assert_eq!(
            after_each[1][0], 5.0,
            "metrics loss sum of two finite batches"
        );
        assert_eq!(
            after_each[4][2], 15.0,
            "metrics sample count of five batches"
        );
    }
}
