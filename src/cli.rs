//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::data::LabelMode;
use crate::eval::command::{EvalSplit, EvaluateOptions};
use crate::eval::predict::PredictOptions;
use crate::ops::Augment;
use crate::train::{OptimizerKind, TrainOptions};

/// Train convolutional networks on CIFAR-10, CIFAR-100, Fashion-MNIST and image folders,
/// with every kernel a WGSL compute shader run through wgpu.
#[derive(Debug, Parser)]
#[command(name = "cifar-gpu", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the GPU adapters wgpu finds; `*` marks the one used by default.
    Adapters,
    /// Train a model and write its history, summary and checkpoint.
    Train(TrainArgs),
    /// Time every kernel of a model's training and inference steps on synthetic inputs.
    Profile(crate::profile::ProfileArgs),
    /// Evaluate a checkpoint on a dataset split: accuracy, per-class figures, confusion
    /// matrix and a collapse diagnosis.
    Evaluate(EvaluateArgs),
    /// Print the most probable classes of image files under a checkpoint's model.
    Predict(PredictArgs),
}

/// Options of `evaluate`.
#[derive(Debug, Args)]
pub struct EvaluateArgs {
    /// Checkpoint directory written by `train --out DIR` (DIR/checkpoint).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Dataset directory the model was trained on.
    #[arg(long)]
    pub data: PathBuf,
    /// Split to evaluate: `val` rebuilds the validation split of training from the seed,
    /// fraction and limit stored in the checkpoint.
    #[arg(long, value_enum, default_value_t = EvalSplit::Test)]
    pub split: EvalSplit,
    /// Directory for report.json, per_class.csv, confusion_matrix.json and the PNG charts.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Blank the diagonal of confusion_matrix.png so the structure of the errors shows.
    #[arg(long)]
    pub zero_diagonal: bool,
    /// Images per batch [default: the training batch size stored in the checkpoint].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Evaluate only N test images, the same N that `train --test-limit N` tests on.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Adapter to use: an index or part of a name from `cifar-gpu adapters`.
    #[arg(long)]
    pub adapter: Option<String>,
}

impl EvaluateArgs {
    pub fn options(&self) -> EvaluateOptions {
        EvaluateOptions {
            split: self.split,
            out: self.out.clone(),
            zero_diagonal: self.zero_diagonal,
            adapter: self.adapter.clone(),
            batch_size: self.batch_size,
            limit: self.limit,
            ..EvaluateOptions::new(&self.checkpoint, &self.data)
        }
    }
}

/// Options of `predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// Checkpoint directory written by `train --out DIR` (DIR/checkpoint).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// PNG or JPEG files; other sizes are resized to the model's input with a bilinear
    /// filter.
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<PathBuf>,
    /// Classes to print per image, most probable first.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Adapter to use: an index or part of a name from `cifar-gpu adapters`.
    #[arg(long)]
    pub adapter: Option<String>,
}

impl PredictArgs {
    pub fn options(&self) -> PredictOptions {
        PredictOptions {
            checkpoint: self.checkpoint.clone(),
            images: self.images.clone(),
            top_k: self.top_k,
            adapter: self.adapter.clone(),
        }
    }
}

/// Options of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Dataset directory: CIFAR-10 or CIFAR-100 binary files, Fashion-MNIST IDX files, or
    /// an image folder with train/<class>/ and test/<class>/.
    #[arg(long)]
    pub data: PathBuf,
    /// CIFAR-100 label to train on.
    #[arg(long, value_enum, default_value_t = LabelMode::Fine)]
    pub label_mode: LabelMode,
    /// Model architecture preset; `classic` is the only one: the Keras CIFAR-10 CNN.
    #[arg(long, default_value = "classic", value_parser = ["classic"])]
    pub model: String,
    /// Passes over the training split.
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Images per training step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Learning rate [default: 0.001 for adam, 0.01 for sgd].
    #[arg(long = "lr")]
    pub learning_rate: Option<f32>,
    /// Optimizer: Adam with the Keras defaults, or SGD with momentum.
    #[arg(long, value_enum, default_value_t = OptimizerKind::Adam)]
    pub optimizer: OptimizerKind,
    /// Momentum of the SGD optimizer.
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Fraction of the training images held out for validation, stratified by class.
    #[arg(long, default_value_t = 0.2)]
    pub val_split: f64,
    /// Seed of the split, shuffling, initialization, dropout and augmentation.
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
    /// Train on only N images of the training split, a seeded random sample; the
    /// validation split shrinks in proportion.
    #[arg(long, value_name = "N")]
    pub train_limit: Option<usize>,
    /// Test on only N test images, drawn in a fixed seeded order.
    #[arg(long, value_name = "N")]
    pub test_limit: Option<usize>,
    /// Directory for history.csv, history.png, summary.json and checkpoint/.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace the files of an earlier run in --out instead of failing.
    #[arg(long)]
    pub overwrite: bool,
    /// Maximum random shift of training images, in pixels per axis (nearest-edge fill).
    #[arg(long, default_value_t = 3)]
    pub max_shift: u32,
    /// Do not mirror training images left to right at random.
    #[arg(long)]
    pub no_flip: bool,
    /// Turn off all augmentation (shifts and flips).
    #[arg(long)]
    pub no_augment: bool,
    /// Adapter to use: an index or part of a name from `cifar-gpu adapters`.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Training steps between read-backs of the running loss for the display.
    #[arg(long, default_value_t = 20)]
    pub metrics_interval: usize,
}

impl TrainArgs {
    pub fn options(&self) -> TrainOptions {
        let augment = if self.no_augment {
            Augment::default()
        } else {
            Augment {
                max_shift: self.max_shift,
                horizontal_flip: !self.no_flip,
            }
        };
        TrainOptions {
            data: self.data.clone(),
            label_mode: self.label_mode,
            model: self.model.clone(),
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            optimizer: self.optimizer,
            momentum: self.momentum,
            val_split: self.val_split,
            seed: self.seed,
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            out: self.out.clone(),
            overwrite: self.overwrite,
            augment,
            adapter: self.adapter.clone(),
            metrics_interval: self.metrics_interval,
            ..TrainOptions::new(&self.data)
        }
    }
}
