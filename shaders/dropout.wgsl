// Inverted dropout. Element i of layer `layer` is kept at step `step` when
// unit_f32(random_u32(seed, STREAM_DROPOUT ^ hash_u32(step ^ (layer << 24)), i)) >= rate,
// exactly as dropout_keep in src/ops/rng.rs. Kept elements are scaled by 1 / (1 - rate),
// dropped ones become 0, and the backward pass recomputes the same mask.
//
// Grid: one invocation per element, grid_1d(len). Outputs are overwritten.

struct Params {
    len: u32,
    rate: f32,
    // 1 / (1 - rate), computed on the host in f32.
    scale: f32,
    seed: u32,
    layer: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step_state: StepState;
@group(0) @binding(2) var<storage, read> input: array<f32>;        // x (forward) or dy (backward), len
@group(0) @binding(3) var<storage, read_write> output: array<f32>; // y (forward) or dx (backward), len

fn keep(i: u32) -> bool {
    let stream = STREAM_DROPOUT ^ hash_u32(step_state.step ^ (params.layer << 24u));
    return unit_f32(random_u32(params.seed, stream, i)) >= params.rate;
}

// The mask is the same going forward and backward, so one entry point serves both.
@compute @workgroup_size(WG_SIZE)
fn dropout_apply(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.len {
        return;
    }
    output[i] = select(0.0, input[i] * params.scale, keep(i));
}
