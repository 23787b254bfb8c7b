//! Launcher for `shaders/dropout.wgsl`. Forward and backward apply the same mask, so one
//! entry point serves both: forward maps x to y, backward maps dy to dx.

use super::{Cost, DropoutParams};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::DROPOUT;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// Prepares `output = mask(step) * input / (1 - rate)`, reading the step from `step_state`.
///
/// # Shapes
/// - input, output: `p.len` elements.
pub fn dropout_apply(
    gpu: &Gpu,
    p: &DropoutParams,
    step_state: &wgpu::Buffer,
    input: &View,
    output: &View,
) -> Dispatch {
    assert_eq!(input.len, p.len, "dropout input length");
    assert_eq!(output.len, p.len, "dropout output length");
    assert!(
        (0.0..1.0).contains(&p.rate),
        "dropout rate {} outside [0, 1)",
        p.rate
    );
    let scale = 1.0f32 / (1.0 - p.rate);
    let params = [
        p.len as u32,
        p.rate.to_bits(),
        scale.to_bits(),
        p.seed,
        p.layer,
    ];
    gpu.prepare(
        DROPOUT,
        "dropout_apply",
        &params,
        1,
        &[
            Binding::Uniform(step_state),
            Binding::Storage(input),
            Binding::Storage(output),
        ],
        grid_1d(p.len),
        Cost {
            flops: p.len as u64,
            bytes: 8 * p.len as u64,
        },
    )
}
