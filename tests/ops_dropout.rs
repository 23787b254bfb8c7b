//! `shaders/dropout.wgsl` against `reference::dropout`: the mask and scale of the forward
//! and backward passes, and the mask's dependence on the step in `StepState`.

mod common;

use cifar_gpu::gpu::Gpu;
use cifar_gpu::ops::dropout::dropout_apply;
use cifar_gpu::ops::{DropoutParams, StepState};
use cifar_gpu::reference::dropout as reference;
use common::{assert_close, gpu, poisoned, upload, widen, Rng, ELEMENTWISE};

/// (L, rate, seed, layer, step): a single element, rate 0 (the identity), rates from 0.1
/// to 0.9, several seeds and layers including layer 255 (the top byte of the stream), and
/// steps up to `u32::MAX`.
const CASES: &[(usize, f32, u32, u32, u32)] = &[
    (1, 0.5, 1, 0, 0),
    (3, 0.0, 2, 0, 0),
    (17, 0.0, 7, 0, 3),
    (33, 0.25, 7, 1, 3),
    (65, 0.5, 9, 0, 1),
    (3001, 0.5, 12_345, 2, 100),
    (3001, 0.9, 0, 3, 1),
    (4097, 0.1, 0xdead_beef, 255, u32::MAX),
];

fn params(&(len, rate, seed, layer, _): &(usize, f32, u32, u32, u32)) -> DropoutParams {
    DropoutParams {
        len,
        rate,
        seed,
        layer,
    }
}

fn step_state(gpu: &Gpu, step: u32) -> wgpu::Buffer {
    let state = StepState {
        step,
        ..Default::default()
    };
    gpu.uniform("step", bytemuck::bytes_of(&state))
}

/// Values uniform in `[-1, 1)` with none exactly zero, so a zero in the output always
/// means a dropped element.
fn nonzero_vector(rng: &mut Rng, len: usize) -> Vec<f32> {
    rng.vector(len)
        .into_iter()
        .map(|value| if value == 0.0 { 0.5 } else { value })
        .collect()
}

#[test]
fn dropout_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(51);
    for case in CASES {
        let p = params(case);
        let step = case.4;
        let x = nonzero_vector(&mut rng, p.len);
        let y = poisoned(&gpu, p.len);
        let state = step_state(&gpu, step);
        let dispatch = dropout_apply(&gpu, &p, &state, &upload(&gpu, &x), &y);
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("dropout forward {p:?} step {step}"),
            &gpu.read_f32(&y).unwrap(),
            &reference::dropout_forward(&p, step, &widen(&x)),
            ELEMENTWISE,
        );
    }
}

#[test]
fn dropout_backward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(52);
    for case in CASES {
        let p = params(case);
        let step = case.4;
        let dy = nonzero_vector(&mut rng, p.len);
        let dx = poisoned(&gpu, p.len);
        let state = step_state(&gpu, step);
        let dispatch = dropout_apply(&gpu, &p, &state, &upload(&gpu, &dy), &dx);
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("dropout dx {p:?} step {step}"),
            &gpu.read_f32(&dx).unwrap(),
            &reference::dropout_backward(&p, step, &widen(&dy)),
            ELEMENTWISE,
        );
    }
}

/// One prepared dispatch, run again after the host rewrites the step, must follow the
/// reference mask of each step, and the two masks must differ.
#[test]
fn dropout_forward_matches_reference_after_step_change() {
    let gpu = gpu();
    let mut rng = Rng::new(53);
    let p = DropoutParams {
        len: 1001,
        rate: 0.5,
        seed: 77,
        layer: 1,
    };
    let x = nonzero_vector(&mut rng, p.len);
    let y = poisoned(&gpu, p.len);
    let state = step_state(&gpu, 5);
    let dispatch = dropout_apply(&gpu, &p, &state, &upload(&gpu, &x), &y);

    let mut masks = Vec::new();
    for step in [5, 6] {
        let step_values = StepState {
            step,
            ..Default::default()
        };
        gpu.queue
            .write_buffer(&state, 0, bytemuck::bytes_of(&step_values));
        gpu.run(&[&dispatch]).unwrap();
        let actual = gpu.read_f32(&y).unwrap();
        assert_close(
            &format!("dropout forward {p:?} step {step}"),
            &actual,
            &reference::dropout_forward(&p, step, &widen(&x)),
            ELEMENTWISE,
        );
        masks.push(actual.iter().map(|&value| value != 0.0).collect::<Vec<_>>());
    }

    let changed = masks[0]
        .iter()
        .zip(&masks[1])
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed > p.len / 4,
        "dropout masks of steps 5 and 6 differ in only {changed} of {} elements",
        p.len
    );
}

/// Layers with the same seed and step must draw different masks.
#[test]
fn dropout_forward_matches_reference_per_layer() {
    let gpu = gpu();
    let mut rng = Rng::new(54);
    let x = nonzero_vector(&mut rng, 1001);
    let state = step_state(&gpu, 9);
    let mut masks = Vec::new();
    for layer in [0, 1] {
        let p = DropoutParams {
            len: x.len(),
            rate: 0.5,
            seed: 3,
            layer,
        };
        let y = poisoned(&gpu, p.len);
        let dispatch = dropout_apply(&gpu, &p, &state, &upload(&gpu, &x), &y);
        gpu.run(&[&dispatch]).unwrap();
        let actual = gpu.read_f32(&y).unwrap();
        assert_close(
            &format!("dropout forward {p:?} step 9"),
            &actual,
            &reference::dropout_forward(&p, 9, &widen(&x)),
            ELEMENTWISE,
        );
        masks.push(actual.iter().map(|&value| value != 0.0).collect::<Vec<_>>());
    }

    let changed = masks[0]
        .iter()
        .zip(&masks[1])
        .filter(|(a, b)| a != b)
        .count();
    assert!(
        changed > x.len() / 4,
        "dropout masks of layers 0 and 1 differ in only {changed} of {} elements",
        x.len()
    );
}

/// The share of dropped elements is close to the rate: with 20,000 elements and rate 0.3
/// the standard deviation of the share is about 0.0032, so 0.02 is over six of them.
#[test]
fn dropout_forward_drops_rate_share() {
    let gpu = gpu();
    let mut rng = Rng::new(55);
    let p = DropoutParams {
        len: 20_000,
        rate: 0.3,
        seed: 11,
        layer: 0,
    };
    let x = nonzero_vector(&mut rng, p.len);
    let y = poisoned(&gpu, p.len);
    let state = step_state(&gpu, 2);
    let dispatch = dropout_apply(&gpu, &p, &state, &upload(&gpu, &x), &y);
    gpu.run(&[&dispatch]).unwrap();

    let dropped = gpu
        .read_f32(&y)
        .unwrap()
        .iter()
        .filter(|&&value| value == 0.0)
        .count();
    let share = dropped as f64 / p.len as f64;
    assert!(
        (share - 0.3).abs() < 0.02,
        "dropout with rate 0.3 dropped a share of {share}"
    );
}
