//! The kernel tests of main.rs on the GL backend (on Linux without a GPU: llvmpipe through EGL),
//! with the kernel family that device picks: wgpu translates every kernel to GLSL there.

include!("suite.rs");

/// The device every test opens: the best GL adapter.
pub fn options() -> wgnn::GpuOptions {
    wgnn::GpuOptions {
        backends: Some(wgpu::Backends::GL),
        ..wgnn::GpuOptions::default()
    }
}
