//! Parameter structs of every op, shared by the WGSL launchers, the CPU reference in
//! `crate::reference` and the tests.
//!
//! Shape legend, used in names and comments throughout:
//! N batch, C input channels, K output channels, H and W input height and width,
//! P and Q output height and width, R kernel size (square kernels, R x R),
//! D dense input features, M dense output features or classes.
//! Images are stored NCHW, convolution weights KCRR, dense weights D x M (row-major,
//! the Keras layout), all f32 on the GPU.

pub mod activation;
pub mod conv2d;
pub mod conv2d_naive;
pub mod dense;
pub mod dense_naive;
pub mod dropout;
pub mod gemm;
pub mod input;
pub mod loss;
pub mod maxpool2d;
pub mod optimizer;
pub mod pack;
pub mod reduce;
pub mod rng;

use crate::gpu::dispatch::Cost;

/// Spatial padding of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// Zero padding of `(R - 1) / 2` on every side, so P = H and Q = W (odd R only).
    Same,
    /// No padding, so P = H - R + 1 and Q = W - R + 1.
    Valid,
}

/// A stride-1 2-D convolution with a square, odd kernel and a bias per output channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dParams {
    pub batch: usize,
    pub in_channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub out_channels: usize,
    pub kernel_size: usize,
    pub padding: Padding,
}

impl Conv2dParams {
    /// Zero rows and columns added on each side of the input.
    pub fn pad(&self) -> usize {
        match self.padding {
            Padding::Same => (self.kernel_size - 1) / 2,
            Padding::Valid => 0,
        }
    }

    pub fn out_height(&self) -> usize {
        self.in_height + 2 * self.pad() + 1 - self.kernel_size
    }

    pub fn out_width(&self) -> usize {
        self.in_width + 2 * self.pad() + 1 - self.kernel_size
    }

    /// Elements of the N x C x H x W input.
    pub fn input_len(&self) -> usize {
        self.batch * self.in_channels * self.in_height * self.in_width
    }

    /// Elements of the K x C x R x R weight.
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.in_channels * self.kernel_size * self.kernel_size
    }

    /// Elements of the N x K x P x Q output.
    pub fn output_len(&self) -> usize {
        self.batch * self.out_channels * self.out_height() * self.out_width()
    }

    /// Multiply-adds of the forward pass, counted as two FLOPs each.
    pub fn forward_flops(&self) -> u64 {
        2 * (self.output_len() * self.in_channels * self.kernel_size * self.kernel_size) as u64
    }
}

/// Max pooling with a square window whose stride equals its size. Trailing rows and
/// columns that do not fill a window are dropped, as Keras does with `valid` pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool2dParams {
    pub batch: usize,
    pub channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub pool_size: usize,
}

impl MaxPool2dParams {
    pub fn out_height(&self) -> usize {
        self.in_height / self.pool_size
    }

    pub fn out_width(&self) -> usize {
        self.in_width / self.pool_size
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.channels * self.in_height * self.in_width
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_height() * self.out_width()
    }
}

/// A dense layer `y = x W + b` with x of N x D, W of D x M and b of M.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseParams {
    pub batch: usize,
    pub in_features: usize,
    pub out_features: usize,
}

impl DenseParams {
    pub fn input_len(&self) -> usize {
        self.batch * self.in_features
    }

    pub fn weight_len(&self) -> usize {
        self.in_features * self.out_features
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_features
    }
}

/// Inverted dropout: kept elements are scaled by `1 / (1 - rate)` at training time, so
/// evaluation is the identity. Whether an element is kept depends only on
/// `(seed, step, layer, index)` through [`rng::dropout_keep`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropoutParams {
    pub len: usize,
    pub rate: f32,
    pub seed: u32,
    /// Distinguishes the dropout layers of one network so their masks differ.
    pub layer: u32,
}

/// Softmax cross-entropy over integer labels, averaged over the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoftmaxCrossEntropyParams {
    pub batch: usize,
    pub classes: usize,
}

/// The input stage: u8 pixels of N images gathered by index, optionally shifted and
/// flipped, scaled by `1 / 255` and normalized per channel with `(x - mean) / std`.
#[derive(Clone, Debug, PartialEq)]
pub struct InputParams {
    pub batch: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub augment: Augment,
    pub seed: u32,
}

impl InputParams {
    /// Pixels (bytes) of one stored image, C x H x W.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.image_len()
    }
}

/// Random augmentation applied by the input stage at training time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Maximum shift in pixels, drawn uniformly in `[-max_shift, max_shift]` for each
    /// axis and image; pixels shifted in from outside copy the nearest edge pixel, as
    /// Keras' `fill_mode="nearest"` does.
    pub max_shift: u32,
    /// Mirror each image left to right with probability 1/2.
    pub horizontal_flip: bool,
}

/// Adam as Keras implements it, with the bias correction folded into the step size:
/// `lr_t = lr * sqrt(1 - beta2^t) / (1 - beta1^t)`,
/// `m = beta1 m + (1 - beta1) g`, `v = beta2 v + (1 - beta2) g^2`,
/// `w -= lr_t * m / (sqrt(v) + epsilon)` (Kingma and Ba, arXiv:1412.6980, section 2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamParams {
    pub learning_rate: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub epsilon: f32,
}

impl Default for AdamParams {
    /// Returns the Keras defaults.
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-7,
        }
    }
}

impl AdamParams {
    /// Step size of step `t` (1-based) with the bias correction applied.
    pub fn corrected_learning_rate(&self, t: u32) -> f32 {
        let t = t as f64;
        let correction =
            (1.0 - (self.beta2 as f64).powf(t)).sqrt() / (1.0 - (self.beta1 as f64).powf(t));
        (self.learning_rate as f64 * correction) as f32
    }
}

/// SGD with momentum as Keras implements it: `v = momentum v - lr g`, `w += v`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SgdParams {
    pub learning_rate: f32,
    pub momentum: f32,
}

impl Default for SgdParams {
    fn default() -> Self {
        Self {
            learning_rate: 0.01,
            momentum: 0.9,
        }
    }
}

/// Values that change every step, mirrored by `StepState` in `shaders/common.wgsl`.
/// The host writes it once per step; kernels that need the step counter (dropout,
/// augmentation), the valid sample count (loss) or the learning rate (optimizers) bind it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StepState {
    pub step: u32,
    pub valid: u32,
    pub learning_rate: f32,
    pub padding: u32,
}
