//! The training command: loads a dataset, trains a network on the GPU and writes the
//! history, summary and checkpoint.
//!
//! One training step is encoded into one command buffer and submitted without waiting:
//! the host writes the batch's indices, labels and step state, and the GPU gathers,
//! augments and normalizes the images, runs forward, loss, backward and the optimizer.
//! The running loss and accuracy stay on the GPU and are read back every
//! `metrics_interval` steps for the display.

pub mod output;
pub mod progress;
pub mod splits;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::checkpoint::{self, CheckpointError, Metadata, TrainingConfig};
use crate::console;
use crate::data::{self, DataError, Dataset, LabelMode, LoadOptions};
use crate::eval::diagnosis::{diagnose, MIN_IMAGES_PER_CLASS};
use crate::eval::metrics::{class_stats, confusion_matrix};
use crate::eval::plot::{write_history_png, HistorySeries};
use crate::eval::{evaluate, Evaluation};
use crate::gpu::dispatch::encode_pass;
use crate::gpu::{adapter, Gpu, GpuError};
use crate::model::network::{Network, NetworkConfig, NetworkError, Normalization, Optimizer};
use crate::model::{Architecture, ModelError, Shape};
use crate::ops::input::{ImageStore, MAX_CHANNELS};
use crate::ops::{AdamParams, Augment, SgdParams, StepState};
use output::{AdapterSummary, EpochRecord, HistoryFile, Summary};
use progress::Progress;

/// Optimizer of a training run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OptimizerKind {
    Adam,
    Sgd,
}

/// Everything a training run needs.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    pub data: PathBuf,
    pub label_mode: LabelMode,
    pub model: String,
    pub epochs: usize,
    pub batch_size: usize,
    /// `None` takes the optimizer's default (Adam 1e-3, SGD 1e-2).
    pub learning_rate: Option<f32>,
    pub optimizer: OptimizerKind,
    pub momentum: f32,
    pub val_split: f64,
    pub seed: u32,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub out: Option<PathBuf>,
    /// Allow `out` to hold an earlier run, whose files are replaced.
    pub overwrite: bool,
    pub augment: Augment,
    pub adapter: Option<String>,
    /// Steps between read-backs of the running metrics.
    pub metrics_interval: usize,
    /// Show progress bars; the caller decides, usually by whether stderr is a terminal.
    pub progress: bool,
}

impl TrainOptions {
    /// Options with the command-line defaults for the dataset in `data`.
    pub fn new(data: impl Into<PathBuf>) -> Self {
        Self {
            data: data.into(),
            label_mode: LabelMode::Fine,
            model: "classic".into(),
            epochs: 10,
            batch_size: 32,
            learning_rate: None,
            optimizer: OptimizerKind::Adam,
            momentum: 0.9,
            val_split: 0.2,
            seed: 42,
            train_limit: None,
            test_limit: None,
            out: None,
            overwrite: false,
            augment: Augment {
                max_shift: 3,
                horizontal_flip: true,
            },
            adapter: None,
            metrics_interval: 20,
            progress: std::io::stderr().is_terminal(),
        }
    }

    fn optimizer(&self) -> Optimizer {
        match self.optimizer {
            OptimizerKind::Adam => Optimizer::Adam(AdamParams {
                learning_rate: self
                    .learning_rate
                    .unwrap_or(AdamParams::default().learning_rate),
                ..AdamParams::default()
            }),
            OptimizerKind::Sgd => Optimizer::Sgd(SgdParams {
                learning_rate: self
                    .learning_rate
                    .unwrap_or(SgdParams::default().learning_rate),
                momentum: self.momentum,
            }),
        }
    }

    fn validate(&self) -> Result<(), TrainError> {
        let invalid = |message: String| Err(TrainError::InvalidOption(message));
        if self.epochs == 0 {
            return invalid("--epochs must be at least 1".into());
        }
        if self.batch_size == 0 {
            return invalid("--batch-size must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.val_split) {
            return invalid(format!("--val-split {} must be in [0, 1)", self.val_split));
        }
        if let Some(rate) = self.learning_rate {
            if !(rate.is_finite() && rate > 0.0) {
                return invalid(format!("--lr {rate} must be a positive number"));
            }
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return invalid(format!("--momentum {} must be in [0, 1)", self.momentum));
        }
        if self.train_limit == Some(0) {
            return invalid("--train-limit must be at least 1".into());
        }
        if self.test_limit == Some(0) {
            return invalid(
                "--test-limit must be at least 1; omit it to test on every image".into(),
            );
        }
        if self.metrics_interval == 0 {
            return invalid("--metrics-interval must be at least 1".into());
        }
        Ok(())
    }
}

/// Errors that end a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("failed to write {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the training loss became {value} at step {step} (epoch {epoch}); training stopped. \
         Try a lower learning rate than {learning_rate:e} (--lr){checkpoint_hint}"
    )]
    NonFiniteLoss {
        /// Training step, counted from 1 over the whole run.
        step: u64,
        epoch: usize,
        value: f64,
        learning_rate: f32,
        checkpoint_hint: String,
    },
    #[error(
        "the dataset has {channels} channels; the input stage supports at most {MAX_CHANNELS}"
    )]
    TooManyChannels { channels: usize },
    #[error(
        "{dir} already contains a training run ({file}); choose another --out directory or pass \
         --overwrite to replace it"
    )]
    OutputExists { dir: PathBuf, file: &'static str },
    #[error("the training split is empty: {0}")]
    EmptySplit(String),
}

/// Results of a finished training run.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub summary: Summary,
    pub history: Vec<EpochRecord>,
    /// Test-set evaluation, when the dataset has test images.
    pub test: Option<Evaluation>,
    pub checkpoint: Option<PathBuf>,
}

/// Running totals read back from the GPU.
#[derive(Clone, Copy, Debug, Default)]
struct RunningMetrics {
    loss_sum: f64,
    correct: f64,
    samples: f64,
    /// 1 + step of the first non-finite loss, or 0.
    first_bad_step: f64,
}

impl RunningMetrics {
    fn read(gpu: &Gpu, network: &Network) -> Result<Self, GpuError> {
        let values = network.read_metrics(gpu)?;
        Ok(Self {
            loss_sum: values[0] as f64,
            correct: values[1] as f64,
            samples: values[2] as f64,
            first_bad_step: values[3] as f64,
        })
    }

    fn loss(&self) -> f64 {
        self.loss_sum / self.samples.max(1.0)
    }

    fn accuracy(&self) -> f64 {
        self.correct / self.samples.max(1.0)
    }
}

/// Loads the dataset named by the options.
pub fn load_dataset(data_dir: &Path, label_mode: LabelMode) -> Result<Dataset, DataError> {
    let options = LoadOptions {
        label_mode,
        expected_size: None,
    };
    data::load(data_dir, &options)
}

/// Input shape of a dataset's images.
pub fn input_shape(dataset: &Dataset) -> Shape {
    Shape::Image {
        channels: dataset.channels,
        height: dataset.height,
        width: dataset.width,
    }
}

/// Summary of an adapter for reports.
pub fn adapter_summary(gpu: &Gpu) -> AdapterSummary {
    AdapterSummary {
        name: gpu.info.name.clone(),
        backend: format!("{:?}", gpu.info.backend).to_lowercase(),
        device_type: adapter::device_type_name(gpu.info.device_type).into(),
        driver: format!("{} {}", gpu.info.driver, gpu.info.driver_info)
            .trim()
            .into(),
    }
}

/// Trains a network as `options` specify and writes its outputs.
pub fn train(options: &TrainOptions) -> Result<TrainReport, TrainError> {
    options.validate()?;
    let started = Instant::now();

    // The adapter is opened first so a wrong --adapter fails before the dataset loads.
    let gpu = Gpu::open(options.adapter.as_deref())?;
    if gpu.is_software() {
        log::warn!(
            "training on {}, a software adapter that runs on the CPU: expect a small fraction \
             of a GPU's speed",
            gpu.info.name
        );
    }

    let dataset = load_dataset(&options.data, options.label_mode)?;
    if dataset.channels > MAX_CHANNELS {
        return Err(TrainError::TooManyChannels {
            channels: dataset.channels,
        });
    }
    check_dataset_options(options, &dataset)?;
    let classes = dataset.classes.len();
    let splits = splits::split(
        &dataset,
        options.val_split,
        options.seed,
        options.train_limit,
        options.test_limit,
    );
    if splits.train.is_empty() {
        return Err(TrainError::EmptySplit(format!(
            "{} training images with --val-split {} leave none to train on",
            dataset.train.len(),
            options.val_split
        )));
    }
    log::info!(
        "dataset {} from {}: {} classes, {}x{}x{} images, {} train / {} validation / {} test",
        dataset.name,
        options.data.display(),
        classes,
        dataset.channels,
        dataset.height,
        dataset.width,
        splits.train.len(),
        splits.validation.len(),
        splits.test.len()
    );

    let architecture = Architecture::preset(&options.model, input_shape(&dataset), classes)?;
    if let Err(error) = architecture.validate(classes) {
        return Err(match architecture.min_input_size() {
            Some(min_size) if dataset.height < min_size || dataset.width < min_size => {
                ModelError::InputTooSmall {
                    model: options.model.clone(),
                    min_size,
                    height: dataset.height,
                    width: dataset.width,
                }
                .into()
            }
            _ => error.into(),
        });
    }

    // Normalization constants come from the images the model trains on.
    let image_len = dataset.image_len();
    let train_images = dataset.train.subset(&splits.train, image_len);
    let (mean, std) = data::channel_stats(&train_images, dataset.channels, image_len);
    drop(train_images);
    let std: Vec<f32> = std.into_iter().map(|value| value.max(1e-3)).collect();
    let normalization = Normalization {
        scale: 1.0 / 255.0,
        mean,
        std,
    };
    log::info!(
        "input normalization: mean {:?}, std {:?}",
        normalization.mean,
        normalization.std
    );

    let optimizer = options.optimizer();
    let config = NetworkConfig {
        batch: options.batch_size,
        seed: options.seed,
        normalization: normalization.clone(),
        augment: options.augment,
        optimizer: Some(optimizer),
    };
    let network = Network::new(&gpu, &architecture, config, None)?;
    log::info!(
        "model {}: {} parameters, {:.1} MiB of GPU buffers at batch {}",
        options.model,
        network.layout.parameter_count(),
        network.buffer_bytes() as f64 / (1 << 20) as f64,
        options.batch_size
    );

    let train_store = ImageStore::upload(&gpu, "train", &dataset.train.images, image_len, None)?;
    let test_store = ImageStore::upload(&gpu, "test", &dataset.test.images, image_len, None)?;
    let train_input = network.bind_input(&gpu, &train_store, true);
    let validation_input = network.bind_input(&gpu, &train_store, false);
    let test_input = network.bind_input(&gpu, &test_store, false);

    let out_dir = match &options.out {
        Some(dir) => {
            if !options.overwrite {
                check_no_earlier_run(dir)?;
            }
            std::fs::create_dir_all(dir).map_err(|source| TrainError::Output {
                path: dir.clone(),
                source,
            })?;
            Some(dir.clone())
        }
        None => None,
    };
    let mut history_file = match &out_dir {
        Some(dir) => Some(
            HistoryFile::create(dir).map_err(|source| TrainError::Output {
                path: dir.join("history.csv"),
                source,
            })?,
        ),
        None => None,
    };
    let checkpoint_dir = out_dir.as_ref().map(|dir| dir.join("checkpoint"));
    let training_config = |epochs_completed| TrainingConfig {
        seed: options.seed,
        val_split: options.val_split,
        train_limit: options.train_limit,
        label_mode: options.label_mode,
        batch_size: options.batch_size,
        optimizer: format!("{:?}", options.optimizer).to_lowercase(),
        learning_rate: optimizer.learning_rate(),
        augment: options.augment,
        epochs: options.epochs,
        epochs_completed,
    };

    let mut history = Vec::with_capacity(options.epochs);
    let mut step: u64 = 0;
    let mut train_seconds = 0.0;
    let mut batch_indices = vec![0u32; options.batch_size];
    let mut batch_labels = vec![0u32; options.batch_size];
    for epoch in 0..options.epochs {
        let order = data::shuffled_indices(splits.train.len(), options.seed, epoch as u32);
        let bar = Progress::new(
            options.progress,
            order.len() as u64,
            format!("epoch {}/{}", epoch + 1, options.epochs),
        );
        let epoch_started = Instant::now();
        let batches = order.len().div_ceil(options.batch_size);
        let mut metrics = RunningMetrics::default();
        for batch_number in 0..batches {
            let start = batch_number * options.batch_size;
            let valid = options.batch_size.min(order.len() - start);
            for slot in 0..options.batch_size {
                // A short last batch repeats its first image as padding, which the loss
                // gives zero weight and zero gradient.
                let position = if slot < valid { start + slot } else { start };
                let image = splits.train[order[position]];
                batch_indices[slot] = image as u32;
                batch_labels[slot] = dataset.train.labels[image];
            }
            let state = StepState {
                step: step as u32,
                valid: valid as u32,
                learning_rate: optimizer.step_learning_rate(step as u32),
                padding: 0,
            };
            network.write_batch(&gpu, &batch_indices, &batch_labels, state);
            let mut encoder = gpu.device.create_command_encoder(&Default::default());
            if batch_number == 0 {
                network.clear_metrics(&mut encoder);
            }
            encode_pass(&mut encoder, &network.training_step(&train_input));
            gpu.queue.submit([encoder.finish()]);
            step += 1;

            let last = batch_number + 1 == batches;
            if last || (batch_number + 1) % options.metrics_interval == 0 {
                metrics = RunningMetrics::read(&gpu, &network)?;
                if metrics.first_bad_step > 0.0 {
                    let bad_step = metrics.first_bad_step as u64 - 1;
                    return Err(non_finite(
                        &optimizer,
                        bad_step,
                        epoch,
                        &metrics,
                        &checkpoint_dir,
                    ));
                }
                bar.set_status(format!(
                    "loss {:.4} acc {:.4}",
                    metrics.loss(),
                    metrics.accuracy()
                ));
            }
            bar.set_position((start + valid) as u64);
        }
        let seconds = epoch_started.elapsed().as_secs_f64();
        train_seconds += seconds;
        bar.finish();

        let validation = if splits.validation.is_empty() {
            None
        } else {
            let labels: Vec<u32> = splits
                .validation
                .iter()
                .map(|&i| dataset.train.labels[i])
                .collect();
            let bar = Progress::new(
                options.progress,
                labels.len() as u64,
                format!("validate {}/{}", epoch + 1, options.epochs),
            );
            let result = evaluate(
                &gpu,
                &network,
                &validation_input,
                &splits.validation,
                &labels,
                |done| bar.set_position(done as u64),
            )?;
            bar.finish();
            Some(result)
        };
        let record = EpochRecord {
            epoch: epoch + 1,
            loss: metrics.loss(),
            accuracy: metrics.accuracy(),
            val_loss: validation.as_ref().map(|v| v.loss),
            val_accuracy: validation.as_ref().map(|v| v.accuracy),
            seconds,
            images_per_second: splits.train.len() as f64 / seconds,
        };
        history.push(record);
        let record = history.last().expect("just pushed");
        if let Some(file) = history_file.as_mut() {
            file.append(record).map_err(|source| TrainError::Output {
                path: file.path().to_path_buf(),
                source,
            })?;
        }
        if let Some(dir) = &out_dir {
            write_history_chart(dir, &history, &dataset.name, &options.model);
        }
        if let Some(dir) = &checkpoint_dir {
            let flat = gpu.read_f32(&network.params)?;
            let metadata = Metadata::new(
                &dataset.name,
                dataset.classes.clone(),
                architecture.clone(),
                normalization.clone(),
                training_config(epoch + 1),
                network.layout.parameter_count(),
            );
            checkpoint::save(dir, &flat, &network.layout, &metadata)?;
        }
        // Printing comes last, after the epoch's files are safe.
        print_epoch(record, options.epochs);
        if let Some(validation) = &validation {
            let what = format!("epoch {}, validation split", epoch + 1);
            warn_if_collapsed(validation, &dataset.classes, &what);
        }
    }

    let test = if splits.test.is_empty() {
        None
    } else {
        let labels: Vec<u32> = splits
            .test
            .iter()
            .map(|&i| dataset.test.labels[i])
            .collect();
        let bar = Progress::new(options.progress, labels.len() as u64, "test".into());
        let result = evaluate(&gpu, &network, &test_input, &splits.test, &labels, |done| {
            bar.set_position(done as u64)
        })?;
        bar.finish();
        console::print_line(&format!(
            "test: loss {}  accuracy {:.4}  top-5 accuracy {:.4}  ({} images)",
            format_loss(result.loss),
            result.accuracy,
            result.top_k_accuracy(5),
            labels.len()
        ));
        warn_if_collapsed(&result, &dataset.classes, "test split");
        Some(result)
    };

    let last = history.last().expect("at least one epoch");
    let total_images = splits.train.len() as f64 * options.epochs as f64;
    let summary = Summary {
        dataset: dataset.name.clone(),
        classes,
        model: options.model.clone(),
        parameters: network.layout.parameter_count(),
        train_images: splits.train.len(),
        val_images: splits.validation.len(),
        test_images: splits.test.len(),
        epochs: options.epochs,
        batch_size: options.batch_size,
        optimizer: format!("{:?}", options.optimizer).to_lowercase(),
        learning_rate: optimizer.learning_rate(),
        seed: options.seed,
        adapter: adapter_summary(&gpu),
        final_loss: last.loss,
        final_accuracy: last.accuracy,
        val_loss: last.val_loss,
        val_accuracy: last.val_accuracy,
        test_loss: test.as_ref().map(|t| t.loss),
        test_accuracy: test.as_ref().map(|t| t.accuracy),
        test_top5_accuracy: test.as_ref().map(|t| t.top_k_accuracy(5)),
        train_seconds,
        train_images_per_second: total_images / train_seconds,
        total_seconds: started.elapsed().as_secs_f64(),
        gpu_buffer_bytes: network.buffer_bytes() + train_store.bytes() + test_store.bytes(),
    };
    if let Some(dir) = &out_dir {
        let path = output::write_summary(dir, &summary).map_err(|source| TrainError::Output {
            path: dir.join("summary.json"),
            source,
        })?;
        log::info!("wrote {}", path.display());
    }
    Ok(TrainReport {
        summary,
        history,
        test,
        checkpoint: checkpoint_dir,
    })
}

/// Checks the options that depend on the dataset, and notes those it makes meaningless.
fn check_dataset_options(options: &TrainOptions, dataset: &Dataset) -> Result<(), TrainError> {
    let side = dataset.height.min(dataset.width);
    if options.augment.max_shift as usize >= side {
        return Err(TrainError::InvalidOption(format!(
            "--max-shift {} must be smaller than the {}x{} images",
            options.augment.max_shift, dataset.height, dataset.width
        )));
    }
    if options.label_mode == LabelMode::Coarse && dataset.name != "cifar100" {
        log::warn!(
            "--label-mode coarse applies to CIFAR-100 only; {} has one label",
            dataset.name
        );
    }
    if let Some(limit) = options.train_limit {
        if limit > dataset.train.len() {
            log::info!(
                "--train-limit {limit} exceeds the {} training images; all are used",
                dataset.train.len()
            );
        }
    }
    Ok(())
}

/// Fails when `dir` contains files of an earlier run, which a new run would replace.
fn check_no_earlier_run(dir: &Path) -> Result<(), TrainError> {
    let files = ["history.csv", "summary.json", "checkpoint/model.json"];
    match files.into_iter().find(|file| dir.join(file).exists()) {
        Some(file) => Err(TrainError::OutputExists {
            dir: dir.to_path_buf(),
            file,
        }),
        None => Ok(()),
    }
}

fn non_finite(
    optimizer: &Optimizer,
    step: u64,
    epoch: usize,
    metrics: &RunningMetrics,
    checkpoint_dir: &Option<PathBuf>,
) -> TrainError {
    let checkpoint_hint = match checkpoint_dir {
        Some(dir) if epoch > 0 => {
            format!(
                "; the checkpoint of epoch {epoch} in {} is intact",
                dir.display()
            )
        }
        _ => String::new(),
    };
    TrainError::NonFiniteLoss {
        step: step + 1,
        epoch: epoch + 1,
        value: metrics.loss_sum,
        learning_rate: optimizer.learning_rate(),
        checkpoint_hint,
    }
}

/// Runs the collapse diagnosis on predictions of the images named by `what` and logs a
/// warning when it fires.
fn warn_if_collapsed(evaluation: &Evaluation, class_names: &[String], what: &str) {
    let matrix = confusion_matrix(
        &evaluation.labels,
        &evaluation.predictions,
        evaluation.classes,
    );
    let diagnosis = diagnose(&class_stats(&matrix, class_names));
    match diagnosis.warning() {
        Some(warning) => log::warn!("{what}: {warning}"),
        None if !diagnosis.checked => log::info!(
            "{what}: collapse diagnosis skipped, it needs at least {MIN_IMAGES_PER_CLASS} \
             images per class"
        ),
        None => {}
    }
}

/// Draws `history.png` beside `history.csv`. A failure is logged, not raised: the chart
/// is a convenience and the CSV contains the same figures.
fn write_history_chart(dir: &Path, history: &[EpochRecord], dataset: &str, model: &str) {
    let epochs: Vec<usize> = history.iter().map(|r| r.epoch).collect();
    let loss: Vec<f64> = history.iter().map(|r| r.loss).collect();
    let accuracy: Vec<f64> = history.iter().map(|r| r.accuracy).collect();
    let val_loss: Vec<Option<f64>> = history.iter().map(|r| r.val_loss).collect();
    let val_accuracy: Vec<Option<f64>> = history.iter().map(|r| r.val_accuracy).collect();
    let series = HistorySeries {
        epochs: &epochs,
        loss: &loss,
        accuracy: &accuracy,
        val_loss: &val_loss,
        val_accuracy: &val_accuracy,
    };
    let path = dir.join("history.png");
    let title = format!("{model} model on {dataset}");
    if let Err(error) = write_history_png(&path, &series, &title) {
        log::error!("failed to draw {}: {error}", path.display());
    }
}

/// Formats a loss with 4 decimals, or in scientific notation when it has grown large.
pub fn format_loss(loss: f64) -> String {
    if loss.abs() >= 1e4 {
        format!("{loss:.3e}")
    } else {
        format!("{loss:.4}")
    }
}

fn print_epoch(record: &EpochRecord, epochs: usize) {
    let validation = match (record.val_loss, record.val_accuracy) {
        (Some(loss), Some(accuracy)) => {
            format!("  val_loss {}  val_acc {accuracy:.4}", format_loss(loss))
        }
        _ => String::new(),
    };
    console::print_line(&format!(
        "epoch {}/{epochs}  loss {}  acc {:.4}{validation}  {:.1} img/s  {:.0} s",
        record.epoch,
        format_loss(record.loss),
        record.accuracy,
        record.images_per_second,
        record.seconds
    ));
}
