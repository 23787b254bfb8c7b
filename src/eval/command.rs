//! The `evaluate` command: a checkpoint on a dataset split, with the report files.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::diagnosis::{diagnose, Diagnosis, MIN_IMAGES_PER_CLASS};
use super::metrics::{
    class_stats, confusion_matrix, macro_averages, write_per_class_csv, ClassStats,
};
use super::plot;
use super::{evaluate, Evaluation};
use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::console;
use crate::data::{DataError, Dataset};
use crate::gpu::{Gpu, GpuError};
use crate::model::network::{Network, NetworkConfig, NetworkError, Normalization};
use crate::model::Shape;
use crate::ops::input::ImageStore;
use crate::train::format_loss;
use crate::train::output::AdapterSummary;
use crate::train::{adapter_summary, input_shape, load_dataset, splits};

/// Dataset split to evaluate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalSplit {
    /// The validation split of training, rebuilt from the seed, fraction and limit stored
    /// in the checkpoint.
    Val,
    /// The dataset's test images.
    Test,
}

impl std::fmt::Display for EvalSplit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EvalSplit::Val => "val",
            EvalSplit::Test => "test",
        })
    }
}

/// Options of [`run_evaluation`].
#[derive(Clone, Debug)]
pub struct EvaluateOptions {
    pub checkpoint: PathBuf,
    pub data: PathBuf,
    pub split: EvalSplit,
    pub out: Option<PathBuf>,
    pub zero_diagonal: bool,
    pub adapter: Option<String>,
    /// Images per batch; `None` takes the training batch size stored in the checkpoint.
    pub batch_size: Option<usize>,
    /// Evaluate only this many test images, chosen as `train --test-limit` chooses them.
    pub limit: Option<usize>,
    pub progress: bool,
}

impl EvaluateOptions {
    pub fn new(checkpoint: impl Into<PathBuf>, data: impl Into<PathBuf>) -> Self {
        Self {
            checkpoint: checkpoint.into(),
            data: data.into(),
            split: EvalSplit::Test,
            out: None,
            zero_diagonal: false,
            adapter: None,
            batch_size: None,
            limit: None,
            progress: std::io::stderr().is_terminal(),
        }
    }
}

/// Errors of the evaluate and predict commands.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(
        "the checkpoint's model takes {model} images but the dataset in {data} has {dataset} \
         images; evaluate on the dataset the model was trained on"
    )]
    InputShape {
        model: Shape,
        dataset: Shape,
        data: PathBuf,
    },
    #[error(
        "class {index} of the model is {model:?}, but the dataset in {data} calls it \
         {dataset:?}; evaluate on the dataset the model was trained on, with the same class \
         folders or label names"
    )]
    ClassNames {
        index: usize,
        model: String,
        dataset: String,
        data: PathBuf,
    },
    #[error("the {split} split is empty: {reason}")]
    EmptySplit { split: EvalSplit, reason: String },
    #[error("failed to write {path}: {message}")]
    Output { path: PathBuf, message: String },
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error("failed to read image {path}: {message}; predict takes PNG or JPEG files")]
    Image { path: PathBuf, message: String },
}

/// Contents of `report.json`.
#[derive(Clone, Debug, Serialize)]
pub struct EvaluationReport {
    pub checkpoint: PathBuf,
    pub dataset: String,
    pub split: EvalSplit,
    pub images: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub top5_accuracy: f64,
    pub macro_precision: f64,
    pub macro_recall: f64,
    pub macro_f1: f64,
    pub classes: Vec<String>,
    pub per_class: Vec<ClassStats>,
    /// Row = true class, column = predicted class.
    pub confusion_matrix: Vec<Vec<u64>>,
    pub diagnosis: Diagnosis,
    pub adapter: AdapterSummary,
}

/// Builds an inference network holding the checkpoint's weights, with `normalization`.
pub fn inference_network(
    gpu: &Gpu,
    checkpoint: &Checkpoint,
    batch: usize,
    normalization: Normalization,
) -> Result<Network, NetworkError> {
    let architecture = &checkpoint.metadata.architecture;
    let config = NetworkConfig {
        batch,
        seed: checkpoint.metadata.training.seed,
        normalization,
        augment: Default::default(),
        optimizer: None,
    };
    let alignment = (gpu.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
    let layout = crate::model::ParamLayout::new(
        architecture.parameters().map_err(NetworkError::Model)?,
        alignment,
    );
    let flat = checkpoint.flat_parameters(&layout);
    Network::new(gpu, architecture, config, Some(&flat))
}

/// Fails when the dataset names its classes differently from the checkpoint: labels would
/// then mean other classes, and every figure would be wrong without a sign.
fn check_class_names(model: &[String], dataset: &[String], data: &Path) -> Result<(), EvalError> {
    match model
        .iter()
        .zip(dataset)
        .enumerate()
        .find(|(_, (a, b))| a != b)
    {
        Some((index, (model_name, dataset_name))) => Err(EvalError::ClassNames {
            index,
            model: model_name.clone(),
            dataset: dataset_name.clone(),
            data: data.to_path_buf(),
        }),
        None => Ok(()),
    }
}

/// Image indices of the requested split and their labels.
fn split_images(
    dataset: &Dataset,
    checkpoint: &Checkpoint,
    split: EvalSplit,
    limit: Option<usize>,
) -> Result<(Vec<usize>, Vec<u32>), EvalError> {
    let training = &checkpoint.metadata.training;
    match split {
        EvalSplit::Val => {
            let splits = splits::split(
                dataset,
                training.val_split,
                training.seed,
                training.train_limit,
                None,
            );
            if splits.validation.is_empty() {
                return Err(EvalError::EmptySplit {
                    split,
                    reason: format!(
                        "the model was trained with --val-split {}, which holds out no images",
                        training.val_split
                    ),
                });
            }
            let labels = splits
                .validation
                .iter()
                .map(|&i| dataset.train.labels[i])
                .collect();
            Ok((splits.validation, labels))
        }
        EvalSplit::Test => {
            if dataset.test.is_empty() {
                return Err(EvalError::EmptySplit {
                    split,
                    reason: "the dataset has no test images".into(),
                });
            }
            let indices = splits::test_indices(dataset.test.len(), training.seed, limit);
            let labels = indices.iter().map(|&i| dataset.test.labels[i]).collect();
            Ok((indices, labels))
        }
    }
}

/// Evaluates the checkpoint as `options` specify, prints the summary and writes the files.
pub fn run_evaluation(options: &EvaluateOptions) -> Result<EvaluationReport, EvalError> {
    let checkpoint = checkpoint::load(&options.checkpoint)?;
    let normalization = checkpoint.metadata.normalization.clone();
    evaluate_with_normalization(options, &checkpoint, normalization)
}

fn evaluate_with_normalization(
    options: &EvaluateOptions,
    checkpoint: &Checkpoint,
    normalization: Normalization,
) -> Result<EvaluationReport, EvalError> {
    if options.limit == Some(0) {
        return Err(EvalError::InvalidOption(
            "--limit must be at least 1".into(),
        ));
    }
    if options.limit.is_some() && options.split == EvalSplit::Val {
        return Err(EvalError::InvalidOption(
            "--limit applies to --split test; the val split is rebuilt whole from the checkpoint"
                .into(),
        ));
    }
    if options.batch_size == Some(0) {
        return Err(EvalError::InvalidOption(
            "--batch-size must be at least 1".into(),
        ));
    }
    let gpu = Gpu::open(options.adapter.as_deref())?;
    let metadata = &checkpoint.metadata;
    let dataset = load_dataset(&options.data, metadata.training.label_mode)?;
    checkpoint.check_classes(dataset.classes.len())?;
    check_class_names(&metadata.classes, &dataset.classes, &options.data)?;
    if metadata.dataset != dataset.name {
        log::warn!(
            "the model was trained on a {} dataset, and {} holds a {} dataset",
            metadata.dataset,
            options.data.display(),
            dataset.name
        );
    }
    let dataset_shape = input_shape(&dataset);
    if dataset_shape != metadata.architecture.input {
        return Err(EvalError::InputShape {
            model: metadata.architecture.input,
            dataset: dataset_shape,
            data: options.data.clone(),
        });
    }
    let (indices, labels) = split_images(&dataset, checkpoint, options.split, options.limit)?;
    let batch = options.batch_size.unwrap_or(metadata.training.batch_size);
    let network = inference_network(&gpu, checkpoint, batch, normalization)?;
    let images = match options.split {
        EvalSplit::Val => &dataset.train,
        EvalSplit::Test => &dataset.test,
    };
    let store = ImageStore::upload(
        &gpu,
        "evaluation",
        &images.images,
        dataset.image_len(),
        None,
    )?;
    let input = network.bind_input(&gpu, &store, false);
    let bar = crate::train::progress::Progress::new(
        options.progress,
        indices.len() as u64,
        "evaluate".into(),
    );
    let evaluation = evaluate(&gpu, &network, &input, &indices, &labels, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish();

    let report = build_report(options, &dataset, &evaluation, adapter_summary(&gpu));
    // Files first: printing can fail when stdout is a closed pipe.
    if let Some(dir) = &options.out {
        write_report_files(dir, &report, options.zero_diagonal)?;
    }
    print_report(&report);
    match report.diagnosis.warning() {
        Some(warning) => log::warn!("{warning}"),
        None if !report.diagnosis.checked => log::info!(
            "collapse diagnosis skipped: it needs at least {MIN_IMAGES_PER_CLASS} images per class"
        ),
        None => {}
    }
    Ok(report)
}

fn build_report(
    options: &EvaluateOptions,
    dataset: &Dataset,
    evaluation: &Evaluation,
    adapter: AdapterSummary,
) -> EvaluationReport {
    let classes = dataset.classes.len();
    let matrix = confusion_matrix(&evaluation.labels, &evaluation.predictions, classes);
    let per_class = class_stats(&matrix, &dataset.classes);
    let (macro_precision, macro_recall, macro_f1) = macro_averages(&per_class);
    EvaluationReport {
        checkpoint: options.checkpoint.clone(),
        dataset: dataset.name.clone(),
        split: options.split,
        images: evaluation.labels.len(),
        loss: evaluation.loss,
        accuracy: evaluation.accuracy,
        top5_accuracy: evaluation.top_k_accuracy(5),
        macro_precision,
        macro_recall,
        macro_f1,
        classes: dataset.classes.clone(),
        diagnosis: diagnose(&per_class),
        per_class,
        confusion_matrix: matrix,
        adapter,
    }
}

fn print_report(report: &EvaluationReport) {
    console::print_line(&format!(
        "{} split: {} images  loss {}  accuracy {:.4}  top-5 accuracy {:.4}  macro F1 {:.4}",
        report.split,
        report.images,
        format_loss(report.loss),
        report.accuracy,
        report.top5_accuracy,
        report.macro_f1
    ));
    console::print_line(&format!(
        "{:<20} {:>8} {:>9} {:>9} {:>7} {:>7} {:>7}",
        "class", "support", "predicted", "precision", "recall", "f1", "pred/true"
    ));
    for s in &report.per_class {
        let ratio = if s.true_share > 0.0 {
            s.predicted_share / s.true_share
        } else {
            0.0
        };
        console::print_line(&format!(
            "{:<20} {:>8} {:>9} {:>9.3} {:>7.3} {:>7.3} {:>7.2}",
            s.name, s.support, s.predicted, s.precision, s.recall, s.f1, ratio
        ));
    }
}

/// Writes report.json, per_class.csv, confusion_matrix.json and the PNG charts into `dir`.
pub fn write_report_files(
    dir: &Path,
    report: &EvaluationReport,
    zero_diagonal: bool,
) -> Result<(), EvalError> {
    let output_error = |path: &Path, message: String| EvalError::Output {
        path: path.to_path_buf(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|error| output_error(dir, error.to_string()))?;
    let write_json = |name: &str, value: &dyn erased::Json| -> Result<(), EvalError> {
        let path = dir.join(name);
        let mut text = value.to_pretty();
        text.push('\n');
        checkpoint::write_atomically(&path, text.as_bytes())
            .map_err(|error| output_error(&path, error.to_string()))
    };
    write_json("report.json", report)?;
    write_json("confusion_matrix.json", &report.confusion_matrix)?;
    let csv = dir.join("per_class.csv");
    write_per_class_csv(&csv, &report.per_class)
        .map_err(|error| output_error(&csv, error.to_string()))?;

    let png = dir.join("confusion_matrix.png");
    let title = format!(
        "{} {} split: accuracy {:.1}% on {} images{}",
        report.dataset,
        report.split,
        100.0 * report.accuracy,
        report.images,
        if zero_diagonal {
            ", diagonal blanked"
        } else {
            ""
        }
    );
    plot::write_confusion_png(
        &png,
        &report.confusion_matrix,
        &report.classes,
        zero_diagonal,
        &title,
    )
    .map_err(|error| output_error(&png, error.to_string()))?;
    let histogram = dir.join("prediction_histogram.png");
    let predicted: Vec<u64> = report.per_class.iter().map(|s| s.predicted).collect();
    let actual: Vec<u64> = report.per_class.iter().map(|s| s.support).collect();
    let highlighted: Vec<usize> = if report.diagnosis.collapsed {
        report.diagnosis.dominant.iter().map(|d| d.class).collect()
    } else {
        Vec::new()
    };
    plot::write_prediction_histogram_png(
        &histogram,
        &predicted,
        &actual,
        &report.classes,
        &highlighted,
        "predicted (bars) against true (marks) count per class",
    )
    .map_err(|error| output_error(&histogram, error.to_string()))?;
    log::info!(
        "wrote report.json, per_class.csv, confusion_matrix.json and PNG charts to {}",
        dir.display()
    );
    Ok(())
}

/// Serialization through a trait object, so one closure writes either value.
mod erased {
    pub trait Json {
        fn to_pretty(&self) -> String;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_pretty(&self) -> String {
            serde_json::to_string_pretty(self).expect("report values serialize")
        }
    }
}

/// Deliberate faults for tests that show what the diagnosis catches. Nothing in the
/// command-line tool calls these.
#[doc(hidden)]
pub mod fault_injection {
    use super::*;

    /// Returns the normalization under which the model receives every input pixel multiplied by
    /// `factor`: `(factor * p / 255 - mean) / std` equals `(p / 255 - mean / factor) /
    /// (std / factor)`.
    pub fn scaled_inputs(normalization: &Normalization, factor: f32) -> Normalization {
        Normalization {
            scale: normalization.scale,
            mean: normalization.mean.iter().map(|m| m / factor).collect(),
            std: normalization.std.iter().map(|s| s / factor).collect(),
        }
    }

    /// Evaluates as [`run_evaluation`] does, but with every input pixel multiplied by
    /// `factor`, the mistake of feeding raw 0-255 pixels to a model trained on pixels/255
    /// when `factor` is 255.
    pub fn evaluate_with_scaled_inputs(
        options: &EvaluateOptions,
        factor: f32,
    ) -> Result<EvaluationReport, EvalError> {
        let checkpoint = checkpoint::load(&options.checkpoint)?;
        let normalization = scaled_inputs(&checkpoint.metadata.normalization, factor);
        evaluate_with_normalization(options, &checkpoint, normalization)
    }
}
