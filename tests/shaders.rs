//! Every WGSL file parses and validates with naga, without a GPU, and agrees with the Rust side of
//! its interface (`wgnn::ops::interfaces`): uniform structs and named binding slots. Every entry
//! point, with each combination of the override values wgnn launches it with, also translates to
//! what wgpu hands the drivers on Vulkan (SPIR-V), Metal (MSL), DX12 (HLSL) and GL (GLSL), with the
//! options wgpu's backends use: the GPU tests build the kernels for one platform only, and a
//! backend can reject what another accepts.

use std::collections::{BTreeMap, BTreeSet};

use naga::back::{glsl, hlsl, msl, spv};
use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
use wgnn::gpu::{Shader, Tile, Tuning, WorkgroupSum, shader_source, shader_source_with};
use wgnn::ops::{Interface, interfaces};

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
    // batch_norm.wgsl, batched_matmul.wgsl, conv_weight_grad.wgsl and winograd4x4.wgsl are
    // compiled twice, with each place for their operands.
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

/// Translates the module of one entry point (overrides resolved, so it holds that entry point
/// only) for one backend; `Err` is the backend's complaint.
/// A backend's translation; the flag says the device has subgroup operations (wgpu's SUBGROUP
/// feature), which wgnn's reductions then use.
type Translate = fn(&naga::Module, &naga::valid::ModuleInfo, bool) -> Result<(), String>;

/// wgnn's kernels keep buffer bounds checks (`ShaderRuntimeChecks` in src/gpu/pipeline.rs): what
/// wgpu's Vulkan backend asks for without robustBufferAccess2, and its Metal backend always.
const RESTRICT: BoundsCheckPolicies = BoundsCheckPolicies {
    index: BoundsCheckPolicy::Restrict,
    buffer: BoundsCheckPolicy::Restrict,
    image_load: BoundsCheckPolicy::Restrict,
    binding_array: BoundsCheckPolicy::Unchecked,
};

/// The single entry point of an overrides-resolved module, as (stage, name).
fn entry(module: &naga::Module) -> (naga::ShaderStage, String) {
    let [ep] = &module.entry_points[..] else {
        panic!(
            "process_overrides kept {} entry points",
            module.entry_points.len()
        );
    };
    (ep.stage, ep.name.clone())
}

/// The resources of an overrides-resolved module (compacted to what its entry point uses, as the
/// layout wgpu derives for wgnn's pipelines, `layout: None`), each with the index the backend's
/// binding gets: numbered in binding order, as wgpu's Vulkan and Metal layouts number them (its GL
/// and DX12 layouts count each kind of resource separately; translation only needs each resource
/// to have its own).
fn resources(module: &naga::Module) -> Vec<(u32, naga::ResourceBinding, naga::AddressSpace)> {
    let mut resources: Vec<_> = module
        .global_variables
        .iter()
        .filter_map(|(_, var)| var.binding.map(|b| (b, var.space)))
        .collect();
    resources.sort_by_key(|&(b, _)| (b.group, b.binding));
    (0..)
        .zip(resources)
        .map(|(i, (b, space))| (i, b, space))
        .collect()
}

/// Vulkan: SPIR-V 1.0 (wgpu's target for Vulkan 1.0 devices) with wgpu's writer flags (not naga's
/// defaults, which add debug names in debug builds) and only the capabilities wgpu's Vulkan backend
/// always enables (wgnn asks for no shader features); no workgroup-memory zeroing, loop bounding or
/// division checks (wgnn turns them off).
fn vulkan(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    subgroups: bool,
) -> Result<(), String> {
    use spv::Capability as C;
    // With subgroups: SPIR-V 1.3 (Vulkan 1.1) and the capabilities wgpu adds for SUBGROUP.
    let subgroup_capabilities = [
        C::GroupNonUniform,
        C::GroupNonUniformVote,
        C::GroupNonUniformArithmetic,
        C::GroupNonUniformBallot,
        C::GroupNonUniformShuffle,
        C::GroupNonUniformShuffleRelative,
        C::GroupNonUniformQuad,
    ];
    let options = spv::Options {
        lang_version: if subgroups { (1, 3) } else { (1, 0) },
        flags: spv::WriterFlags::LABEL_VARYINGS | spv::WriterFlags::FORCE_POINT_SIZE,
        fake_missing_bindings: false,
        binding_map: resources(module)
            .into_iter()
            .map(|(index, binding, _)| {
                let info = spv::BindingInfo {
                    descriptor_set: binding.group,
                    binding: index,
                    binding_array_size: None,
                };
                (binding, info)
            })
            .collect(),
        capabilities: Some(
            [
                C::Shader,
                C::Matrix,
                C::Sampled1D,
                C::Image1D,
                C::ImageQuery,
                C::DerivativeControl,
                C::StorageImageExtendedFormats,
            ]
            .into_iter()
            .chain(
                subgroups
                    .then_some(subgroup_capabilities)
                    .into_iter()
                    .flatten(),
            )
            .collect(),
        ),
        bounds_check_policies: RESTRICT,
        zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::None,
        force_loop_bounding: false,
        emit_int_div_checks: false,
        ..spv::Options::default()
    };
    let (shader_stage, entry_point) = entry(module);
    let pipeline = spv::PipelineOptions {
        shader_stage,
        entry_point,
    };
    spv::write_vec(module, info, &options, Some(&pipeline))
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Metal: MSL 2.0 (macOS 10.13, the oldest wgpu's Metal backend targets), every buffer in a
/// buffer slot of its own and every texture in a texture slot, the array-length buffer after the
/// buffers, as wgpu's pipeline layouts place them.
fn metal(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    subgroups: bool,
) -> Result<(), String> {
    let resources = resources(module);
    let (mut buffers, mut textures) = (0u8, 0u8);
    let slots: msl::BindingMap = resources
        .iter()
        .map(|&(_, binding, space)| {
            let mutable = matches!(space, naga::AddressSpace::Storage { access }
                if access.contains(naga::StorageAccess::STORE));
            let target = if space == naga::AddressSpace::Handle {
                textures += 1;
                msl::BindTarget {
                    texture: Some(textures - 1),
                    ..msl::BindTarget::default()
                }
            } else {
                buffers += 1;
                msl::BindTarget {
                    buffer: Some(buffers - 1),
                    mutable,
                    ..msl::BindTarget::default()
                }
            };
            (binding, target)
        })
        .collect();
    let storage = resources
        .iter()
        .any(|(_, _, space)| matches!(space, naga::AddressSpace::Storage { .. }));
    let (stage, name) = entry(module);
    let options = msl::Options {
        // SIMD-group functions need MSL 2.1.
        lang_version: if subgroups { (2, 1) } else { (2, 0) },
        per_entry_point_map: BTreeMap::from([(
            name.clone(),
            msl::EntryPointResources {
                sizes_buffer: storage.then_some(buffers),
                resources: slots,
                immediates_buffer: None,
            },
        )]),
        fake_missing_bindings: false,
        bounds_check_policies: RESTRICT,
        zero_initialize_workgroup_memory: false,
        force_loop_bounding: false,
        emit_int_div_checks: false,
        ..msl::Options::default()
    };
    let pipeline = msl::PipelineOptions {
        entry_point: Some((stage, name)),
        ..msl::PipelineOptions::default()
    };
    let (_, translated) =
        msl::write_string(module, info, &options, &pipeline).map_err(|e| e.to_string())?;
    translated
        .entry_point_names
        .into_iter()
        .try_for_each(|name| name.map(drop).map_err(|e| e.to_string()))
}

/// DX12: shader model 5.1 (what wgpu compiles with FXC, its fallback where no DXC library is
/// installed), indexing restricted.
fn dx12(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    subgroups: bool,
) -> Result<(), String> {
    let options = hlsl::Options {
        // Wave operations need shader model 6.0 (DXC), where wgpu offers SUBGROUP.
        shader_model: if subgroups {
            hlsl::ShaderModel::V6_0
        } else {
            hlsl::ShaderModel::V5_1
        },
        binding_map: resources(module)
            .into_iter()
            .map(|(register, binding, _)| {
                let target = hlsl::BindTarget {
                    space: 0,
                    register,
                    binding_array_size: None,
                    dynamic_storage_buffer_offsets_index: None,
                    restrict_indexing: false,
                };
                (binding, target)
            })
            .collect(),
        fake_missing_bindings: false,
        zero_initialize_workgroup_memory: false,
        restrict_indexing: true,
        force_loop_bounding: false,
        ..hlsl::Options::default()
    };
    let pipeline = hlsl::PipelineOptions {
        entry_point: Some(entry(module)),
    };
    let mut source = String::new();
    let reflection = hlsl::Writer::new(&mut source, &options, &pipeline)
        .write(module, info, None)
        .map_err(|e| e.to_string())?;
    reflection
        .entry_point_names
        .into_iter()
        .try_for_each(|name| name.map(drop).map_err(|e| e.to_string()))
}

/// GL: GLSL ES 3.10, the oldest with compute shaders (wgpu's GL backend needs them for compute),
/// wgpu's writer flags, and no bounds checks (wgpu's GL backend asks for none on buffers).
fn gl(module: &naga::Module, info: &naga::valid::ModuleInfo, _: bool) -> Result<(), String> {
    let options = glsl::Options {
        version: glsl::Version::new_gles(310),
        writer_flags: glsl::WriterFlags::ADJUST_COORDINATE_SPACE
            | glsl::WriterFlags::FORCE_POINT_SIZE,
        binding_map: resources(module)
            .into_iter()
            .map(|(point, binding, _)| (binding, point as u8))
            .collect(),
        zero_initialize_workgroup_memory: false,
    };
    let (shader_stage, entry_point) = entry(module);
    let pipeline = glsl::PipelineOptions {
        shader_stage,
        entry_point,
        multiview: None,
    };
    let mut source = String::new();
    glsl::Writer::new(
        &mut source,
        module,
        info,
        &options,
        &pipeline,
        BoundsCheckPolicies::default(),
    )
    .and_then(|mut writer| writer.write())
    .map(drop)
    .map_err(|e| e.to_string())
}

/// The platforms wgpu translates WGSL for, each with its language, and whether wgpu offers
/// subgroup operations there (not on GL).
const BACKENDS: [(&str, Translate, bool); 4] = [
    ("Vulkan (SPIR-V)", vulkan, true),
    ("Metal (MSL)", metal, true),
    ("DX12 (HLSL)", dx12, true),
    ("GL (GLSL)", gl, false),
];

/// Each entry point with each combination of its file's override values (an entry point ignores
/// those it does not read), its overrides resolved as wgpu's backends resolve them
/// (`process_overrides`), translated for each backend. The module is validated with no optional
/// capabilities: wgnn opens devices without shader features.
#[test]
fn every_entry_point_translates_for_every_backend() {
    let mut failures = Vec::new();
    let mut translations = 0;
    for interface in interfaces() {
        for sum in [WorkgroupSum::Tree, WorkgroupSum::Subgroups] {
            let source = shader_source_with(interface.shader, sum);
            // Only the reducing files differ with subgroups.
            if sum == WorkgroupSum::Subgroups && source == shader_source(interface.shader) {
                continue;
            }
            translations += translate_file(&interface, sum, &source, &mut failures);
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures ({translations} translations tried):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Validates one file's `source` (with the SUBGROUP capability only for the subgroup reductions)
/// and translates each entry point with each combination of override values for each backend
/// that offers `sum`, pushing what fails; returns the translations tried.
fn translate_file(
    interface: &Interface,
    sum: WorkgroupSum,
    source: &str,
    failures: &mut Vec<String>,
) -> usize {
    let subgroups = sum == WorkgroupSum::Subgroups;
    let file = interface.shader.file_name();
    let module = naga::front::wgsl::parse_str(source).unwrap();
    let capabilities = if subgroups {
        naga::valid::Capabilities::SUBGROUP
    } else {
        naga::valid::Capabilities::empty()
    };
    let info = match naga::valid::Validator::new(naga::valid::ValidationFlags::all(), capabilities)
        .validate(&module)
    {
        Ok(info) => info,
        Err(e) => {
            failures.push(e.emit_to_string_with_path(source, file));
            return 0;
        }
    };
    let mut translations = 0;
    for constants in override_combinations(interface) {
        let pipeline_constants: naga::back::PipelineConstants = constants
            .iter()
            .map(|&(name, value)| (name.to_owned(), value))
            .collect();
        let shown: Vec<String> = constants.iter().map(|(n, v)| format!("{n}={v}")).collect();
        for ep in &module.entry_points {
            let at = format!("{file}::{} ({}; {sum:?})", ep.name, shown.join(", "));
            let resolved = naga::back::pipeline_constants::process_overrides(
                &module,
                &info,
                Some((ep.stage, &ep.name)),
                &pipeline_constants,
            );
            let (resolved, resolved_info) = match resolved {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{at}: overrides: {e}"));
                    continue;
                }
            };
            for (backend, translate, offers_subgroups) in BACKENDS {
                if subgroups && !offers_subgroups {
                    continue;
                }
                translations += 1;
                if let Err(e) = translate(&resolved, &resolved_info, subgroups) {
                    failures.push(format!("{at}: {backend}: {e}"));
                }
            }
        }
    }
    translations
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
