//! Launchers for `shaders/activation.wgsl`: ReLU and tanh, forward and backward.

use super::Cost;
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::ACTIVATION;
use crate::gpu::{Binding, Dispatch, Gpu, View};

/// An elementwise activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Tanh,
}

impl Activation {
    fn entries(self) -> (&'static str, &'static str) {
        match self {
            Activation::Relu => ("relu_forward", "relu_backward"),
            Activation::Tanh => ("tanh_forward", "tanh_backward"),
        }
    }
}

/// Prepares `y = f(x)`.
///
/// # Shapes
/// - x, y: any, `x.len` elements.
pub fn activation_forward(gpu: &Gpu, function: Activation, x: &View, y: &View) -> Dispatch {
    assert_eq!(x.len, y.len, "activation input and output lengths");
    let bytes = 8 * x.len as u64;
    gpu.prepare(
        ACTIVATION,
        function.entries().0,
        &[x.len as u32],
        1,
        &[Binding::Storage(x), Binding::Storage(y)],
        grid_1d(x.len),
        Cost {
            flops: x.len as u64,
            bytes,
        },
    )
}

/// Prepares `dx = dy * f'(x)`, with `f'` computed from the forward output `y`. Overwrites dx.
pub fn activation_backward(
    gpu: &Gpu,
    function: Activation,
    y: &View,
    dy: &View,
    dx: &View,
) -> Dispatch {
    assert_eq!(y.len, dy.len, "activation output and gradient lengths");
    assert_eq!(
        y.len, dx.len,
        "activation output and input-gradient lengths"
    );
    gpu.prepare(
        ACTIVATION,
        function.entries().1,
        &[y.len as u32],
        3,
        &[
            Binding::Storage(y),
            Binding::Storage(dy),
            Binding::Storage(dx),
        ],
        grid_1d(y.len),
        Cost {
            flops: 2 * y.len as u64,
            bytes: 12 * y.len as u64,
        },
    )
}
