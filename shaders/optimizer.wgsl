// Optimizer steps over one flat parameter buffer, one invocation per parameter,
// grid_1d(len). Parameters and moments are updated in place.
//
// adam_step follows Keras' Adam (Kingma and Ba, arXiv:1412.6980, algorithm 1 with the
// bias correction moved into the step size, which the host computes per step):
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   w = w - lr_t m / (sqrt(v) + epsilon),  lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)
// sgd_step follows Keras' SGD with momentum:
//   velocity = momentum velocity - lr g
//   w = w + velocity

struct Params {
    len: u32,
    beta1: f32,
    beta2: f32,
    epsilon: f32,
    momentum: f32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step_state: StepState;
@group(0) @binding(2) var<storage, read> grads: array<f32>;          // len
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;  // len
@group(0) @binding(4) var<storage, read_write> first_moment: array<f32>;  // len; SGD's velocity
@group(0) @binding(5) var<storage, read_write> second_moment: array<f32>; // len; Adam only

@compute @workgroup_size(WG_SIZE)
fn adam_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.len {
        return;
    }
    let g = grads[i];
    let m = params.beta1 * first_moment[i] + (1.0 - params.beta1) * g;
    let v = params.beta2 * second_moment[i] + (1.0 - params.beta2) * g * g;
    first_moment[i] = m;
    second_moment[i] = v;
    weights[i] -= step_state.learning_rate * m / (sqrt(v) + params.epsilon);
}

@compute @workgroup_size(WG_SIZE)
fn sgd_step(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    if i >= params.len {
        return;
    }
    let velocity = params.momentum * first_moment[i] - step_state.learning_rate * grads[i];
    first_moment[i] = velocity;
    weights[i] += velocity;
}
