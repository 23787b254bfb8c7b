//! Per-dispatch GPU timing, per-kernel aggregation and the profiler table.
//!
//! Three timing methods, best first:
//! - `inside-pass`: timestamps written inside one compute pass before and after every
//!   dispatch; needs `TIMESTAMP_QUERY_INSIDE_PASSES`.
//! - `pass`: one compute pass per dispatch with the pass's own timestamp writes; needs
//!   `TIMESTAMP_QUERY`. Each dispatch then ends its pass, which may add a little time.
//! - `host`: one submission per dispatch and a wait after each, timed on the host clock.
//!   It needs no feature, but every time includes the submit-and-wait round trip.

use std::time::Instant;

use serde::Serialize;

use super::{Dispatch, Gpu, GpuError};

/// Method of measuring the time of each dispatch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TimingMethod {
    /// Timestamps inside one compute pass around every dispatch.
    InsidePass,
    /// One compute pass per dispatch with the pass's timestamp writes.
    Pass,
    /// Host clock around one submission per dispatch, with a wait after each.
    Host,
}

impl TimingMethod {
    /// Every method, best first.
    pub const ALL: [TimingMethod; 3] = [Self::InsidePass, Self::Pass, Self::Host];

    /// Name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::InsidePass => "inside-pass",
            Self::Pass => "pass",
            Self::Host => "host",
        }
    }

    /// Device feature the method needs, if any.
    pub fn required_features(self) -> wgpu::Features {
        match self {
            Self::InsidePass => wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES,
            Self::Pass => wgpu::Features::TIMESTAMP_QUERY,
            Self::Host => wgpu::Features::empty(),
        }
    }

    /// Whether a device opened with `features` can use the method.
    pub fn is_supported(self, features: wgpu::Features) -> bool {
        features.contains(self.required_features())
    }

    /// The best method a device opened with `features` supports.
    pub fn best(features: wgpu::Features) -> Self {
        Self::ALL
            .into_iter()
            .find(|method| method.is_supported(features))
            .unwrap_or(Self::Host)
    }
}

impl std::fmt::Display for TimingMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Converts a span of GPU timestamp ticks into microseconds, given the queue's timestamp
/// period in nanoseconds per tick (`wgpu::Queue::get_timestamp_period`).
pub fn ticks_to_us(ticks: u64, period_ns: f32) -> f64 {
    ticks as f64 * period_ns as f64 / 1000.0
}

/// Start and duration of one dispatch, in microseconds from the start of its step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DispatchTiming {
    pub start_us: f64,
    pub duration_us: f64,
}

/// Errors from setting up a timer.
#[derive(Debug, thiserror::Error)]
pub enum ProfilerError {
    #[error(
        "timing method {method} needs the {feature} feature, which adapter {adapter:?} does \
         not offer; choose one of: {available}"
    )]
    Unsupported {
        method: TimingMethod,
        feature: String,
        adapter: String,
        available: String,
    },
    #[error(
        "a step of {dispatches} dispatches needs {queries} timestamp queries, over wgpu's \
         limit of {limit} per query set; use host timing (--timing host)"
    )]
    TooManyDispatches {
        dispatches: usize,
        queries: u64,
        limit: u32,
    },
}

/// Query set and buffers of the timestamp methods, sized for the longest step.
struct Queries {
    set: wgpu::QuerySet,
    /// Target of `resolve_query_set`: two u64 timestamps per dispatch.
    resolve: wgpu::Buffer,
    /// Mappable copy of `resolve`.
    staging: wgpu::Buffer,
    period_ns: f32,
}

/// Times every dispatch of a step with one [`TimingMethod`]. Every GPU object is created
/// in [`DispatchTimer::new`], so timing a step allocates nothing on the GPU.
pub struct DispatchTimer {
    method: TimingMethod,
    queries: Option<Queries>,
    max_dispatches: usize,
}

impl DispatchTimer {
    /// Prepares timing of steps of at most `max_dispatches` dispatches.
    pub fn new(
        gpu: &Gpu,
        method: TimingMethod,
        max_dispatches: usize,
    ) -> Result<Self, ProfilerError> {
        if !method.is_supported(gpu.features) {
            let available: Vec<&str> = TimingMethod::ALL
                .into_iter()
                .filter(|m| m.is_supported(gpu.features))
                .map(TimingMethod::name)
                .collect();
            return Err(ProfilerError::Unsupported {
                method,
                feature: format!("{:?}", method.required_features()),
                adapter: gpu.info.name.clone(),
                available: available.join(", "),
            });
        }
        let queries = match method {
            TimingMethod::Host => None,
            TimingMethod::InsidePass | TimingMethod::Pass => {
                Some(create_queries(gpu, max_dispatches)?)
            }
        };
        Ok(Self {
            method,
            queries,
            max_dispatches,
        })
    }

    pub fn method(&self) -> TimingMethod {
        self.method
    }

    /// Runs `dispatches` once, waits for them and returns the timing of each, in order.
    /// Commands written to the queue before the call (`Queue::write_buffer`) run first.
    pub fn time_step(
        &self,
        gpu: &Gpu,
        dispatches: &[&Dispatch],
    ) -> Result<Vec<DispatchTiming>, GpuError> {
        assert!(
            dispatches.len() <= self.max_dispatches,
            "a step of {} dispatches, but the timer was prepared for {}",
            dispatches.len(),
            self.max_dispatches
        );
        if dispatches.is_empty() {
            return Ok(Vec::new());
        }
        match (&self.queries, self.method) {
            (Some(queries), TimingMethod::InsidePass) => {
                time_on_gpu(gpu, queries, dispatches, encode_inside_pass)
            }
            (Some(queries), TimingMethod::Pass) => {
                time_on_gpu(gpu, queries, dispatches, encode_pass_per_dispatch)
            }
            _ => time_on_host(gpu, dispatches),
        }
    }
}

fn create_queries(gpu: &Gpu, max_dispatches: usize) -> Result<Queries, ProfilerError> {
    let count = 2 * max_dispatches.max(1) as u64;
    if count > wgpu::QUERY_SET_MAX_QUERIES as u64 {
        return Err(ProfilerError::TooManyDispatches {
            dispatches: max_dispatches,
            queries: count,
            limit: wgpu::QUERY_SET_MAX_QUERIES,
        });
    }
    let set = gpu.device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("dispatch timestamps"),
        ty: wgpu::QueryType::Timestamp,
        count: count as u32,
    });
    let bytes = count * wgpu::QUERY_SIZE as u64;
    let resolve = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("dispatch timestamps resolve"),
        size: bytes,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let staging = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("dispatch timestamps read-back"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    gpu.count(|c| c.buffers += 2);
    Ok(Queries {
        set,
        resolve,
        staging,
        period_ns: gpu.queue.get_timestamp_period(),
    })
}

/// Writes timestamps `2i` and `2i + 1` around dispatch `i`, all in one compute pass.
fn encode_inside_pass(
    encoder: &mut wgpu::CommandEncoder,
    set: &wgpu::QuerySet,
    dispatches: &[&Dispatch],
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("profiled kernels"),
        timestamp_writes: None,
    });
    for (index, dispatch) in dispatches.iter().enumerate() {
        let first = 2 * index as u32;
        pass.write_timestamp(set, first);
        dispatch.encode(&mut pass);
        pass.write_timestamp(set, first + 1);
    }
}

/// Encodes dispatch `i` in a pass of its own whose begin and end timestamps land at
/// `2i` and `2i + 1`.
fn encode_pass_per_dispatch(
    encoder: &mut wgpu::CommandEncoder,
    set: &wgpu::QuerySet,
    dispatches: &[&Dispatch],
) {
    for (index, dispatch) in dispatches.iter().enumerate() {
        let first = 2 * index as u32;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(&dispatch.name),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: set,
                beginning_of_pass_write_index: Some(first),
                end_of_pass_write_index: Some(first + 1),
            }),
        });
        dispatch.encode(&mut pass);
    }
}

fn time_on_gpu(
    gpu: &Gpu,
    queries: &Queries,
    dispatches: &[&Dispatch],
    encode: fn(&mut wgpu::CommandEncoder, &wgpu::QuerySet, &[&Dispatch]),
) -> Result<Vec<DispatchTiming>, GpuError> {
    let count = 2 * dispatches.len() as u32;
    let bytes = count as u64 * wgpu::QUERY_SIZE as u64;
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encode(&mut encoder, &queries.set, dispatches);
    encoder.resolve_query_set(&queries.set, 0..count, &queries.resolve, 0);
    encoder.copy_buffer_to_buffer(&queries.resolve, 0, &queries.staging, 0, bytes);
    gpu.queue.submit([encoder.finish()]);
    if let Some(error) = pollster::block_on(scope.pop()) {
        return Err(GpuError::Validation(error.to_string()));
    }
    let words = gpu.map_and_read(&queries.staging, bytes, "dispatch timestamps")?;
    let ticks: Vec<u64> = words
        .chunks_exact(2)
        .map(|pair| pair[0] as u64 | (pair[1] as u64) << 32)
        .collect();
    Ok(timings_from_ticks(&ticks, queries.period_ns))
}

/// Turns begin and end ticks, two per dispatch, into times relative to the first begin.
/// A timestamp earlier than the one it is subtracted from counts as zero elapsed time.
pub fn timings_from_ticks(ticks: &[u64], period_ns: f32) -> Vec<DispatchTiming> {
    let Some(&origin) = ticks.first() else {
        return Vec::new();
    };
    ticks
        .chunks_exact(2)
        .map(|pair| DispatchTiming {
            start_us: ticks_to_us(pair[0].saturating_sub(origin), period_ns),
            duration_us: ticks_to_us(pair[1].saturating_sub(pair[0]), period_ns),
        })
        .collect()
}

fn time_on_host(gpu: &Gpu, dispatches: &[&Dispatch]) -> Result<Vec<DispatchTiming>, GpuError> {
    // Commands already on the queue (batch writes) finish before the first dispatch is timed.
    gpu.wait_idle()?;
    let origin = Instant::now();
    let mut timings = Vec::with_capacity(dispatches.len());
    for dispatch in dispatches {
        let started = Instant::now();
        gpu.run(&[dispatch])?;
        timings.push(DispatchTiming {
            start_us: (started - origin).as_secs_f64() * 1e6,
            duration_us: started.elapsed().as_secs_f64() * 1e6,
        });
    }
    Ok(timings)
}

/// Time and work of every dispatch of one kernel name, summed over the recorded steps.
#[derive(Clone, Debug, Default)]
struct KernelTotals {
    dispatches: u64,
    total_us: f64,
    flops: u64,
    bytes: u64,
}

/// Per-kernel totals over any number of steps, keyed by [`Dispatch::name`].
#[derive(Clone, Debug, Default)]
pub struct KernelProfile {
    /// In order of first appearance, so equal totals keep the step order.
    kernels: Vec<(String, KernelTotals)>,
}

/// One row of the profiler table: every dispatch of one kernel name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelRow {
    /// `shader::entry`.
    pub name: String,
    pub dispatches: u64,
    pub total_ms: f64,
    pub mean_us: f64,
    /// Fraction of the summed time of all kernels in the profile, in `[0, 1]`.
    pub share: f64,
    /// Achieved rate `flops / total time` in GFLOP/s, or 0 when the kernel counts no flops.
    pub gflops: f64,
    /// Achieved rate of minimum bytes moved, `bytes / total time`, in GB/s.
    pub gbps: f64,
    /// Floating-point operations summed over every dispatch.
    pub flops: u64,
    /// Minimum bytes moved (each input read once, each output written once), summed over
    /// every dispatch.
    pub bytes: u64,
}

impl KernelProfile {
    /// Adds one step's dispatches and their timings, in the same order.
    pub fn record(&mut self, dispatches: &[&Dispatch], timings: &[DispatchTiming]) {
        assert_eq!(dispatches.len(), timings.len(), "one timing per dispatch");
        for (dispatch, timing) in dispatches.iter().zip(timings) {
            let position = match self.kernels.iter().position(|(n, _)| *n == dispatch.name) {
                Some(position) => position,
                None => {
                    self.kernels
                        .push((dispatch.name.clone(), KernelTotals::default()));
                    self.kernels.len() - 1
                }
            };
            let totals = &mut self.kernels[position].1;
            totals.dispatches += 1;
            totals.total_us += timing.duration_us;
            totals.flops += dispatch.cost.flops;
            totals.bytes += dispatch.cost.bytes;
        }
    }

    /// Summed time of every recorded dispatch, in milliseconds.
    pub fn total_ms(&self) -> f64 {
        self.kernels.iter().map(|(_, t)| t.total_us).sum::<f64>() / 1000.0
    }

    /// Rows sorted by total time, longest first.
    pub fn rows(&self) -> Vec<KernelRow> {
        let all_us = self.total_ms() * 1000.0;
        let mut rows: Vec<KernelRow> = self
            .kernels
            .iter()
            .map(|(name, totals)| {
                let rate = |amount: u64| {
                    if totals.total_us > 0.0 {
                        // Units per microsecond times 1e-3 is giga-units per second.
                        amount as f64 / totals.total_us / 1000.0
                    } else {
                        0.0
                    }
                };
                KernelRow {
                    name: name.clone(),
                    dispatches: totals.dispatches,
                    total_ms: totals.total_us / 1000.0,
                    mean_us: totals.total_us / totals.dispatches.max(1) as f64,
                    share: if all_us > 0.0 {
                        totals.total_us / all_us
                    } else {
                        0.0
                    },
                    gflops: rate(totals.flops),
                    gbps: rate(totals.bytes),
                    flops: totals.flops,
                    bytes: totals.bytes,
                }
            })
            .collect();
        rows.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
        rows
    }
}

/// Formats rows as a fixed-width table with a header line. Rates print as `-` where the
/// kernel counts no work.
pub fn format_table(rows: &[KernelRow]) -> String {
    let width = rows
        .iter()
        .map(|row| row.name.len())
        .max()
        .unwrap_or(0)
        .max("kernel".len());
    let mut text = format!(
        "{:<width$}  {:>6}  {:>10}  {:>10}  {:>6}  {:>8}  {:>8}\n",
        "kernel", "calls", "total ms", "mean µs", "share", "GFLOP/s", "GB/s"
    );
    let rate = |value: f64, amount: u64| {
        if amount == 0 {
            "-".to_string()
        } else {
            format!("{value:.2}")
        }
    };
    for row in rows {
        text.push_str(&format!(
            "{:<width$}  {:>6}  {:>10.3}  {:>10.1}  {:>5.1}%  {:>8}  {:>8}\n",
            row.name,
            row.dispatches,
            row.total_ms,
            row.mean_us,
            row.share * 100.0,
            rate(row.gflops, row.flops),
            rate(row.gbps, row.bytes),
        ));
    }
    text
}
