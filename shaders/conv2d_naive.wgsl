// Stride-1 2-D convolution with a square odd kernel R x R, zero padding `pad` and bias:
//   y[n,k,p,q] = bias[k] + sum_{c,r,s} x[n,c,p+r-pad,q+s-pad] * weight[k,c,r,s]
// Reads outside the input count as zero. Outputs are overwritten.
//
// Every kernel is register-blocked: one invocation computes a 4 x 4 tile of outputs and
// reuses each loaded value four times, which on CPU drivers such as lavapipe is worth far
// more than workgroup memory. Tiles that overhang the edges clamp their reads and skip
// their writes.
//
// conv2d_forward:          tile of 4 output channels x 4 output columns, grid
//                          grid_1d(N * ceil(K/4) * P * ceil(Q/4)).
// conv2d_backward_input:   tile of 4 input channels x 4 input columns,
//                          grid_1d(N * ceil(C/4) * H * ceil(W/4)).
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

@compute @workgroup_size(WG_SIZE)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let q_blocks = (params.out_width + 3u) / 4u;
    let k_blocks = (params.out_channels + 3u) / 4u;
    if i >= params.batch * k_blocks * params.out_height * q_blocks {
        return;
    }
    let q0 = (i % q_blocks) * 4u;
    let p = (i / q_blocks) % params.out_height;
    let k0 = ((i / (q_blocks * params.out_height)) % k_blocks) * 4u;
    let n = i / (q_blocks * params.out_height * k_blocks);

    let size = params.kernel_size;
    let taps = params.in_channels * size * size;
    let last_k = params.out_channels - 1u;
    var acc: array<vec4<f32>, 4>;
    for (var c = 0u; c < params.in_channels; c++) {
        let plane = (n * params.in_channels + c) * params.in_height * params.in_width;
        for (var r = 0u; r < size; r++) {
            let h = i32(p + r) - i32(params.pad);
            if h < 0 || h >= i32(params.in_height) {
                continue;
            }
            let row = plane + u32(h) * params.in_width;
            for (var s = 0u; s < size; s++) {
                // Four neighbouring input columns, zero outside the image.
                var values = vec4<f32>(0.0);
                for (var j = 0u; j < 4u; j++) {
                    let w = i32(q0 + j + s) - i32(params.pad);
                    if w >= 0 && w < i32(params.in_width) {
                        values[j] = x[row + u32(w)];
                    }
                }
                let tap = (c * size + r) * size + s;
                for (var kk = 0u; kk < 4u; kk++) {
                    acc[kk] += weight[min(k0 + kk, last_k) * taps + tap] * values;
                }
            }
        }
    }
    for (var kk = 0u; kk < 4u; kk++) {
        let k = k0 + kk;
        if k >= params.out_channels {
            break;
        }
        let out_row = ((n * params.out_channels + k) * params.out_height + p) * params.out_width;
        for (var j = 0u; j < 4u; j++) {
            if q0 + j < params.out_width {
                y[out_row + q0 + j] = acc[kk][j] + bias[k];
            }
        }
    }
}

// dx[n,c,h,w] = sum_{k,r,s} dy[n,k,h+pad-r,w+pad-s] * weight[k,c,r,s], over the (p, q)
// that fall inside the output.
@compute @workgroup_size(WG_SIZE)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let w_blocks = (params.in_width + 3u) / 4u;
    let c_blocks = (params.in_channels + 3u) / 4u;
    if i >= params.batch * c_blocks * params.in_height * w_blocks {
        return;
    }
    let w0 = (i % w_blocks) * 4u;
    let h = (i / w_blocks) % params.in_height;
    let c0 = ((i / (w_blocks * params.in_height)) % c_blocks) * 4u;
    let n = i / (w_blocks * params.in_height * c_blocks);

    let size = params.kernel_size;
    let last_c = params.in_channels - 1u;
    var acc: array<vec4<f32>, 4>;
    for (var k = 0u; k < params.out_channels; k++) {
        let plane = (n * params.out_channels + k) * params.out_height * params.out_width;
        for (var r = 0u; r < size; r++) {
            let p = i32(h + params.pad) - i32(r);
            if p < 0 || p >= i32(params.out_height) {
                continue;
            }
            let row = plane + u32(p) * params.out_width;
            for (var s = 0u; s < size; s++) {
                var grads = vec4<f32>(0.0);
                for (var j = 0u; j < 4u; j++) {
                    let q = i32(w0 + j + params.pad) - i32(s);
                    if q >= 0 && q < i32(params.out_width) {
                        grads[j] = dy_input[row + u32(q)];
                    }
                }
                for (var cc = 0u; cc < 4u; cc++) {
                    let c = min(c0 + cc, last_c);
                    acc[cc] += weight_input[((k * params.in_channels + c) * size + r) * size + s] * grads;
                }
            }
        }
    }
    for (var cc = 0u; cc < 4u; cc++) {
        let c = c0 + cc;
        if c >= params.in_channels {
            break;
        }
        let in_row = ((n * params.in_channels + c) * params.in_height + h) * params.in_width;
        for (var j = 0u; j < 4u; j++) {
            if w0 + j < params.in_width {
                dx[in_row + w0 + j] = acc[cc][j];
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
