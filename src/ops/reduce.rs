//! Launcher for `shaders/reduce.wgsl`: deterministic column sums.

use super::Cost;
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::REDUCE;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Prepares `output[j] = sum_i input[i * cols + j]`, adding rows in order. Overwrites output.
///
/// # Shapes
/// - input: rows x cols; output: cols.
pub fn sum_rows(gpu: &Gpu, rows: usize, cols: usize, input: &View, output: &View) -> Dispatch {
    assert!(
        input.len >= rows * cols,
        "sum_rows input of {} < {rows} x {cols}",
        input.len
    );
    assert_eq!(output.len, cols, "sum_rows output length");
    gpu.prepare(
        REDUCE,
        "sum_rows",
        &[rows as u32, cols as u32],
        1,
        &[Binding::Storage(input), Binding::Storage(output)],
        grid_1d(cols),
        Cost {
            flops: (rows * cols) as u64,
            bytes: 4 * (rows * cols + cols) as u64,
        },
    )
}
