// Stride-1 2-D convolution with a square odd kernel R x R, zero padding `pad` and bias:
//   y[n,k,p,q] = bias[k] + sum_{c,r,s} x[n,c,p+r-pad,q+s-pad] * weight[k,c,r,s]
// Reads outside the input count as zero. Outputs are overwritten.
//
// The forward and input-gradient kernels are register-blocked over a tile of
// CHANNEL_BLOCK channels x ROW_BLOCK rows x COLUMN_BLOCK columns and slide a window of
// input values along each row, so every loaded value feeds many multiply-adds. On lavapipe
// each storage load runs one lane at a time, which makes loads, not arithmetic, the cost
// to cut (gallivm's emit_load_mem in Mesa's lp_bld_nir_soa.c, read in Mesa 21.3). Tiles
// that overhang the edges clamp their reads and skip their writes.
// shaders/conv2d_naive.wgsl keeps the plain 4 x 4 tiles as a baseline.
//
// conv2d_forward:          grid_1d(N * ceil(K/CHANNEL_BLOCK) * ceil(P/ROW_BLOCK)
//                          * ceil(Q/COLUMN_BLOCK)).
// conv2d_backward_input:   grid_1d(N * ceil(C/CHANNEL_BLOCK) * ceil(H/ROW_BLOCK)
//                          * ceil(W/COLUMN_BLOCK)).
// conv2d_backward_weight:  partial sums over the samples of one batch split: 4 output
//                          channels of one (c, r, s), grid_1d(splits * ceil(K/4) * C*R*R),
//                          written to partial[split, k, c, r, s]; reduce.wgsl's sum_rows
//                          adds the splits in order, so the result is deterministic.
// conv2d_backward_bias:    partial[n, k] = sum_{p,q} dy[n,k,p,q], grid_1d(N * K); summed
//                          over n by sum_rows.

struct Params {
    batch: u32,
    in_channels: u32,
    in_height: u32,
    in_width: u32,
    out_channels: u32,
    kernel_size: u32,
    pad: u32,
    out_height: u32,
    out_width: u32,
    // Samples summed by one invocation of conv2d_backward_weight.
    split_len: u32,
    splits: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// conv2d_forward bindings.
@group(0) @binding(1) var<storage, read> x: array<f32>;                  // N, C, H, W
@group(0) @binding(2) var<storage, read> weight: array<f32>;             // K, C, R, R
@group(0) @binding(3) var<storage, read> bias: array<f32>;               // K
@group(0) @binding(4) var<storage, read_write> y: array<f32>;            // N, K, P, Q
// conv2d_backward_input bindings.
@group(0) @binding(5) var<storage, read> dy_input: array<f32>;           // N, K, P, Q
@group(0) @binding(6) var<storage, read> weight_input: array<f32>;       // K, C, R, R
@group(0) @binding(7) var<storage, read_write> dx: array<f32>;           // N, C, H, W
// conv2d_backward_weight bindings.
@group(0) @binding(8) var<storage, read> x_weight: array<f32>;           // N, C, H, W
@group(0) @binding(9) var<storage, read> dy_weight: array<f32>;          // N, K, P, Q
@group(0) @binding(10) var<storage, read_write> dweight_partial: array<f32>; // splits, K, C, R, R
// conv2d_backward_bias bindings.
@group(0) @binding(11) var<storage, read> dy_bias: array<f32>;           // N, K, P, Q
@group(0) @binding(12) var<storage, read_write> dbias_partial: array<f32>; // N, K

// Tile of one invocation of conv2d_forward (output channels x output rows x output
// columns) and of conv2d_backward_input (input channels x input rows x input columns).
// lavapipe loads storage memory one lane at a time, so the tile is sized to maximize
// multiply-adds per load: each weight load feeds ROW_BLOCK * COLUMN_BLOCK of them. On the
// classic model's layers at batch 32 (Mesa 22.3 lavapipe, 2 cores), 8 x 1 x 8 was as fast
// as 4 x 1 x 16 and faster than 4 x 2 x 16, and it wastes fewer columns on narrow images.
const CHANNEL_BLOCK: u32 = 8u;
const ROW_BLOCK: u32 = 1u;
const COLUMN_VECS: u32 = 2u;
const COLUMN_BLOCK: u32 = 4u * COLUMN_VECS;
const ACC_LEN: u32 = CHANNEL_BLOCK * ROW_BLOCK * COLUMN_VECS;

// x[row + column], or zero when the row or the column lies in the padding. `row` must be a
// valid row start even when `row_inside` is false, so the clamped read stays in bounds.
fn input_value(row: u32, column: i32, row_inside: bool) -> f32 {
    let width = i32(params.in_width);
    let inside = row_inside && column >= 0 && column < width;
    return select(0.0, x[row + u32(clamp(column, 0, width - 1))], inside);
}

// dy[row + column], or zero outside the output, like input_value.
fn output_grad_value(row: u32, column: i32, row_inside: bool) -> f32 {
    let width = i32(params.out_width);
    let inside = row_inside && column >= 0 && column < width;
    return select(0.0, dy_input[row + u32(clamp(column, 0, width - 1))], inside);
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let q_blocks = (params.out_width + COLUMN_BLOCK - 1u) / COLUMN_BLOCK;
    let p_blocks = (params.out_height + ROW_BLOCK - 1u) / ROW_BLOCK;
    let k_blocks = (params.out_channels + CHANNEL_BLOCK - 1u) / CHANNEL_BLOCK;
    if i >= params.batch * k_blocks * p_blocks * q_blocks {
        return;
    }
    let q0 = (i % q_blocks) * COLUMN_BLOCK;
    let p0 = ((i / q_blocks) % p_blocks) * ROW_BLOCK;
    let k0 = ((i / (q_blocks * p_blocks)) % k_blocks) * CHANNEL_BLOCK;
    let n = i / (q_blocks * p_blocks * k_blocks);

    let size = params.kernel_size;
    let taps = params.in_channels * size * size;
    let last_k = params.out_channels - 1u;
    let pad = i32(params.pad);
    let left = i32(q0) - pad;
    // acc[(kk * ROW_BLOCK + pp) * COLUMN_VECS + v] holds columns q0 + 4v .. q0 + 4v + 3 of
    // output row p0 + pp and channel k0 + kk.
    var acc: array<vec4<f32>, ACC_LEN>;
    for (var c = 0u; c < params.in_channels; c++) {
        let plane = (n * params.in_channels + c) * params.in_height * params.in_width;
        for (var r = 0u; r < size; r++) {
            // One window per output row over input columns left + s .. left + s +
            // COLUMN_BLOCK - 1, slid one column per s, so each input value is loaded once
            // per (c, r) rather than once per tap. It starts one column early because the
            // first slide happens before the first tap.
            var window: array<vec4<f32>, ROW_BLOCK * COLUMN_VECS>;
            var rows: array<u32, ROW_BLOCK>;
            var rows_inside: array<bool, ROW_BLOCK>;
            for (var pp = 0u; pp < ROW_BLOCK; pp++) {
                let h = i32(p0 + pp + r) - pad;
                rows_inside[pp] = h >= 0 && h < i32(params.in_height);
                rows[pp] = plane + u32(clamp(h, 0, i32(params.in_height) - 1)) * params.in_width;
                for (var v = 0u; v < COLUMN_VECS; v++) {
                    let column = left + i32(4u * v) - 1;
                    window[pp * COLUMN_VECS + v] = vec4<f32>(
                        select(input_value(rows[pp], column, rows_inside[pp]), 0.0, v == 0u),
                        input_value(rows[pp], column + 1, rows_inside[pp]),
                        input_value(rows[pp], column + 2, rows_inside[pp]),
                        input_value(rows[pp], column + 3, rows_inside[pp]),
                    );
                }
            }
            let tap_row = (c * size + r) * size;
            for (var s = 0u; s < size; s++) {
                for (var pp = 0u; pp < ROW_BLOCK; pp++) {
                    let base = pp * COLUMN_VECS;
                    for (var v = 0u; v + 1u < COLUMN_VECS; v++) {
                        window[base + v] = vec4<f32>(window[base + v].yzw, window[base + v + 1u].x);
                    }
                    let last = base + COLUMN_VECS - 1u;
                    let incoming = input_value(rows[pp], left + i32(COLUMN_BLOCK - 1u + s), rows_inside[pp]);
                    window[last] = vec4<f32>(window[last].yzw, incoming);
                }
                for (var kk = 0u; kk < CHANNEL_BLOCK; kk++) {
                    let w = weight[min(k0 + kk, last_k) * taps + tap_row + s];
                    for (var e = 0u; e < ROW_BLOCK * COLUMN_VECS; e++) {
                        acc[kk * ROW_BLOCK * COLUMN_VECS + e] += w * window[e];
                    }
                }
            }
        }
    }
    for (var kk = 0u; kk < CHANNEL_BLOCK; kk++) {
        let k = k0 + kk;
        for (var pp = 0u; pp < ROW_BLOCK; pp++) {
            let p = p0 + pp;
            if k >= params.out_channels || p >= params.out_height {
                break;
            }
            let out_row = ((n * params.out_channels + k) * params.out_height + p) * params.out_width;
            for (var j = 0u; j < COLUMN_BLOCK; j++) {
                if q0 + j < params.out_width {
                    y[out_row + q0 + j] = acc[(kk * ROW_BLOCK + pp) * COLUMN_VECS + j / 4u][j % 4u] + bias[k];
                }
            }
        }
    }
}

// dx[n,c,h,w] = sum_{k,r,s} dy[n,k,h+pad-r,w+pad-s] * weight[k,c,r,s], over the (p, q)
// that fall inside the output. Same tiling as conv2d_forward, with input channels in
// place of output channels and the kernel flipped.
@compute @workgroup_size(WG_SIZE)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let w_blocks = (params.in_width + COLUMN_BLOCK - 1u) / COLUMN_BLOCK;
    let h_blocks = (params.in_height + ROW_BLOCK - 1u) / ROW_BLOCK;
    let c_blocks = (params.in_channels + CHANNEL_BLOCK - 1u) / CHANNEL_BLOCK;
    if i >= params.batch * c_blocks * h_blocks * w_blocks {
        return;
    }
    let w0 = (i % w_blocks) * COLUMN_BLOCK;
    let h0 = ((i / w_blocks) % h_blocks) * ROW_BLOCK;
    let c0 = ((i / (w_blocks * h_blocks)) % c_blocks) * CHANNEL_BLOCK;
    let n = i / (w_blocks * h_blocks * c_blocks);

    let size = params.kernel_size;
    let last_c = params.in_channels - 1u;
    // Output column of input column w0 at the flipped tap 0 (s = R - 1).
    let left = i32(w0 + params.pad) - i32(size - 1u);
    var acc: array<vec4<f32>, ACC_LEN>;
    for (var k = 0u; k < params.out_channels; k++) {
        let plane = (n * params.out_channels + k) * params.out_height * params.out_width;
        for (var r = 0u; r < size; r++) {
            var window: array<vec4<f32>, ROW_BLOCK * COLUMN_VECS>;
            var rows: array<u32, ROW_BLOCK>;
            var rows_inside: array<bool, ROW_BLOCK>;
            for (var hh = 0u; hh < ROW_BLOCK; hh++) {
                let p = i32(h0 + hh + params.pad) - i32(r);
                rows_inside[hh] = p >= 0 && p < i32(params.out_height);
                rows[hh] = plane + u32(clamp(p, 0, i32(params.out_height) - 1)) * params.out_width;
                for (var v = 0u; v < COLUMN_VECS; v++) {
                    let column = left + i32(4u * v) - 1;
                    window[hh * COLUMN_VECS + v] = vec4<f32>(
                        select(output_grad_value(rows[hh], column, rows_inside[hh]), 0.0, v == 0u),
                        output_grad_value(rows[hh], column + 1, rows_inside[hh]),
                        output_grad_value(rows[hh], column + 2, rows_inside[hh]),
                        output_grad_value(rows[hh], column + 3, rows_inside[hh]),
                    );
                }
            }
            for (var flipped = 0u; flipped < size; flipped++) {
                for (var hh = 0u; hh < ROW_BLOCK; hh++) {
                    let base = hh * COLUMN_VECS;
                    for (var v = 0u; v + 1u < COLUMN_VECS; v++) {
                        window[base + v] = vec4<f32>(window[base + v].yzw, window[base + v + 1u].x);
                    }
                    let last = base + COLUMN_VECS - 1u;
                    let incoming = output_grad_value(rows[hh], left + i32(COLUMN_BLOCK - 1u + flipped), rows_inside[hh]);
                    window[last] = vec4<f32>(window[last].yzw, incoming);
                }
                let s = size - 1u - flipped;
                for (var cc = 0u; cc < CHANNEL_BLOCK; cc++) {
                    let c = min(c0 + cc, last_c);
                    let w = weight_input[((k * params.in_channels + c) * size + r) * size + s];
                    for (var e = 0u; e < ROW_BLOCK * COLUMN_VECS; e++) {
                        acc[cc * ROW_BLOCK * COLUMN_VECS + e] += w * window[e];
                    }
                }
            }
        }
    }
    for (var cc = 0u; cc < CHANNEL_BLOCK; cc++) {
        let c = c0 + cc;
        for (var hh = 0u; hh < ROW_BLOCK; hh++) {
            let h = h0 + hh;
            if c >= params.in_channels || h >= params.in_height {
                break;
            }
            let in_row = ((n * params.in_channels + c) * params.in_height + h) * params.in_width;
            for (var j = 0u; j < COLUMN_BLOCK; j++) {
                if w0 + j < params.in_width {
                    dx[in_row + w0 + j] = acc[(cc * ROW_BLOCK + hh) * COLUMN_VECS + j / 4u][j % 4u];
                }
            }
        }
    }
}

// partial[split,k,c,r,s] = sum over the split's samples n and all (p, q) of
// dy[n,k,p,q] * x[n,c,p+r-pad,q+s-pad].
@compute @workgroup_size(WG_SIZE)
fn conv2d_backward_weight(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let size = params.kernel_size;
    let taps = params.in_channels * size * size;
    let k_blocks = (params.out_channels + 3u) / 4u;
    if i >= params.splits * k_blocks * taps {
        return;
    }
    let tap = i % taps;
    let k0 = ((i / taps) % k_blocks) * 4u;
    let split = i / (taps * k_blocks);
    let s = tap % size;
    let r = (tap / size) % size;
    let c = tap / (size * size);

    // Output rows and columns whose input tap falls inside the image.
    let p_begin = u32(max(i32(params.pad) - i32(r), 0));
    let p_end = u32(clamp(i32(params.in_height + params.pad) - i32(r), 0, i32(params.out_height)));
    let q_begin = u32(max(i32(params.pad) - i32(s), 0));
    let q_end = u32(clamp(i32(params.in_width + params.pad) - i32(s), 0, i32(params.out_width)));

    let plane_out = params.out_height * params.out_width;
    let last_k = params.out_channels - 1u;
    let n_begin = split * params.split_len;
    let n_end = min(n_begin + params.split_len, params.batch);
    var acc = vec4<f32>(0.0);
    for (var n = n_begin; n < n_end; n++) {
        let x_plane = (n * params.in_channels + c) * params.in_height * params.in_width;
        let dy_base = n * params.out_channels * plane_out;
        let k_offsets = vec4<u32>(
            min(k0, last_k) * plane_out,
            min(k0 + 1u, last_k) * plane_out,
            min(k0 + 2u, last_k) * plane_out,
            min(k0 + 3u, last_k) * plane_out,
        );
        for (var p = p_begin; p < p_end; p++) {
            let x_row = x_plane + (p + r - params.pad) * params.in_width + s - params.pad;
            let dy_row = dy_base + p * params.out_width;
            for (var q = q_begin; q < q_end; q++) {
                let value = x_weight[x_row + q];
                let at = dy_row + q;
                acc += value * vec4<f32>(
                    dy_weight[at + k_offsets.x],
                    dy_weight[at + k_offsets.y],
                    dy_weight[at + k_offsets.z],
                    dy_weight[at + k_offsets.w],
                );
            }
        }
    }
    for (var kk = 0u; kk < 4u; kk++) {
        let k = k0 + kk;
        if k < params.out_channels {
            dweight_partial[(split * params.out_channels + k) * taps + tap] = acc[kk];
        }
    }
}

@compute @workgroup_size(WG_SIZE)
fn conv2d_backward_bias(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.batch * params.out_channels {
        return;
    }
    let plane_out = params.out_height * params.out_width;
    var sum = 0.0;
    for (var j = 0u; j < plane_out; j++) {
        sum += dy_bias[i * plane_out + j];
    }
    dbias_partial[i] = sum;
}
