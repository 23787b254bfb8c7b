//! Launchers for `shaders/pack.wgsl`: copies that turn images, gradients and weights into
//! the k-major, vec4-padded operands of [`super::gemm::gemm_tn`].

use super::gemm::vecs;
use super::{Conv2dParams, Cost};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::PACK;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Mirrors `Params` in `shaders/pack.wgsl`; fields an entry point does not read stay zero.
#[derive(Default)]
struct PackParams {
    dst_rows: usize,
    dst_row_vecs: usize,
    src_offset: usize,
    groups: usize,
    rows: usize,
    cols: usize,
    reverse: bool,
    unroll: Option<Unroll>,
}

/// An image batch unrolled for a stride-1 convolution, see [`im2col`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Unroll {
    pub channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub out_height: usize,
    pub out_width: usize,
    pub kernel_size: usize,
    pub pad: usize,
    pub sample_begin: usize,
    pub samples: usize,
}

impl Unroll {
    /// Unrolls the input x of a forward pass or weight gradient.
    pub fn input(p: &Conv2dParams, sample_begin: usize, samples: usize) -> Self {
        Self {
            channels: p.in_channels,
            in_height: p.in_height,
            in_width: p.in_width,
            out_height: p.out_height(),
            out_width: p.out_width(),
            kernel_size: p.kernel_size,
            pad: p.pad(),
            sample_begin,
            samples,
        }
    }

    /// Unrolls the output gradient dy for the input gradient, which is the forward
    /// convolution of dy with the flipped kernel and padding `R - 1 - pad`.
    pub fn output_gradient(p: &Conv2dParams, sample_begin: usize, samples: usize) -> Self {
        Self {
            channels: p.out_channels,
            in_height: p.out_height(),
            in_width: p.out_width(),
            out_height: p.in_height,
            out_width: p.in_width,
            kernel_size: p.kernel_size,
            pad: p.kernel_size - 1 - p.pad(),
            sample_begin,
            samples,
        }
    }

    /// Rows of `col`: one per (channel, kernel row, kernel column).
    pub fn taps(&self) -> usize {
        self.channels * self.kernel_size * self.kernel_size
    }

    /// Columns of `col`: one per (sample, output row, output column).
    pub fn positions(&self) -> usize {
        self.samples * self.out_height * self.out_width
    }
}

fn to_u32(value: usize, what: &str) -> u32 {
    u32::try_from(value).unwrap_or_else(|_| panic!("pack {what} {value} does not fit in u32"))
}

/// Prepares `entry` over `invocations` work items; see the grid of each entry point in
/// `shaders/pack.wgsl`.
fn prepare(
    gpu: &Gpu,
    entry: &'static str,
    p: &PackParams,
    invocations: usize,
    src: &View,
    dst: &View,
) -> Dispatch {
    let dst_vecs = p.dst_rows * p.dst_row_vecs;
    assert!(
        dst.len >= 4 * dst_vecs,
        "pack {entry} output of {} floats is shorter than {} rows of {} vec4s",
        dst.len,
        p.dst_rows,
        p.dst_row_vecs
    );
    let u = p.unroll.unwrap_or_default();
    let params = [
        to_u32(p.dst_rows, "rows"),
        to_u32(p.dst_row_vecs, "row length"),
        to_u32(p.src_offset, "source offset"),
        to_u32(p.groups, "groups"),
        to_u32(p.rows, "source rows"),
        to_u32(p.cols, "source columns"),
        p.reverse as u32,
        to_u32(u.channels, "channels"),
        to_u32(u.in_height, "height"),
        to_u32(u.in_width, "width"),
        to_u32(u.out_height, "output height"),
        to_u32(u.out_width, "output width"),
        to_u32(u.kernel_size, "kernel size"),
        to_u32(u.pad, "padding"),
        to_u32(u.sample_begin, "first sample"),
        to_u32(u.samples, "samples"),
    ];
    gpu.prepare(
        PACK,
        entry,
        &params,
        1,
        &[Binding::Storage(src), Binding::Storage(dst)],
        grid_1d(invocations),
        Cost {
            flops: 0,
            bytes: 2 * 16 * dst_vecs as u64,
        },
    )
}

fn check_unroll(u: &Unroll, src: &View) {
    let images = (u.sample_begin + u.samples) * u.channels * u.in_height * u.in_width;
    assert!(
        src.len >= images,
        "im2col source of {} floats is shorter than {} samples of {}x{}x{}",
        src.len,
        u.sample_begin + u.samples,
        u.channels,
        u.in_height,
        u.in_width
    );
    assert_eq!(
        u.in_height + 2 * u.pad + 1,
        u.out_height + u.kernel_size,
        "im2col output height"
    );
    assert_eq!(
        u.in_width + 2 * u.pad + 1,
        u.out_width + u.kernel_size,
        "im2col output width"
    );
}

/// Prepares `col[l][j]`, one row per tap `l = (c, r, s)` and one column per position
/// `j = (n - sample_begin, p, q)`, rows padded with zeros to `vecs(u.positions())` vec4s.
/// Overwrites dst.
///
/// # Shapes
/// - src: N, C, H, W (of `u`); dst: at least taps x 4 * vecs(positions).
pub fn im2col(gpu: &Gpu, u: &Unroll, src: &View, dst: &View) -> Dispatch {
    check_unroll(u, src);
    let p = PackParams {
        dst_rows: u.taps(),
        dst_row_vecs: vecs(u.positions()),
        unroll: Some(*u),
        ..Default::default()
    };
    // One invocation per (tap, sample, output row).
    let runs = u.taps() * u.samples * u.out_height;
    prepare(gpu, "im2col", &p, runs, src, dst)
}

/// Prepares `colT[j][l]`, the transpose of [`im2col`]'s matrix, rows padded with zeros to
/// `vecs(u.taps())` vec4s. Overwrites dst.
///
/// # Shapes
/// - src: N, C, H, W (of `u`); dst: at least positions x 4 * vecs(taps).
pub fn im2col_transposed(gpu: &Gpu, u: &Unroll, src: &View, dst: &View) -> Dispatch {
    check_unroll(u, src);
    let p = PackParams {
        dst_rows: u.positions(),
        dst_row_vecs: vecs(u.taps()),
        unroll: Some(*u),
        ..Default::default()
    };
    // One invocation per destination row.
    prepare(gpu, "im2col_transposed", &p, p.dst_rows, src, dst)
}

/// A batch of row-major matrices `[groups][rows][cols]` starting `src_offset` floats into
/// the source, see [`transpose_batched`].
#[derive(Clone, Copy, Debug)]
pub struct Batched {
    pub groups: usize,
    pub rows: usize,
    pub cols: usize,
    pub src_offset: usize,
    /// Reverse the column order within each group.
    pub reverse: bool,
}

/// Prepares `dst[g * cols + c][r] = src[src_offset + (g * rows + r) * cols + c]` (with `c`
/// counted from the end when `reverse`), rows padded with zeros to `vecs(rows)` vec4s.
/// Overwrites dst.
///
/// # Shapes
/// - src: at least src_offset + groups x rows x cols; dst: groups * cols x 4 * vecs(rows).
pub fn transpose_batched(gpu: &Gpu, t: &Batched, src: &View, dst: &View) -> Dispatch {
    assert!(
        src.len >= t.src_offset + t.groups * t.rows * t.cols,
        "transpose source of {} floats is shorter than {} + {}x{}x{}",
        src.len,
        t.src_offset,
        t.groups,
        t.rows,
        t.cols
    );
    let p = PackParams {
        dst_rows: t.groups * t.cols,
        dst_row_vecs: vecs(t.rows),
        src_offset: t.src_offset,
        groups: t.groups,
        rows: t.rows,
        cols: t.cols,
        reverse: t.reverse,
        unroll: None,
    };
    let dst_vecs = p.dst_rows * p.dst_row_vecs;
    prepare(gpu, "transpose_batched", &p, dst_vecs, src, dst)
}

/// Prepares `dst[r][c] = src[r * cols + c]`, rows padded with zeros to `vecs(cols)` vec4s.
/// Overwrites dst.
///
/// # Shapes
/// - src: rows x cols; dst: rows x 4 * vecs(cols).
pub fn pad_rows(gpu: &Gpu, rows: usize, cols: usize, src: &View, dst: &View) -> Dispatch {
    assert!(
        src.len >= rows * cols,
        "pad_rows source of {} floats is shorter than {rows}x{cols}",
        src.len
    );
    let p = PackParams {
        dst_rows: rows,
        dst_row_vecs: vecs(cols),
        rows,
        cols,
        ..Default::default()
    };
    let dst_vecs = p.dst_rows * p.dst_row_vecs;
    prepare(gpu, "pad_rows", &p, dst_vecs, src, dst)
}
