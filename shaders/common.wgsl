// Prelude compiled in front of every shader file: the workgroup size, the grid index
// helper and the counter-based random numbers of src/ops/rng.rs.

// Invocations per workgroup of 1-D kernels; mirrors WG_SIZE in src/gpu/dispatch.rs.
const WG_SIZE: u32 = 64u;

// Rebuilds the linear invocation index of a grid made by grid_1d in src/gpu/dispatch.rs,
// which spills into a second dimension past 65,535 workgroups.
fn linear_index(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WG_SIZE;
}

// PCG-RXS-M-XS output function applied to one LCG step; same as hash_u32 in Rust.
fn hash_u32(x: u32) -> u32 {
    let state = x * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

fn random_u32(seed: u32, stream: u32, counter: u32) -> u32 {
    return hash_u32(hash_u32(hash_u32(seed) ^ stream) ^ counter);
}

// Uniform float in [0, 1) with 24 bits of resolution.
fn unit_f32(word: u32) -> f32 {
    return f32(word >> 8u) * (1.0 / 16777216.0);
}

const STREAM_DROPOUT: u32 = 0x0d500000u;
const STREAM_AUGMENT: u32 = 0x0a060000u;

// Values that change every step, written once per step by the host.
struct StepState {
    // Training step counter, 0-based; seeds dropout masks and augmentation.
    step: u32,
    // Samples of the batch that are real; the rest is padding and is ignored.
    valid: u32,
    // Learning rate of this step, with Adam's bias correction folded in.
    learning_rate: f32,
    _padding: u32,
}
