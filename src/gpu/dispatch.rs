//! Prepared kernel launches.
//!
//! A [`Dispatch`] contains a pipeline, a bind group built once and the workgroup grid, so a
//! training step is a list of dispatches encoded into one compute pass with no allocation.

use super::{pipeline::Shader, Gpu, View};

/// Invocations per workgroup of the 1-D kernels; mirrors `WG_SIZE` in `shaders/common.wgsl`.
pub const WG_SIZE: u32 = 64;

/// Workgroups per grid dimension allowed by WebGPU's default limits.
pub const MAX_GROUPS_PER_DIMENSION: u32 = 65_535;

/// One binding of a kernel. An entry point's bindings are numbered consecutively from
/// the `first_binding` given to [`Gpu::prepare`]; binding 0 is always the params uniform.
pub enum Binding<'a> {
    Storage(&'a View),
    Uniform(&'a wgpu::Buffer),
}

/// Work done by one dispatch, for the profiler.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub flops: u64,
    /// Minimum bytes moved: each input read once and each output written once.
    pub bytes: u64,
}

/// A kernel launch with its bindings fixed.
pub struct Dispatch {
    /// `shader::entry`, the name the profiler reports.
    pub name: String,
    pipeline: wgpu::ComputePipeline,
    bind_group: wgpu::BindGroup,
    pub workgroups: [u32; 3],
    pub cost: Cost,
}

/// Grid for `invocations` one-dimensional work items at [`WG_SIZE`] per workgroup. Past
/// 65,535 workgroups the grid grows a second dimension; kernels rebuild the linear index
/// with `linear_index` from `shaders/common.wgsl` and return when it is past the end.
pub fn grid_1d(invocations: usize) -> [u32; 3] {
    let groups = (invocations as u64).div_ceil(WG_SIZE as u64).max(1);
    if groups <= MAX_GROUPS_PER_DIMENSION as u64 {
        [groups as u32, 1, 1]
    } else {
        let rows = groups.div_ceil(MAX_GROUPS_PER_DIMENSION as u64);
        [MAX_GROUPS_PER_DIMENSION, rows as u32, 1]
    }
}

impl Gpu {
    /// Prepares a dispatch of `entry` with `params` as the uniform at binding 0 and
    /// `bindings` at `first_binding`, `first_binding + 1`, ... in order.
    #[allow(clippy::too_many_arguments)]
    pub fn prepare(
        &self,
        shader: Shader,
        entry: &'static str,
        params: &[u32],
        first_binding: u32,
        bindings: &[Binding<'_>],
        workgroups: [u32; 3],
        cost: Cost,
    ) -> Dispatch {
        let name = format!("{}::{}", shader.name, entry);
        let pipeline = self.pipeline(shader, entry);
        // Uniform structs are padded to 16 bytes in WGSL.
        let mut padded = params.to_vec();
        padded.resize(params.len().div_ceil(4).max(1) * 4, 0);
        let uniform = self.uniform(&name, bytemuck::cast_slice(&padded));
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        for (index, binding) in bindings.iter().enumerate() {
            let resource = match binding {
                Binding::Storage(view) => view.binding(),
                Binding::Uniform(buffer) => buffer.as_entire_binding(),
            };
            entries.push(wgpu::BindGroupEntry {
                binding: first_binding + index as u32,
                resource,
            });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&name),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        self.count(|c| c.bind_groups += 1);
        Dispatch {
            name,
            pipeline,
            bind_group,
            workgroups,
            cost,
        }
    }

    /// Encodes `dispatches` into one compute pass, submits it and waits for it to finish.
    pub fn run(&self, dispatches: &[&Dispatch]) -> Result<(), super::GpuError> {
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let mut encoder = self.device.create_command_encoder(&Default::default());
        encode_pass(&mut encoder, dispatches);
        self.queue.submit([encoder.finish()]);
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(super::GpuError::Validation(error.to_string()));
        }
        self.wait_idle()
    }
}

/// Records `dispatches` in order into one compute pass of `encoder`.
pub fn encode_pass(encoder: &mut wgpu::CommandEncoder, dispatches: &[&Dispatch]) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("cifar-gpu kernels"),
        timestamp_writes: None,
    });
    for dispatch in dispatches {
        dispatch.encode(&mut pass);
    }
}

impl Dispatch {
    pub fn encode(&self, pass: &mut wgpu::ComputePass<'_>) {
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        let [x, y, z] = self.workgroups;
        pass.dispatch_workgroups(x, y, z);
    }
}
