//! Launchers for `shaders/conv2d_naive.wgsl`, the plain 4 x 4 register-blocked direct
//! convolution kept as the reference path for the matrix-product kernels of
//! [`super::conv2d`]. Same contracts, with its own scratch lengths.
//!
//! The weight and bias gradients are reduced in two deterministic stages: the kernel writes
//! one partial sum per batch split, then `sum_rows` adds the splits in order. The caller
//! provides the scratch buffers, sized by [`weight_scratch_len`] and [`bias_scratch_len`].

use super::reduce::sum_rows;
use super::{Conv2dParams, Cost};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::CONV2D_NAIVE;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Samples per split of the weight-gradient reduction.
const SPLIT_LEN: usize = 1;

fn splits(p: &Conv2dParams) -> usize {
    p.batch.div_ceil(SPLIT_LEN)
}

/// Elements of the scratch buffer of [`conv2d_backward_weight`].
pub fn weight_scratch_len(p: &Conv2dParams) -> usize {
    splits(p) * p.weight_len()
}

/// Elements of the scratch buffer of [`conv2d_backward_bias`].
pub fn bias_scratch_len(p: &Conv2dParams) -> usize {
    p.batch * p.out_channels
}

fn uniform(p: &Conv2dParams) -> [u32; 11] {
    assert!(
        p.kernel_size % 2 == 1,
        "conv2d kernel size {} is not odd",
        p.kernel_size
    );
    assert!(
        p.out_height() > 0 && p.out_width() > 0,
        "conv2d output of {}x{} input with kernel {} is empty",
        p.in_height,
        p.in_width,
        p.kernel_size
    );
    [
        p.batch as u32,
        p.in_channels as u32,
        p.in_height as u32,
        p.in_width as u32,
        p.out_channels as u32,
        p.kernel_size as u32,
        p.pad() as u32,
        p.out_height() as u32,
        p.out_width() as u32,
        SPLIT_LEN as u32,
        splits(p) as u32,
    ]
}

fn tiles(a: usize, b: usize) -> usize {
    a.div_ceil(4) * b.div_ceil(4)
}

/// Prepares `y = conv(x, weight) + bias`. Overwrites y.
///
/// # Shapes
/// - x: N, C, H, W; weight: K, C, R, R; bias: K; y: N, K, P, Q.
pub fn conv2d_forward(
    gpu: &Gpu,
    p: &Conv2dParams,
    x: &View,
    weight: &View,
    bias: &View,
    y: &View,
) -> Dispatch {
    assert_eq!(x.len, p.input_len(), "conv2d input length");
    assert_eq!(weight.len, p.weight_len(), "conv2d weight length");
    assert_eq!(bias.len, p.out_channels, "conv2d bias length");
    assert_eq!(y.len, p.output_len(), "conv2d output length");
    let invocations = p.batch * p.out_height() * tiles(p.out_channels, p.out_width());
    gpu.prepare(
        CONV2D_NAIVE,
        "conv2d_forward",
        &uniform(p),
        1,
        &[
            Binding::Storage(x),
            Binding::Storage(weight),
            Binding::Storage(bias),
            Binding::Storage(y),
        ],
        grid_1d(invocations),
        Cost {
            flops: p.forward_flops(),
            bytes: 4 * (p.input_len() + p.weight_len() + p.out_channels + p.output_len()) as u64,
        },
    )
}

/// Prepares the input gradient `dx`. Overwrites dx.
///
/// # Shapes
/// - dy: N, K, P, Q; weight: K, C, R, R; dx: N, C, H, W.
pub fn conv2d_backward_input(
    gpu: &Gpu,
    p: &Conv2dParams,
    dy: &View,
    weight: &View,
    dx: &View,
) -> Dispatch {
    assert_eq!(dy.len, p.output_len(), "conv2d output-gradient length");
    assert_eq!(weight.len, p.weight_len(), "conv2d weight length");
    assert_eq!(dx.len, p.input_len(), "conv2d input-gradient length");
    let invocations = p.batch * p.in_height * tiles(p.in_channels, p.in_width);
    gpu.prepare(
        CONV2D_NAIVE,
        "conv2d_backward_input",
        &uniform(p),
        5,
        &[
            Binding::Storage(dy),
            Binding::Storage(weight),
            Binding::Storage(dx),
        ],
        grid_1d(invocations),
        Cost {
            // Counted as the transposed convolution, without the skipped border taps.
            flops: p.forward_flops(),
            bytes: 4 * (p.output_len() + p.weight_len() + p.input_len()) as u64,
        },
    )
}

/// Prepares the weight gradient in two dispatches: partial sums per batch split into
/// `scratch`, then their ordered sum into `dweight`. Overwrites dweight.
///
/// # Shapes
/// - x: N, C, H, W; dy: N, K, P, Q; scratch: [`weight_scratch_len`]; dweight: K, C, R, R.
pub fn conv2d_backward_weight(
    gpu: &Gpu,
    p: &Conv2dParams,
    x: &View,
    dy: &View,
    scratch: &View,
    dweight: &View,
) -> [Dispatch; 2] {
    assert_eq!(x.len, p.input_len(), "conv2d input length");
    assert_eq!(dy.len, p.output_len(), "conv2d output-gradient length");
    assert_eq!(
        scratch.len,
        weight_scratch_len(p),
        "conv2d weight scratch length"
    );
    assert_eq!(dweight.len, p.weight_len(), "conv2d weight-gradient length");
    let invocations = splits(p) * p.out_channels.div_ceil(4) * p.weight_len() / p.out_channels;
    let partial = gpu.prepare(
        CONV2D_NAIVE,
        "conv2d_backward_weight",
        &uniform(p),
        8,
        &[
            Binding::Storage(x),
            Binding::Storage(dy),
            Binding::Storage(scratch),
        ],
        grid_1d(invocations),
        Cost {
            flops: p.forward_flops(),
            bytes: 4 * (p.input_len() + p.output_len() + p.weight_len()) as u64,
        },
    );
    let reduce = sum_rows(gpu, splits(p), p.weight_len(), scratch, dweight);
    [partial, reduce]
}

/// Prepares the bias gradient `dbias[k] = sum_{n,p,q} dy[n,k,p,q]` in two dispatches,
/// like [`conv2d_backward_weight`]. Overwrites dbias.
///
/// # Shapes
/// - dy: N, K, P, Q; scratch: [`bias_scratch_len`]; dbias: K.
pub fn conv2d_backward_bias(
    gpu: &Gpu,
    p: &Conv2dParams,
    dy: &View,
    scratch: &View,
    dbias: &View,
) -> [Dispatch; 2] {
    assert_eq!(dy.len, p.output_len(), "conv2d output-gradient length");
    assert_eq!(
        scratch.len,
        bias_scratch_len(p),
        "conv2d bias scratch length"
    );
    assert_eq!(dbias.len, p.out_channels, "conv2d bias-gradient length");
    let partial = gpu.prepare(
        CONV2D_NAIVE,
        "conv2d_backward_bias",
        &uniform(p),
        11,
        &[Binding::Storage(dy), Binding::Storage(scratch)],
        grid_1d(p.batch * p.out_channels),
        Cost {
            flops: p.output_len() as u64,
            bytes: 4 * (p.output_len() + p.batch * p.out_channels) as u64,
        },
    );
    let reduce = sum_rows(gpu, p.batch, p.out_channels, scratch, dbias);
    [partial, reduce]
}
