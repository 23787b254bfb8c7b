//! The convolution's two GPU paths against `reference::conv`, forward and all three
//! gradients: packed operands and matrix products (`ops::conv2d`, whole batch and in
//! chunks of samples), and the direct 4 x 4 kernels of `shaders/conv2d_naive.wgsl`.

mod common;

use cifar_gpu::gpu::{Dispatch, Gpu};
use cifar_gpu::ops::conv2d::{self, bias_scratch_len};
use cifar_gpu::ops::conv2d_naive;
use cifar_gpu::ops::gemm::{Scratch, ScratchLens};
use cifar_gpu::ops::{Conv2dParams, Padding};
use cifar_gpu::reference::conv as reference;
use common::{assert_close, gpu, poisoned, upload, widen, Rng, REDUCTION};

/// (N, C, H, W, K, R, padding): batch 1 and 3, channels 1, 3 and 17, spatial 1x1, 5x5 and
/// 7x9, sizes that are not multiples of the 4-wide tiles or the workgroup.
const CASES: &[(usize, usize, usize, usize, usize, usize, Padding)] = &[
    (1, 1, 1, 1, 1, 1, Padding::Same),
    (1, 1, 1, 1, 3, 3, Padding::Same),
    (3, 3, 5, 5, 17, 3, Padding::Same),
    (3, 3, 5, 5, 17, 3, Padding::Valid),
    (1, 17, 7, 9, 3, 5, Padding::Same),
    (3, 17, 7, 9, 5, 3, Padding::Valid),
    (2, 3, 33, 17, 33, 3, Padding::Same),
    (1, 1, 5, 5, 1, 5, Padding::Valid),
    (2, 9, 6, 19, 11, 3, Padding::Same),
    (3, 17, 7, 9, 17, 1, Padding::Valid),
    // 5 x 899 positions span several splits of the weight-gradient product.
    (5, 2, 31, 29, 4, 3, Padding::Same),
];

/// Scratch for the matrix-product path, filled with NaN so an unwritten padding element
/// shows up in the output.
fn scratch(gpu: &Gpu, lens: ScratchLens) -> Scratch {
    Scratch::allocate(
        |_, len| Ok::<_, cifar_gpu::gpu::GpuError>(poisoned(gpu, len)),
        lens,
    )
    .expect("scratch buffers")
}

/// Pass of the convolution, for its scratch lengths.
#[derive(Clone, Copy, PartialEq)]
enum Pass {
    Forward,
    InputGradient,
    WeightGradient,
}

/// Scratch lengths of the two matrix-product variants tested: the whole batch in one
/// chunk, and exactly the packed operands of one sample of `pass`, which forces chunks of
/// one sample.
fn scratch_variants(p: &Conv2dParams, pass: Pass) -> [(&'static str, ScratchLens); 2] {
    let vecs = |len: usize| len.div_ceil(4);
    let area = p.kernel_size * p.kernel_size;
    let (in_plane, out_plane) = (p.in_height * p.in_width, p.out_height() * p.out_width());
    let (taps, k) = (p.in_channels * area, p.out_channels);
    let (operand, columns) = match pass {
        Pass::Forward => (taps * 4 * vecs(k), taps * 4 * vecs(out_plane)),
        Pass::InputGradient => (
            k * area * 4 * vecs(p.in_channels),
            k * area * 4 * vecs(in_plane),
        ),
        Pass::WeightGradient => (out_plane * 4 * vecs(k), out_plane * 4 * vecs(taps)),
    };
    let mut one_sample = ScratchLens {
        operand,
        columns,
        partial: 0,
    };
    one_sample.partial = conv2d::weight_scratch_len(p, &one_sample);
    [
        ("gemm", conv2d::scratch_lens(p, usize::MAX)),
        ("gemm chunked", one_sample),
    ]
}

fn run(gpu: &Gpu, dispatches: &[Dispatch]) {
    let list: Vec<&Dispatch> = dispatches.iter().collect();
    gpu.run(&list).unwrap();
}

fn params(case: &(usize, usize, usize, usize, usize, usize, Padding)) -> Conv2dParams {
    let &(batch, in_channels, in_height, in_width, out_channels, kernel_size, padding) = case;
    Conv2dParams {
        batch,
        in_channels,
        in_height,
        in_width,
        out_channels,
        kernel_size,
        padding,
    }
}

#[test]
fn conv2d_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(11);
    for case in CASES {
        let p = params(case);
        let (x, weight, bias) = (
            rng.vector(p.input_len()),
            rng.vector(p.weight_len()),
            rng.vector(p.out_channels),
        );
        let expected = reference::conv2d_forward(&p, &widen(&x), &widen(&weight), &widen(&bias));
        for (path, lens) in scratch_variants(&p, Pass::Forward) {
            let y = poisoned(&gpu, p.output_len());
            let dispatches = conv2d::conv2d_forward(
                &gpu,
                &p,
                &upload(&gpu, &x),
                &upload(&gpu, &weight),
                &upload(&gpu, &bias),
                &y,
                &scratch(&gpu, lens),
            );
            // One chunk takes the transposed weight, an unrolled input and a product.
            if path == "gemm chunked" {
                assert_eq!(
                    dispatches.len(),
                    1 + 2 * p.batch,
                    "{path} forward {p:?} chunks"
                );
            }
            run(&gpu, &dispatches);
            assert_close(
                &format!("conv2d {path} forward {p:?}"),
                &gpu.read_f32(&y).unwrap(),
                &expected,
                REDUCTION,
            );
        }

        let y_naive = poisoned(&gpu, p.output_len());
        let dispatch = conv2d_naive::conv2d_forward(
            &gpu,
            &p,
            &upload(&gpu, &x),
            &upload(&gpu, &weight),
            &upload(&gpu, &bias),
            &y_naive,
        );
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("conv2d naive forward {p:?}"),
            &gpu.read_f32(&y_naive).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}

#[test]
fn conv2d_backward_input_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(12);
    for case in CASES {
        let p = params(case);
        let (dy, weight) = (rng.vector(p.output_len()), rng.vector(p.weight_len()));
        let expected = reference::conv2d_backward_input(&p, &widen(&dy), &widen(&weight));
        for (path, lens) in scratch_variants(&p, Pass::InputGradient) {
            let dx = poisoned(&gpu, p.input_len());
            let dispatches = conv2d::conv2d_backward_input(
                &gpu,
                &p,
                &upload(&gpu, &dy),
                &upload(&gpu, &weight),
                &dx,
                &scratch(&gpu, lens),
            );
            run(&gpu, &dispatches);
            assert_close(
                &format!("conv2d {path} dx {p:?}"),
                &gpu.read_f32(&dx).unwrap(),
                &expected,
                REDUCTION,
            );
        }

        let dx_naive = poisoned(&gpu, p.input_len());
        let dispatch = conv2d_naive::conv2d_backward_input(
            &gpu,
            &p,
            &upload(&gpu, &dy),
            &upload(&gpu, &weight),
            &dx_naive,
        );
        gpu.run(&[&dispatch]).unwrap();
        assert_close(
            &format!("conv2d naive dx {p:?}"),
            &gpu.read_f32(&dx_naive).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}

#[test]
fn conv2d_backward_weight_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(13);
    for case in CASES {
        let p = params(case);
        let (x, dy) = (rng.vector(p.input_len()), rng.vector(p.output_len()));
        let expected = reference::conv2d_backward_weight(&p, &widen(&x), &widen(&dy));
        for (path, lens) in scratch_variants(&p, Pass::WeightGradient) {
            let dweight = poisoned(&gpu, p.weight_len());
            let dispatches = conv2d::conv2d_backward_weight(
                &gpu,
                &p,
                &upload(&gpu, &x),
                &upload(&gpu, &dy),
                &scratch(&gpu, lens),
                &dweight,
            );
            // Each chunk takes a transposed dy, an unrolled input and a product; then one
            // ordered sum.
            if path == "gemm chunked" {
                assert_eq!(
                    dispatches.len(),
                    3 * p.batch + 1,
                    "{path} dweight {p:?} chunks"
                );
            }
            run(&gpu, &dispatches);
            assert_close(
                &format!("conv2d {path} dweight {p:?}"),
                &gpu.read_f32(&dweight).unwrap(),
                &expected,
                REDUCTION,
            );
        }

        let scratch = poisoned(&gpu, conv2d_naive::weight_scratch_len(&p));
        let dweight = poisoned(&gpu, p.weight_len());
        let (x, dy) = (upload(&gpu, &x), upload(&gpu, &dy));
        let [partial, reduce] =
            conv2d_naive::conv2d_backward_weight(&gpu, &p, &x, &dy, &scratch, &dweight);
        gpu.run(&[&partial, &reduce]).unwrap();
        assert_close(
            &format!("conv2d naive dweight {p:?}"),
            &gpu.read_f32(&dweight).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}

#[test]
fn conv2d_backward_bias_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(14);
    for case in CASES {
        let p = params(case);
        let dy = rng.vector(p.output_len());
        let scratch = poisoned(&gpu, bias_scratch_len(&p));
        let dbias = poisoned(&gpu, p.out_channels);
        let [partial, reduce] =
            conv2d::conv2d_backward_bias(&gpu, &p, &upload(&gpu, &dy), &scratch, &dbias);
        gpu.run(&[&partial, &reduce]).unwrap();
        let expected = reference::conv2d_backward_bias(&p, &widen(&dy));
        assert_close(
            &format!("conv2d dbias {p:?}"),
            &gpu.read_f32(&dbias).unwrap(),
            &expected,
            REDUCTION,
        );
    }
}
