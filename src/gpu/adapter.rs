//! Adapter choice: hardware GPUs before CPU rasterisers, Vulkan/Metal/DX12 before GL, or the one the
//! user names with `--adapter SUBSTRING` / `WGNN_ADAPTER`.

use crate::error::{Error, Result};

/// Environment variable that picks an adapter by a substring of its name.
pub const ADAPTER_ENV: &str = "WGNN_ADAPTER";

/// Every adapter of `backends` (narrowed by `WGPU_BACKEND` if set) that can run compute shaders,
/// best first.
pub fn ranked_adapters(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends &= backends;
    let instance = wgpu::Instance::new(desc);
    let mut adapters: Vec<wgpu::Adapter> =
        pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .into_iter()
            .filter(|a| {
                a.get_downlevel_capabilities()
                    .flags
                    .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
            })
            .collect();
    adapters.sort_by_key(|a| rank(&a.get_info()));
    adapters
}

/// Sort key: smaller is better. Hardware first, then the native backends before GL.
fn rank(info: &wgpu::AdapterInfo) -> (u8, u8, u8) {
    let hardware = match info.device_type {
        wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu => 0,
        wgpu::DeviceType::VirtualGpu => 1,
        wgpu::DeviceType::Cpu | wgpu::DeviceType::Other => 2,
    };
    let backend = match info.backend {
        wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
        _ => 1,
    };
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        _ => 2,
    };
    (hardware, backend, kind)
}

/// The adapter to use: the best one, or the best whose name contains `wanted` (case-insensitive),
/// among `backends` if given. `wanted` falls back to the `WGNN_ADAPTER` environment variable.
pub fn choose_adapter(
    wanted: Option<&str>,
    backends: Option<wgpu::Backends>,
) -> Result<wgpu::Adapter> {
    let from_env = std::env::var(ADAPTER_ENV).ok().filter(|s| !s.is_empty());
    let wanted = wanted.map(str::to_owned).or(from_env);
    // GL is probed only when no Vulkan/Metal/DX12 adapter fits: its compute support is the weakest,
    // probing it is slow, and its drivers print to stderr.
    let mut adapters = ranked_adapters(backends.unwrap_or(wgpu::Backends::PRIMARY));
    let fits = |a: &wgpu::Adapter| {
        wanted
            .as_ref()
            .is_none_or(|w| a.get_info().name.to_lowercase().contains(&w.to_lowercase()))
    };
    if backends.is_none() && !adapters.iter().any(fits) {
        adapters.extend(ranked_adapters(wgpu::Backends::SECONDARY));
    }
    if adapters.is_empty() {
        return Err(Error::Adapter(
            "no GPU adapter with compute shaders found: install a Vulkan, Metal or DX12 driver \
             (on Linux without a GPU: apt-get install mesa-vulkan-drivers)"
                .into(),
        ));
    }
    match adapters.iter().find(|a| fits(a)) {
        Some(a) => Ok(a.clone()),
        None => {
            let names: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
            Err(Error::Adapter(format!(
                "no adapter name contains {:?}; adapters: {}",
                wanted.unwrap_or_default(),
                names.join("; ")
            )))
        }
    }
}

/// One-line description: name (backend, device type).
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.backend, info.device_type)
}
