//! Every kernel against an independent f64 CPU reference (`reference.rs`) on seeded random inputs
//! with awkward shapes, the references themselves against finite differences, the GPU gradient
//! checks, and the device-limit paths (binding size, workgroup grid) forced small; on the best
//! adapter with its own limits and the kernel family it picks (on a CPU device: the CPU family).
//! gpu_family.rs and gl.rs run the same tests on other devices.

include!("suite.rs");

/// The device every test opens: the best adapter, as wgnn would choose it.
pub fn options() -> wgnn::GpuOptions {
    wgnn::GpuOptions::default()
}
