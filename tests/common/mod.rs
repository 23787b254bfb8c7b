//! Shared test helpers: the adapter, seeded random inputs, poisoned outputs and the
//! tolerance comparison used against the CPU reference.
#![allow(dead_code)]

use cifar_gpu::gpu::{Gpu, View};

/// Opens the default adapter, or fails with instructions when the machine has none, so a
/// missing driver can never pass as a green run.
pub fn gpu() -> Gpu {
    let _ = env_logger::builder().is_test(true).try_init();
    match Gpu::open(None) {
        Ok(gpu) => gpu,
        Err(error) => panic!(
            "GPU tests need a wgpu adapter: {error}\n\
             On Debian or Ubuntu without a GPU: apt-get install -y libvulkan1 mesa-vulkan-drivers"
        ),
    }
}

/// SplitMix64 (Steele, Lea and Flood, "Fast Splittable Pseudorandom Number Generators",
/// OOPSLA 2014): a small seeded generator for test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[low, high)`.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        low + (high - low) * unit
    }

    /// `len` values uniform in `[-1, 1)`, never all zero.
    pub fn vector(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.uniform(-1.0, 1.0)).collect()
    }

    pub fn below(&mut self, bound: u32) -> u32 {
        (self.next_u64() % bound as u64) as u32
    }
}

pub fn widen(values: &[f32]) -> Vec<f64> {
    values.iter().map(|&value| value as f64).collect()
}

/// Creates an output buffer filled with NaN, so elements a kernel fails to write show up.
pub fn poisoned(gpu: &Gpu, len: usize) -> View {
    gpu.storage_f32("poisoned output", &vec![f32::NAN; len])
        .expect("poisoned buffer")
}

pub fn upload(gpu: &Gpu, values: &[f32]) -> View {
    gpu.storage_f32("test input", values).expect("input buffer")
}

/// Comparison `|gpu - cpu| <= abs + rel * |cpu|`.
#[derive(Clone, Copy, Debug)]
pub struct Tolerance {
    pub abs: f64,
    pub rel: f64,
}

/// Elementwise ops: one or two f32 roundings.
pub const ELEMENTWISE: Tolerance = Tolerance {
    abs: 1e-6,
    rel: 1e-5,
};
/// Reductions (convolution, matmul, softmax): f32 sums over many terms.
pub const REDUCTION: Tolerance = Tolerance {
    abs: 1e-5,
    rel: 1e-3,
};

/// Compares GPU output with the reference; on mismatch reports the op, the first ten
/// differing elements with both values, and the maximum absolute difference.
pub fn assert_close(what: &str, gpu: &[f32], cpu: &[f64], tolerance: Tolerance) {
    assert_eq!(
        gpu.len(),
        cpu.len(),
        "{what}: GPU returned {} elements, reference {}",
        gpu.len(),
        cpu.len()
    );
    let mut mismatches = Vec::new();
    let mut max_diff = 0.0f64;
    for (index, (&actual, &expected)) in gpu.iter().zip(cpu).enumerate() {
        let diff = (actual as f64 - expected).abs();
        let within = diff <= tolerance.abs + tolerance.rel * expected.abs();
        if !diff.is_nan() {
            max_diff = max_diff.max(diff);
        }
        if !within || actual.is_nan() {
            mismatches.push((index, actual, expected));
        }
    }
    if !mismatches.is_empty() {
        let shown: Vec<String> = mismatches
            .iter()
            .take(10)
            .map(|(index, actual, expected)| format!("  [{index}] gpu {actual:e} cpu {expected:e}"))
            .collect();
        panic!(
            "{what}: {} of {} elements differ beyond {tolerance:?} (max abs diff {max_diff:e}):\n{}",
            mismatches.len(),
            gpu.len(),
            shown.join("\n")
        );
    }
}
