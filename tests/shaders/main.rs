//! Every WGSL file parses and validates with naga, without a GPU, and agrees with the Rust side of
//! its interface (`wgnn::ops::interfaces`): uniform structs and named binding slots. Every entry
//! point, with each combination of the override values wgnn launches it with, also translates to
//! what wgpu hands the drivers on Vulkan (SPIR-V), Metal (MSL), DX12 (HLSL) and GL (GLSL), with the
//! options wgpu's backends use: the GPU tests build the kernels for one platform only, and a
//! backend can reject what another accepts.

use std::collections::{BTreeMap, BTreeSet};

use wgnn::gpu::{Shader, Tile, Tuning, shader_source};
use wgnn::ops::{Interface, interfaces};

mod translate;

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
        .filter(|n| {
            n.ends_with(".wgsl")
                && ![
                    "common.wgsl",
                    "conv_common.wgsl",
                    "winograd_common.wgsl",
                    "batch_norm_operands_buffers.wgsl",
                    "batch_norm_operands_textures.wgsl",
                    "batched_operands_buffers.wgsl",
                    "batched_operands_textures.wgsl",
                    "conv_weight_grad_buffers.wgsl",
                    "conv_weight_grad_textures.wgsl",
                    "optim_operands_buffers.wgsl",
                    "optim_operands_textures.wgsl",
                    "optim_operands_words.wgsl",
                    "winograd_operands_buffers.wgsl",
                    "winograd_operands_textures.wgsl",
                    "workgroup_sum.wgsl",
                    "workgroup_sum_subgroup.wgsl",
                ]
                .contains(&n.as_str())
        })
        .collect();
    on_disk.sort();
    let mut registered: Vec<String> = Shader::ALL
        .iter()
        .map(|s| s.file_name().to_owned())
        .collect();
    registered.sort();
    // batch_norm.wgsl, batched_matmul.wgsl, conv_weight_grad.wgsl, optim.wgsl and
    // winograd4x4.wgsl are compiled more than once, with each way of reading their operands.
    registered.dedup();
    assert_eq!(on_disk, registered, "a shader file is not in Shader::ALL");
}

/// WebGPU guarantees 8 storage buffers per shader stage; some GPUs offer no more. Every entry point
/// stays within that, counting the buffers it or the functions it calls touch.
#[test]
fn every_entry_point_binds_at_most_eight_storage_buffers() {
    let mut over = Vec::new();
    for shader in Shader::ALL {
        let (module, info) = parsed(shader);
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

fn parsed(shader: Shader) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(&shader_source(shader)).unwrap();
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .unwrap();
    (module, info)
}

/// A WGSL type as the Rust layouts name it: the 4-byte scalars by their WGSL names, anything else
/// spelled out (and so never equal to a Rust field's type).
fn type_name(module: &naga::Module, ty: naga::Handle<naga::Type>) -> String {
    use naga::ScalarKind::{Float, Sint, Uint};
    match module.types[ty].inner {
        naga::TypeInner::Scalar(naga::Scalar { kind, width: 4 }) => match kind {
            Uint => "u32".to_owned(),
            Sint => "i32".to_owned(),
            Float => "f32".to_owned(),
            other => format!("{other:?}"),
        },
        ref other => format!("{other:?}"),
    }
}

/// (name, type, offset) of each field, and the size: what both sides must agree on.
type Layout = (Vec<(String, String, usize)>, usize);

fn rust_layouts(interface: &Interface) -> BTreeMap<&'static str, Layout> {
    interface
        .params
        .iter()
        .map(|p| {
            let fields = p
                .fields
                .iter()
                .map(|f| (f.name.to_owned(), f.ty.to_owned(), f.offset))
                .collect();
            (p.name, (fields, p.size))
        })
        .collect()
}

/// Runs `check` on every interface with its parsed shader, and fails listing every problem it
/// reports.
fn assert_every_interface(
    check: impl Fn(&Interface, &naga::Module, &naga::valid::ModuleInfo) -> Vec<String>,
) {
    let mut failures = Vec::new();
    for interface in interfaces() {
        let (module, info) = parsed(interface.shader);
        failures.extend(check(&interface, &module, &info));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_shader_file_has_an_interface() {
    let shaders: Vec<Shader> = interfaces().iter().map(|i| i.shader).collect();
    assert_eq!(shaders, Shader::ALL);
}

/// Every uniform struct an entry point binds sits at group 0, binding 0 and has exactly the
/// fields, types, offsets and size of its Rust twin; every Rust twin is bound by some entry point.
#[test]
fn every_uniform_struct_matches_its_rust_twin() {
    assert_every_interface(|interface, module, info| {
        let file = interface.shader.file_name();
        let rust = rust_layouts(interface);
        let mut failures = Vec::new();
        let mut bound = BTreeMap::new();
        for (i, entry) in module.entry_points.iter().enumerate() {
            let uses = info.get_entry_point(i);
            for (handle, var) in module.global_variables.iter() {
                if var.space != naga::AddressSpace::Uniform || uses[handle].is_empty() {
                    continue;
                }
                let at = var.binding.as_ref().map(|b| (b.group, b.binding));
                if at != Some((0, 0)) {
                    failures.push(format!("{file}::{}: a uniform at {at:?}", entry.name));
                }
                let ty = &module.types[var.ty];
                let name = ty.name.clone().unwrap_or_default();
                let naga::TypeInner::Struct { members, span } = &ty.inner else {
                    failures.push(format!(
                        "{file}::{}: uniform {name} is no struct",
                        entry.name
                    ));
                    continue;
                };
                let fields = members
                    .iter()
                    .map(|m| {
                        let field = m.name.clone().unwrap_or_default();
                        (field, type_name(module, m.ty), m.offset as usize)
                    })
                    .collect();
                bound.insert(name, (fields, *span as usize));
            }
        }
        for (name, wgsl) in &bound {
            match rust.get(name.as_str()) {
                None => failures.push(format!("{file}: struct {name} has no Rust twin")),
                Some(twin) if twin != wgsl => failures.push(format!(
                    "{file}: struct {name} differs from its Rust twin\n  WGSL: {wgsl:?}\n  Rust: {twin:?}"
                )),
                Some(_) => {}
            }
        }
        for name in rust.keys() {
            if !bound.contains_key(*name) {
                failures.push(format!("{file}: no entry point binds the Rust {name}"));
            }
        }
        failures
    });
}

/// Each named slot is the binding of the WGSL storage buffer of that name, and every storage
/// buffer of a file has a named slot.
#[test]
fn every_named_slot_is_its_wgsl_binding() {
    assert_every_interface(|interface, module, _| {
        let file = interface.shader.file_name();
        let wgsl: BTreeMap<String, Option<(u32, u32)>> = module
            .global_variables
            .iter()
            .filter(|(_, var)| matches!(var.space, naga::AddressSpace::Storage { .. }))
            .map(|(_, var)| {
                let name = var.name.clone().unwrap_or_default();
                (name, var.binding.as_ref().map(|b| (b.group, b.binding)))
            })
            .collect();
        let rust: BTreeMap<String, Option<(u32, u32)>> = interface
            .slots
            .iter()
            .map(|s| (s.name.to_owned(), Some((0, s.binding))))
            .collect();
        if rust == wgsl {
            return Vec::new();
        }
        vec![format!(
            "{file}: named slots differ from the WGSL bindings\n  WGSL: {wgsl:?}\n  Rust: {rust:?}"
        )]
    });
}

/// Override values of one launch, as wgnn passes them to wgpu.
type Constants = Vec<(&'static str, f64)>;

/// The launch-shape overrides' values: tiled.wgsl's tile (`TX`, `TY`, `TK`) is one of the GPU
/// family's tiles, every other file's workgroup size (`WG`) one of the register-block family's.
fn launch_shapes(shader: Shader) -> Vec<Constants> {
    if shader == Shader::Tiled {
        Tile::PREFERRED
            .iter()
            .map(|t| {
                vec![
                    ("TX", f64::from(t.tx)),
                    ("TY", f64::from(t.ty)),
                    ("TK", f64::from(t.tk)),
                ]
            })
            .collect()
    } else {
        Tuning::WORKGROUP_SIZES
            .iter()
            .map(|&wg| vec![("WG", f64::from(wg))])
            .collect()
    }
}

/// Every combination of a launch shape and the values launches give the file's own overrides.
fn override_combinations(interface: &Interface) -> Vec<Constants> {
    let mut combinations = launch_shapes(interface.shader);
    for &(name, values) in interface.overrides {
        combinations = combinations
            .iter()
            .flat_map(|c| {
                values.iter().map(move |&v| {
                    let mut c = c.clone();
                    c.push((name, v));
                    c
                })
            })
            .collect();
    }
    combinations
}

/// Every override a file declares is one launches set (the launch shape's or one its interface
/// lists), so the translation test below tries its values: a new override must be listed.
#[test]
fn every_override_is_set_by_launches() {
    assert_every_interface(|interface, module, _| {
        // Unnamed overrides are naga's for array sizes computed from overrides (tiled.wgsl's
        // `TK * TY`): no pipeline sets them.
        let declared: BTreeSet<&str> = module
            .overrides
            .iter()
            .filter_map(|(_, o)| o.name.as_deref())
            .collect();
        let set: BTreeSet<&str> = launch_shapes(interface.shader)[0]
            .iter()
            .map(|&(name, _)| name)
            .chain(interface.overrides.iter().map(|&(name, _)| name))
            .collect();
        if declared == set {
            return Vec::new();
        }
        vec![format!(
            "{}: the overrides declared differ from those launches set\n  WGSL: {declared:?}\n  \
             launches: {set:?}",
            interface.shader.file_name()
        )]
    });
}

/// The texture preludes find vec4 i of a binding where `Gpu::with_texture_copies`,
/// `Gpu::with_texture_copy` and `Gpu::with_textures`' users put it: rows of the same width on both sides.
#[test]
fn operand_textures_have_rows_as_wide_as_the_shaders_read() {
    for shader in [
        Shader::BatchedMatmulTextures,
        Shader::ConvWeightGradTextures,
        Shader::Winograd4x4Textures,
        Shader::BatchNormTextures,
    ] {
        let (module, _) = parsed(shader);
        let (_, constant) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some("TEXELS_PER_ROW"))
            .unwrap_or_else(|| panic!("{shader:?}'s texture prelude declares TEXELS_PER_ROW"));
        let value = match module.global_expressions[constant.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => v,
            ref other => panic!("{shader:?}'s TEXELS_PER_ROW is {other:?}"),
        };
        assert_eq!(value, wgnn::gpu::TEXELS_PER_ROW, "{shader:?}");
    }
}
