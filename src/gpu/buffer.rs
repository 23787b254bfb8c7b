//! Storage buffers, views into them, uploads and read-backs.

use wgpu::util::DeviceExt;

use super::{Gpu, GpuError};

/// Element type of a view; every element is one 32-bit word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WordType {
    F32,
    U32,
}

/// A range of 32-bit words inside a buffer, bound to kernels as one storage binding.
#[derive(Clone, Debug)]
pub struct View {
    pub buffer: wgpu::Buffer,
    /// Start of the range in bytes; a multiple of the adapter's storage offset alignment.
    pub offset_bytes: u64,
    /// Length of the range in 32-bit elements.
    pub len: usize,
}

impl View {
    pub fn whole(buffer: &wgpu::Buffer) -> Self {
        Self {
            buffer: buffer.clone(),
            offset_bytes: 0,
            len: (buffer.size() / 4) as usize,
        }
    }

    pub fn size_bytes(&self) -> u64 {
        self.len as u64 * 4
    }

    /// Returns the sub-range of `len` elements starting `start` elements into this view.
    ///
    /// # Invariants
    /// - `start * 4` plus this view's offset is a multiple of the storage offset alignment.
    pub fn slice(&self, start: usize, len: usize) -> Self {
        assert!(
            start + len <= self.len,
            "slice {start}..{} of a view of {}",
            start + len,
            self.len
        );
        Self {
            buffer: self.buffer.clone(),
            offset_bytes: self.offset_bytes + start as u64 * 4,
            len,
        }
    }

    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        // A zero-sized binding is invalid, so empty views bind one word they never read.
        let size = self.size_bytes().max(4);
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buffer,
            offset: self.offset_bytes,
            size: wgpu::BufferSize::new(size),
        })
    }
}

const STORAGE_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

impl Gpu {
    fn check_size(&self, label: &str, bytes: u64) -> Result<(), GpuError> {
        if bytes > self.limits.max_buffer_size {
            return Err(GpuError::BufferTooLarge {
                label: label.to_string(),
                bytes,
                limit: self.limits.max_buffer_size,
                limit_name: "max_buffer_size",
            });
        }
        let binding_limit = self.limits.max_storage_buffer_binding_size;
        if bytes > binding_limit {
            return Err(GpuError::BufferTooLarge {
                label: label.to_string(),
                bytes,
                limit: binding_limit,
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(())
    }

    /// Creates a zero-filled storage buffer of `len` 32-bit words.
    pub fn storage(&self, label: &str, len: usize) -> Result<View, GpuError> {
        let bytes = (len.max(1) * 4) as u64;
        self.check_size(label, bytes)?;
        self.count(|c| c.buffers += 1);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: STORAGE_USAGE,
            mapped_at_creation: false,
        });
        Ok(View {
            buffer,
            offset_bytes: 0,
            len,
        })
    }

    /// Creates a storage buffer holding `data`, which is padded to whole words.
    pub fn storage_from_bytes(&self, label: &str, data: &[u8]) -> Result<View, GpuError> {
        let words = data.len().div_ceil(4).max(1);
        self.check_size(label, words as u64 * 4)?;
        let mut padded = data.to_vec();
        padded.resize(words * 4, 0);
        self.count(|c| c.buffers += 1);
        let buffer = self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: &padded,
                usage: STORAGE_USAGE,
            });
        Ok(View {
            buffer,
            offset_bytes: 0,
            len: data.len().div_ceil(4),
        })
    }

    pub fn storage_f32(&self, label: &str, data: &[f32]) -> Result<View, GpuError> {
        self.storage_from_bytes(label, bytemuck::cast_slice(data))
    }

    pub fn storage_u32(&self, label: &str, data: &[u32]) -> Result<View, GpuError> {
        self.storage_from_bytes(label, bytemuck::cast_slice(data))
    }

    /// Creates a uniform buffer holding `data`.
    pub fn uniform(&self, label: &str, data: &[u8]) -> wgpu::Buffer {
        self.count(|c| c.buffers += 1);
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents: data,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            })
    }

    /// Overwrites the start of `view` with `data` before the next submission runs.
    pub fn write_f32(&self, view: &View, data: &[f32]) {
        assert!(
            data.len() <= view.len,
            "writing {} words into a view of {}",
            data.len(),
            view.len
        );
        self.queue
            .write_buffer(&view.buffer, view.offset_bytes, bytemuck::cast_slice(data));
    }

    pub fn write_u32(&self, view: &View, data: &[u32]) {
        assert!(
            data.len() <= view.len,
            "writing {} words into a view of {}",
            data.len(),
            view.len
        );
        self.queue
            .write_buffer(&view.buffer, view.offset_bytes, bytemuck::cast_slice(data));
    }

    /// Copies the view to the host, waiting for all submitted work first.
    pub fn read_words(&self, view: &View) -> Result<Vec<u32>, GpuError> {
        let label = "storage view";
        let bytes = view.size_bytes();
        if bytes == 0 {
            return Ok(Vec::new());
        }
        self.count(|c| c.buffers += 1);
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("read-back staging"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&view.buffer, view.offset_bytes, &staging, 0, bytes);
        self.queue.submit([encoder.finish()]);
        self.map_and_read(&staging, bytes, label)
    }

    /// Maps `staging` after waiting for all submitted work and copies out its words.
    pub fn map_and_read(
        &self,
        staging: &wgpu::Buffer,
        bytes: u64,
        label: &str,
    ) -> Result<Vec<u32>, GpuError> {
        let (sender, receiver) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, 0..bytes, move |result| {
            let _ = sender.send(result);
        });
        self.wait_idle()?;
        let readback_error = |message: String| GpuError::Readback {
            label: label.to_string(),
            message,
        };
        receiver
            .recv()
            .map_err(|error| readback_error(error.to_string()))?
            .map_err(|error| readback_error(error.to_string()))?;
        let words = {
            let mapped = staging
                .get_mapped_range(0..bytes)
                .map_err(|e| readback_error(e.to_string()))?;
            bytemuck::cast_slice::<u8, u32>(&mapped).to_vec()
        };
        staging.unmap();
        Ok(words)
    }

    pub fn read_f32(&self, view: &View) -> Result<Vec<f32>, GpuError> {
        Ok(self
            .read_words(view)?
            .into_iter()
            .map(f32::from_bits)
            .collect())
    }

    pub fn read_u32(&self, view: &View) -> Result<Vec<u32>, GpuError> {
        self.read_words(view)
    }
}
