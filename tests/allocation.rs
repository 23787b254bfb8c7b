//! Steady-state steps create no GPU objects: every buffer, bind group and pipeline of a
//! training or evaluation step, and of the profiler's timer, exists after the first step.

mod common;

use cifar_gpu::gpu::dispatch::encode_pass;
use cifar_gpu::gpu::profiler::{DispatchTimer, TimingMethod};
use cifar_gpu::gpu::Gpu;
use cifar_gpu::model::network::{Network, NetworkConfig, Normalization, Optimizer};
use cifar_gpu::model::{Architecture, Shape};
use cifar_gpu::ops::input::ImageStore;
use cifar_gpu::ops::{AdamParams, Augment, StepState};

const BATCH: usize = 4;
const IMAGES: usize = 10;
const CLASSES: usize = 3;
/// Steps run after the first one, enough for several metric read-backs.
const STEPS: u32 = 12;
/// Training steps between read-backs of the running metrics.
const METRICS_INTERVAL: u32 = 3;

/// Builds the classic model on 3x12x12 inputs with Adam, and a store of random images.
fn training_network(gpu: &Gpu) -> (Network, ImageStore) {
    let input = Shape::Image {
        channels: 3,
        height: 12,
        width: 12,
    };
    let architecture = Architecture::classic(input, CLASSES);
    let config = NetworkConfig {
        batch: BATCH,
        seed: 5,
        normalization: Normalization {
            scale: 1.0 / 255.0,
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        },
        augment: Augment {
            max_shift: 2,
            horizontal_flip: true,
        },
        optimizer: Some(Optimizer::Adam(AdamParams::default())),
    };
    let network = Network::new(gpu, &architecture, config, None).expect("network builds");
    let mut rng = common::Rng::new(11);
    let pixels: Vec<u8> = (0..IMAGES * input.len())
        .map(|_| rng.below(256) as u8)
        .collect();
    let store = ImageStore::upload(gpu, "images", &pixels, input.len(), None).expect("upload");
    (network, store)
}

/// Writes batch `step` of random indices and labels, as the training loop does.
fn write_batch(gpu: &Gpu, network: &Network, step: u32) {
    let mut rng = common::Rng::new(step as u64);
    let indices: Vec<u32> = (0..BATCH).map(|_| rng.below(IMAGES as u32)).collect();
    let labels: Vec<u32> = (0..BATCH).map(|_| rng.below(CLASSES as u32)).collect();
    let learning_rate = network
        .config
        .optimizer
        .map(|optimizer| optimizer.step_learning_rate(step))
        .unwrap_or(0.0);
    let state = StepState {
        step,
        valid: BATCH as u32,
        learning_rate,
        padding: 0,
    };
    network.write_batch(gpu, &indices, &labels, state);
}

#[test]
fn training_steps_create_no_objects() {
    let gpu = common::gpu();
    let (network, store) = training_network(&gpu);
    let input = network.bind_input(&gpu, &store, true);
    let built = gpu.counters();
    assert!(built.buffers > 0, "buffer creation is counted: {built:?}");
    assert!(
        built.bind_groups > 0,
        "bind group creation is counted: {built:?}"
    );
    assert!(
        built.pipelines > 0,
        "pipeline creation is counted: {built:?}"
    );

    write_batch(&gpu, &network, 0);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    network.clear_metrics(&mut encoder);
    encode_pass(&mut encoder, &network.training_step(&input));
    gpu.queue.submit([encoder.finish()]);
    network.read_metrics(&gpu).expect("first read-back");
    let after_first = gpu.counters();

    for step in 1..=STEPS {
        write_batch(&gpu, &network, step);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        encode_pass(&mut encoder, &network.training_step(&input));
        gpu.queue.submit([encoder.finish()]);
        if step % METRICS_INTERVAL == 0 {
            let metrics = network.read_metrics(&gpu).expect("read-back");
            assert_eq!(
                metrics[2],
                ((step + 1) as usize * BATCH) as f32,
                "samples counted after step {step}"
            );
        }
    }
    gpu.wait_idle().expect("steps finish");
    let after_all = gpu.counters();
    assert_eq!(after_all.buffers, after_first.buffers, "buffers created");
    assert_eq!(
        after_all.bind_groups, after_first.bind_groups,
        "bind groups created"
    );
    assert_eq!(
        after_all.pipelines, after_first.pipelines,
        "pipelines created"
    );
}

#[test]
fn evaluation_steps_create_no_objects() {
    let gpu = common::gpu();
    let (network, store) = training_network(&gpu);
    let train_input = network.bind_input(&gpu, &store, true);
    let eval_input = network.bind_input(&gpu, &store, false);

    write_batch(&gpu, &network, 0);
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    encode_pass(&mut encoder, &network.evaluation_step(&eval_input));
    gpu.queue.submit([encoder.finish()]);
    network.read_metrics(&gpu).expect("first read-back");
    let after_first = gpu.counters();

    // Evaluation between training steps, as validation runs between epochs.
    for step in 1..=STEPS {
        write_batch(&gpu, &network, step);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if step % METRICS_INTERVAL == 0 {
            network.clear_metrics(&mut encoder);
            encode_pass(&mut encoder, &network.training_step(&train_input));
        } else {
            encode_pass(&mut encoder, &network.evaluation_step(&eval_input));
        }
        gpu.queue.submit([encoder.finish()]);
        network.read_metrics(&gpu).expect("read-back");
    }
    gpu.wait_idle().expect("steps finish");
    let after_all = gpu.counters();
    assert_eq!(after_all.buffers, after_first.buffers, "buffers created");
    assert_eq!(
        after_all.bind_groups, after_first.bind_groups,
        "bind groups created"
    );
    assert_eq!(
        after_all.pipelines, after_first.pipelines,
        "pipelines created"
    );
}

#[test]
fn timed_steps_create_no_objects() {
    let gpu = common::gpu();
    let (network, store) = training_network(&gpu);
    let input = network.bind_input(&gpu, &store, true);
    let dispatches = network.training_step(&input);
    for method in TimingMethod::ALL {
        if !method.is_supported(gpu.features) {
            eprintln!("skipping timing method {method}: the adapter lacks its feature");
            continue;
        }
        let timer = DispatchTimer::new(&gpu, method, dispatches.len()).expect("timer");
        write_batch(&gpu, &network, 0);
        timer
            .time_step(&gpu, &dispatches)
            .expect("first timed step");
        let after_first = gpu.counters();
        for step in 1..=3 {
            write_batch(&gpu, &network, step);
            let timings = timer.time_step(&gpu, &dispatches).expect("timed step");
            assert_eq!(
                timings.len(),
                dispatches.len(),
                "{method}: one timing per dispatch"
            );
        }
        let after_all = gpu.counters();
        assert_eq!(
            after_all, after_first,
            "{method}: objects created by timed steps"
        );
    }
}
