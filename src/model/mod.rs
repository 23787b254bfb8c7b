//! Network architectures: layer specs, the classic preset, shape inference, the flat
//! parameter layout and weight initialization. `network` builds the GPU side.

pub mod network;

use serde::{Deserialize, Serialize};

use crate::ops::activation::Activation;
use crate::ops::rng;
use crate::ops::Padding;

/// One layer of a sequential network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Layer {
    /// Stride-1 convolution with bias.
    Conv2d {
        filters: usize,
        kernel_size: usize,
        padding: Padding,
    },
    Activation {
        function: Activation,
    },
    /// Square max pooling with stride equal to the window.
    MaxPool2d {
        pool_size: usize,
    },
    /// Inverted dropout, active at training time only.
    Dropout {
        rate: f32,
    },
    /// Reinterprets C x H x W as one feature vector without copying.
    Flatten,
    /// Fully connected layer with bias.
    Dense {
        units: usize,
    },
}

/// Shape of one sample's activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shape {
    Image {
        channels: usize,
        height: usize,
        width: usize,
    },
    Flat {
        features: usize,
    },
}

impl Shape {
    /// Elements of one sample.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Image {
                channels,
                height,
                width,
            } => channels * height * width,
            Shape::Flat { features } => features,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Layer::Conv2d {
                filters,
                kernel_size,
                padding,
            } => {
                let padding = match padding {
                    Padding::Same => "same",
                    Padding::Valid => "valid",
                };
                write!(
                    f,
                    "{kernel_size}x{kernel_size} convolution, {filters} filters, {padding} padding"
                )
            }
            Layer::Activation { function } => write!(f, "{function:?} activation"),
            Layer::MaxPool2d { pool_size } => write!(f, "{pool_size}x{pool_size} max pooling"),
            Layer::Dropout { rate } => write!(f, "dropout {rate}"),
            Layer::Flatten => write!(f, "flatten"),
            Layer::Dense { units } => write!(f, "dense, {units} units"),
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Shape::Image {
                channels,
                height,
                width,
            } => write!(f, "{channels}x{height}x{width}"),
            Shape::Flat { features } => write!(f, "{features}"),
        }
    }
}

/// Errors in an architecture or in parameters that should match one.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("layer {index} ({layer}) cannot take input of shape {input}: {reason}")]
    BadLayerInput {
        index: usize,
        layer: Layer,
        input: Shape,
        reason: String,
    },
    #[error(
        "the network must end in a dense layer of {classes} units (one per class), but it {found}"
    )]
    BadOutput { classes: usize, found: String },
    #[error("unknown model {0:?}; the models available are: classic")]
    UnknownModel(String),
    #[error(
        "the {model} model needs images of at least {min_size}x{min_size} pixels, but the \
         dataset's are {height}x{width}"
    )]
    InputTooSmall {
        model: String,
        min_size: usize,
        height: usize,
        width: usize,
    },
}

/// A sequential network and the input shape it was built for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Architecture {
    pub input: Shape,
    pub layers: Vec<Layer>,
}

/// What a parameter tensor is, which decides its initialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// Glorot-uniform initialized kernel with the given fan-in and fan-out.
    Kernel { fan_in: usize, fan_out: usize },
    /// Zero-initialized bias.
    Bias,
}

/// One parameter tensor of the network.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// `layers.<index>.<weight|bias>`, the tensor name in checkpoints.
    pub name: String,
    pub layer: usize,
    pub shape: Vec<usize>,
    pub kind: ParamKind,
}

impl ParamSpec {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Offsets of the parameter tensors in the flat parameter buffer.
#[derive(Clone, Debug)]
pub struct ParamLayout {
    /// `(spec, offset in elements)`, in layer order.
    pub entries: Vec<(ParamSpec, usize)>,
    /// Elements of the flat buffer, padding included.
    pub total: usize,
}

impl ParamLayout {
    /// Lays the tensors out in order, each starting at a multiple of `alignment` elements
    /// so each can be bound on its own.
    pub fn new(specs: Vec<ParamSpec>, alignment: usize) -> Self {
        let mut entries = Vec::with_capacity(specs.len());
        let mut offset = 0;
        for spec in specs {
            let len = spec.len();
            entries.push((spec, offset));
            offset = (offset + len).div_ceil(alignment) * alignment;
        }
        Self {
            entries,
            total: offset.max(alignment),
        }
    }

    pub fn find(&self, name: &str) -> Option<&(ParamSpec, usize)> {
        self.entries.iter().find(|(spec, _)| spec.name == name)
    }

    /// Returns the count of real parameters, padding excluded.
    pub fn parameter_count(&self) -> usize {
        self.entries.iter().map(|(spec, _)| spec.len()).sum()
    }
}

impl Architecture {
    /// Builds the classic Keras CIFAR-10 example network. It has two blocks of two 3x3
    /// convolutions with ReLU (32 then 64 filters, the first of each `same`, the second
    /// `valid`), each block followed by 2x2 max pooling and dropout 0.25. Then come dense
    /// 1024 with tanh, dropout 0.5 and a dense layer with one output per class.
    pub fn classic(input: Shape, classes: usize) -> Self {
        let conv = |filters, padding| Layer::Conv2d {
            filters,
            kernel_size: 3,
            padding,
        };
        let relu = || Layer::Activation {
            function: Activation::Relu,
        };
        let layers = vec![
            conv(32, Padding::Same),
            relu(),
            conv(32, Padding::Valid),
            relu(),
            Layer::MaxPool2d { pool_size: 2 },
            Layer::Dropout { rate: 0.25 },
            conv(64, Padding::Same),
            relu(),
            conv(64, Padding::Valid),
            relu(),
            Layer::MaxPool2d { pool_size: 2 },
            Layer::Dropout { rate: 0.25 },
            Layer::Flatten,
            Layer::Dense { units: 1024 },
            Layer::Activation {
                function: Activation::Tanh,
            },
            Layer::Dropout { rate: 0.5 },
            Layer::Dense { units: classes },
        ];
        Self { input, layers }
    }

    /// Builds a named preset.
    pub fn preset(name: &str, input: Shape, classes: usize) -> Result<Self, ModelError> {
        match name {
            "classic" => Ok(Self::classic(input, classes)),
            other => Err(ModelError::UnknownModel(other.to_string())),
        }
    }

    /// Output shape of every layer, checking that each layer accepts its input.
    pub fn shapes(&self) -> Result<Vec<Shape>, ModelError> {
        let mut shapes = Vec::with_capacity(self.layers.len());
        let mut current = self.input;
        for (index, layer) in self.layers.iter().enumerate() {
            let bad = |reason: String| ModelError::BadLayerInput {
                index,
                layer: layer.clone(),
                input: current,
                reason,
            };
            current = match (layer, current) {
                (
                    &Layer::Conv2d {
                        filters,
                        kernel_size,
                        padding,
                    },
                    Shape::Image { height, width, .. },
                ) => {
                    if kernel_size % 2 == 0 || kernel_size == 0 {
                        return Err(bad(format!("kernel size {kernel_size} must be odd")));
                    }
                    let shrink = if padding == Padding::Valid {
                        kernel_size - 1
                    } else {
                        0
                    };
                    if height <= shrink || width <= shrink {
                        return Err(bad(format!(
                            "a valid {kernel_size}x{kernel_size} convolution needs at least {0}x{0} input",
                            kernel_size
                        )));
                    }
                    Shape::Image {
                        channels: filters,
                        height: height - shrink,
                        width: width - shrink,
                    }
                }
                (
                    &Layer::MaxPool2d { pool_size },
                    Shape::Image {
                        channels,
                        height,
                        width,
                    },
                ) => {
                    if pool_size == 0 {
                        return Err(bad("the pool size must be at least 1".into()));
                    }
                    if height < pool_size || width < pool_size {
                        return Err(bad(format!(
                            "a {pool_size}x{pool_size} pool needs at least that much input"
                        )));
                    }
                    Shape::Image {
                        channels,
                        height: height / pool_size,
                        width: width / pool_size,
                    }
                }
                (Layer::Conv2d { .. } | Layer::MaxPool2d { .. }, Shape::Flat { .. }) => {
                    return Err(bad("it needs an image input, not a flat vector".into()))
                }
                (&Layer::Dropout { rate }, shape) => {
                    if !(0.0..1.0).contains(&rate) {
                        return Err(bad(format!("dropout rate {rate} is outside [0, 1)")));
                    }
                    shape
                }
                (Layer::Activation { .. }, shape) => shape,
                (Layer::Flatten, shape) => Shape::Flat {
                    features: shape.len(),
                },
                (&Layer::Dense { units }, Shape::Flat { .. }) => Shape::Flat { features: units },
                (Layer::Dense { .. }, Shape::Image { .. }) => {
                    return Err(bad(
                        "dense layers need a flat input; add a flatten layer".into()
                    ))
                }
            };
            shapes.push(current);
        }
        Ok(shapes)
    }

    /// Returns the smallest square input, up to 4,096 pixels a side, that every layer
    /// accepts, keeping this architecture's channel count.
    pub fn min_input_size(&self) -> Option<usize> {
        let Shape::Image { channels, .. } = self.input else {
            return None;
        };
        (1..=4096).find(|&size| {
            let input = Shape::Image {
                channels,
                height: size,
                width: size,
            };
            Architecture {
                input,
                layers: self.layers.clone(),
            }
            .shapes()
            .is_ok()
        })
    }

    /// Checks the architecture and that it ends in a dense layer of `classes` units.
    pub fn validate(&self, classes: usize) -> Result<(), ModelError> {
        self.shapes()?;
        match self.layers.last() {
            Some(&Layer::Dense { units }) if units == classes => Ok(()),
            Some(&Layer::Dense { units }) => Err(ModelError::BadOutput {
                classes,
                found: format!("ends in a dense layer of {units} units"),
            }),
            other => Err(ModelError::BadOutput {
                classes,
                found: format!("ends in {other:?}"),
            }),
        }
    }

    /// Number of classes the network predicts: the units of its last dense layer.
    pub fn classes(&self) -> Option<usize> {
        match self.layers.last() {
            Some(&Layer::Dense { units }) => Some(units),
            _ => None,
        }
    }

    /// Parameter tensors in layer order: for each conv and dense layer, weight then bias.
    pub fn parameters(&self) -> Result<Vec<ParamSpec>, ModelError> {
        let shapes = self.shapes()?;
        let mut specs = Vec::new();
        for (index, layer) in self.layers.iter().enumerate() {
            let input = if index == 0 {
                self.input
            } else {
                shapes[index - 1]
            };
            let (weight_shape, kind) = match (layer, input) {
                (
                    &Layer::Conv2d {
                        filters,
                        kernel_size,
                        ..
                    },
                    Shape::Image { channels, .. },
                ) => {
                    let area = kernel_size * kernel_size;
                    (
                        vec![filters, channels, kernel_size, kernel_size],
                        ParamKind::Kernel {
                            fan_in: channels * area,
                            fan_out: filters * area,
                        },
                    )
                }
                (&Layer::Dense { units }, input) => (
                    vec![input.len(), units],
                    ParamKind::Kernel {
                        fan_in: input.len(),
                        fan_out: units,
                    },
                ),
                _ => continue,
            };
            let units = weight_shape[if matches!(layer, Layer::Dense { .. }) {
                1
            } else {
                0
            }];
            specs.push(ParamSpec {
                name: format!("layers.{index}.weight"),
                layer: index,
                shape: weight_shape,
                kind,
            });
            specs.push(ParamSpec {
                name: format!("layers.{index}.bias"),
                layer: index,
                shape: vec![units],
                kind: ParamKind::Bias,
            });
        }
        Ok(specs)
    }
}

/// Stream of the weight initialization draws; the counter is the element index and the
/// tensor's position selects a sub-stream.
const INIT_STREAM: u32 = 0x1417_0000;

/// Initial values of every tensor of `layout` as one flat vector: kernels Glorot-uniform
/// in `[-sqrt(6 / (fan_in + fan_out)), +sqrt(...)]` (Glorot and Bengio, AISTATS 2010, eq. 16;
/// the Keras default), biases zero, padding zero.
pub fn initial_parameters(layout: &ParamLayout, seed: u32) -> Vec<f32> {
    let mut values = vec![0.0f32; layout.total];
    for (position, (spec, offset)) in layout.entries.iter().enumerate() {
        if let ParamKind::Kernel { fan_in, fan_out } = spec.kind {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
            let stream = INIT_STREAM ^ rng::hash_u32(position as u32);
            for (i, value) in values[*offset..*offset + spec.len()].iter_mut().enumerate() {
                let unit = rng::unit_f32(rng::random_u32(seed, stream, i as u32));
                *value = (2.0 * unit - 1.0) * limit;
            }
        }
    }
    values
}
