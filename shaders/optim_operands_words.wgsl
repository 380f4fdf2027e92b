// Prepended to optim.wgsl (after optim_operands_buffers.wgsl) where the device has 64-bit integers
// (wgpu's SHADER_INT64) and loads them cheaper per float than vec4<f32>s (ops::optim's
// `UpdateLoads::Words`). sgd_words and adam_words are optim.wgsl's sgd and adam over units of
// eight floats: vec4<u64> word i of a binding holds floats 8i .. 8i + 7, the even ones in the low
// halves (`low`), the odd ones in the high halves (`high`), so one load or store moves eight floats
// where a vec4<f32> moves four. lavapipe loads and stores a storage buffer in a loop over the lanes
// with a bounds check per component, so halving the components halves that work: on an AVX-512
// host its SGD and Adam ran 1.35x faster this way on 16 M parameters (PERFORMANCE.md 54). The
// arithmetic is sgd_update / adam_update on each half, the bits are moved unchanged, so results
// are those of the vec4 path. Layout and grid: optim.wgsl's `slot` with width 8 (the shift `off`
// a multiple of 8: `units_ok`), VEC4S / 2 words an invocation, the len % 8 elements past the
// words one each.

@group(0) @binding(11) var<storage, read_write> weight8: array<vec4<u64>>;
@group(0) @binding(12) var<storage, read> grad8: array<vec4<u64>>;
@group(0) @binding(13) var<storage, read_write> moment1_8: array<vec4<u64>>;
@group(0) @binding(14) var<storage, read_write> moment2_8: array<vec4<u64>>;

fn low(word: vec4<u64>) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(word & vec4<u64>(0xfffffffflu)));
}

fn high(word: vec4<u64>) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(word >> vec4<u32>(32u)));
}

fn word_of(low_half: vec4<f32>, high_half: vec4<f32>) -> vec4<u64> {
    return vec4<u64>(bitcast<vec4<u32>>(low_half))
        | (vec4<u64>(bitcast<vec4<u32>>(high_half)) << vec4<u32>(32u));
}

@compute @workgroup_size(WG)
fn sgd_words(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = slot(wid, nwg, lid, sgd_params.len, sgd_params.off, sgd_params.units_ok, 8u);
    if (at.is_unit) {
        for (var k = 0u; k < VEC4S / 2u; k++) {
            let i = at.first + k * at.stride;
            if (i < at.end) {
                let w = weight8[i];
                let g = grad8[i];
                let v = moment1_8[i];
                let a = sgd_update(low(w), low(g), low(v));
                let b = sgd_update(high(w), high(g), high(v));
                if (sgd_params.momentum != 0.0) {
                    moment1_8[i] = word_of(a.m, b.m);
                }
                weight8[i] = word_of(a.weight, b.weight);
            }
        }
        return;
    }
    if (at.valid) {
        sgd_element(at.first);
    }
}

@compute @workgroup_size(WG)
fn adam_words(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = slot(wid, nwg, lid, adam_params.len, adam_params.off, adam_params.units_ok, 8u);
    if (at.is_unit) {
        for (var k = 0u; k < VEC4S / 2u; k++) {
            let i = at.first + k * at.stride;
            if (i < at.end) {
                let w = weight8[i];
                let g = grad8[i];
                let m = moment1_8[i];
                let v = moment2_8[i];
                let a = adam_update(low(w), low(g), low(m), low(v));
                let b = adam_update(high(w), high(g), high(m), high(v));
                moment1_8[i] = word_of(a.m, b.m);
                moment2_8[i] = word_of(a.v, b.v);
                weight8[i] = word_of(a.weight, b.weight);
            }
        }
        return;
    }
    if (at.valid) {
        adam_element(at.first);
    }
}
