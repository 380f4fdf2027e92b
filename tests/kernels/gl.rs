//! The kernel tests of main.rs on the GL backend (on Linux without a GPU: llvmpipe through EGL),
//! where wgpu translates every kernel to GLSL, with the GPU kernel family forced: GL has no subgroup
//! operations, so its reductions take the workgroup-memory tree.

include!("suite.rs");

/// The device every test opens: the best GL adapter, GPU family.
pub fn options() -> wgnn::GpuOptions {
    wgnn::GpuOptions {
        backends: Some(wgpu::Backends::GL),
        kernels: Some(wgnn::gpu::KernelFamily::Gpu),
        ..wgnn::GpuOptions::default()
    }
}
