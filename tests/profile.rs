//! The profile command as a user runs it (report, trace, every timing method the adapter
//! offers) and the profiler's aggregation and tick conversion through the library.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use cifar_gpu::gpu::profiler::{
    format_table, ticks_to_us, timings_from_ticks, DispatchTimer, DispatchTiming, KernelProfile,
    ProfilerError, TimingMethod,
};
use cifar_gpu::gpu::Gpu;
use cifar_gpu::model::network::{Network, NetworkConfig, Normalization, Optimizer};
use cifar_gpu::model::{Architecture, Shape};
use cifar_gpu::ops::input::ImageStore;
use cifar_gpu::ops::{AdamParams, Augment};
use serde_json::Value;

const BATCH: usize = 4;
const CLASSES: usize = 10;
const INPUT: Shape = Shape::Image {
    channels: 3,
    height: 12,
    width: 12,
};

fn cifar_gpu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cifar-gpu"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs `profile` on 3x12x12 inputs at batch 4 with `steps` timed steps and `extra`
/// arguments, writing into `dir`. Returns stdout, profile.json and the trace.
fn run_profile(dir: &Path, steps: usize, extra: &[&str]) -> (String, Value, Value) {
    let out = dir.to_str().unwrap();
    let trace = dir.join("trace.json");
    let steps = steps.to_string();
    let batch = BATCH.to_string();
    let mut args = vec![
        "profile",
        "--input",
        "3x12x12",
        "--batch-size",
        &batch,
        "--steps",
        &steps,
        "--warmup",
        "1",
        "--out",
        out,
        "--trace",
        trace.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let output = cifar_gpu(&args);
    assert!(
        output.status.success(),
        "profile failed:\n{}",
        stderr(&output)
    );
    let read = |path: &Path| -> Value {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("{} not readable: {error}", path.display()));
        serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()))
    };
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        read(&dir.join("profile.json")),
        read(&trace),
    )
}

/// Dispatches of one training step and of one inference batch of the network the
/// command profiles, counted through the library.
fn dispatches_per_step(gpu: &Gpu) -> (usize, usize) {
    let config = NetworkConfig {
        batch: BATCH,
        seed: 42,
        normalization: Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        },
        augment: Augment {
            max_shift: 3,
            horizontal_flip: true,
        },
        optimizer: Some(Optimizer::Adam(AdamParams::default())),
    };
    let architecture = Architecture::classic(INPUT, CLASSES);
    let network = Network::new(gpu, &architecture, config, None).expect("network builds");
    let pixels = vec![0u8; 2 * BATCH * INPUT.len()];
    let store = ImageStore::upload(gpu, "images", &pixels, INPUT.len(), None).expect("upload");
    let train_input = network.bind_input(gpu, &store, true);
    let infer_input = network.bind_input(gpu, &store, false);
    (
        network.training_step(&train_input).len(),
        network.evaluation_step(&infer_input).len(),
    )
}

fn rows(report: &Value, key: &str) -> Vec<Value> {
    report[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not a list: {report}"))
        .clone()
}

fn total_dispatches(rows: &[Value]) -> u64 {
    rows.iter()
        .map(|row| row["dispatches"].as_u64().expect("dispatches is a count"))
        .sum()
}

/// Checks the trace: one complete event per timed dispatch, non-negative times, and the
/// events of every step in dispatch order.
fn check_trace(trace: &Value, expected_events: u64, method: &str) {
    let events = trace["traceEvents"].as_array().expect("traceEvents list");
    let complete: Vec<&Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(
        complete.len() as u64,
        expected_events,
        "{method}: trace events"
    );

    // (thread, step) -> (dispatch index, ts) of each event.
    let mut steps: BTreeMap<(u64, u64), Vec<(u64, f64)>> = BTreeMap::new();
    for event in &complete {
        let ts = event["ts"].as_f64().expect("ts is a number");
        let dur = event["dur"].as_f64().expect("dur is a number");
        assert!(ts >= 0.0, "{method}: negative ts in {event}");
        assert!(dur >= 0.0, "{method}: negative dur in {event}");
        assert!(
            event["name"].as_str().is_some(),
            "{method}: event name in {event}"
        );
        assert!(event["pid"].is_u64(), "{method}: pid in {event}");
        let tid = event["tid"].as_u64().expect("tid");
        let step = event["args"]["step"].as_u64().expect("args.step");
        let index = event["args"]["index"].as_u64().expect("args.index");
        steps.entry((tid, step)).or_default().push((index, ts));
    }
    for ((tid, step), mut list) in steps {
        list.sort_by_key(|&(index, _)| index);
        for pair in list.windows(2) {
            assert!(
                pair[1].1 >= pair[0].1,
                "{method}: thread {tid} step {step}: dispatch {} starts at {} before \
                 dispatch {} at {}",
                pair[1].0,
                pair[1].1,
                pair[0].0,
                pair[0].1
            );
        }
    }
}

#[test]
fn profile_writes_report_and_trace() {
    let gpu = common::gpu();
    let (train_per_step, infer_per_step) = dispatches_per_step(&gpu);
    let dir = tempfile::tempdir().unwrap();
    let steps = 2;
    let (stdout, report, trace) = run_profile(dir.path(), steps, &[]);

    assert_eq!(report["model"], "classic");
    assert_eq!(report["batch_size"], BATCH as u64);
    assert_eq!(report["steps"], steps as u64);
    assert_eq!(report["input"], "3x12x12");
    let best = TimingMethod::best(gpu.features).name();
    assert_eq!(report["timing_method"], best, "best method of the adapter");
    assert_eq!(report["adapter"]["name"], gpu.info.name.as_str());
    assert!(report["adapter"]["backend"].is_string(), "{report}");
    assert!(report["adapter"]["device_type"].is_string(), "{report}");
    for key in ["train_images_per_second", "infer_images_per_second"] {
        let value = report[key].as_f64().unwrap_or(0.0);
        assert!(value > 0.0, "{key} is {value}");
    }
    let buffer_bytes = report["buffer_bytes"].as_u64().unwrap_or(0);
    assert!(buffer_bytes > 0, "buffer_bytes is {buffer_bytes}");

    let kernels = rows(&report, "kernels");
    let inference = rows(&report, "inference_kernels");
    for row in kernels.iter().chain(&inference) {
        for key in [
            "dispatches",
            "total_ms",
            "mean_us",
            "share",
            "gflops",
            "gbps",
            "flops",
            "bytes",
        ] {
            let value = row[key].as_f64();
            assert!(
                value.is_some_and(|v| v >= 0.0),
                "{key} of {} is {:?}",
                row["name"],
                row[key]
            );
        }
    }
    let names: Vec<&str> = kernels
        .iter()
        .filter_map(|row| row["name"].as_str())
        .collect();
    for expected in [
        "conv2d::conv2d_forward",
        "conv2d::conv2d_backward_input",
        "conv2d::conv2d_backward_weight",
        "dense::",
        "softmax_cross_entropy::softmax_cross_entropy",
        "optimizer::adam_step",
    ] {
        assert!(
            names.iter().any(|name| name.starts_with(expected)),
            "no training kernel row for {expected}: {names:?}"
        );
    }
    let totals: Vec<f64> = kernels
        .iter()
        .map(|row| row["total_ms"].as_f64().unwrap())
        .collect();
    assert!(
        totals.windows(2).all(|pair| pair[0] >= pair[1]),
        "rows sorted by total time, longest first: {totals:?}"
    );
    let share: f64 = kernels
        .iter()
        .map(|row| row["share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-6, "training shares sum to {share}");

    let train_dispatches = total_dispatches(&kernels);
    let infer_dispatches = total_dispatches(&inference);
    assert_eq!(
        train_dispatches,
        (train_per_step * steps) as u64,
        "training dispatches"
    );
    assert_eq!(
        infer_dispatches,
        (infer_per_step * steps) as u64,
        "inference dispatches"
    );
    check_trace(&trace, train_dispatches + infer_dispatches, best);

    for text in [
        "conv2d::conv2d_forward",
        "images/s",
        "timing method: ",
        "GB/s",
    ] {
        assert!(stdout.contains(text), "stdout lacks {text:?}:\n{stdout}");
    }
}

#[test]
fn profile_runs_each_supported_timing_method() {
    let gpu = common::gpu();
    let (train_per_step, infer_per_step) = dispatches_per_step(&gpu);
    for method in TimingMethod::ALL {
        if !method.is_supported(gpu.features) {
            eprintln!(
                "skipping timing method {method}: {} lacks its feature",
                gpu.info.name
            );
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        let (stdout, report, trace) = run_profile(dir.path(), 1, &["--timing", method.name()]);
        assert_eq!(report["timing_method"], method.name());
        assert!(
            stdout.contains(&format!("timing method: {method}")),
            "{method}: stdout:\n{stdout}"
        );
        let train_dispatches = total_dispatches(&rows(&report, "kernels"));
        let infer_dispatches = total_dispatches(&rows(&report, "inference_kernels"));
        assert_eq!(
            train_dispatches, train_per_step as u64,
            "{method}: training dispatches"
        );
        assert_eq!(
            infer_dispatches, infer_per_step as u64,
            "{method}: inference dispatches"
        );
        check_trace(&trace, train_dispatches + infer_dispatches, method.name());
    }
}

#[test]
fn profile_rejects_malformed_input_shape() {
    for shape in ["3x12", "3x12x0", "axbxc"] {
        let output = cifar_gpu(&["profile", "--input", shape, "--steps", "1"]);
        assert!(!output.status.success(), "--input {shape} accepted");
        let text = stderr(&output);
        assert!(
            text.contains("invalid input shape"),
            "--input {shape}:\n{text}"
        );
    }
}

#[test]
fn profile_rejects_zero_steps() {
    let output = cifar_gpu(&["profile", "--input", "3x12x12", "--steps", "0"]);
    assert!(!output.status.success());
    let text = stderr(&output);
    assert!(text.contains("--steps must be at least 1"), "{text}");
}

#[test]
fn timer_rejects_method_without_feature() {
    let mut gpu = common::gpu();
    gpu.features = wgpu::Features::empty();
    assert_eq!(TimingMethod::best(gpu.features), TimingMethod::Host);
    for method in [TimingMethod::InsidePass, TimingMethod::Pass] {
        match DispatchTimer::new(&gpu, method, 8) {
            Err(ProfilerError::Unsupported { method: named, .. }) => assert_eq!(named, method),
            Err(other) => panic!("{method}: unexpected error {other}"),
            Ok(_) => panic!("{method}: timer built without its feature"),
        }
    }
    assert!(DispatchTimer::new(&gpu, TimingMethod::Host, 8).is_ok());
}

#[test]
fn ticks_convert_with_timestamp_period() {
    assert_eq!(ticks_to_us(0, 1.0), 0.0);
    assert_eq!(ticks_to_us(1_000, 1.0), 1.0);
    assert_eq!(ticks_to_us(1_000, 83.333), 83.333f32 as f64);
    assert_eq!(ticks_to_us(3, 0.5), 0.0015);
}

#[test]
fn timings_are_relative_to_first_begin() {
    // Begin and end ticks of three dispatches at 2 ns per tick. The last ends before it
    // begins, which counts as zero.
    let ticks = [1_000, 1_500, 1_600, 2_600, 3_000, 2_900];
    let timings = timings_from_ticks(&ticks, 2.0);
    let expected = [
        DispatchTiming {
            start_us: 0.0,
            duration_us: 1.0,
        },
        DispatchTiming {
            start_us: 1.2,
            duration_us: 2.0,
        },
        DispatchTiming {
            start_us: 4.0,
            duration_us: 0.0,
        },
    ];
    assert_eq!(timings, expected);
    assert!(timings_from_ticks(&[], 1.0).is_empty());
}

#[test]
fn kernel_profile_aggregates_by_name() {
    let gpu = common::gpu();
    let architecture = Architecture::classic(INPUT, CLASSES);
    let config = NetworkConfig {
        batch: BATCH,
        seed: 1,
        normalization: Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
        },
        augment: Augment::default(),
        optimizer: Some(Optimizer::Adam(AdamParams::default())),
    };
    let network = Network::new(&gpu, &architecture, config, None).expect("network builds");
    let pixels = vec![0u8; BATCH * INPUT.len()];
    let store = ImageStore::upload(&gpu, "images", &pixels, INPUT.len(), None).expect("upload");
    let input = network.bind_input(&gpu, &store, true);
    let dispatches = network.training_step(&input);

    // Dispatch i takes (i + 1) µs, in each of two steps.
    let timings: Vec<DispatchTiming> = (0..dispatches.len())
        .map(|i| DispatchTiming {
            start_us: 0.0,
            duration_us: (i + 1) as f64,
        })
        .collect();
    let mut profile = KernelProfile::default();
    profile.record(&dispatches, &timings);
    profile.record(&dispatches, &timings);

    let n = dispatches.len() as f64;
    let expected_ms = 2.0 * n * (n + 1.0) / 2.0 / 1000.0;
    assert!(
        (profile.total_ms() - expected_ms).abs() < 1e-9,
        "total {}",
        profile.total_ms()
    );
    let rows = profile.rows();
    let mut names: Vec<&str> = dispatches.iter().map(|d| d.name.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(rows.len(), names.len(), "one row per kernel name");
    for row in &rows {
        let of_name: Vec<usize> = (0..dispatches.len())
            .filter(|&i| dispatches[i].name == row.name)
            .collect();
        let total_us: f64 = of_name.iter().map(|&i| 2.0 * (i + 1) as f64).sum();
        let flops: u64 = of_name.iter().map(|&i| 2 * dispatches[i].cost.flops).sum();
        let bytes: u64 = of_name.iter().map(|&i| 2 * dispatches[i].cost.bytes).sum();
        assert_eq!(
            row.dispatches,
            2 * of_name.len() as u64,
            "{} dispatches",
            row.name
        );
        assert!(
            (row.total_ms - total_us / 1000.0).abs() < 1e-9,
            "{} total",
            row.name
        );
        let mean_us = total_us / row.dispatches as f64;
        assert!((row.mean_us - mean_us).abs() < 1e-9, "{} mean", row.name);
        assert_eq!(row.flops, flops, "{} flops", row.name);
        assert_eq!(row.bytes, bytes, "{} bytes", row.name);
        let gflops = flops as f64 / (total_us * 1e-6) / 1e9;
        assert!(
            (row.gflops - gflops).abs() <= 1e-9 * gflops.max(1.0),
            "{} GFLOP/s",
            row.name
        );
        let gbps = bytes as f64 / (total_us * 1e-6) / 1e9;
        assert!(
            (row.gbps - gbps).abs() <= 1e-9 * gbps.max(1.0),
            "{} GB/s",
            row.name
        );
    }
    assert!(
        rows.windows(2)
            .all(|pair| pair[0].total_ms >= pair[1].total_ms),
        "rows sorted by total time"
    );

    let table = format_table(&rows);
    assert!(table.starts_with("kernel"), "header first:\n{table}");
    assert_eq!(
        table.lines().count(),
        rows.len() + 1,
        "one line per row:\n{table}"
    );
}
