//! The shader files and the pipeline cache: each (file, entry point, override constants) is compiled
//! once per process, inside an error scope so a failure names its kernel.

use super::Gpu;
use crate::error::{Error, Result};

/// One WGSL file under `shaders/` (an op family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shader {
    Conv2d,
    Winograd,
    ConvTranspose2d,
    BatchNorm,
    Pool,
    Matmul,
    Elementwise,
    Loss,
    Optim,
    Reduce,
    Metrics,
}

/// Helpers every kernel file uses (the folded-grid index); prepended to each file.
const COMMON: &str = include_str!("../../shaders/common.wgsl");

impl Shader {
    pub const ALL: [Shader; 11] = [
        Shader::Conv2d,
        Shader::Winograd,
        Shader::ConvTranspose2d,
        Shader::BatchNorm,
        Shader::Pool,
        Shader::Matmul,
        Shader::Elementwise,
        Shader::Loss,
        Shader::Optim,
        Shader::Reduce,
        Shader::Metrics,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            Shader::Conv2d => "conv2d.wgsl",
            Shader::Winograd => "winograd.wgsl",
            Shader::ConvTranspose2d => "conv_transpose2d.wgsl",
            Shader::BatchNorm => "batch_norm.wgsl",
            Shader::Pool => "pool.wgsl",
            Shader::Matmul => "matmul.wgsl",
            Shader::Elementwise => "elementwise.wgsl",
            Shader::Loss => "loss.wgsl",
            Shader::Optim => "optim.wgsl",
            Shader::Reduce => "reduce.wgsl",
            Shader::Metrics => "metrics.wgsl",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Shader::Conv2d => include_str!("../../shaders/conv2d.wgsl"),
            Shader::Winograd => include_str!("../../shaders/winograd.wgsl"),
            Shader::ConvTranspose2d => include_str!("../../shaders/conv_transpose2d.wgsl"),
            Shader::BatchNorm => include_str!("../../shaders/batch_norm.wgsl"),
            Shader::Pool => include_str!("../../shaders/pool.wgsl"),
            Shader::Matmul => include_str!("../../shaders/matmul.wgsl"),
            Shader::Elementwise => include_str!("../../shaders/elementwise.wgsl"),
            Shader::Loss => include_str!("../../shaders/loss.wgsl"),
            Shader::Optim => include_str!("../../shaders/optim.wgsl"),
            Shader::Reduce => include_str!("../../shaders/reduce.wgsl"),
            Shader::Metrics => include_str!("../../shaders/metrics.wgsl"),
        }
    }
}

/// The complete WGSL source compiled for a shader file: the common helpers, then the file.
pub fn shader_source(shader: Shader) -> String {
    format!("{COMMON}\n{}", shader.body())
}

/// Cache key: file, entry point, and override constants (values as bit patterns, so the key hashes).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct PipelineKey {
    shader: Shader,
    entry: &'static str,
    constants: Vec<(&'static str, u64)>,
}

impl Gpu {
    /// The compute pipeline for `entry` of `shader` with these override constants, compiled on
    /// first use.
    pub(crate) fn pipeline(
        &self,
        shader: Shader,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Result<wgpu::ComputePipeline> {
        let key = PipelineKey {
            shader,
            entry,
            constants: constants.iter().map(|&(k, v)| (k, v.to_bits())).collect(),
        };
        if let Some(p) = self
            .pipelines
            .lock()
            .expect("pipeline cache lock")
            .get(&key)
        {
            return Ok(p.clone());
        }
        let module = self.module(shader)?;
        let label = format!("{}::{entry}", shader.file_name());
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some(entry),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants,
                    zero_initialize_workgroup_memory: false,
                },
                cache: None,
            });
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!(
                "kernel {label} failed to build: {e}"
            )));
        }
        self.pipelines
            .lock()
            .expect("pipeline cache lock")
            .insert(key, pipeline.clone());
        Ok(pipeline)
    }

    fn module(&self, shader: Shader) -> Result<wgpu::ShaderModule> {
        if let Some(m) = self.modules.lock().expect("module cache lock").get(&shader) {
            return Ok(m.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        // SAFETY: wgnn's own kernels, not user code: every loop is bounded by a launch parameter,
        // and every divisor is a dimension of a launch with work (a launch with an empty
        // dimension has no invocations and is skipped), so wgpu's injected loop counters and
        // division guards only cost time (5 % of a matmul on lavapipe). Buffer bounds checks
        // stay on.
        let module = unsafe {
            self.device.create_shader_module_trusted(
                wgpu::ShaderModuleDescriptor {
                    label: Some(shader.file_name()),
                    source: wgpu::ShaderSource::Wgsl(shader_source(shader).into()),
                },
                wgpu::ShaderRuntimeChecks {
                    force_loop_bounding: false,
                    int_div_checks: false,
                    ..wgpu::ShaderRuntimeChecks::checked()
                },
            )
        };
        if let Some(e) = pollster::block_on(scope.pop()) {
            return Err(Error::Device(format!(
                "shader {} failed to compile: {e}",
                shader.file_name()
            )));
        }
        self.modules
            .lock()
            .expect("module cache lock")
            .insert(shader, module.clone());
        Ok(module)
    }
}
