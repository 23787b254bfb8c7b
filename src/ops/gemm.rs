//! Launcher for `shaders/gemm.wgsl`: `C = A^T B` over k-major operands, with an optional
//! bias, split-K partial sums and a strided epilogue that writes C in the layout of the
//! tensor it becomes.

use super::Cost;
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::GEMM;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Rows and columns of C computed by one invocation; mirrors the generated tile of
/// `shaders/gemm.wgsl`.
pub const TILE: usize = 8;

/// Vec4s needed to hold `len` floats: the padded row length of a packed operand.
pub fn vecs(len: usize) -> usize {
    len.div_ceil(4)
}

/// Bias added by the product's epilogue.
#[derive(Clone, Copy, Debug)]
pub enum Bias<'a> {
    None,
    /// `bias[i]`, one value per row of C.
    PerRow(&'a View),
    /// `bias[j]`, one value per column of C.
    PerColumn(&'a View),
}

/// Placement of element `C[i][j]` of split `split` in the output view:
/// `offset + split * split_stride + (j / col_group) * group_stride + i * row_stride
/// + (j % col_group) * col_stride`, in f32 elements.
#[derive(Clone, Copy, Debug)]
pub struct OutputLayout {
    pub offset: usize,
    pub split_stride: usize,
    pub col_group: usize,
    pub group_stride: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl OutputLayout {
    /// Row-major C with `row_stride` elements between rows.
    pub fn row_major(row_stride: usize) -> Self {
        Self {
            offset: 0,
            split_stride: 0,
            col_group: usize::MAX,
            group_stride: 0,
            row_stride,
            col_stride: 1,
        }
    }

    /// Column-major C with `col_stride` elements between columns.
    pub fn column_major(col_stride: usize) -> Self {
        Self {
            col_stride,
            row_stride: 1,
            ..Self::row_major(0)
        }
    }
}

/// One product `C = A^T B`, C of `rows` x `cols`, summed over `inner` rows of the operands.
///
/// A stores element `(t, i)` at vec4 `a_offset + t * a_row_vecs + i / 4`, B stores `(t, j)`
/// at vec4 `b_offset + t * b_row_vecs + j / 4`. Offsets and row lengths are in vec4s.
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    pub rows: usize,
    pub cols: usize,
    pub inner: usize,
    pub a_row_vecs: usize,
    pub a_offset: usize,
    pub b_row_vecs: usize,
    pub b_offset: usize,
    /// Rows of the operands summed by one split; `inner` or more gives a single split.
    pub split_len: usize,
    pub output: OutputLayout,
}

impl Gemm {
    pub fn splits(&self) -> usize {
        self.inner.div_ceil(self.split_len.max(1)).max(1)
    }

    pub fn flops(&self) -> u64 {
        2 * (self.rows * self.cols * self.inner) as u64
    }
}

fn to_u32(value: usize, what: &str) -> u32 {
    u32::try_from(value).unwrap_or_else(|_| panic!("gemm {what} {value} does not fit in u32"))
}

/// Prepares `out = A^T B (+ bias)` as laid out by `g.output`, one partial product per
/// split. Overwrites the output elements of every split.
///
/// # Invariants
/// - `a` contains `g.a_offset + g.inner * g.a_row_vecs` vec4s with `g.a_row_vecs >=
///   ceil(g.rows / 4)`, and `b` likewise for the columns.
/// - `out` does not share a buffer with `a`, `b` or the bias.
pub fn gemm_tn(gpu: &Gpu, g: &Gemm, a: &View, b: &View, bias: Bias<'_>, out: &View) -> Dispatch {
    assert!(
        g.rows > 0 && g.cols > 0,
        "gemm of {}x{} is empty",
        g.rows,
        g.cols
    );
    assert!(
        g.a_row_vecs >= vecs(g.rows) && g.b_row_vecs >= vecs(g.cols),
        "gemm operand rows of {} and {} vec4s are shorter than {} rows and {} columns",
        g.a_row_vecs,
        g.b_row_vecs,
        g.rows,
        g.cols
    );
    assert!(
        a.len >= 4 * (g.a_offset + g.inner * g.a_row_vecs),
        "gemm operand A of {} floats is shorter than {} rows of {} vec4s after {}",
        a.len,
        g.inner,
        g.a_row_vecs,
        g.a_offset
    );
    assert!(
        b.len >= 4 * (g.b_offset + g.inner * g.b_row_vecs),
        "gemm operand B of {} floats is shorter than {} rows of {} vec4s after {}",
        b.len,
        g.inner,
        g.b_row_vecs,
        g.b_offset
    );
    let o = &g.output;
    let last_group = (g.cols - 1) / o.col_group.max(1);
    let last_in_group = (g.cols - 1).min(o.col_group.max(1) - 1);
    let last = o.offset
        + (g.splits() - 1) * o.split_stride
        + last_group * o.group_stride
        + (g.rows - 1) * o.row_stride
        + last_in_group * o.col_stride;
    assert!(
        last < out.len,
        "gemm output element {last} lies past the output of {} floats",
        out.len
    );
    let (bias_mode, bias_view) = match bias {
        Bias::None => (0, a),
        Bias::PerRow(view) => {
            assert_eq!(view.len, g.rows, "gemm per-row bias length");
            (1, view)
        }
        Bias::PerColumn(view) => {
            assert_eq!(view.len, g.cols, "gemm per-column bias length");
            (2, view)
        }
    };
    let col_group = o.col_group.min(u32::MAX as usize);
    let params = [
        to_u32(g.rows, "rows"),
        to_u32(g.cols, "columns"),
        to_u32(g.inner, "inner length"),
        to_u32(g.split_len.max(1).min(g.inner.max(1)), "split length"),
        to_u32(g.a_row_vecs, "A row length"),
        to_u32(g.b_row_vecs, "B row length"),
        to_u32(g.a_offset, "A offset"),
        to_u32(g.b_offset, "B offset"),
        to_u32(o.offset, "output offset"),
        to_u32(o.split_stride, "split stride"),
        col_group as u32,
        to_u32(o.group_stride, "group stride"),
        to_u32(o.row_stride, "row stride"),
        to_u32(o.col_stride, "column stride"),
        bias_mode,
    ];
    let splits = g.splits();
    let mut workgroups = grid_1d(g.rows.div_ceil(TILE) * g.cols.div_ceil(TILE));
    workgroups[2] = to_u32(splits, "split count");
    let bytes = 4 * (g.inner * 4 * (g.a_row_vecs + g.b_row_vecs) + splits * g.rows * g.cols);
    gpu.prepare(
        GEMM,
        "gemm_tn",
        &params,
        1,
        &[
            Binding::Storage(a),
            Binding::Storage(b),
            Binding::Storage(bias_view),
            Binding::Storage(out),
        ],
        workgroups,
        Cost {
            flops: g.flops(),
            bytes: bytes as u64,
        },
    )
}

/// Scratch buffers of the launchers built on [`gemm_tn`]. One set can serve every layer of
/// a network, because the dispatches of a pass run in order.
///
/// The three views must lie in different buffers: a product reads the packed operands
/// while it writes its partial sums.
#[derive(Clone, Debug)]
pub struct Scratch {
    /// The smaller packed operand: transposed weights or a transposed output gradient.
    pub operand: View,
    /// The larger packed operand: an unrolled image or a transposed weight.
    pub columns: View,
    /// Split-K partial sums, added by `sum_rows`.
    pub partial: View,
}

/// Elements of each buffer of a [`Scratch`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScratchLens {
    pub operand: usize,
    pub columns: usize,
    pub partial: usize,
}

impl ScratchLens {
    /// Elementwise maximum, for one scratch shared by several layers.
    pub fn max(self, other: Self) -> Self {
        Self {
            operand: self.operand.max(other.operand),
            columns: self.columns.max(other.columns),
            partial: self.partial.max(other.partial),
        }
    }
}

impl Scratch {
    /// Allocates scratch buffers of at least `lens` elements (one element when zero).
    pub fn allocate(
        mut storage: impl FnMut(&str, usize) -> Result<View, crate::gpu::GpuError>,
        lens: ScratchLens,
    ) -> Result<Self, crate::gpu::GpuError> {
        Ok(Self {
            operand: storage("gemm operand scratch", lens.operand.max(1))?,
            columns: storage("gemm columns scratch", lens.columns.max(1))?,
            partial: storage("gemm partial-sum scratch", lens.partial.max(1))?,
        })
    }
}

/// Renames each dispatch `shader::entry` to `op (shader::entry)`, so the profiler reports
/// the packing and product dispatches of one op under the op's name.
pub fn name_after(op: &str, mut dispatches: Vec<Dispatch>) -> Vec<Dispatch> {
    for dispatch in &mut dispatches {
        dispatch.name = format!("{op} ({})", dispatch.name);
    }
    dispatches
}
