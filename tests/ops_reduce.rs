//! `shaders/reduce.wgsl` against a plain loop: column sums of row-major matrices,
//! including one wide enough to need the two-dimensional grid of `grid_1d`.

mod common;

use cifar_gpu::gpu::dispatch::{grid_1d, MAX_GROUPS_PER_DIMENSION};
use cifar_gpu::gpu::{Gpu, WG_SIZE};
use cifar_gpu::ops::reduce::sum_rows;
use common::{assert_close, gpu, poisoned, upload, Rng, Tolerance, REDUCTION};

/// Columns of the widest one-dimensional grid; one more needs a second grid dimension.
const ONE_DIMENSIONAL_COLUMNS: usize = MAX_GROUPS_PER_DIMENSION as usize * WG_SIZE as usize;

/// Sums each column of `input` in row order in f64.
fn column_sums(rows: usize, cols: usize, input: &[f32]) -> Vec<f64> {
    let mut sums = vec![0.0; cols];
    for row in input.chunks(cols).take(rows) {
        for (sum, &value) in sums.iter_mut().zip(row) {
            *sum += value as f64;
        }
    }
    sums
}

/// A single row is copied without arithmetic, so it must match exactly.
fn tolerance(rows: usize) -> Tolerance {
    if rows == 1 {
        Tolerance { abs: 0.0, rel: 0.0 }
    } else {
        REDUCTION
    }
}

fn check(gpu: &Gpu, rng: &mut Rng, rows: usize, cols: usize) {
    let input = rng.vector(rows * cols);
    let output = poisoned(gpu, cols);
    let dispatch = sum_rows(gpu, rows, cols, &upload(gpu, &input), &output);
    gpu.run(&[&dispatch]).unwrap();
    assert_close(
        &format!("sum_rows {rows} x {cols}"),
        &gpu.read_f32(&output).unwrap(),
        &column_sums(rows, cols, &input),
        tolerance(rows),
    );
}

/// Rows 1, 3 and 33 by columns 1, 17 and 70,000 (over a thousand workgroups).
#[test]
fn sum_rows_forward_matches_reference() {
    let gpu = gpu();
    let mut rng = Rng::new(91);
    for rows in [1, 3, 33] {
        for cols in [1, 17, 70_000] {
            check(&gpu, &mut rng, rows, cols);
        }
    }
}

/// Columns past 65,535 workgroups of 64 spill into a second grid dimension, and the
/// kernel must rebuild each column index from both and skip the overhang of the last row
/// of workgroups.
#[test]
fn sum_rows_forward_matches_reference_two_dimensional_grid() {
    let gpu = gpu();
    let mut rng = Rng::new(92);
    for cols in [ONE_DIMENSIONAL_COLUMNS, ONE_DIMENSIONAL_COLUMNS + 17] {
        let grid = grid_1d(cols);
        let expected_rows = if cols > ONE_DIMENSIONAL_COLUMNS { 2 } else { 1 };
        assert_eq!(
            grid[1], expected_rows,
            "grid_1d({cols}) = {grid:?}: rows of workgroups"
        );
        check(&gpu, &mut rng, 2, cols);
    }
}
