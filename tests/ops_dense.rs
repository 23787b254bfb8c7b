//! `shaders/dense.wgsl` and the bias gradient through `shaders/reduce.wgsl` against
//! `reference::dense`, forward and all three gradients.

mod common;

use cifar_gpu::ops::dense::{
    dense_backward_bias, dense_backward_input, dense_backward_weight, dense_forward,
};
use cifar_gpu::ops::DenseParams;
use cifar_gpu::reference::dense as reference;
use common::{assert_close, gpu, poisoned, upload, widen, Rng, REDUCTION};

/// (N, D, M): a single element and sizes that leave partial 4 x 4 tiles on both sides.
/// 65 columns spill one past a multiple of 64, (32, 300, 10) is the shape of a CIFAR
/// classifier head, and (70, 9, 70) needs more 4 x 4 output tiles than one workgroup of 64
/// invocations computes.
const CASES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 17, 5),
    (2, 33, 65),
    (32, 300, 10),
    (1, 5, 3),
    (17, 3, 33),
    (70, 9, 70),
];

fn params(&(batch, in_features, out_features): &(usize, usize, usize)) -> DenseParams {
    DenseParams {
        batch,
        in_features,
        out_features,
    }
}

#[test]
fn dense_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(41);
    for case in CASES {
        let p = params(case);
        let x = rng.vector(p.input_len());
        let weight = rng.vector(p.weight_len());
        let bias = rng.vector(p.out_features);
        let y = poisoned(&gpu, p.output_len());
        let dispatch = dense_forward(
            &gpu,
            &p,
            &upload(&gpu, &x),
            &upload(&gpu, &weight),
            &upload(&gpu, &bias),
            &y,
        );
        gpu.run(&[&dispatch]).unwrap();
        let expected = reference::dense_forward(&p, &widen(&x), &widen(&weight), &widen(&bias));
        assert_close(
            &format!("dense forward {p:?}"),
            &gpu.read_f32(&y).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}

#[test]
fn dense_backward_input_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(42);
    for case in CASES {
        let p = params(case);
        let dy = rng.vector(p.output_len());
        let weight = rng.vector(p.weight_len());
        let dx = poisoned(&gpu, p.input_len());
        let dispatch =
            dense_backward_input(&gpu, &p, &upload(&gpu, &dy), &upload(&gpu, &weight), &dx);
        gpu.run(&[&dispatch]).unwrap();
        let expected = reference::dense_backward_input(&p, &widen(&dy), &widen(&weight));
        assert_close(
            &format!("dense dx {p:?}"),
            &gpu.read_f32(&dx).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}

#[test]
fn dense_backward_weight_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(43);
    for case in CASES {
        let p = params(case);
        let x = rng.vector(p.input_len());
        let dy = rng.vector(p.output_len());
        let dweight = poisoned(&gpu, p.weight_len());
        let dispatch =
            dense_backward_weight(&gpu, &p, &upload(&gpu, &x), &upload(&gpu, &dy), &dweight);
        gpu.run(&[&dispatch]).unwrap();
        let expected = reference::dense_backward_weight(&p, &widen(&x), &widen(&dy));
        assert_close(
            &format!("dense dweight {p:?}"),
            &gpu.read_f32(&dweight).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}

#[test]
fn dense_backward_bias_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(44);
    for case in CASES {
        let p = params(case);
        let dy = rng.vector(p.output_len());
        let dbias = poisoned(&gpu, p.out_features);
        let dispatch = dense_backward_bias(&gpu, &p, &upload(&gpu, &dy), &dbias);
        gpu.run(&[&dispatch]).unwrap();
        let expected = reference::dense_backward_bias(&p, &widen(&dy));
        assert_close(
            &format!("dense dbias {p:?}"),
            &gpu.read_f32(&dbias).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}
