//! The profile command: times every kernel of a model's training and inference steps on
//! synthetic inputs, measures end-to-end images per second, and writes `profile.json` and
//! a Chrome trace.
//!
//! Two separate runs measure two things. The throughput run submits one command buffer
//! per step with no wait in between, as training does. The timing run then times each
//! dispatch with the best [`TimingMethod`] the adapter offers. It waits after every step,
//! and with host timing after every dispatch, so its times do not add up to the
//! throughput figures.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use crate::gpu::profiler::{
    format_table, DispatchTimer, DispatchTiming, KernelProfile, KernelRow, ProfilerError,
    TimingMethod,
};
use crate::gpu::{Dispatch, Gpu, GpuError};
use crate::model::network::{
    InputBinding, Network, NetworkConfig, NetworkError, Normalization, Optimizer,
};
use crate::model::{Architecture, ModelError, Shape};
use crate::ops::input::{ImageStore, MAX_CHANNELS};
use crate::ops::rng;
use crate::ops::{AdamParams, Augment, StepState};
use crate::train::adapter_summary;
use crate::train::output::AdapterSummary;

/// Random streams of the synthetic batches, apart from the ones the kernels use.
const PIXEL_STREAM: u32 = 0x9f01_0000;
const INDEX_STREAM: u32 = 0x9f02_0000;
const LABEL_STREAM: u32 = 0x9f03_0000;

/// Options of `profile`.
#[derive(Debug, Clone, clap::Args)]
pub struct ProfileArgs {
    /// Model architecture preset.
    #[arg(long, default_value = "classic")]
    pub model: String,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Training steps and inference batches measured, each.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Steps run before each measurement and not counted.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Adapter to use: an index or part of a name from `cifar-gpu adapters`.
    #[arg(long)]
    pub adapter: Option<String>,
    /// Number of classes, the units of the last dense layer.
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Input shape as CxHxW (channels, height, width).
    #[arg(long, value_name = "CxHxW", default_value = "3x32x32", value_parser = parse_input_shape)]
    pub input: Shape,
    /// Per-dispatch timing method [default: the first the adapter supports of
    /// inside-pass, pass, host].
    #[arg(long, value_enum)]
    pub timing: Option<TimingMethod>,
    /// Seed of the synthetic images, labels and weights.
    #[arg(long, default_value_t = 42)]
    pub seed: u32,
    /// Directory for profile.json.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Chrome trace-event JSON file with one event per timed dispatch, for Perfetto or
    /// chrome://tracing.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// Parses an input shape written `CxHxW`, such as `3x32x32`.
pub fn parse_input_shape(text: &str) -> Result<Shape, String> {
    let parts: Vec<&str> = text.split('x').collect();
    let invalid = || format!("invalid input shape {text:?}: expected CxHxW, such as 3x32x32");
    let [channels, height, width] = parts.as_slice() else {
        return Err(invalid());
    };
    let parse = |part: &str| part.trim().parse::<usize>().ok().filter(|&v| v > 0);
    match (parse(channels), parse(height), parse(width)) {
        (Some(channels), Some(height), Some(width)) => Ok(Shape::Image {
            channels,
            height,
            width,
        }),
        _ => Err(invalid()),
    }
}

/// Errors that end a profile run.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("invalid option: {0}")]
    InvalidOption(String),
    #[error(transparent)]
    Gpu(#[from] GpuError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error(transparent)]
    Profiler(#[from] ProfilerError),
    #[error("failed to write {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Contents of `profile.json`.
#[derive(Clone, Debug, Serialize)]
pub struct ProfileReport {
    pub model: String,
    /// Input shape as `CxHxW`.
    pub input: String,
    pub classes: usize,
    pub batch_size: usize,
    /// Training steps and inference batches measured, each.
    pub steps: usize,
    pub warmup: usize,
    pub adapter: AdapterSummary,
    pub timing_method: TimingMethod,
    /// Training-step kernels, summed over the timed steps, longest total first.
    pub kernels: Vec<KernelRow>,
    /// Inference-batch kernels, summed over the timed batches, longest total first.
    pub inference_kernels: Vec<KernelRow>,
    /// Kernel time of one training step: the sum over `kernels` divided by `steps`.
    pub train_step_ms: f64,
    /// Kernel time of one inference batch.
    pub infer_step_ms: f64,
    /// End to end, with one submission per step and no wait between steps.
    pub train_images_per_second: f64,
    pub infer_images_per_second: f64,
    /// Bytes of every GPU buffer of the network: parameters, gradients, optimizer moments,
    /// activations and scratch.
    pub buffer_bytes: u64,
    /// Bytes of the synthetic u8 images resident on the GPU, outside `buffer_bytes`.
    pub image_store_bytes: u64,
}

/// Step list of a timed step: training or inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Training,
    Inference,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Training => "training",
            Phase::Inference => "inference",
        }
    }

    /// Thread id of the phase's events in the trace.
    fn thread_id(self) -> u32 {
        match self {
            Phase::Training => 1,
            Phase::Inference => 2,
        }
    }
}

/// The network, its input bindings and the synthetic batches it runs on.
struct Workload {
    network: Network,
    store: ImageStore,
    train_input: InputBinding,
    infer_input: InputBinding,
    optimizer: Optimizer,
    /// Images in the store, which batches draw from.
    images: usize,
    /// Steps written so far, for the step state and the batch draws.
    step: u32,
}

impl Workload {
    fn dispatches(&self, phase: Phase) -> Vec<&Dispatch> {
        match phase {
            Phase::Training => self.network.training_step(&self.train_input),
            Phase::Inference => self.network.evaluation_step(&self.infer_input),
        }
    }

    /// Writes the next synthetic batch: random image indices and labels.
    fn write_next_batch(&mut self, gpu: &Gpu) {
        let batch = self.network.config.batch;
        let classes = self.network.classes() as u32;
        let seed = self.network.config.seed;
        let first = self.step.wrapping_mul(batch as u32);
        let indices: Vec<u32> = (0..batch as u32)
            .map(|slot| rng::random_u32(seed, INDEX_STREAM, first + slot) % self.images as u32)
            .collect();
        let labels: Vec<u32> = (0..batch as u32)
            .map(|slot| rng::random_u32(seed, LABEL_STREAM, first + slot) % classes)
            .collect();
        let state = StepState {
            step: self.step,
            valid: batch as u32,
            learning_rate: self.optimizer.step_learning_rate(self.step),
            padding: 0,
        };
        self.network.write_batch(gpu, &indices, &labels, state);
        self.step += 1;
    }
}

/// One timed dispatch, for the trace.
struct TraceSample {
    phase: Phase,
    step: usize,
    index: usize,
    /// Host time of the step's submission, in microseconds from the start of the timing run.
    step_start_us: f64,
    timing: DispatchTiming,
}

/// Runs the profile described by `args`, writes the files it names and returns the report.
pub fn profile(args: &ProfileArgs) -> Result<ProfileReport, ProfileError> {
    validate(args)?;
    let gpu = Gpu::open(args.adapter.as_deref())?;
    let method = choose_method(&gpu, args.timing);

    let mut workload = build_workload(&gpu, args)?;
    let longest = workload.dispatches(Phase::Training).len();
    let timer = DispatchTimer::new(&gpu, method, longest)?;

    let train_images_per_second = measure_throughput(&gpu, &mut workload, Phase::Training, args)?;
    let infer_images_per_second = measure_throughput(&gpu, &mut workload, Phase::Inference, args)?;

    let origin = Instant::now();
    let mut samples = Vec::new();
    let training = time_kernels(&gpu, &timer, &mut workload, Phase::Training, args, origin)?;
    samples.extend(training.1);
    let inference = time_kernels(&gpu, &timer, &mut workload, Phase::Inference, args, origin)?;
    samples.extend(inference.1);

    let report = ProfileReport {
        model: args.model.clone(),
        input: args.input.to_string(),
        classes: args.classes,
        batch_size: args.batch_size,
        steps: args.steps,
        warmup: args.warmup,
        adapter: adapter_summary(&gpu),
        timing_method: method,
        kernels: training.0.rows(),
        inference_kernels: inference.0.rows(),
        train_step_ms: training.0.total_ms() / args.steps as f64,
        infer_step_ms: inference.0.total_ms() / args.steps as f64,
        train_images_per_second,
        infer_images_per_second,
        buffer_bytes: workload.network.buffer_bytes(),
        image_store_bytes: workload.store.bytes(),
    };
    if let Some(dir) = &args.out {
        let path = write_report(dir, &report)?;
        log::info!("wrote {}", path.display());
    }
    if let Some(path) = &args.trace {
        write_trace(path, &workload, &samples)?;
        log::info!("wrote {}", path.display());
    }
    Ok(report)
}

fn validate(args: &ProfileArgs) -> Result<(), ProfileError> {
    let invalid = |message: String| Err(ProfileError::InvalidOption(message));
    if args.batch_size == 0 {
        return invalid("--batch-size must be at least 1".into());
    }
    if args.steps == 0 {
        return invalid("--steps must be at least 1".into());
    }
    if args.classes < 2 {
        return invalid(format!("--classes {} must be at least 2", args.classes));
    }
    if let Shape::Image { channels, .. } = args.input {
        if channels > MAX_CHANNELS {
            return invalid(format!(
                "--input has {channels} channels; the input stage supports at most {MAX_CHANNELS}"
            ));
        }
    }
    Ok(())
}

/// Returns the method `forced` names, or else the best the adapter supports, and warns
/// when only host timing is left.
fn choose_method(gpu: &Gpu, forced: Option<TimingMethod>) -> TimingMethod {
    if let Some(method) = forced {
        return method;
    }
    let method = TimingMethod::best(gpu.features);
    if method == TimingMethod::Host {
        log::warn!(
            "adapter {} offers no timestamp queries, so each dispatch is timed on the host \
             with a wait after it; kernel times include the submit-and-wait round trip",
            gpu.info.name
        );
    }
    method
}

fn build_workload(gpu: &Gpu, args: &ProfileArgs) -> Result<Workload, ProfileError> {
    let architecture = Architecture::preset(&args.model, args.input, args.classes)?;
    architecture.validate(args.classes)?;
    let Shape::Image { channels, .. } = args.input else {
        unreachable!("parse_input_shape returns image shapes")
    };
    let optimizer = Optimizer::Adam(AdamParams::default());
    let config = NetworkConfig {
        batch: args.batch_size,
        seed: args.seed,
        normalization: Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.5; channels],
            std: vec![0.25; channels],
        },
        augment: Augment {
            max_shift: 3,
            horizontal_flip: true,
        },
        optimizer: Some(optimizer),
    };
    let network = Network::new(gpu, &architecture, config, None)?;
    log::info!(
        "model {}: {} parameters, {:.1} MiB of GPU buffers at batch {}",
        args.model,
        network.layout.parameter_count(),
        network.buffer_bytes() as f64 / (1 << 20) as f64,
        args.batch_size
    );

    // Twice the batch, so batches draw different images and repeats.
    let images = 2 * args.batch_size;
    let image_len = args.input.len();
    let pixels: Vec<u8> = (0..(images * image_len) as u32)
        .map(|i| rng::random_u32(args.seed, PIXEL_STREAM, i) as u8)
        .collect();
    let store = ImageStore::upload(gpu, "synthetic", &pixels, image_len, None)?;
    let train_input = network.bind_input(gpu, &store, true);
    let infer_input = network.bind_input(gpu, &store, false);
    Ok(Workload {
        network,
        store,
        train_input,
        infer_input,
        optimizer,
        images,
        step: 0,
    })
}

/// Images per second of `args.steps` steps submitted back to back, after `args.warmup`
/// steps that are not counted.
fn measure_throughput(
    gpu: &Gpu,
    workload: &mut Workload,
    phase: Phase,
    args: &ProfileArgs,
) -> Result<f64, ProfileError> {
    let mut started = Instant::now();
    for step in 0..args.warmup + args.steps {
        if step == args.warmup {
            gpu.wait_idle()?;
            started = Instant::now();
        }
        workload.write_next_batch(gpu);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        crate::gpu::dispatch::encode_pass(&mut encoder, &workload.dispatches(phase));
        gpu.queue.submit([encoder.finish()]);
    }
    gpu.wait_idle()?;
    let seconds = started.elapsed().as_secs_f64();
    let images = (args.steps * args.batch_size) as f64;
    log::info!(
        "{}: {:.1} images/s over {} steps of {} images",
        phase.name(),
        images / seconds,
        args.steps,
        args.batch_size
    );
    Ok(images / seconds)
}

/// Times every dispatch of `args.steps` steps after `args.warmup` untimed ones.
fn time_kernels(
    gpu: &Gpu,
    timer: &DispatchTimer,
    workload: &mut Workload,
    phase: Phase,
    args: &ProfileArgs,
    origin: Instant,
) -> Result<(KernelProfile, Vec<TraceSample>), ProfileError> {
    let mut profile = KernelProfile::default();
    let mut samples = Vec::new();
    for step in 0..args.warmup + args.steps {
        workload.write_next_batch(gpu);
        let step_start_us = origin.elapsed().as_secs_f64() * 1e6;
        let dispatches = workload.dispatches(phase);
        let timings = timer.time_step(gpu, &dispatches)?;
        let Some(timed_step) = step.checked_sub(args.warmup) else {
            continue;
        };
        profile.record(&dispatches, &timings);
        for (index, timing) in timings.into_iter().enumerate() {
            samples.push(TraceSample {
                phase,
                step: timed_step,
                index,
                step_start_us,
                timing,
            });
        }
    }
    Ok((profile, samples))
}

fn write_report(dir: &Path, report: &ProfileReport) -> Result<PathBuf, ProfileError> {
    let path = dir.join("profile.json");
    let output_error = |source| ProfileError::Output {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(output_error)?;
    let mut text = serde_json::to_string_pretty(report).expect("report serializes");
    text.push('\n');
    std::fs::write(&path, text).map_err(output_error)?;
    Ok(path)
}

/// Writes the timed dispatches as Chrome trace events: one complete (`"X"`) event per
/// dispatch, one thread per phase. A step's events sit at the host time of its submission
/// plus their GPU offsets within the step.
fn write_trace(
    path: &Path,
    workload: &Workload,
    samples: &[TraceSample],
) -> Result<(), ProfileError> {
    let mut events = Vec::with_capacity(samples.len() + 3);
    events.push(serde_json::json!({
        "name": "process_name", "ph": "M", "pid": 1, "tid": 0,
        "args": { "name": "cifar-gpu profile" },
    }));
    for phase in [Phase::Training, Phase::Inference] {
        events.push(serde_json::json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": phase.thread_id(),
            "args": { "name": phase.name() },
        }));
    }
    let training = workload.dispatches(Phase::Training);
    let inference = workload.dispatches(Phase::Inference);
    for sample in samples {
        let dispatch = match sample.phase {
            Phase::Training => training[sample.index],
            Phase::Inference => inference[sample.index],
        };
        events.push(serde_json::json!({
            "name": dispatch.name,
            "cat": sample.phase.name(),
            "ph": "X",
            "ts": sample.step_start_us + sample.timing.start_us,
            "dur": sample.timing.duration_us,
            "pid": 1,
            "tid": sample.phase.thread_id(),
            "args": {
                "step": sample.step,
                "index": sample.index,
                "workgroups": dispatch.workgroups,
                "flops": dispatch.cost.flops,
                "bytes": dispatch.cost.bytes,
            },
        }));
    }
    let trace = serde_json::json!({ "traceEvents": events, "displayTimeUnit": "ms" });
    let mut text = serde_json::to_string(&trace).expect("trace serializes");
    text.push('\n');
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| ProfileError::Output {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| ProfileError::Output {
        path: path.to_path_buf(),
        source,
    })
}

/// Formats the report as printed by the command: the kernel tables, then throughput,
/// buffer bytes, adapter and timing method.
pub fn format_report(report: &ProfileReport) -> String {
    let mut text = format!(
        "training step ({} steps of {} images, {:.3} ms of kernel time per step)\n",
        report.steps, report.batch_size, report.train_step_ms
    );
    text.push_str(&format_table(&report.kernels));
    text.push_str(&format!(
        "\ninference batch ({} batches of {} images, {:.3} ms of kernel time per batch)\n",
        report.steps, report.batch_size, report.infer_step_ms
    ));
    text.push_str(&format_table(&report.inference_kernels));
    text.push('\n');
    text.push_str(&format!(
        "training:      {:>10.1} images/s\n",
        report.train_images_per_second
    ));
    text.push_str(&format!(
        "inference:     {:>10.1} images/s\n",
        report.infer_images_per_second
    ));
    text.push_str(&format!(
        "GPU buffers:   {:>10.2} MiB ({} bytes; synthetic images {} bytes more)\n",
        report.buffer_bytes as f64 / (1 << 20) as f64,
        report.buffer_bytes,
        report.image_store_bytes
    ));
    text.push_str(&format!(
        "adapter:       {} ({}, {})\n",
        report.adapter.name, report.adapter.backend, report.adapter.device_type
    ));
    text.push_str(&format!("timing method: {}\n", report.timing_method));
    text
}
