//! Shader sources and the compute pipeline cache.
//!
//! Every shader file is compiled with `shaders/common.wgsl` prepended, which contains the
//! workgroup size, the 2-D grid index helper and the counter-based random numbers.
//! Pipelines are created on first use and reused afterwards: creating one costs
//! milliseconds, so no pipeline is ever created per step.

use std::collections::HashMap;

use super::Gpu;

/// A shader file of the crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! shader {
    ($name:literal) => {
        Shader {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
        }
    };
}

pub const COMMON_SOURCE: &str = include_str!("../../shaders/common.wgsl");

pub mod shaders {
    use super::Shader;
    pub const ACTIVATION: Shader = shader!("activation");
    pub const CONV2D_NAIVE: Shader = shader!("conv2d_naive");
    pub const DENSE: Shader = shader!("dense");
    pub const DROPOUT: Shader = shader!("dropout");
    pub const GEMM: Shader = shader!("gemm");
    pub const INPUT: Shader = shader!("input");
    pub const LOSS: Shader = shader!("softmax_cross_entropy");
    pub const MAXPOOL2D: Shader = shader!("maxpool2d");
    pub const OPTIMIZER: Shader = shader!("optimizer");
    pub const PACK: Shader = shader!("pack");
    pub const REDUCE: Shader = shader!("reduce");

    /// Every shader file, for validation.
    pub const ALL: &[Shader] = &[
        ACTIVATION,
        CONV2D_NAIVE,
        DENSE,
        DROPOUT,
        GEMM,
        INPUT,
        LOSS,
        MAXPOOL2D,
        OPTIMIZER,
        PACK,
        REDUCE,
    ];
}

impl Shader {
    /// Returns the full WGSL source as compiled: the common prelude, then the file.
    pub fn full_source(&self) -> String {
        format!("{COMMON_SOURCE}\n{}", self.source)
    }
}

/// Compiled modules and pipelines, keyed by shader and entry point.
#[derive(Default)]
pub struct PipelineCache {
    modules: HashMap<&'static str, wgpu::ShaderModule>,
    pipelines: HashMap<(&'static str, &'static str), wgpu::ComputePipeline>,
}

impl Gpu {
    /// Returns the pipeline of `entry` in `shader`, creating it on first use.
    pub fn pipeline(&self, shader: Shader, entry: &'static str) -> wgpu::ComputePipeline {
        let mut cache = self.pipelines.lock().expect("pipeline cache lock poisoned");
        if let Some(pipeline) = cache.pipelines.get(&(shader.name, entry)) {
            return pipeline.clone();
        }
        let module = cache
            .modules
            .entry(shader.name)
            .or_insert_with(|| {
                log::debug!("compiling shader {}", shader.name);
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(shader.name),
                        source: wgpu::ShaderSource::Wgsl(shader.full_source().into()),
                    })
            })
            .clone();
        let label = format!("{}::{}", shader.name, entry);
        log::debug!("creating pipeline {label}");
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            });
        self.count(|c| c.pipelines += 1);
        cache
            .pipelines
            .insert((shader.name, entry), pipeline.clone());
        pipeline
    }
}
