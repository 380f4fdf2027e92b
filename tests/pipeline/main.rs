//! Data layouts and the mask colour code, the metrics, and short training runs.

mod bench;
mod data;
mod metrics;
mod resume;
#[path = "../support/runs.rs"]
mod runs;
#[path = "../support/train.rs"]
mod train_support;
mod training;

use std::sync::OnceLock;

use wgnn::{Gpu, GpuOptions};

pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| {
        Gpu::new(&GpuOptions::default()).unwrap_or_else(|e| {
            panic!("GPU tests need an adapter: {e}\n(on Linux without a GPU: apt-get install mesa-vulkan-drivers)")
        })
    })
}
