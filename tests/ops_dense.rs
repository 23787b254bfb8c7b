//! The dense layer's two GPU paths against `reference::dense`, forward and all three
//! gradients: packed operands and matrix products (`ops::dense`) and the 4 x 4 kernel of
//! `shaders/dense.wgsl` (`ops::dense_naive`); the bias gradient runs through
//! `shaders/reduce.wgsl`.

mod common;

use cifar_gpu::gpu::{Dispatch, Gpu};
use cifar_gpu::ops::dense::{
    dense_backward_bias, dense_backward_input, dense_backward_weight, dense_forward, scratch_lens,
};
use cifar_gpu::ops::gemm::Scratch;
use cifar_gpu::ops::{dense_naive, DenseParams};
use cifar_gpu::reference::dense as reference;
use common::{assert_close, gpu, poisoned, upload, widen, Rng, REDUCTION};

/// (N, D, M): a single element and sizes that leave partial 4 x 4 tiles on both sides.
/// 65 columns spill one past a multiple of 64, (32, 300, 10) is the shape of a CIFAR
/// classifier head, and (70, 9, 70) needs more 4 x 4 output tiles than one workgroup of 64
/// invocations computes. (5, 8, 12) and (4, 64, 16) have rows of whole vec4s, which the
/// matrix-product path reads without packing.
const CASES: &[(usize, usize, usize)] = &[
    (1, 1, 1),
    (3, 17, 5),
    (2, 33, 65),
    (32, 300, 10),
    (1, 5, 3),
    (17, 3, 33),
    (70, 9, 70),
    (5, 8, 12),
    (4, 64, 16),
];

/// Scratch for the matrix-product path, filled with NaN so an unwritten padding element
/// shows up in the output.
fn scratch(gpu: &Gpu, p: &DenseParams) -> Scratch {
    Scratch::allocate(
        |_, len| Ok::<_, cifar_gpu::gpu::GpuError>(poisoned(gpu, len)),
        scratch_lens(p),
    )
    .expect("scratch buffers")
}

fn run(gpu: &Gpu, dispatches: &[Dispatch]) {
    let list: Vec<&Dispatch> = dispatches.iter().collect();
    gpu.run(&list).unwrap();
}

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
        let expected = reference::dense_forward(&p, &widen(&x), &widen(&weight), &widen(&bias));
        let y = poisoned(&gpu, p.output_len());
        let dispatches = dense_forward(
            &gpu,
            &p,
            &upload(&gpu, &x),
            &upload(&gpu, &weight),
            &upload(&gpu, &bias),
            &y,
            &scratch(&gpu, &p),
        );
        run(&gpu, &dispatches);
        assert_close(
            &format!("dense forward {p:?}"),
            &gpu.read_f32(&y).unwrap(),
            &expected,
            REDUCTION,
        );

        let y_naive = poisoned(&gpu, p.output_len());
        let dispatch = dense_naive::dense_forward(
            &gpu,
            &p,
            &upload(&gpu, &x),
            &upload(&gpu, &weight),
            &upload(&gpu, &bias),
            &y_naive,
        );
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("dense naive forward {p:?}"),
            &gpu.read_f32(&y_naive).unwrap(),
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
        let expected = reference::dense_backward_input(&p, &widen(&dy), &widen(&weight));
        let (dy, weight) = (upload(&gpu, &dy), upload(&gpu, &weight));
        let dx = poisoned(&gpu, p.input_len());
        let dispatches = dense_backward_input(&gpu, &p, &dy, &weight, &dx, &scratch(&gpu, &p));
        run(&gpu, &dispatches);
        assert_close(
            &format!("dense dx {p:?}"),
            &gpu.read_f32(&dx).unwrap(),
            &expected,
            REDUCTION,
        );

        let dx_naive = poisoned(&gpu, p.input_len());
        let dispatch = dense_naive::dense_backward_input(&gpu, &p, &dy, &weight, &dx_naive);
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("dense naive dx {p:?}"),
            &gpu.read_f32(&dx_naive).unwrap(),
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
        let expected = reference::dense_backward_weight(&p, &widen(&x), &widen(&dy));
        let (x, dy) = (upload(&gpu, &x), upload(&gpu, &dy));
        let dweight = poisoned(&gpu, p.weight_len());
        let dispatches = dense_backward_weight(&gpu, &p, &x, &dy, &dweight, &scratch(&gpu, &p));
        run(&gpu, &dispatches);
        assert_close(
            &format!("dense dweight {p:?}"),
            &gpu.read_f32(&dweight).unwrap(),
            &expected,
            REDUCTION,
        );

        let dweight_naive = poisoned(&gpu, p.weight_len());
        let dispatch = dense_naive::dense_backward_weight(&gpu, &p, &x, &dy, &dweight_naive);
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("dense naive dweight {p:?}"),
            &gpu.read_f32(&dweight_naive).unwrap(),
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
