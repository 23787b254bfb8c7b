//! The GPU context: adapter, device, queue, pipeline cache and buffer helpers.
//!
//! Every kernel runs in a compute pass. Timestamp queries are requested when the adapter
//! offers them; nothing else beyond core WebGPU is required.

pub mod adapter;
pub mod buffer;
pub mod dispatch;
pub mod pipeline;
pub mod profiler;

use std::sync::Mutex;

pub use buffer::{View, WordType};
pub use dispatch::{Binding, Dispatch, WG_SIZE};

/// Errors from finding an adapter and opening a device.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error(
        "no GPU adapter found. wgpu needs a Vulkan, Metal, DX12 or GL driver; on a machine \
         without a GPU install Mesa's software Vulkan driver (Debian and Ubuntu: \
         `apt-get install -y libvulkan1 mesa-vulkan-drivers`), and check that \
         WGPU_BACKEND, if set, names a backend that has a driver"
    )]
    NoAdapter,
    #[error("no adapter matches --adapter {request:?}; the adapters found are:\n{listing}")]
    AdapterNotFound { request: String, listing: String },
    #[error("failed to open a device on adapter {adapter:?}: {source}")]
    RequestDevice {
        adapter: String,
        #[source]
        source: wgpu::RequestDeviceError,
    },
    #[error(
        "buffer {label:?} needs {bytes} bytes, over the adapter's limit of {limit} bytes \
         ({limit_name}); use a smaller batch size or model"
    )]
    BufferTooLarge {
        label: String,
        bytes: u64,
        limit: u64,
        limit_name: &'static str,
    },
    #[error("GPU validation failed: {0}")]
    Validation(String),
    #[error("failed to read back buffer {label:?}: {message}")]
    Readback { label: String, message: String },
}

/// An open device with everything needed to build and run kernels.
pub struct Gpu {
    pub info: wgpu::AdapterInfo,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    pipelines: Mutex<pipeline::PipelineCache>,
    counters: Mutex<ResourceCounters>,
}

/// Number of GPU objects created since the device was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ResourceCounters {
    pub buffers: u64,
    pub bind_groups: u64,
    pub pipelines: u64,
}

impl Gpu {
    /// Opens the adapter named by `request` (see [`adapter::find`]), or the preferred one
    /// when `request` is `None`.
    pub fn open(request: Option<&str>) -> Result<Self, GpuError> {
        let instance = adapter::create_instance();
        let found = adapter::enumerate(&instance);
        let entries: Vec<_> = found.iter().map(|(entry, _)| entry.clone()).collect();
        if entries.is_empty() {
            return Err(GpuError::NoAdapter);
        }
        let position = match request {
            Some(request) => {
                adapter::find(&entries, request).ok_or_else(|| GpuError::AdapterNotFound {
                    request: request.to_string(),
                    listing: adapter::format_listing(&entries),
                })?
            }
            None => adapter::default_choice(&entries).ok_or(GpuError::NoAdapter)?,
        };
        let (entry, chosen) = &found[position];
        Self::from_adapter(chosen, &entry.info)
    }

    fn from_adapter(adapter: &wgpu::Adapter, info: &wgpu::AdapterInfo) -> Result<Self, GpuError> {
        // Ask for the adapter's own limits: the defaults cap storage bindings at 128 MiB
        // even where the hardware allows more.
        let limits = adapter.limits();
        let requested = wgpu::Features::TIMESTAMP_QUERY
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES
            | wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS;
        let features = adapter.features() & requested;
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("cifar-gpu device"),
            required_features: features,
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) =
            pollster::block_on(adapter.request_device(&descriptor)).map_err(|source| {
                GpuError::RequestDevice {
                    adapter: info.name.clone(),
                    source,
                }
            })?;
        log::info!(
            "adapter: {} ({:?}, {})",
            info.name,
            info.backend,
            adapter::device_type_name(info.device_type)
        );
        Ok(Self {
            info: info.clone(),
            device,
            queue,
            limits,
            features,
            pipelines: Mutex::new(pipeline::PipelineCache::default()),
            counters: Mutex::new(ResourceCounters::default()),
        })
    }

    /// Returns whether the adapter is a software rasterizer running on the CPU, such as lavapipe.
    pub fn is_software(&self) -> bool {
        self.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Objects created so far; a training loop that allocates per step shows up here.
    pub fn counters(&self) -> ResourceCounters {
        *self.counters.lock().expect("counter lock poisoned")
    }

    /// Records objects created outside the helpers of this module, for [`Self::counters`].
    pub fn count(&self, update: impl FnOnce(&mut ResourceCounters)) {
        update(&mut self.counters.lock().expect("counter lock poisoned"));
    }

    /// Waits until every submitted command has finished.
    pub fn wait_idle(&self) -> Result<(), GpuError> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|error| GpuError::Validation(error.to_string()))
    }

    /// Largest buffer that can be bound whole as one storage binding, in bytes.
    pub fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }
}
