//! `shaders/conv2d.wgsl` and `shaders/conv2d_naive.wgsl` against `reference::conv`, forward
//! and all three gradients.

mod common;

use cifar_gpu::ops::conv2d::{self, bias_scratch_len, weight_scratch_len};
use cifar_gpu::ops::conv2d_naive;
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
];

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
        let y = poisoned(&gpu, p.output_len());
        let dispatch = conv2d::conv2d_forward(
            &gpu,
            &p,
            &upload(&gpu, &x),
            &upload(&gpu, &weight),
            &upload(&gpu, &bias),
            &y,
        );
        gpu.run(&[&dispatch]).unwrap();
        let expected = reference::conv2d_forward(&p, &widen(&x), &widen(&weight), &widen(&bias));
        assert_close(
            &format!("conv2d forward {p:?}"),
            &gpu.read_f32(&y).unwrap(),
            &expected,
            REDUCTION,
        );

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
        let dx = poisoned(&gpu, p.input_len());
        let dispatch = conv2d::conv2d_backward_input(
            &gpu,
            &p,
            &upload(&gpu, &dy),
            &upload(&gpu, &weight),
            &dx,
        );
        gpu.run(&[&dispatch]).unwrap();
        let expected = reference::conv2d_backward_input(&p, &widen(&dy), &widen(&weight));
        assert_close(
            &format!("conv2d dx {p:?}"),
            &gpu.read_f32(&dx).unwrap(),
            &expected,
            REDUCTION,
        );

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
        let scratch = poisoned(&gpu, weight_scratch_len(&p));
        let dweight = poisoned(&gpu, p.weight_len());
        let [partial, reduce] = conv2d::conv2d_backward_weight(
            &gpu,
            &p,
            &upload(&gpu, &x),
            &upload(&gpu, &dy),
            &scratch,
            &dweight,
        );
        gpu.run(&[&partial, &reduce]).unwrap();
        let expected = reference::conv2d_backward_weight(&p, &widen(&x), &widen(&dy));
        assert_close(
            &format!("conv2d dweight {p:?}"),
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
