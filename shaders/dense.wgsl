// Strided matrix product with optional bias, the one kernel behind a dense layer's
// forward pass and both of its gradients:
//   out[i, j] = sum_t a[i * a_row_stride + t * a_col_stride] * b[t * b_row_stride + j * b_col_stride]
//               + (has_bias ? bias[j] : 0)
// for i < rows, j < cols, t < inner. With W of D x M (row-major) and batch N:
//   forward          y  = x W + b   rows N, cols M, inner D, a = x, b = W
//   backward input   dx = dy W^T    rows N, cols D, inner M, a = dy, b = W read transposed
//   backward weight  dW = x^T dy    rows D, cols M, inner N, a = x read transposed, b = dy
//
// Grid: one invocation per 4 x 4 output tile, grid_1d(ceil(rows/4) * ceil(cols/4)),
// columns fastest. Outputs are overwritten, never accumulated.

struct Params {
    rows: u32,
    cols: u32,
    inner: u32,
    a_row_stride: u32,
    a_col_stride: u32,
    b_row_stride: u32,
    b_col_stride: u32,
    has_bias: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;     // cols, read when has_bias is 1
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // rows, cols

@compute @workgroup_size(WG_SIZE)
fn matmul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = linear_index(gid, groups);
    let col_blocks = (params.cols + 3u) / 4u;
    let row_blocks = (params.rows + 3u) / 4u;
    if index >= row_blocks * col_blocks {
        return;
    }
    let j0 = (index % col_blocks) * 4u;
    let i0 = (index / col_blocks) * 4u;

    // Clamped row and column starts, so an overhanging tile reads valid memory.
    let last_row = params.rows - 1u;
    let last_col = params.cols - 1u;
    let a_rows = vec4<u32>(min(i0, last_row), min(i0 + 1u, last_row), min(i0 + 2u, last_row), min(i0 + 3u, last_row)) * params.a_row_stride;
    let b_cols = vec4<u32>(min(j0, last_col), min(j0 + 1u, last_col), min(j0 + 2u, last_col), min(j0 + 3u, last_col)) * params.b_col_stride;

    var acc: array<vec4<f32>, 4>;
    for (var t = 0u; t < params.inner; t++) {
        let a_at = t * params.a_col_stride;
        let b_at = t * params.b_row_stride;
        let b_values = vec4<f32>(b[b_at + b_cols.x], b[b_at + b_cols.y], b[b_at + b_cols.z], b[b_at + b_cols.w]);
        acc[0] += a[a_rows.x + a_at] * b_values;
        acc[1] += a[a_rows.y + a_at] * b_values;
        acc[2] += a[a_rows.z + a_at] * b_values;
        acc[3] += a[a_rows.w + a_at] * b_values;
    }

    for (var ii = 0u; ii < 4u; ii++) {
        let i = i0 + ii;
        if i >= params.rows {
            break;
        }
        for (var jj = 0u; jj < 4u; jj++) {
            let j = j0 + jj;
            if j < params.cols {
                var value = acc[ii][jj];
                if params.has_bias == 1u {
                    value += bias[j];
                }
                out[i * params.cols + j] = value;
            }
        }
    }
}
