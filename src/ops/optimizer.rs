//! Launchers for `shaders/optimizer.wgsl`: one dispatch updates every parameter.

use super::{AdamParams, Cost, SgdParams};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::OPTIMIZER;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Prepares one Adam step over the flat `weights`, reading the bias-corrected learning
/// rate from `step_state` (see [`AdamParams::corrected_learning_rate`]).
///
/// # Shapes
/// - grads, weights, m, v: the same length.
pub fn adam_step(
    gpu: &Gpu,
    p: &AdamParams,
    step_state: &wgpu::Buffer,
    grads: &View,
    weights: &View,
    m: &View,
    v: &View,
) -> Dispatch {
    let len = weights.len;
    for (name, view) in [("grads", grads), ("m", m), ("v", v)] {
        assert_eq!(view.len, len, "adam {name} length");
    }
    let params = [
        len as u32,
        p.beta1.to_bits(),
        p.beta2.to_bits(),
        p.epsilon.to_bits(),
        0,
    ];
    gpu.prepare(
        OPTIMIZER,
        "adam_step",
        &params,
        1,
        &[
            Binding::Uniform(step_state),
            Binding::Storage(grads),
            Binding::Storage(weights),
            Binding::Storage(m),
            Binding::Storage(v),
        ],
        grid_1d(len),
        Cost {
            flops: 12 * len as u64,
            bytes: 28 * len as u64,
        },
    )
}

/// Prepares one SGD-with-momentum step, reading the learning rate from `step_state`.
///
/// # Shapes
/// - grads, weights, velocity: the same length.
pub fn sgd_step(
    gpu: &Gpu,
    p: &SgdParams,
    step_state: &wgpu::Buffer,
    grads: &View,
    weights: &View,
    velocity: &View,
) -> Dispatch {
    let len = weights.len;
    assert_eq!(grads.len, len, "sgd grads length");
    assert_eq!(velocity.len, len, "sgd velocity length");
    let params = [len as u32, 0, 0, 0, p.momentum.to_bits()];
    gpu.prepare(
        OPTIMIZER,
        "sgd_step",
        &params,
        1,
        &[
            Binding::Uniform(step_state),
            Binding::Storage(grads),
            Binding::Storage(weights),
            Binding::Storage(velocity),
        ],
        grid_1d(len),
        Cost {
            flops: 4 * len as u64,
            bytes: 20 * len as u64,
        },
    )
}
