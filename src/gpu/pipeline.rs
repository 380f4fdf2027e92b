//! The pipeline cache: each (file, entry point, override constants) is compiled once per process,
//! inside an error scope so a failure names its kernel.

use super::Gpu;
use super::shader::{PipelineKey, Shader, shader_source_with};
use crate::error::{Error, Result};

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
                    source: wgpu::ShaderSource::Wgsl(
                        shader_source_with(shader, self.tuning.workgroup_sum).into(),
                    ),
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
