//! Launchers for `shaders/dense.wgsl`: one strided matrix product with 4 x 4 tiles serves
//! the forward pass and both gradients. Kept as the reference path for [`super::dense`],
//! which packs its operands for `shaders/gemm.wgsl`.

use super::{Cost, DenseParams};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::DENSE;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Operands of one strided product `out = a b (+ bias)`, see `shaders/dense.wgsl`.
struct Product {
    rows: usize,
    cols: usize,
    inner: usize,
    a_strides: (usize, usize),
    b_strides: (usize, usize),
}

fn matmul(
    gpu: &Gpu,
    product: Product,
    a: &View,
    b: &View,
    bias: Option<&View>,
    out: &View,
) -> Dispatch {
    let Product {
        rows,
        cols,
        inner,
        a_strides,
        b_strides,
    } = product;
    let params = [
        rows as u32,
        cols as u32,
        inner as u32,
        a_strides.0 as u32,
        a_strides.1 as u32,
        b_strides.0 as u32,
        b_strides.1 as u32,
        bias.is_some() as u32,
    ];
    // Without a bias the kernel never reads binding 3, but it must still be bound.
    let bias_view = bias.unwrap_or(b);
    let bytes = 4 * (rows * inner + inner * cols + rows * cols) as u64;
    gpu.prepare(
        DENSE,
        "matmul",
        &params,
        1,
        &[
            Binding::Storage(a),
            Binding::Storage(b),
            Binding::Storage(bias_view),
            Binding::Storage(out),
        ],
        grid_1d(rows.div_ceil(4) * cols.div_ceil(4)),
        Cost {
            flops: 2 * (rows * cols * inner) as u64,
            bytes,
        },
    )
}

/// Prepares `y = x W + b`. Overwrites y.
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
) -> Dispatch {
    assert_eq!(x.len, p.input_len(), "dense input length");
    assert_eq!(weight.len, p.weight_len(), "dense weight length");
    assert_eq!(bias.len, p.out_features, "dense bias length");
    assert_eq!(y.len, p.output_len(), "dense output length");
    let (d, m) = (p.in_features, p.out_features);
    let product = Product {
        rows: p.batch,
        cols: m,
        inner: d,
        a_strides: (d, 1),
        b_strides: (m, 1),
    };
    matmul(gpu, product, x, weight, Some(bias), y)
}

/// Prepares `dx = dy W^T`. Overwrites dx.
///
/// # Shapes
/// - dy: N, M; weight: D, M; dx: N, D.
pub fn dense_backward_input(
    gpu: &Gpu,
    p: &DenseParams,
    dy: &View,
    weight: &View,
    dx: &View,
) -> Dispatch {
    assert_eq!(dy.len, p.output_len(), "dense output-gradient length");
    assert_eq!(weight.len, p.weight_len(), "dense weight length");
    assert_eq!(dx.len, p.input_len(), "dense input-gradient length");
    let (d, m) = (p.in_features, p.out_features);
    let product = Product {
        rows: p.batch,
        cols: d,
        inner: m,
        a_strides: (m, 1),
        b_strides: (1, m),
    };
    matmul(gpu, product, dy, weight, None, dx)
}

/// Prepares `dW = x^T dy`. Overwrites dweight.
///
/// # Shapes
/// - x: N, D; dy: N, M; dweight: D, M.
pub fn dense_backward_weight(
    gpu: &Gpu,
    p: &DenseParams,
    x: &View,
    dy: &View,
    dweight: &View,
) -> Dispatch {
    assert_eq!(x.len, p.input_len(), "dense input length");
    assert_eq!(dy.len, p.output_len(), "dense output-gradient length");
    assert_eq!(dweight.len, p.weight_len(), "dense weight-gradient length");
    let (d, m) = (p.in_features, p.out_features);
    let product = Product {
        rows: d,
        cols: m,
        inner: p.batch,
        a_strides: (1, d),
        b_strides: (m, 1),
    };
    matmul(gpu, product, x, dy, None, dweight)
}
