//! `shaders/activation.wgsl` against `reference::activation`: ReLU and tanh, forward and
//! backward.

mod common;

use cifar_gpu::ops::activation::{activation_backward, activation_forward, Activation};
use cifar_gpu::reference::activation as reference;
use common::{assert_close, gpu, poisoned, upload, widen, Rng, ELEMENTWISE};

/// Element counts: single elements, sizes just off the 64-wide workgroup, and a few
/// thousand elements spread over many workgroups.
const LENGTHS: &[usize] = &[1, 3, 17, 33, 63, 65, 3001];

/// `len` values uniform in `[-scale, scale)`, with every seventh one exactly zero so the
/// kink of ReLU and the point `tanh(0) = 0` are covered.
fn inputs(rng: &mut Rng, len: usize, scale: f32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            if i % 7 == 3 {
                0.0
            } else {
                rng.uniform(-scale, scale)
            }
        })
        .collect()
}

/// Narrows reference outputs to f32, the form the GPU keeps between passes.
fn narrow(values: &[f64]) -> Vec<f32> {
    values.iter().map(|&value| value as f32).collect()
}

#[test]
fn relu_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(21);
    for &len in LENGTHS {
        let x = inputs(&mut rng, len, 2.0);
        let y = poisoned(&gpu, len);
        let dispatch = activation_forward(&gpu, Activation::Relu, &upload(&gpu, &x), &y);
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("relu forward, {len} elements"),
            &gpu.read_f32(&y).unwrap(),
            &reference::relu_forward(&widen(&x)),
            ELEMENTWISE,
        );
    }
}

#[test]
fn relu_backward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(22);
    for &len in LENGTHS {
        let x = inputs(&mut rng, len, 2.0);
        let y = narrow(&reference::relu_forward(&widen(&x)));
        let dy = rng.vector(len);
        let dx = poisoned(&gpu, len);
        let dispatch = activation_backward(
            &gpu,
            Activation::Relu,
            &upload(&gpu, &y),
            &upload(&gpu, &dy),
            &dx,
        );
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("relu dx, {len} elements"),
            &gpu.read_f32(&dx).unwrap(),
            &reference::relu_backward(&widen(&y), &widen(&dy)),
            ELEMENTWISE,
        );
    }
}

#[test]
fn tanh_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(23);
    for &len in LENGTHS {
        // Inputs up to 6 in magnitude reach the saturated tails where tanh is within
        // 1e-5 of +-1.
        let x = inputs(&mut rng, len, 6.0);
        let y = poisoned(&gpu, len);
        let dispatch = activation_forward(&gpu, Activation::Tanh, &upload(&gpu, &x), &y);
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("tanh forward, {len} elements"),
            &gpu.read_f32(&y).unwrap(),
            &reference::tanh_forward(&widen(&x)),
            ELEMENTWISE,
        );
    }
}

#[test]
fn tanh_backward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(24);
    for &len in LENGTHS {
        let x = inputs(&mut rng, len, 3.0);
        let y = narrow(&reference::tanh_forward(&widen(&x)));
        let dy = rng.vector(len);
        let dx = poisoned(&gpu, len);
        let dispatch = activation_backward(
            &gpu,
            Activation::Tanh,
            &upload(&gpu, &y),
            &upload(&gpu, &dy),
            &dx,
        );
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("tanh dx, {len} elements"),
            &gpu.read_f32(&dx).unwrap(),
            &reference::tanh_backward(&widen(&y), &widen(&dy)),
            ELEMENTWISE,
        );
    }
}
