//! `wgnn info`: every adapter with the limits wgnn plans within, and the one it would use.

use std::process::ExitCode;

use wgnn::Result;
use wgnn::gpu;

pub fn run(wanted: Option<&str>) -> Result<ExitCode> {
    let forced_family = gpu::KernelFamily::from_env()?;
    let forced_block = gpu::ProductBlock::overridden(None)?;
    let forced_operands = gpu::ProductOperands::overridden(None)?;
    let forced_loads = gpu::UpdateLoads::overridden(None)?;
    let adapters = gpu::ranked_adapters(wgpu::Backends::all());
    if adapters.is_empty() {
        println!("no adapters with compute shaders");
    }
    for (i, adapter) in adapters.iter().enumerate() {
        let a = adapter.get_info();
        let l = adapter.limits();
        let timestamps = adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY);
        println!("[{i}] {}", a.name);
        println!(
            "    backend {:?}, type {:?}, driver {} {}",
            a.backend, a.device_type, a.driver, a.driver_info
        );
        let subgroups = adapter.features().contains(wgpu::Features::SUBGROUP);
        let mut tuning = gpu::Tuning::for_device(&a, &l, adapter.features());
        tuning.family = forced_family.unwrap_or(tuning.family);
        tuning.product_block = forced_block.unwrap_or(tuning.product_block);
        tuning.product_operands = forced_operands.unwrap_or(tuning.product_operands);
        // Words where the adapter has 64-bit integers (opening a device without them says so).
        let int64 = adapter.features().contains(wgpu::Features::SHADER_INT64);
        if let Some(loads) = forced_loads.filter(|&l| int64 || l == gpu::UpdateLoads::Vec4s) {
            tuning.update_loads = loads;
        }
        let rows: [(&str, String); 11] = [
            ("max buffer size", format!("{} bytes", l.max_buffer_size)),
            (
                "max storage binding size",
                format!("{} bytes", l.max_storage_buffer_binding_size),
            ),
            (
                "storage binding offset alignment",
                format!("{} bytes", l.min_storage_buffer_offset_alignment),
            ),
            (
                "max workgroups per dimension",
                l.max_compute_workgroups_per_dimension.to_string(),
            ),
            (
                "max invocations per workgroup",
                l.max_compute_invocations_per_workgroup.to_string(),
            ),
            (
                "workgroup memory",
                format!("{} bytes", l.max_compute_workgroup_storage_size),
            ),
            (
                "storage buffers per stage",
                l.max_storage_buffers_per_shader_stage.to_string(),
            ),
            (
                "subgroup sizes",
                format!("{}..{}", a.subgroup_min_size, a.subgroup_max_size),
            ),
            (
                "subgroup operations",
                if subgroups { "yes" } else { "no" }.to_owned(),
            ),
            (
                "timestamp queries",
                if timestamps { "yes" } else { "no" }.to_owned(),
            ),
            (
                "wgnn kernels",
                format!(
                    "{} (override: {}, {}, {}, {}, {})",
                    tuning,
                    gpu::KERNELS_ENV,
                    gpu::WORKGROUP_SIZE_ENV,
                    gpu::PRODUCT_BLOCK_ENV,
                    gpu::PRODUCT_OPERANDS_ENV,
                    gpu::UPDATE_LOADS_ENV
                ),
            ),
        ];
        for (name, value) in rows {
            println!("    {name:<32} {value}");
        }
    }
    let chosen = gpu::choose_adapter(wanted, None)?;
    println!("wgnn uses: {}", gpu::describe(&chosen.get_info()));
    Ok(ExitCode::SUCCESS)
}
