//! Every entry point, with each combination of the override values wgnn launches it with,
//! translated for each backend wgpu has, with that backend's options.

use std::collections::BTreeMap;

use naga::back::{glsl, hlsl, msl, spv};
use naga::proc::{BoundsCheckPolicies, BoundsCheckPolicy};
use wgnn::gpu::{WorkgroupSum, shader_source, shader_source_with};
use wgnn::ops::{Interface, interfaces};

use super::override_combinations;

/// What a translation may assume the device has: subgroup operations (wgpu's SUBGROUP feature),
/// which wgnn's reductions then use, and 64-bit integers (SHADER_INT64), which the optimisers'
/// updates by words need.
#[derive(Clone, Copy)]
struct Offered {
    subgroups: bool,
    int64: bool,
}

/// A backend's translation.
type Translate = fn(&naga::Module, &naga::valid::ModuleInfo, Offered) -> Result<(), String>;

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
/// always enables, plus those of the features a file needs; no workgroup-memory zeroing, loop bounding or
/// division checks (wgnn turns them off).
fn vulkan(
    module: &naga::Module,
    info: &naga::valid::ModuleInfo,
    offered: Offered,
) -> Result<(), String> {
    let subgroups = offered.subgroups;
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
            // What wgpu adds for SHADER_INT64.
            .chain(offered.int64.then_some(C::Int64))
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
    offered: Offered,
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
        // SIMD-group functions need MSL 2.1, 64-bit integers 2.3 (wgpu offers SHADER_INT64 there).
        lang_version: if offered.int64 {
            (2, 3)
        } else if offered.subgroups {
            (2, 1)
        } else {
            (2, 0)
        },
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
    offered: Offered,
) -> Result<(), String> {
    let options = hlsl::Options {
        // Wave operations and 64-bit integers need shader model 6.0 (DXC), where wgpu offers
        // SUBGROUP and SHADER_INT64.
        shader_model: if offered.subgroups || offered.int64 {
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
fn gl(module: &naga::Module, info: &naga::valid::ModuleInfo, _: Offered) -> Result<(), String> {
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
/// subgroup operations and 64-bit integers there (neither on GL).
const BACKENDS: [(&str, Translate, bool, bool); 4] = [
    ("Vulkan (SPIR-V)", vulkan, true, true),
    ("Metal (MSL)", metal, true, true),
    ("DX12 (HLSL)", dx12, true, true),
    ("GL (GLSL)", gl, false, false),
];

/// Each entry point with each combination of its file's override values (an entry point ignores
/// those it does not read), its overrides resolved as wgpu's backends resolve them
/// (`process_overrides`), translated for each backend. The module is validated with no optional
/// capabilities but the ones its file needs (subgroups for the subgroup reductions, 64-bit
/// integers for the updates by words), which wgnn only compiles where the device has them.
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

/// Validates one file's `source` (with the SUBGROUP capability only for the subgroup reductions,
/// SHADER_INT64 only for the files that need it)
/// and translates each entry point with each combination of override values for each backend
/// that offers `sum`, pushing what fails; returns the translations tried.
fn translate_file(
    interface: &Interface,
    sum: WorkgroupSum,
    source: &str,
    failures: &mut Vec<String>,
) -> usize {
    let offered = Offered {
        subgroups: sum == WorkgroupSum::Subgroups,
        int64: interface.shader.needs_int64(),
    };
    let file = interface.shader.file_name();
    let module = naga::front::wgsl::parse_str(source).unwrap();
    let mut capabilities = naga::valid::Capabilities::empty();
    capabilities.set(naga::valid::Capabilities::SUBGROUP, offered.subgroups);
    capabilities.set(naga::valid::Capabilities::SHADER_INT64, offered.int64);
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
            for (backend, translate, offers_subgroups, offers_int64) in BACKENDS {
                if (offered.subgroups && !offers_subgroups) || (offered.int64 && !offers_int64) {
                    continue;
                }
                translations += 1;
                if let Err(e) = translate(&resolved, &resolved_info, offered) {
                    failures.push(format!("{at}: {backend}: {e}"));
                }
            }
        }
    }
    translations
}
