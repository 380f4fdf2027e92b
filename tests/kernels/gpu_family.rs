//! The kernel tests of main.rs with the GPU kernel family (workgroup tiles, tiled.wgsl) forced, on
//! a device opened with WebGPU's default limits (256 invocations and 16 KiB of workgroup memory
//! per workgroup, 128 MiB bindings), as a browser or a small GPU grants. lavapipe has subgroup
//! operations, so the reductions take the subgroup path here (gl.rs tests the tree).

include!("suite.rs");

/// The device every test opens: the best adapter, GPU family, WebGPU's limits.
pub fn options() -> wgnn::GpuOptions {
    wgnn::GpuOptions {
        kernels: Some(wgnn::gpu::KernelFamily::Gpu),
        webgpu_limits: true,
        ..wgnn::GpuOptions::default()
    }
}
