//! Every WGSL file parses and validates with naga, without a GPU.

use wgnn::gpu::{Shader, shader_source};

#[test]
fn every_shader_file_validates() {
    let mut failures = Vec::new();
    for shader in Shader::ALL {
        let source = shader_source(shader);
        let module = match naga::front::wgsl::parse_str(&source) {
            Ok(m) => m,
            Err(e) => {
                failures.push(e.emit_to_string_with_path(&source, shader.file_name()));
                continue;
            }
        };
        let mut validator = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        );
        if let Err(e) = validator.validate(&module) {
            failures.push(e.emit_to_string_with_path(&source, shader.file_name()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shader_file_is_registered() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".wgsl") && n != "common.wgsl")
        .collect();
    on_disk.sort();
    let mut registered: Vec<String> = Shader::ALL
        .iter()
        .map(|s| s.file_name().to_owned())
        .collect();
    registered.sort();
    assert_eq!(on_disk, registered, "a shader file is not in Shader::ALL");
}

/// WebGPU guarantees 8 storage buffers per shader stage; some GPUs offer no more. Every entry point
/// stays within that, counting the buffers it or the functions it calls touch.
#[test]
fn every_entry_point_binds_at_most_eight_storage_buffers() {
    let mut over = Vec::new();
    for shader in Shader::ALL {
        let module = naga::front::wgsl::parse_str(&shader_source(shader)).unwrap();
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap();
        for (i, entry) in module.entry_points.iter().enumerate() {
            let uses = info.get_entry_point(i);
            let storage = module
                .global_variables
                .iter()
                .filter(|(handle, var)| {
                    matches!(var.space, naga::AddressSpace::Storage { .. })
                        && !uses[*handle].is_empty()
                })
                .count();
            if storage > 8 {
                over.push(format!(
                    "{}::{} uses {storage}",
                    shader.file_name(),
                    entry.name
                ));
            }
        }
    }
    assert!(over.is_empty(), "{}", over.join("\n"));
}
