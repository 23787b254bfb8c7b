//! The network on the GPU: every buffer and dispatch of a training or evaluation step,
//! created once for an architecture and batch size.
//!
//! Parameters, gradients and optimizer moments each live in one flat buffer in which every
//! tensor owns an aligned range, so the optimizer is a single dispatch. Every backward
//! kernel overwrites its gradient range, so gradients need no clearing between steps.

use super::{Architecture, Layer, ModelError, ParamLayout, Shape};
use crate::gpu::{Dispatch, Gpu, GpuError, View};
use crate::ops::gemm::{Scratch, ScratchLens};
use crate::ops::input::{input_forward, ImageStore};
use crate::ops::loss::{accumulate_metrics, softmax_cross_entropy, LossOutputs};
use crate::ops::{activation, conv2d, dense, dropout, maxpool2d, optimizer};
use crate::ops::{
    AdamParams, Augment, Conv2dParams, DenseParams, DropoutParams, InputParams, MaxPool2dParams,
    SgdParams, SoftmaxCrossEntropyParams, StepState,
};

/// The optimizer and its hyper-parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Optimizer {
    Adam(AdamParams),
    Sgd(SgdParams),
}

impl Optimizer {
    pub fn learning_rate(&self) -> f32 {
        match self {
            Optimizer::Adam(p) => p.learning_rate,
            Optimizer::Sgd(p) => p.learning_rate,
        }
    }

    /// Learning rate written to the step state for 0-based step `step`.
    pub fn step_learning_rate(&self, step: u32) -> f32 {
        match self {
            Optimizer::Adam(p) => p.corrected_learning_rate(step + 1),
            Optimizer::Sgd(p) => p.learning_rate,
        }
    }
}

/// Input normalization applied by the input stage: `(pixel / 255 - mean[c]) / std[c]`.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalization {
    /// Factor applied to raw u8 pixels before the mean and std, always 1/255.
    pub scale: f32,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// Settings fixed when the network is built.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    pub batch: usize,
    pub seed: u32,
    pub normalization: Normalization,
    pub augment: Augment,
    /// `None` builds an inference-only network with no gradients or optimizer state.
    pub optimizer: Option<Optimizer>,
}

/// The input stage bound to one image store.
pub struct InputBinding {
    dispatches: Vec<Dispatch>,
}

struct Training {
    grads: View,
    backward: Vec<Dispatch>,
    optimizer: Dispatch,
    /// Adam's m and v, or SGD's velocity, kept alive for the optimizer dispatch.
    moments: Vec<View>,
}

/// Every buffer and prepared dispatch of one architecture at one batch size.
pub struct Network {
    pub architecture: Architecture,
    pub config: NetworkConfig,
    pub layout: ParamLayout,
    pub params: View,
    pub indices: View,
    pub labels: View,
    pub predictions: View,
    pub probabilities: View,
    pub metrics: View,
    /// Mappable copy target of `metrics`, reused by every read-back.
    metrics_staging: wgpu::Buffer,
    pub step_state: wgpu::Buffer,
    input: View,
    forward_train: Vec<Dispatch>,
    forward_eval: Vec<Dispatch>,
    loss: Vec<Dispatch>,
    training: Option<Training>,
    classes: usize,
    buffer_bytes: u64,
}

/// Buffers of one layer's forward pass.
struct LayerBuffers {
    /// Input of the layer in the training chain and in the evaluation chain.
    train_input: View,
    eval_input: View,
    /// Output of the layer in each chain; dropout passes its input through at evaluation.
    train_output: View,
    eval_output: View,
}

impl Network {
    /// Allocates every buffer and prepares every dispatch; nothing is created per step.
    pub fn new(
        gpu: &Gpu,
        architecture: &Architecture,
        config: NetworkConfig,
        initial: Option<&[f32]>,
    ) -> Result<Self, NetworkError> {
        let shapes = architecture.shapes()?;
        let classes = architecture
            .classes()
            .ok_or_else(|| ModelError::BadOutput {
                classes: 0,
                found: "does not end in a dense layer".into(),
            })?;
        let alignment = (gpu.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
        let layout = ParamLayout::new(architecture.parameters()?, alignment);
        let batch = config.batch;
        let mut bytes = 0u64;
        let mut storage = |label: &str, len: usize| -> Result<View, GpuError> {
            bytes += len as u64 * 4;
            gpu.storage(label, len)
        };

        let params = storage("parameters", layout.total)?;
        match initial {
            Some(values) => {
                assert_eq!(values.len(), layout.total, "initial parameter length");
                gpu.write_f32(&params, values);
            }
            None => gpu.write_f32(&params, &super::initial_parameters(&layout, config.seed)),
        }
        let indices = storage("batch indices", batch)?;
        let labels = storage("batch labels", batch)?;
        let input = storage("input", batch * architecture.input.len())?;
        let step_state = gpu.uniform("step state", bytemuck::bytes_of(&StepState::default()));

        // Forward buffers: one output per layer; flatten is a view of its input.
        let mut layers = Vec::with_capacity(architecture.layers.len());
        let (mut train_current, mut eval_current) = (input.clone(), input.clone());
        for (index, layer) in architecture.layers.iter().enumerate() {
            let len = batch * shapes[index].len();
            let (train_output, eval_output) = match layer {
                Layer::Flatten => (train_current.clone(), eval_current.clone()),
                Layer::Dropout { .. } => (
                    storage(&format!("layers.{index} output"), len)?,
                    eval_current.clone(),
                ),
                _ => {
                    let output = storage(&format!("layers.{index} output"), len)?;
                    (output.clone(), output)
                }
            };
            layers.push(LayerBuffers {
                train_input: train_current,
                eval_input: eval_current,
                train_output: train_output.clone(),
                eval_output: eval_output.clone(),
            });
            train_current = train_output;
            eval_current = eval_output;
        }

        // One scratch for the packed operands of every convolution and dense layer, since
        // the dispatches of a pass run in order.
        let bound = (gpu.max_binding_bytes() / 4) as usize;
        let lens = scratch_lens(
            architecture,
            &shapes,
            batch,
            bound,
            config.optimizer.is_some(),
        );
        let scratch = Scratch::allocate(&mut storage, lens)?;

        let param = |name: String| -> View {
            let (spec, offset) = layout.find(&name).expect("layout has every parameter");
            params.slice(*offset, spec.len())
        };
        let mut forward_train = Vec::new();
        let mut forward_eval = Vec::new();
        let mut dropout_layer = 0u32;
        for (index, layer) in architecture.layers.iter().enumerate() {
            let input_shape = if index == 0 {
                architecture.input
            } else {
                shapes[index - 1]
            };
            let buffers = &layers[index];
            let chains = [
                (
                    &mut forward_train,
                    &buffers.train_input,
                    &buffers.train_output,
                    true,
                ),
                (
                    &mut forward_eval,
                    &buffers.eval_input,
                    &buffers.eval_output,
                    false,
                ),
            ];
            for (chain, x, y, training) in chains {
                match layer {
                    Layer::Conv2d { .. } => {
                        let p = conv_params(layer, input_shape, batch);
                        let (weight, bias) = (param(weight_name(index)), param(bias_name(index)));
                        chain.extend(conv2d::conv2d_forward(
                            gpu, &p, x, &weight, &bias, y, &scratch,
                        ));
                    }
                    Layer::Dense { units } => {
                        let p = DenseParams {
                            batch,
                            in_features: input_shape.len(),
                            out_features: *units,
                        };
                        let (weight, bias) = (param(weight_name(index)), param(bias_name(index)));
                        chain.extend(dense::dense_forward(
                            gpu, &p, x, &weight, &bias, y, &scratch,
                        ));
                    }
                    Layer::Activation { function } => {
                        chain.push(activation::activation_forward(gpu, *function, x, y));
                    }
                    Layer::MaxPool2d { .. } => {
                        let p = pool_params(layer, input_shape, batch);
                        chain.push(maxpool2d::maxpool2d_forward(gpu, &p, x, y));
                    }
                    Layer::Dropout { rate } if training => {
                        let p = DropoutParams {
                            len: x.len,
                            rate: *rate,
                            seed: config.seed,
                            layer: dropout_layer,
                        };
                        chain.push(dropout::dropout_apply(gpu, &p, &step_state, x, y));
                    }
                    Layer::Dropout { .. } | Layer::Flatten => {}
                }
            }
            if matches!(layer, Layer::Dropout { .. }) {
                dropout_layer += 1;
            }
        }

        // Both chains write their logits into the last dense layer's buffer, so one set of
        // loss and metrics dispatches serves training and evaluation.
        let logits = layers
            .last()
            .expect("at least one layer")
            .train_output
            .clone();
        let loss_params = SoftmaxCrossEntropyParams { batch, classes };
        let dlogits = storage("dlogits", batch * classes)?;
        let losses = storage("per-sample loss", batch)?;
        let predictions = storage("predictions", batch)?;
        let probabilities = storage("probabilities", batch * classes)?;
        let metrics = storage("running metrics", crate::ops::loss::METRICS_LEN)?;
        let outputs = LossOutputs {
            dlogits: &dlogits,
            losses: &losses,
            predictions: &predictions,
            probabilities: &probabilities,
        };
        let loss = vec![
            softmax_cross_entropy(gpu, &loss_params, &step_state, &logits, &labels, &outputs),
            accumulate_metrics(
                gpu,
                &loss_params,
                &step_state,
                &labels,
                &losses,
                &predictions,
                &metrics,
            ),
        ];

        let training = match config.optimizer {
            None => None,
            Some(optimizer) => Some(build_training(
                gpu,
                architecture,
                &shapes,
                &layers,
                &layout,
                &params,
                &step_state,
                &dlogits,
                &scratch,
                batch,
                config.seed,
                optimizer,
                &mut storage,
            )?),
        };
        let buffer_bytes = bytes;
        let metrics_staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("running metrics read-back"),
            size: metrics.size_bytes(),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        gpu.count(|c| c.buffers += 1);
        Ok(Self {
            architecture: architecture.clone(),
            config,
            layout,
            params,
            indices,
            labels,
            predictions,
            probabilities,
            metrics,
            metrics_staging,
            step_state,
            input,
            forward_train,
            forward_eval,
            loss,
            training,
            classes,
            buffer_bytes,
        })
    }

    /// Prepares the input stage for images from `store`, with or without augmentation.
    pub fn bind_input(&self, gpu: &Gpu, store: &ImageStore, augment: bool) -> InputBinding {
        let shape = self.architecture.input;
        let Shape::Image {
            channels,
            height,
            width,
        } = shape
        else {
            panic!("the input stage needs an image input, got {shape}");
        };
        let p = InputParams {
            batch: self.config.batch,
            channels,
            height,
            width,
            mean: self.config.normalization.mean.clone(),
            std: self.config.normalization.std.clone(),
            augment: self.config.augment,
            seed: self.config.seed,
        };
        let dispatches = input_forward(
            gpu,
            &p,
            augment,
            &self.step_state,
            &self.indices,
            store,
            &self.input,
        );
        InputBinding { dispatches }
    }

    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Bytes of every GPU buffer the network holds, image stores excluded.
    pub fn buffer_bytes(&self) -> u64 {
        self.buffer_bytes
    }

    /// Lists the dispatches of one training step in order: input, forward, loss, backward,
    /// optimizer.
    pub fn training_step<'a>(&'a self, input: &'a InputBinding) -> Vec<&'a Dispatch> {
        let training = self
            .training
            .as_ref()
            .expect("network built without an optimizer");
        let mut list: Vec<&Dispatch> = input.dispatches.iter().collect();
        list.extend(&self.forward_train);
        list.extend(&self.loss);
        list.extend(&training.backward);
        list.push(&training.optimizer);
        list
    }

    /// Lists the dispatches of one evaluation batch: input without augmentation, forward
    /// with dropout off, loss and metrics.
    pub fn evaluation_step<'a>(&'a self, input: &'a InputBinding) -> Vec<&'a Dispatch> {
        let mut list: Vec<&Dispatch> = input.dispatches.iter().collect();
        list.extend(&self.forward_eval);
        list.extend(&self.loss);
        list
    }

    /// Flat gradient buffer of a training network.
    pub fn grads(&self) -> Option<&View> {
        self.training.as_ref().map(|training| &training.grads)
    }

    /// Optimizer moment buffers, in the order Adam (m, v) or SGD (velocity).
    pub fn moments(&self) -> &[View] {
        self.training
            .as_ref()
            .map(|training| training.moments.as_slice())
            .unwrap_or(&[])
    }

    /// Writes the batch's image indices, labels and step state. Indices past `valid` are
    /// padding and must still be valid image indices.
    pub fn write_batch(&self, gpu: &Gpu, indices: &[u32], labels: &[u32], state: StepState) {
        assert_eq!(indices.len(), self.config.batch, "batch indices length");
        assert_eq!(labels.len(), self.config.batch, "batch labels length");
        gpu.write_u32(&self.indices, indices);
        gpu.write_u32(&self.labels, labels);
        gpu.queue
            .write_buffer(&self.step_state, 0, bytemuck::bytes_of(&state));
    }

    /// Waits for the submitted steps and reads the running metrics: loss sum, correct
    /// count, sample count and the first non-finite step marker (see
    /// [`crate::ops::loss::accumulate_metrics`]). Creates no buffer.
    pub fn read_metrics(
        &self,
        gpu: &Gpu,
    ) -> Result<[f32; crate::ops::loss::METRICS_LEN], GpuError> {
        let bytes = self.metrics.size_bytes();
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(
            &self.metrics.buffer,
            self.metrics.offset_bytes,
            &self.metrics_staging,
            0,
            bytes,
        );
        gpu.queue.submit([encoder.finish()]);
        let words = gpu.map_and_read(&self.metrics_staging, bytes, "running metrics")?;
        let mut values = [0.0; crate::ops::loss::METRICS_LEN];
        for (value, word) in values.iter_mut().zip(words) {
            *value = f32::from_bits(word);
        }
        Ok(values)
    }

    /// Encodes the reset of the running metrics.
    pub fn clear_metrics(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.clear_buffer(&self.metrics.buffer, 0, None);
    }
}

/// Errors from building a network.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

fn weight_name(index: usize) -> String {
    format!("layers.{index}.weight")
}

fn bias_name(index: usize) -> String {
    format!("layers.{index}.bias")
}

fn conv_params(layer: &Layer, input: Shape, batch: usize) -> Conv2dParams {
    let (
        &Layer::Conv2d {
            filters,
            kernel_size,
            padding,
        },
        Shape::Image {
            channels,
            height,
            width,
        },
    ) = (layer, input)
    else {
        unreachable!("shapes() checked that convolutions take images")
    };
    Conv2dParams {
        batch,
        in_channels: channels,
        in_height: height,
        in_width: width,
        out_channels: filters,
        kernel_size,
        padding,
    }
}

fn pool_params(layer: &Layer, input: Shape, batch: usize) -> MaxPool2dParams {
    let (
        &Layer::MaxPool2d { pool_size },
        Shape::Image {
            channels,
            height,
            width,
        },
    ) = (layer, input)
    else {
        unreachable!("shapes() checked that pooling takes images")
    };
    MaxPool2dParams {
        batch,
        channels,
        in_height: height,
        in_width: width,
        pool_size,
    }
}

/// Scratch of the GEMM-based convolution and dense launchers for every layer, each packed
/// operand limited to `bound` floats; partial sums only when `training`.
fn scratch_lens(
    architecture: &Architecture,
    shapes: &[Shape],
    batch: usize,
    bound: usize,
    training: bool,
) -> ScratchLens {
    let mut convs = Vec::new();
    let mut lens = ScratchLens::default();
    for (index, layer) in architecture.layers.iter().enumerate() {
        let input_shape = if index == 0 {
            architecture.input
        } else {
            shapes[index - 1]
        };
        match layer {
            Layer::Conv2d { .. } => {
                let p = conv_params(layer, input_shape, batch);
                lens = lens.max(conv2d::scratch_lens(&p, bound));
                convs.push(p);
            }
            Layer::Dense { units } => {
                let p = DenseParams {
                    batch,
                    in_features: input_shape.len(),
                    out_features: *units,
                };
                lens = lens.max(dense::scratch_lens(&p));
            }
            _ => {}
        }
    }
    // The weight-gradient chunks depend on the shared operand lengths, so the partial
    // sums are sized only once those are known.
    lens.partial = 0;
    if training {
        for p in &convs {
            lens.partial = lens
                .partial
                .max(conv2d::weight_scratch_len(p, &lens))
                .max(conv2d::bias_scratch_len(p));
        }
    }
    lens
}

/// Prepares the backward chain and the optimizer step.
#[allow(clippy::too_many_arguments)]
fn build_training(
    gpu: &Gpu,
    architecture: &Architecture,
    shapes: &[Shape],
    layers: &[LayerBuffers],
    layout: &ParamLayout,
    params: &View,
    step_state: &wgpu::Buffer,
    dlogits: &View,
    scratch: &Scratch,
    batch: usize,
    seed: u32,
    optimizer: Optimizer,
    storage: &mut impl FnMut(&str, usize) -> Result<View, GpuError>,
) -> Result<Training, GpuError> {
    let grads = storage("gradients", layout.total)?;
    let grad_of = |name: String| -> View {
        let (spec, offset) = layout.find(&name).expect("layout has every parameter");
        grads.slice(*offset, spec.len())
    };
    let param = |name: String| -> View {
        let (spec, offset) = layout.find(&name).expect("layout has every parameter");
        params.slice(*offset, spec.len())
    };

    let mut backward = Vec::new();
    let mut dout = dlogits.clone();
    let dropout_count = architecture
        .layers
        .iter()
        .filter(|layer| matches!(layer, Layer::Dropout { .. }))
        .count();
    let mut dropout_layer = dropout_count as u32;
    for (index, layer) in architecture.layers.iter().enumerate().rev() {
        let input_shape = if index == 0 {
            architecture.input
        } else {
            shapes[index - 1]
        };
        let buffers = &layers[index];
        let input_len = batch * input_shape.len();
        // The first layer's input gradient is never used, so it is not computed.
        let needs_dx = index > 0;
        let dx = if needs_dx && !matches!(layer, Layer::Flatten) {
            Some(storage(
                &format!("layers.{index} input gradient"),
                input_len,
            )?)
        } else {
            None
        };
        match layer {
            Layer::Conv2d { .. } => {
                let p = conv_params(layer, input_shape, batch);
                let scratch_b = scratch.partial.slice(0, conv2d::bias_scratch_len(&p));
                let x = &buffers.train_input;
                backward.extend(conv2d::conv2d_backward_weight(
                    gpu,
                    &p,
                    x,
                    &dout,
                    scratch,
                    &grad_of(weight_name(index)),
                ));
                backward.extend(conv2d::conv2d_backward_bias(
                    gpu,
                    &p,
                    &dout,
                    &scratch_b,
                    &grad_of(bias_name(index)),
                ));
                if let Some(dx) = &dx {
                    let weight = param(weight_name(index));
                    backward.extend(conv2d::conv2d_backward_input(
                        gpu, &p, &dout, &weight, dx, scratch,
                    ));
                }
            }
            Layer::Dense { units } => {
                let p = DenseParams {
                    batch,
                    in_features: input_shape.len(),
                    out_features: *units,
                };
                let x = &buffers.train_input;
                backward.extend(dense::dense_backward_weight(
                    gpu,
                    &p,
                    x,
                    &dout,
                    &grad_of(weight_name(index)),
                    scratch,
                ));
                backward.push(dense::dense_backward_bias(
                    gpu,
                    &p,
                    &dout,
                    &grad_of(bias_name(index)),
                ));
                if let Some(dx) = &dx {
                    let weight = param(weight_name(index));
                    backward.extend(dense::dense_backward_input(
                        gpu, &p, &dout, &weight, dx, scratch,
                    ));
                }
            }
            Layer::Activation { function } => {
                if let Some(dx) = &dx {
                    let y = &buffers.train_output;
                    backward.push(activation::activation_backward(
                        gpu, *function, y, &dout, dx,
                    ));
                }
            }
            Layer::MaxPool2d { .. } => {
                if let Some(dx) = &dx {
                    let p = pool_params(layer, input_shape, batch);
                    let x = &buffers.train_input;
                    backward.push(maxpool2d::maxpool2d_backward(gpu, &p, x, &dout, dx));
                }
            }
            Layer::Dropout { rate } => {
                dropout_layer -= 1;
                if let Some(dx) = &dx {
                    let p = DropoutParams {
                        len: input_len,
                        rate: *rate,
                        seed,
                        layer: dropout_layer,
                    };
                    backward.push(dropout::dropout_apply(gpu, &p, step_state, &dout, dx));
                }
            }
            Layer::Flatten => {}
        }
        if let Some(dx) = dx {
            dout = dx;
        }
    }

    let (optimizer_dispatch, moments) = match optimizer {
        Optimizer::Adam(p) => {
            let m = storage("adam m", layout.total)?;
            let v = storage("adam v", layout.total)?;
            (
                optimizer::adam_step(gpu, &p, step_state, &grads, params, &m, &v),
                vec![m, v],
            )
        }
        Optimizer::Sgd(p) => {
            let velocity = storage("sgd velocity", layout.total)?;
            (
                optimizer::sgd_step(gpu, &p, step_state, &grads, params, &velocity),
                vec![velocity],
            )
        }
    };
    Ok(Training {
        grads,
        backward,
        optimizer: optimizer_dispatch,
        moments,
    })
}
