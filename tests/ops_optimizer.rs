//! `shaders/optimizer.wgsl` against `reference::optim`: Adam and SGD with momentum over
//! several steps, with a new gradient and learning rate written before each step.

mod common;

use cifar_gpu::gpu::Gpu;
use cifar_gpu::ops::optimizer::{adam_step, sgd_step};
use cifar_gpu::ops::{AdamParams, SgdParams, StepState};
use cifar_gpu::reference::optim as reference;
use common::{assert_close, gpu, upload, widen, Rng, Tolerance};

/// Parameter counts: one, a partial workgroup and several workgroups.
const LENGTHS: &[usize] = &[1, 17, 1000];

/// Steps run per length.
const STEPS: u32 = 12;

/// Returns the tolerance after `steps` steps. The GPU keeps weights and moments in f32
/// and rounds them every step, while the reference keeps them in f64, so the difference can grow by a few f32 roundings per
/// step. The bound grows linearly with the step count and stays far below one update,
/// which is about the learning rate (1e-3 to 1e-2) per step.
fn tolerance_after(steps: u32) -> Tolerance {
    Tolerance {
        abs: 1e-6 * steps as f64,
        rel: 1e-5 * steps as f64,
    }
}

fn write_step_state(gpu: &Gpu, buffer: &wgpu::Buffer, step: u32, learning_rate: f32) {
    let state = StepState {
        step,
        learning_rate,
        ..Default::default()
    };
    gpu.queue
        .write_buffer(buffer, 0, bytemuck::bytes_of(&state));
}

/// Gradients spread over magnitudes from 1 down to 1e-6, with random signs and some
/// exact zeros, so Adam's epsilon matters for the smallest ones.
fn gradients(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            if i % 11 == 5 {
                return 0.0;
            }
            let magnitude = 10f32.powi(-(rng.below(7) as i32));
            rng.uniform(-1.0, 1.0) * magnitude
        })
        .collect()
}

#[test]
fn adam_step_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(81);
    let p = AdamParams::default();
    for &len in LENGTHS {
        let initial = rng.vector(len);
        let weights = upload(&gpu, &initial);
        let grads = upload(&gpu, &vec![0.0; len]);
        let m = upload(&gpu, &vec![0.0; len]);
        let v = upload(&gpu, &vec![0.0; len]);
        let state = gpu.uniform("step", bytemuck::bytes_of(&StepState::default()));
        let dispatch = adam_step(&gpu, &p, &state, &grads, &weights, &m, &v);

        let mut expected_weights = widen(&initial);
        let mut expected_m = vec![0.0; len];
        let mut expected_v = vec![0.0; len];
        for t in 1..=STEPS {
            let g = gradients(&mut rng, len);
            gpu.write_f32(&grads, &g);
            write_step_state(&gpu, &state, t - 1, p.corrected_learning_rate(t));
            gpu.run(&[&dispatch]).unwrap();
            reference::adam_step(
                &p,
                t,
                &mut expected_weights,
                &widen(&g),
                &mut expected_m,
                &mut expected_v,
            );

            let tolerance = tolerance_after(t);
            assert_close(
                &format!("adam weights, {len} parameters, step {t}"),
                &gpu.read_f32(&weights).unwrap(),
                &expected_weights,
                tolerance,
            );
            assert_close(
                &format!("adam first moment, {len} parameters, step {t}"),
                &gpu.read_f32(&m).unwrap(),
                &expected_m,
                tolerance,
            );
            assert_close(
                &format!("adam second moment, {len} parameters, step {t}"),
                &gpu.read_f32(&v).unwrap(),
                &expected_v,
                tolerance,
            );
        }
    }
}

/// A larger learning rate and other betas than the defaults, so a kernel that ignored the
/// params and used the Keras defaults would fail.
#[test]
fn adam_step_matches_reference_custom_params() {
    let gpu = gpu();
    let mut rng = Rng::new(82);
    let p = AdamParams {
        learning_rate: 1e-2,
        beta1: 0.8,
        beta2: 0.99,
        epsilon: 1e-4,
    };
    let len = 17;
    let initial = rng.vector(len);
    let weights = upload(&gpu, &initial);
    let grads = upload(&gpu, &vec![0.0; len]);
    let m = upload(&gpu, &vec![0.0; len]);
    let v = upload(&gpu, &vec![0.0; len]);
    let state = gpu.uniform("step", bytemuck::bytes_of(&StepState::default()));
    let dispatch = adam_step(&gpu, &p, &state, &grads, &weights, &m, &v);

    let mut expected_weights = widen(&initial);
    let mut expected_m = vec![0.0; len];
    let mut expected_v = vec![0.0; len];
    for t in 1..=STEPS {
        let g = gradients(&mut rng, len);
        gpu.write_f32(&grads, &g);
        write_step_state(&gpu, &state, t - 1, p.corrected_learning_rate(t));
        gpu.run(&[&dispatch]).unwrap();
        reference::adam_step(
            &p,
            t,
            &mut expected_weights,
            &widen(&g),
            &mut expected_m,
            &mut expected_v,
        );
    }
    assert_close(
        &format!("adam weights after {STEPS} steps, {p:?}"),
        &gpu.read_f32(&weights).unwrap(),
        &expected_weights,
        tolerance_after(STEPS),
    );
    assert_close(
        &format!("adam first moment after {STEPS} steps, {p:?}"),
        &gpu.read_f32(&m).unwrap(),
        &expected_m,
        tolerance_after(STEPS),
    );
    assert_close(
        &format!("adam second moment after {STEPS} steps, {p:?}"),
        &gpu.read_f32(&v).unwrap(),
        &expected_v,
        tolerance_after(STEPS),
    );
}

#[test]
fn sgd_step_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(83);
    let base = SgdParams::default();
    for &len in LENGTHS {
        let initial = rng.vector(len);
        let weights = upload(&gpu, &initial);
        let grads = upload(&gpu, &vec![0.0; len]);
        let velocity = upload(&gpu, &vec![0.0; len]);
        let state = gpu.uniform("step", bytemuck::bytes_of(&StepState::default()));
        let dispatch = sgd_step(&gpu, &base, &state, &grads, &weights, &velocity);

        let mut expected_weights = widen(&initial);
        let mut expected_velocity = vec![0.0; len];
        for t in 1..=STEPS {
            let g = gradients(&mut rng, len);
            // A decaying learning rate, so a kernel that read it once would fail.
            let learning_rate = base.learning_rate / t as f32;
            gpu.write_f32(&grads, &g);
            write_step_state(&gpu, &state, t - 1, learning_rate);
            gpu.run(&[&dispatch]).unwrap();
            let p = SgdParams {
                learning_rate,
                ..base
            };
            reference::sgd_step(
                &p,
                &mut expected_weights,
                &widen(&g),
                &mut expected_velocity,
            );

            let tolerance = tolerance_after(t);
            assert_close(
                &format!("sgd weights, {len} parameters, step {t}"),
                &gpu.read_f32(&weights).unwrap(),
                &expected_weights,
                tolerance,
            );
            assert_close(
                &format!("sgd velocity, {len} parameters, step {t}"),
                &gpu.read_f32(&velocity).unwrap(),
                &expected_velocity,
                tolerance,
            );
        }
    }
}
