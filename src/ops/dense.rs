//! The dense layer as matrix products: operands packed by `shaders/pack.wgsl` where their
//! layout is not already k-major with whole vec4 rows, multiplied by `shaders/gemm.wgsl`;
//! `sum_rows` gives the bias gradient. `super::dense_naive` keeps the direct kernel as the
//! reference path.

use super::gemm::{gemm_tn, name_after, vecs, Bias, Gemm, OutputLayout, Scratch, ScratchLens};
use super::pack::{pad_rows, transpose_batched, Batched};
use super::reduce::sum_rows;
use super::DenseParams;
use crate::gpu::{Dispatch, Gpu, View};

/// Scratch of every pass of this layer. Dense operands are small, so they are never split
/// into chunks; the launchers panic when `scratch` is shorter.
pub fn scratch_lens(p: &DenseParams) -> ScratchLens {
    let (n, d, m) = (p.batch, p.in_features, p.out_features);
    ScratchLens {
        // Padded weight (forward), dy^T (input gradient), padded x (weight gradient).
        operand: (d * 4 * vecs(m)).max(m * 4 * vecs(n)).max(n * 4 * vecs(d)),
        // x^T (forward), weight^T (input gradient), padded dy (weight gradient).
        columns: (d * 4 * vecs(n)).max(m * 4 * vecs(d)).max(n * 4 * vecs(m)),
        partial: 0,
    }
}

/// A row-major `rows` x `cols` matrix as a k-major operand: bound as it is when its rows
/// are whole vec4s, else copied into `scratch` with padded rows.
fn padded_operand(
    gpu: &Gpu,
    rows: usize,
    cols: usize,
    src: &View,
    scratch: &View,
    dispatches: &mut Vec<Dispatch>,
) -> View {
    if cols.is_multiple_of(4) {
        return src.clone();
    }
    dispatches.push(pad_rows(gpu, rows, cols, src, scratch));
    scratch.clone()
}

/// `src` (`rows` x `cols`, row-major) transposed into `scratch` with padded rows.
fn transposed_operand(gpu: &Gpu, rows: usize, cols: usize, src: &View, scratch: &View) -> Dispatch {
    let transposed = Batched {
        groups: 1,
        rows,
        cols,
        src_offset: 0,
        reverse: false,
    };
    transpose_batched(gpu, &transposed, src, scratch)
}

/// Prepares `y = x W + b` as `y^T = W^T x^T`. Overwrites y.
///
/// # Shapes
/// - x: N, D; weight: D, M; bias: M; y: N, M.
pub fn dense_forward(
    gpu: &Gpu,
    p: &DenseParams,
    x: &View,
    weight: &View,
    bias: &View,
    y: &View,
    scratch: &Scratch,
) -> Vec<Dispatch> {
    assert_eq!(x.len, p.input_len(), "dense input length");
    assert_eq!(weight.len, p.weight_len(), "dense weight length");
    assert_eq!(bias.len, p.out_features, "dense bias length");
    assert_eq!(y.len, p.output_len(), "dense output length");
    let (n, d, m) = (p.batch, p.in_features, p.out_features);
    let mut dispatches = Vec::new();
    let a = padded_operand(gpu, d, m, weight, &scratch.operand, &mut dispatches);
    dispatches.push(transposed_operand(gpu, n, d, x, &scratch.columns));
    let product = Gemm {
        rows: m,
        cols: n,
        inner: d,
        a_row_vecs: vecs(m),
        a_offset: 0,
        b_row_vecs: vecs(n),
        b_offset: 0,
        split_len: d,
        output: OutputLayout::column_major(m),
    };
    dispatches.push(gemm_tn(
        gpu,
        &product,
        &a,
        &scratch.columns,
        Bias::PerRow(bias),
        y,
    ));
    name_after("dense::dense_forward", dispatches)
}

/// Prepares `dx = dy W^T` from dy^T and W^T. Overwrites dx.
///
/// # Shapes
/// - dy: N, M; weight: D, M; dx: N, D.
pub fn dense_backward_input(
    gpu: &Gpu,
    p: &DenseParams,
    dy: &View,
    weight: &View,
    dx: &View,
    scratch: &Scratch,
) -> Vec<Dispatch> {
    assert_eq!(dy.len, p.output_len(), "dense output-gradient length");
    assert_eq!(weight.len, p.weight_len(), "dense weight length");
    assert_eq!(dx.len, p.input_len(), "dense input-gradient length");
    let (n, d, m) = (p.batch, p.in_features, p.out_features);
    let mut dispatches = vec![
        transposed_operand(gpu, n, m, dy, &scratch.operand),
        transposed_operand(gpu, d, m, weight, &scratch.columns),
    ];
    let product = Gemm {
        rows: n,
        cols: d,
        inner: m,
        a_row_vecs: vecs(n),
        a_offset: 0,
        b_row_vecs: vecs(d),
        b_offset: 0,
        split_len: m,
        output: OutputLayout::row_major(d),
    };
    dispatches.push(gemm_tn(
        gpu,
        &product,
        &scratch.operand,
        &scratch.columns,
        Bias::None,
        dx,
    ));
    name_after("dense::dense_backward_input", dispatches)
}

/// Prepares `dW = x^T dy`, reading x and dy in place when their rows are whole vec4s.
/// Overwrites dweight.
///
/// # Shapes
/// - x: N, D; dy: N, M; dweight: D, M.
pub fn dense_backward_weight(
    gpu: &Gpu,
    p: &DenseParams,
    x: &View,
    dy: &View,
    dweight: &View,
    scratch: &Scratch,
) -> Vec<Dispatch> {
    assert_eq!(x.len, p.input_len(), "dense input length");
    assert_eq!(dy.len, p.output_len(), "dense output-gradient length");
    assert_eq!(dweight.len, p.weight_len(), "dense weight-gradient length");
    let (n, d, m) = (p.batch, p.in_features, p.out_features);
    let mut dispatches = Vec::new();
    let a = padded_operand(gpu, n, d, x, &scratch.operand, &mut dispatches);
    let b = padded_operand(gpu, n, m, dy, &scratch.columns, &mut dispatches);
    let product = Gemm {
        rows: d,
        cols: m,
        inner: n,
        a_row_vecs: vecs(d),
        a_offset: 0,
        b_row_vecs: vecs(m),
        b_offset: 0,
        split_len: n,
        output: OutputLayout::row_major(m),
    };
    dispatches.push(gemm_tn(gpu, &product, &a, &b, Bias::None, dweight));
    name_after("dense::dense_backward_weight", dispatches)
}

/// Prepares `dbias[m] = sum_n dy[n, m]`. Overwrites dbias.
///
/// # Shapes
/// - dy: N, M; dbias: M.
pub fn dense_backward_bias(gpu: &Gpu, p: &DenseParams, dy: &View, dbias: &View) -> Dispatch {
    sum_rows(gpu, p.batch, p.out_features, dy, dbias)
}
