// Elementwise activations, ReLU and tanh. The backward passes take the forward OUTPUT y,
// from which both derivatives follow (ReLU: y > 0; tanh: 1 - y^2), so x need not be kept.
//
// Grid: one invocation per element, grid_1d(len). Outputs are overwritten.

struct Params {
    len: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// Forward bindings.
@group(0) @binding(1) var<storage, read> x: array<f32>;         // len
@group(0) @binding(2) var<storage, read_write> y: array<f32>;   // len
// Backward bindings.
@group(0) @binding(3) var<storage, read> y_saved: array<f32>;   // len
@group(0) @binding(4) var<storage, read> dy: array<f32>;        // len
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;  // len

@compute @workgroup_size(WG_SIZE)
fn relu_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.len {
        return;
    }
    y[i] = max(x[i], 0.0);
}

@compute @workgroup_size(WG_SIZE)
fn relu_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.len {
        return;
    }
    dx[i] = select(0.0, dy[i], y_saved[i] > 0.0);
}

@compute @workgroup_size(WG_SIZE)
fn tanh_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.len {
        return;
    }
    y[i] = tanh(x[i]);
}

@compute @workgroup_size(WG_SIZE)
fn tanh_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.len {
        return;
    }
    let value = y_saved[i];
    dx[i] = dy[i] * (1.0 - value * value);
}
