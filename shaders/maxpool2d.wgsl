// Max pooling with a square window of `size` and stride `size`; trailing rows and
// columns that fill no window are dropped. Ties go to the first maximum in row-major
// window order, in both passes, so exactly one input of each window gets its gradient.
//
// Forward grid: one invocation per output element (N*C*P*Q).
// Backward grid: one invocation per input element (N*C*H*W); each recomputes the argmax
// of its window instead of reading stored indices, and writes 0 where it is not the max.
// Outputs are overwritten.

struct Params {
    batch: u32,
    channels: u32,
    in_height: u32,
    in_width: u32,
    size: u32,
    out_height: u32,
    out_width: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// Forward bindings.
@group(0) @binding(1) var<storage, read> x: array<f32>;          // N, C, H, W
@group(0) @binding(2) var<storage, read_write> y: array<f32>;    // N, C, P, Q
// Backward bindings.
@group(0) @binding(3) var<storage, read> x_saved: array<f32>;    // N, C, H, W
@group(0) @binding(4) var<storage, read> dy: array<f32>;         // N, C, P, Q
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;   // N, C, H, W

// Flat offset, within one (n, c) plane, of the first maximum of window (p, q).
fn window_argmax(plane: u32, p: u32, q: u32) -> u32 {
    var best = -3.4028235e38;
    var best_offset = 0u;
    for (var r = 0u; r < params.size; r++) {
        for (var s = 0u; s < params.size; s++) {
            let offset = (p * params.size + r) * params.in_width + q * params.size + s;
            let value = x_saved[plane + offset];
            if value > best || (r == 0u && s == 0u) {
                best = value;
                best_offset = offset;
            }
        }
    }
    return best_offset;
}

@compute @workgroup_size(WG_SIZE)
fn maxpool2d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let total = params.batch * params.channels * params.out_height * params.out_width;
    if i >= total {
        return;
    }
    let q = i % params.out_width;
    let p = (i / params.out_width) % params.out_height;
    let nc = i / (params.out_width * params.out_height);
    let plane = nc * params.in_height * params.in_width;
    var best = x[plane + p * params.size * params.in_width + q * params.size];
    for (var r = 0u; r < params.size; r++) {
        for (var s = 0u; s < params.size; s++) {
            let offset = (p * params.size + r) * params.in_width + q * params.size + s;
            best = max(best, x[plane + offset]);
        }
    }
    y[i] = best;
}

@compute @workgroup_size(WG_SIZE)
fn maxpool2d_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let total = params.batch * params.channels * params.in_height * params.in_width;
    if i >= total {
        return;
    }
    let w = i % params.in_width;
    let h = (i / params.in_width) % params.in_height;
    let nc = i / (params.in_width * params.in_height);
    let p = h / params.size;
    let q = w / params.size;
    if p >= params.out_height || q >= params.out_width {
        dx[i] = 0.0;
        return;
    }
    let plane = nc * params.in_height * params.in_width;
    let offset = h * params.in_width + w;
    if window_argmax(plane, p, q) == offset {
        dx[i] = dy[(nc * params.out_height + p) * params.out_width + q];
    } else {
        dx[i] = 0.0;
    }
}
