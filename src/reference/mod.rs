//! CPU reference implementations of every op, in f64.
//!
//! Each function is a plain loop over the same params structs as the GPU launchers in
//! `crate::ops`, written for clarity rather than speed. The GPU kernels (f32) are compared
//! against these functions, and `tests/reference.rs` checks every backward pass here against
//! central finite differences of its forward pass.
//!
//! Forward and backward functions return a newly allocated output, so backward passes
//! overwrite rather than accumulate. The optimizer steps update their slices in place.
//! Slice lengths are checked with `assert_eq!`, so a shape mismatch panics with both numbers.

pub mod activation;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod input;
pub mod loss;
pub mod optim;
pub mod pool;

pub use activation::{relu_backward, relu_forward, tanh_backward, tanh_forward};
pub use conv::{
    conv2d_backward_bias, conv2d_backward_input, conv2d_backward_weight, conv2d_forward,
};
pub use dense::{dense_backward_bias, dense_backward_input, dense_backward_weight, dense_forward};
pub use dropout::{dropout_backward, dropout_forward};
pub use input::input_forward;
pub use loss::{softmax_cross_entropy, CrossEntropyOutput};
pub use optim::{adam_step, sgd_step};
pub use pool::{maxpool2d_backward, maxpool2d_forward};
