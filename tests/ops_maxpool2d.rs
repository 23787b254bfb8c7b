//! `shaders/maxpool2d.wgsl` against `reference::pool`, forward and backward, including
//! windows with tied maxima and inputs whose trailing rows and columns fill no window.

mod common;

use cifar_gpu::gpu::Gpu;
use cifar_gpu::ops::maxpool2d::{maxpool2d_backward, maxpool2d_forward};
use cifar_gpu::ops::MaxPool2dParams;
use cifar_gpu::reference::pool as reference;
use common::{assert_close, gpu, poisoned, upload, widen, Rng, Tolerance};

/// Pooling copies input values and gradients without arithmetic, so the GPU must match
/// the reference exactly.
const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

/// (N, C, H, W, pool size): batch 1 and 3, channels 1, 3 and 17, and pools 2 and 3.
/// Odd sizes drop trailing rows and columns: 7x9 with pool 2 drops one row and one column,
/// and 5x7 with pool 3 drops two rows and one column. Inputs smaller than one window give
/// an empty output.
const CASES: &[(usize, usize, usize, usize, usize)] = &[
    (1, 1, 2, 2, 2),
    (1, 1, 3, 3, 3),
    (3, 3, 5, 5, 2),
    (1, 17, 7, 9, 2),
    (3, 3, 7, 9, 3),
    (2, 17, 5, 7, 3),
    (3, 1, 8, 8, 2),
    (1, 3, 1, 1, 2),
    (2, 3, 4, 2, 3),
];

fn params(case: &(usize, usize, usize, usize, usize)) -> MaxPool2dParams {
    let &(batch, channels, in_height, in_width, pool_size) = case;
    MaxPool2dParams {
        batch,
        channels,
        in_height,
        in_width,
        pool_size,
    }
}

/// `len` values drawn from four levels, all negative, so most windows hold a tied maximum
/// and a kernel that starts its maximum at zero would give a wrong result.
fn tied_values(rng: &mut Rng, len: usize) -> Vec<f32> {
    const LEVELS: [f32; 4] = [-2.0, -1.5, -0.25, -0.125];
    (0..len).map(|_| LEVELS[rng.below(4) as usize]).collect()
}

/// Runs the forward kernel on `x` and compares it with the reference.
fn check_forward(gpu: &Gpu, p: &MaxPool2dParams, x: &[f32], label: &str) {
    let y = poisoned(gpu, p.output_len());
    let dispatch = maxpool2d_forward(gpu, p, &upload(gpu, x), &y);
    gpu.run(&[&dispatch]).unwrap();
    assert_close(
        &format!("maxpool2d forward, {label}, {p:?}"),
        &gpu.read_f32(&y).unwrap(),
        &reference::maxpool2d_forward(p, &widen(x)),
        EXACT,
    );
}

/// Runs the backward kernel on `x` and a random `dy`, compares dx with the reference, and
/// checks that every input outside the pooled area gets exactly zero.
fn check_backward(gpu: &Gpu, p: &MaxPool2dParams, x: &[f32], rng: &mut Rng, label: &str) {
    let dy = rng.vector(p.output_len());
    let dx = poisoned(gpu, p.input_len());
    let dispatch = maxpool2d_backward(gpu, p, &upload(gpu, x), &upload(gpu, &dy), &dx);
    gpu.run(&[&dispatch]).unwrap();
    let actual = gpu.read_f32(&dx).unwrap();
    assert_close(
        &format!("maxpool2d dx, {label}, {p:?}"),
        &actual,
        &reference::maxpool2d_backward(p, &widen(x), &widen(&dy)),
        EXACT,
    );

    let pooled_height = p.out_height() * p.pool_size;
    let pooled_width = p.out_width() * p.pool_size;
    for (index, &value) in actual.iter().enumerate() {
        let w = index % p.in_width;
        let h = (index / p.in_width) % p.in_height;
        if h >= pooled_height || w >= pooled_width {
            assert_eq!(
                value, 0.0,
                "maxpool2d dx, {label}, {p:?}: dropped input [{index}] (h {h}, w {w}) got {value}"
            );
        }
    }
}

#[test]
fn maxpool2d_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(31);
    for case in CASES {
        let p = params(case);
        let x = rng.vector(p.input_len());
        check_forward(&gpu, &p, &x, "distinct values");
    }
}

#[test]
fn maxpool2d_forward_matches_reference_ties() {
    let gpu = gpu();
    let mut rng = Rng::new(32);
    for case in CASES {
        let p = params(case);
        let x = tied_values(&mut rng, p.input_len());
        check_forward(&gpu, &p, &x, "tied values");
    }
}

#[test]
fn maxpool2d_backward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(33);
    for case in CASES {
        let p = params(case);
        let x = rng.vector(p.input_len());
        check_backward(&gpu, &p, &x, &mut rng, "distinct values");
    }
}

/// With tied maxima the whole gradient of a window must go to its first maximum in
/// row-major order, as the reference does.
#[test]
fn maxpool2d_backward_matches_reference_ties() {
    let gpu = gpu();
    let mut rng = Rng::new(34);
    for case in CASES {
        let p = params(case);
        let x = tied_values(&mut rng, p.input_len());
        check_backward(&gpu, &p, &x, &mut rng, "tied values");
    }
}

/// Every window contains the same value, so only the first element of each window may get
/// a gradient.
#[test]
fn maxpool2d_backward_matches_reference_constant_input() {
    let gpu = gpu();
    let mut rng = Rng::new(35);
    for case in CASES {
        let p = params(case);
        let x = vec![-0.5; p.input_len()];
        check_backward(&gpu, &p, &x, &mut rng, "constant input");
    }
}
