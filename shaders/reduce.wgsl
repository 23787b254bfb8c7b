// Column sums of a row-major matrix, added in row order so the result is deterministic:
//   out[j] = sum_{i < rows} input[i * cols + j]
// Used to finish split reductions: bias gradients and the per-split partial weight
// gradients of the convolution.
//
// Grid: one invocation per column, grid_1d(cols). The output is overwritten.

struct Params {
    rows: u32,
    cols: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> input: array<f32>;        // rows, cols
@group(0) @binding(2) var<storage, read_write> output: array<f32>; // cols

@compute @workgroup_size(WG_SIZE)
fn sum_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let j = linear_index(gid, groups);
    if j >= params.cols {
        return;
    }
    var sum = 0.0;
    for (var i = 0u; i < params.rows; i++) {
        sum += input[i * params.cols + j];
    }
    output[j] = sum;
}
