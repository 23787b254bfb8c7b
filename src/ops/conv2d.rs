//! The convolution as matrix products: operands packed by `shaders/pack.wgsl`, multiplied
//! by `shaders/gemm.wgsl`.
//!
//! With L = C*R*R taps and one column per output position (n, p, q):
//! - forward: `y = W col(x) + bias`, W read as its transpose (L x K);
//! - input gradient: the forward convolution of dy with `W'[c][k][r][s] =
//!   W[k][c][R-1-r][R-1-s]` and padding `R - 1 - pad`;
//! - weight gradient: `dW = dy^T colT(x)`, summed over positions in split-K partials that
//!   `sum_rows` adds in order, so the result is deterministic.
//!
//! The batch is processed in chunks of samples whose packed operands fit the scratch
//! buffers the caller passes, so a batch whose unrolled image exceeds the storage binding
//! limit still runs. [`scratch_lens`] sizes the scratch for a bound in floats.
//! `super::conv2d_naive` keeps the straightforward direct kernels as the reference path,
//! and its bias-gradient kernel serves this path too.

use super::gemm::{gemm_tn, name_after, vecs, Bias, Gemm, OutputLayout, Scratch, ScratchLens};
use super::pack::{im2col, im2col_transposed, transpose_batched, Batched, Unroll};
use super::reduce::sum_rows;
use super::Conv2dParams;
use crate::gpu::{Dispatch, Gpu, View};

pub use super::conv2d_naive::{bias_scratch_len, conv2d_backward_bias};

/// Positions (rows of the packed operands) summed by one split of the weight gradient.
/// Shorter splits give more workgroups to run in parallel but more partial sums to add.
/// At 2048, adding the partial sums of the classic model's layers took at most 2% of the
/// product's time (lavapipe, 2 CPU cores, batch 32).
const WEIGHT_SPLIT_LEN: usize = 2048;

/// Scratch elements of one chunk of the product `operand^T columns`, whose operand has
/// `operand_rows` rows of the unrolled taps.
fn unrolled_product_lens(u: &Unroll, operand_rows: usize) -> ScratchLens {
    ScratchLens {
        operand: u.taps() * 4 * vecs(operand_rows),
        columns: u.taps() * 4 * vecs(u.positions()),
        partial: 0,
    }
}

/// Scratch elements of one chunk of `samples` samples in each pass.
fn forward_lens(p: &Conv2dParams, samples: usize) -> ScratchLens {
    unrolled_product_lens(&Unroll::input(p, 0, samples), p.out_channels)
}

fn backward_input_lens(p: &Conv2dParams, samples: usize) -> ScratchLens {
    unrolled_product_lens(&Unroll::output_gradient(p, 0, samples), p.in_channels)
}

fn backward_weight_lens(p: &Conv2dParams, samples: usize) -> ScratchLens {
    let u = Unroll::input(p, 0, samples);
    ScratchLens {
        operand: u.positions() * 4 * vecs(p.out_channels),
        columns: u.positions() * 4 * vecs(u.taps()),
        partial: 0,
    }
}

/// Largest chunk of samples, at most the batch, whose operands fit `capacity`, or one
/// sample when none fits.
fn chunk_samples(
    p: &Conv2dParams,
    lens: fn(&Conv2dParams, usize) -> ScratchLens,
    capacity: ScratchLens,
) -> usize {
    let fits = |samples: usize| {
        let need = lens(p, samples);
        need.operand <= capacity.operand && need.columns <= capacity.columns
    };
    // The need grows with the chunk, so bisect for the last chunk that fits.
    let (mut low, mut high) = (1, p.batch);
    while low < high {
        let middle = (low + high).div_ceil(2);
        if fits(middle) {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    low
}

/// [`chunk_samples`] for a launcher, which cannot run when one sample does not fit.
fn checked_chunk_samples(
    p: &Conv2dParams,
    lens: fn(&Conv2dParams, usize) -> ScratchLens,
    scratch: &Scratch,
) -> usize {
    let capacity = ScratchLens {
        operand: scratch.operand.len,
        columns: scratch.columns.len,
        partial: scratch.partial.len,
    };
    let samples = chunk_samples(p, lens, capacity);
    let need = lens(p, samples);
    assert!(
        need.operand <= capacity.operand && need.columns <= capacity.columns,
        "conv2d {p:?}: one sample needs scratch {need:?}, more than the {capacity:?} given"
    );
    samples
}

/// Sample ranges `(first, count)` of the chunks covering the batch.
fn chunks(batch: usize, samples: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..batch)
        .step_by(samples)
        .map(move |first| (first, samples.min(batch - first)))
}

/// Partial sums of the weight gradient: one per split of every chunk.
fn weight_splits(p: &Conv2dParams, samples: usize) -> usize {
    let plane = p.out_height() * p.out_width();
    chunks(p.batch, samples)
        .map(|(_, count)| (count * plane).div_ceil(WEIGHT_SPLIT_LEN))
        .sum()
}

/// Elements of the partial-sum scratch of [`conv2d_backward_weight`] when its packed
/// operands have the `operand` and `columns` elements of `capacity`. The count depends on
/// how the batch splits into chunks, so size it with the capacity of the scratch that the
/// launcher will get.
pub fn weight_scratch_len(p: &Conv2dParams, capacity: &ScratchLens) -> usize {
    let samples = chunk_samples(p, backward_weight_lens, *capacity);
    weight_splits(p, samples) * p.weight_len()
}

/// Packed-operand scratch that serves every pass of this convolution with each packed
/// operand limited to `bound` floats, for example `gpu.max_binding_bytes() / 4` (or the
/// size of one sample, when that is larger), and the
/// partial sums for exactly that scratch. A scratch shared with larger layers needs its
/// partial length recomputed with [`weight_scratch_len`].
pub fn scratch_lens(p: &Conv2dParams, bound: usize) -> ScratchLens {
    let capacity = ScratchLens {
        operand: bound,
        columns: bound,
        partial: 0,
    };
    let mut lens = ScratchLens::default();
    let passes: [fn(&Conv2dParams, usize) -> ScratchLens; 3] =
        [forward_lens, backward_input_lens, backward_weight_lens];
    for pass in passes {
        let samples = chunk_samples(p, pass, capacity);
        lens = lens.max(pass(p, samples));
    }
    lens.partial = weight_scratch_len(p, &lens).max(bias_scratch_len(p));
    lens
}

fn check_shape(p: &Conv2dParams) {
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
}

/// Prepares `y = conv(x, weight) + bias`: the transposed weight, then an unrolled input
/// and one product per chunk of samples. Overwrites y.
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
    scratch: &Scratch,
) -> Vec<Dispatch> {
    check_shape(p);
    assert_eq!(x.len, p.input_len(), "conv2d input length");
    assert_eq!(weight.len, p.weight_len(), "conv2d weight length");
    assert_eq!(bias.len, p.out_channels, "conv2d bias length");
    assert_eq!(y.len, p.output_len(), "conv2d output length");
    let samples = checked_chunk_samples(p, forward_lens, scratch);
    let (k, plane) = (p.out_channels, p.out_height() * p.out_width());
    let taps = p.weight_len() / k;

    // weightT[l][k] = weight[k][l].
    let transposed = Batched {
        groups: 1,
        rows: k,
        cols: taps,
        src_offset: 0,
        reverse: false,
    };
    let mut dispatches = vec![transpose_batched(
        gpu,
        &transposed,
        weight,
        &scratch.operand,
    )];
    for (first, count) in chunks(p.batch, samples) {
        let unroll = Unroll::input(p, first, count);
        dispatches.push(im2col(gpu, &unroll, x, &scratch.columns));
        let product = Gemm {
            rows: k,
            cols: unroll.positions(),
            inner: taps,
            a_row_vecs: vecs(k),
            a_offset: 0,
            b_row_vecs: vecs(unroll.positions()),
            b_offset: 0,
            split_len: taps,
            // Column j = (n - first) * P*Q + pq lands at y[n][k][pq].
            output: OutputLayout {
                offset: first * k * plane,
                split_stride: 0,
                col_group: plane,
                group_stride: k * plane,
                row_stride: plane,
                col_stride: 1,
            },
        };
        dispatches.push(gemm_tn(
            gpu,
            &product,
            &scratch.operand,
            &scratch.columns,
            Bias::PerRow(bias),
            y,
        ));
    }
    name_after("conv2d::conv2d_forward", dispatches)
}

/// Prepares the input gradient `dx` as the forward convolution of dy with the flipped,
/// transposed weight. Overwrites dx.
///
/// # Shapes
/// - dy: N, K, P, Q; weight: K, C, R, R; dx: N, C, H, W.
pub fn conv2d_backward_input(
    gpu: &Gpu,
    p: &Conv2dParams,
    dy: &View,
    weight: &View,
    dx: &View,
    scratch: &Scratch,
) -> Vec<Dispatch> {
    check_shape(p);
    assert_eq!(dy.len, p.output_len(), "conv2d output-gradient length");
    assert_eq!(weight.len, p.weight_len(), "conv2d weight length");
    assert_eq!(dx.len, p.input_len(), "conv2d input-gradient length");
    let samples = checked_chunk_samples(p, backward_input_lens, scratch);
    let (c, plane) = (p.in_channels, p.in_height * p.in_width);
    let kernel_area = p.kernel_size * p.kernel_size;

    // flipped[(k, r, s)][c] = weight[k][c][R-1-r][R-1-s].
    let flipped = Batched {
        groups: p.out_channels,
        rows: c,
        cols: kernel_area,
        src_offset: 0,
        reverse: true,
    };
    let mut dispatches = vec![transpose_batched(gpu, &flipped, weight, &scratch.operand)];
    for (first, count) in chunks(p.batch, samples) {
        let unroll = Unroll::output_gradient(p, first, count);
        dispatches.push(im2col(gpu, &unroll, dy, &scratch.columns));
        let product = Gemm {
            rows: c,
            cols: unroll.positions(),
            inner: unroll.taps(),
            a_row_vecs: vecs(c),
            a_offset: 0,
            b_row_vecs: vecs(unroll.positions()),
            b_offset: 0,
            split_len: unroll.taps(),
            // Column j = (n - first) * H*W + hw lands at dx[n][c][hw].
            output: OutputLayout {
                offset: first * c * plane,
                split_stride: 0,
                col_group: plane,
                group_stride: c * plane,
                row_stride: plane,
                col_stride: 1,
            },
        };
        dispatches.push(gemm_tn(
            gpu,
            &product,
            &scratch.operand,
            &scratch.columns,
            Bias::None,
            dx,
        ));
    }
    name_after("conv2d::conv2d_backward_input", dispatches)
}

/// Prepares the weight gradient `dW[k][l] = sum_{n,p,q} dy[n,k,p,q] col(x)[l][n,p,q]`:
/// per chunk of samples, the transposed dy, the transposed unrolled input and one product
/// with a partial sum per split; then the ordered sum of all partials. Overwrites dweight.
///
/// # Shapes
/// - x: N, C, H, W; dy: N, K, P, Q; dweight: K, C, R, R; scratch.partial: at least
///   [`weight_scratch_len`] of the other two scratch lengths.
pub fn conv2d_backward_weight(
    gpu: &Gpu,
    p: &Conv2dParams,
    x: &View,
    dy: &View,
    scratch: &Scratch,
    dweight: &View,
) -> Vec<Dispatch> {
    check_shape(p);
    assert_eq!(x.len, p.input_len(), "conv2d input length");
    assert_eq!(dy.len, p.output_len(), "conv2d output-gradient length");
    assert_eq!(dweight.len, p.weight_len(), "conv2d weight-gradient length");
    let samples = checked_chunk_samples(p, backward_weight_lens, scratch);
    let total_splits = weight_splits(p, samples);
    assert!(
        scratch.partial.len >= total_splits * p.weight_len(),
        "conv2d weight gradient needs {} partial-sum floats, scratch has {}",
        total_splits * p.weight_len(),
        scratch.partial.len
    );
    let (k, plane) = (p.out_channels, p.out_height() * p.out_width());
    let taps = p.weight_len() / k;

    let mut dispatches = Vec::new();
    let mut first_split = 0;
    for (first, count) in chunks(p.batch, samples) {
        // dyT[(n, pq)][k] = dy[n][k][pq] over the chunk's samples.
        let transposed = Batched {
            groups: count,
            rows: k,
            cols: plane,
            src_offset: first * k * plane,
            reverse: false,
        };
        dispatches.push(transpose_batched(gpu, &transposed, dy, &scratch.operand));
        let unroll = Unroll::input(p, first, count);
        dispatches.push(im2col_transposed(gpu, &unroll, x, &scratch.columns));
        let product = Gemm {
            rows: k,
            cols: taps,
            inner: unroll.positions(),
            a_row_vecs: vecs(k),
            a_offset: 0,
            b_row_vecs: vecs(taps),
            b_offset: 0,
            split_len: WEIGHT_SPLIT_LEN,
            output: OutputLayout {
                offset: first_split * p.weight_len(),
                split_stride: p.weight_len(),
                ..OutputLayout::row_major(taps)
            },
        };
        first_split += product.splits();
        dispatches.push(gemm_tn(
            gpu,
            &product,
            &scratch.operand,
            &scratch.columns,
            Bias::None,
            &scratch.partial,
        ));
    }
    dispatches.push(sum_rows(
        gpu,
        total_splits,
        p.weight_len(),
        &scratch.partial,
        dweight,
    ));
    name_after("conv2d::conv2d_backward_weight", dispatches)
}
