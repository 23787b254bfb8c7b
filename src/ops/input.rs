//! Launcher for `shaders/input.wgsl` and the u8 image store it reads.

use super::{Cost, InputParams};
use crate::gpu::dispatch::grid_1d;
use crate::gpu::pipeline::shaders::INPUT;
use crate::gpu::{Binding, Dispatch, Gpu, GpuError, View};

/// Channels the input stage supports; its mean and std live in one `vec4` each.
pub const MAX_CHANNELS: usize = 4;

/// Images resident on the GPU as u8, in chunks of whole images that each fit one storage
/// binding.
pub struct ImageStore {
    /// `(first image index, image count, buffer)` per chunk, in image order.
    pub chunks: Vec<(usize, usize, View)>,
    pub image_len: usize,
    pub images: usize,
}

impl ImageStore {
    /// Uploads `images` (each `image_len` bytes, concatenated) in chunks of at most
    /// `max_chunk_bytes`, or the adapter's binding limit when that is smaller.
    pub fn upload(
        gpu: &Gpu,
        label: &str,
        images: &[u8],
        image_len: usize,
        max_chunk_bytes: Option<u64>,
    ) -> Result<Self, GpuError> {
        assert!(
            image_len > 0 && images.len().is_multiple_of(image_len),
            "images are not whole"
        );
        let limit = max_chunk_bytes
            .unwrap_or(u64::MAX)
            .min(gpu.max_binding_bytes());
        let per_chunk = ((limit / image_len as u64) as usize).max(1);
        let count = images.len() / image_len;
        let mut chunks = Vec::new();
        let mut first = 0;
        while first < count || (count == 0 && chunks.is_empty()) {
            let in_chunk = per_chunk.min(count - first);
            let bytes = &images[first * image_len..(first + in_chunk) * image_len];
            let view = gpu.storage_from_bytes(&format!("{label} images {first}.."), bytes)?;
            chunks.push((first, in_chunk, view));
            first += in_chunk;
            if count == 0 {
                break;
            }
        }
        Ok(Self {
            chunks,
            image_len,
            images: count,
        })
    }

    pub fn bytes(&self) -> u64 {
        self.chunks
            .iter()
            .map(|(_, _, view)| view.size_bytes())
            .sum()
    }
}

/// Prepares the input stage: one dispatch per chunk of `store`, each writing the batch
/// entries whose image index falls in its chunk. `augment` selects training-time
/// augmentation; evaluation passes `false`. Overwrites every entry of output whose index
/// is valid.
///
/// # Shapes
/// - indices: N image indices into `store`; output: N, C, H, W.
pub fn input_forward(
    gpu: &Gpu,
    p: &InputParams,
    augment: bool,
    step_state: &wgpu::Buffer,
    indices: &View,
    store: &ImageStore,
    output: &View,
) -> Vec<Dispatch> {
    assert!(
        p.channels <= MAX_CHANNELS,
        "the input stage supports at most {MAX_CHANNELS} channels, got {}",
        p.channels
    );
    assert_eq!(p.mean.len(), p.channels, "input mean length");
    assert_eq!(p.std.len(), p.channels, "input std length");
    assert_eq!(store.image_len, p.image_len(), "stored image length");
    assert_eq!(indices.len, p.batch, "input indices length");
    assert_eq!(output.len, p.output_len(), "input output length");
    let mut mean = [0.0f32; MAX_CHANNELS];
    let mut std = [1.0f32; MAX_CHANNELS];
    mean[..p.channels].copy_from_slice(&p.mean);
    std[..p.channels].copy_from_slice(&p.std);
    store
        .chunks
        .iter()
        .map(|(first, count, pixels)| {
            let mut params = vec![
                p.batch as u32,
                p.channels as u32,
                p.height as u32,
                p.width as u32,
                *first as u32,
                *count as u32,
                p.seed,
                p.augment.max_shift,
                p.augment.horizontal_flip as u32,
                augment as u32,
                0,
                0,
            ];
            params.extend(mean.iter().map(|value| value.to_bits()));
            params.extend(std.iter().map(|value| value.to_bits()));
            gpu.prepare(
                INPUT,
                "input_forward",
                &params,
                1,
                &[
                    Binding::Uniform(step_state),
                    Binding::Storage(indices),
                    Binding::Storage(pixels),
                    Binding::Storage(output),
                ],
                grid_1d(p.output_len()),
                Cost {
                    flops: 2 * p.output_len() as u64,
                    bytes: (p.output_len() * 5 + p.batch * 4) as u64,
                },
            )
        })
        .collect()
}
