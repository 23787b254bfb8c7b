//! The counter-based random numbers of `shaders/common.wgsl` against `cifar_gpu::ops::rng`:
//! a small test kernel evaluates `hash_u32`, `random_u32` and `unit_f32` on the GPU, and
//! every result must equal the Rust function bit for bit.

mod common;

use cifar_gpu::gpu::pipeline::COMMON_SOURCE;
use cifar_gpu::gpu::{Gpu, WG_SIZE};
use cifar_gpu::ops::rng::{self, stream};
use common::{gpu, Rng};

/// Reads `(seed, stream, counter)` triples and writes, for each, `hash_u32(counter)`,
/// `random_u32(seed, stream, counter)` and the bits of `unit_f32` of that random word and
/// of `counter` itself. Compiled after `COMMON_SOURCE`, which defines the functions.
const TEST_KERNEL: &str = r#"
@group(0) @binding(0) var<storage, read> inputs: array<u32>;        // triples
@group(0) @binding(1) var<storage, read_write> outputs: array<u32>; // quadruples

@compute @workgroup_size(WG_SIZE)
fn evaluate(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= arrayLength(&inputs) / 3u {
        return;
    }
    let seed = inputs[3u * i];
    let stream = inputs[3u * i + 1u];
    let counter = inputs[3u * i + 2u];
    let word = random_u32(seed, stream, counter);
    outputs[4u * i] = hash_u32(counter);
    outputs[4u * i + 1u] = word;
    outputs[4u * i + 2u] = bitcast<u32>(unit_f32(word));
    outputs[4u * i + 3u] = bitcast<u32>(unit_f32(counter));
}
"#;

/// Runs the test kernel on `triples` and returns four words per triple.
fn evaluate_on_gpu(gpu: &Gpu, triples: &[[u32; 3]]) -> Vec<u32> {
    let source = format!("{COMMON_SOURCE}\n{TEST_KERNEL}");
    let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = gpu
        .device
        .create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("rng test kernel"),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
    let pipeline = gpu
        .device
        .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("rng test kernel"),
            layout: None,
            module: &module,
            entry_point: Some("evaluate"),
            compilation_options: Default::default(),
            cache: None,
        });

    let flat: Vec<u32> = triples.iter().flatten().copied().collect();
    let inputs = gpu.storage_u32("rng inputs", &flat).unwrap();
    // A marker word, so any output the kernel fails to write shows up as a mismatch.
    let outputs = gpu
        .storage_u32("rng outputs", &vec![0xdead_beef; 4 * triples.len()])
        .unwrap();
    let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("rng test kernel"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: inputs.binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: outputs.binding(),
            },
        ],
    });

    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(triples.len().div_ceil(WG_SIZE as usize) as u32, 1, 1);
    }
    gpu.queue.submit([encoder.finish()]);
    if let Some(error) = pollster::block_on(scope.pop()) {
        panic!("rng test kernel failed validation: {error}");
    }
    gpu.read_u32(&outputs).unwrap()
}

/// Edge counters and seeds, the two streams the crate uses, and random triples: 4099 in
/// all, not a multiple of the workgroup size.
fn test_triples() -> Vec<[u32; 3]> {
    let edges = [
        0,
        1,
        2,
        0xff,
        0x100,
        0x7fff_ffff,
        0x8000_0000,
        0xffff_ff00,
        u32::MAX - 1,
        u32::MAX,
    ];
    let streams = [0, stream::DROPOUT, stream::AUGMENT, u32::MAX];
    let mut triples = Vec::new();
    for &seed in &edges[..4] {
        for &stream in &streams {
            for &counter in &edges {
                triples.push([seed, stream, counter]);
            }
        }
    }
    let mut rng = Rng::new(101);
    while triples.len() < 4099 {
        triples.push([
            rng.next_u64() as u32,
            rng.next_u64() as u32,
            rng.next_u64() as u32,
        ]);
    }
    triples
}

#[test]
fn rng_functions_match_rust_bit_for_bit() {
    let gpu = gpu();
    let triples = test_triples();
    let outputs = evaluate_on_gpu(&gpu, &triples);
    assert_eq!(outputs.len(), 4 * triples.len(), "rng outputs length");

    let mut mismatches = Vec::new();
    for (i, &[seed, stream, counter]) in triples.iter().enumerate() {
        let word = rng::random_u32(seed, stream, counter);
        let expected = [
            ("hash_u32(counter)", rng::hash_u32(counter)),
            ("random_u32", word),
            ("unit_f32(random_u32)", rng::unit_f32(word).to_bits()),
            ("unit_f32(counter)", rng::unit_f32(counter).to_bits()),
        ];
        for (j, (name, value)) in expected.into_iter().enumerate() {
            let actual = outputs[4 * i + j];
            if actual != value {
                mismatches.push(format!(
                    "  {name} of (seed {seed:#x}, stream {stream:#x}, counter {counter:#x}): \
                     gpu {actual:#010x}, rust {value:#010x}"
                ));
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} rng values differ:\n{}",
        mismatches.len(),
        outputs.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `unit_f32` covers `[0, 1)`: the smallest word maps to 0 and the largest stays below 1.
#[test]
fn rng_unit_f32_range_matches_rust() {
    let gpu = gpu();
    let triples = [[0, 0, 0], [0, 0, u32::MAX]];
    let outputs = evaluate_on_gpu(&gpu, &triples);
    let smallest = f32::from_bits(outputs[3]);
    let largest = f32::from_bits(outputs[7]);
    assert_eq!(smallest, 0.0, "unit_f32(0) on the GPU");
    assert!(largest < 1.0, "unit_f32(u32::MAX) on the GPU is {largest}");
    assert_eq!(largest, rng::unit_f32(u32::MAX), "unit_f32(u32::MAX)");
}
