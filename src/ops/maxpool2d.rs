//! Launchers for `shaders/maxpool2d.wgsl`.

use super::{Cost, MaxPool2dParams};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::MAXPOOL2D;
use crate::gpu::{Binding, Dispatch, Gpu, View};

fn uniform(p: &MaxPool2dParams) -> [u32; 7] {
    [
        p.batch as u32,
        p.channels as u32,
        p.in_height as u32,
        p.in_width as u32,
        p.pool_size as u32,
        p.out_height() as u32,
        p.out_width() as u32,
    ]
}

/// Prepares the window maxima.
///
/// # Shapes
/// - x: N, C, H, W; y: N, C, P, Q.
pub fn maxpool2d_forward(gpu: &Gpu, p: &MaxPool2dParams, x: &View, y: &View) -> Dispatch {
    assert_eq!(x.len, p.input_len(), "maxpool2d input length");
    assert_eq!(y.len, p.output_len(), "maxpool2d output length");
    gpu.prepare(
        MAXPOOL2D,
        "maxpool2d_forward",
        &uniform(p),
        1,
        &[Binding::Storage(x), Binding::Storage(y)],
        grid_1d(p.output_len()),
        Cost {
            flops: (p.output_len() * p.pool_size * p.pool_size) as u64,
            bytes: 4 * (p.input_len() + p.output_len()) as u64,
        },
    )
}

/// Prepares the input gradient: each window's gradient goes to its first maximum. Overwrites dx.
///
/// # Shapes
/// - x, dx: N, C, H, W; dy: N, C, P, Q.
pub fn maxpool2d_backward(
    gpu: &Gpu,
    p: &MaxPool2dParams,
    x: &View,
    dy: &View,
    dx: &View,
) -> Dispatch {
    assert_eq!(x.len, p.input_len(), "maxpool2d input length");
    assert_eq!(dy.len, p.output_len(), "maxpool2d output-gradient length");
    assert_eq!(dx.len, p.input_len(), "maxpool2d input-gradient length");
    // One invocation per window-sized tile of each input plane, including the partial
    // tiles of trailing rows and columns that fill no window.
    let tiles =
        p.batch * p.channels * p.in_height.div_ceil(p.pool_size) * p.in_width.div_ceil(p.pool_size);
    gpu.prepare(
        MAXPOOL2D,
        "maxpool2d_backward",
        &uniform(p),
        3,
        &[
            Binding::Storage(x),
            Binding::Storage(dy),
            Binding::Storage(dx),
        ],
        grid_1d(tiles),
        Cost {
            flops: p.input_len() as u64,
            bytes: 4 * (2 * p.input_len() + p.output_len()) as u64,
        },
    )
}
