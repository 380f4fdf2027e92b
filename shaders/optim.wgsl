// Optimiser updates, in place. All four tensors of a chunk start at the same element, so they
// share one shift `off`; when it is a multiple of 4 (units_ok), the len / 4 vec4s are updated
// VEC4S per invocation, invocation i < stride = ceil(len / 4 / VEC4S) taking vec4s i, i + stride,
// .. (so neighbouring lanes touch neighbouring vec4s), and the next len % 4 invocations one
// element each; else one invocation per element. Grid = ceil(invocations / WG), folded. The same
// per-lane arithmetic serves both, so results do not depend on the path. Four vec4s per
// invocation instead of one take lavapipe's SGD from 38 to 30 ms on 16 M parameters
// (PERFORMANCE.md 29). The vec4 path reads through load_weight4 .. load_moment2_4, from the
// buffers (optim_operands_buffers.wgsl) or from texture copies (optim_operands_textures.wgsl,
// whose stacked operands are `region` texels apart); it always stores into the buffers.
// optim_operands_words.wgsl adds sgd_words and adam_words, which take the same steps over units
// of eight floats (two vec4s, loaded as one vec4<u64>) where the shift is a multiple of 8.
//   sgd:  PyTorch's SGD (dampening 0, no Nesterov): d = g + weight_decay * w; with momentum,
//         v = d on the first step and v = momentum * v + d after, and d = v; then w -= lr * d.
//   adam: PyTorch's Adam (L2 weight decay added to the gradient, not AdamW):
//         g' = g + weight_decay * w; m = beta1 * m + (1 - beta1) * g'; v = beta2 * v + (1 - beta2) * g'^2;
//         w -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps), bias_i = 1 - beta_i^step.

override WG: u32 = 64;
// Vec4s an invocation updates: set by every launch from ops::optim's VEC4S, so the grid and the
// kernel agree.
override VEC4S: u32;

struct SgdParams {
    len: u32, off: u32, first_step: u32, units_ok: u32, lr: f32, momentum: f32,
    weight_decay: f32, region: u32,
}

struct AdamParams {
    len: u32, off: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32,
    bias1: f32, sqrt_bias2: f32, units_ok: u32, region: u32, _pad2: f32,
}

@group(0) @binding(0) var<uniform> sgd_params: SgdParams;
@group(0) @binding(0) var<uniform> adam_params: AdamParams;
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment2: array<f32>;
@group(0) @binding(5) var<storage, read_write> weight4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> moment1_4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> moment2_4: array<vec4<f32>>;

// An invocation's work: with is_unit, the units (vec4s or words of `width` floats) first,
// first + stride, .. below end (indices in the bound arrays, off included), `units_each` of them
// at most (VEC4S vec4s' worth of floats either way); else the element `first`, if valid (not past
// the tensor's end). ops::optim's `invocations` gives the grid this expects for each width.
struct Slot {
    first: u32,
    stride: u32,
    end: u32,
    is_unit: bool,
    valid: bool,
}

fn slot(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, len: u32, off: u32, units_ok: u32,
        width: u32) -> Slot {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    let units = select(0u, len / width, units_ok == 1u);
    let units_each = 4u * VEC4S / width;
    let stride = (units + units_each - 1u) / units_each;
    if (i < stride) {
        return Slot(off / width + i, stride, off / width + units, true, true);
    }
    let element = width * units + i - stride;
    return Slot(off + element, 0u, 0u, false, element < len);
}

struct Moments {
    weight: vec4<f32>,
    m: vec4<f32>,
    v: vec4<f32>,
}

// SGD on four lanes; returns the new weight and velocity (in m).
fn sgd_update(w: vec4<f32>, g: vec4<f32>, velocity: vec4<f32>) -> Moments {
    var d = g + sgd_params.weight_decay * w;
    var m = velocity;
    if (sgd_params.momentum != 0.0) {
        if (sgd_params.first_step == 1u) {
            m = d;
        } else {
            m = sgd_params.momentum * velocity + d;
        }
        d = m;
    }
    return Moments(w - sgd_params.lr * d, m, vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = slot(wid, nwg, lid, sgd_params.len, sgd_params.off, sgd_params.units_ok, 4u);
    if (at.is_unit) {
        for (var k = 0u; k < VEC4S; k++) {
            let i = at.first + k * at.stride;
            if (i < at.end) {
                let region = sgd_params.region;
                let r = sgd_update(load_weight4(i, region), load_grad4(i, region),
                                   load_moment1_4(i, region));
                if (sgd_params.momentum != 0.0) {
                    moment1_4[i] = r.m;
                }
                weight4[i] = r.weight;
            }
        }
        return;
    }
    if (at.valid) {
        sgd_element(at.first);
    }
}

// SGD on element i, where the vec4s or words do not reach.
fn sgd_element(i: u32) {
    let r = sgd_update(vec4<f32>(weight[i]), vec4<f32>(grad[i]), vec4<f32>(moment1[i]));
    if (sgd_params.momentum != 0.0) {
        moment1[i] = r.m.x;
    }
    weight[i] = r.weight.x;
}

// Adam on four lanes.
fn adam_update(w: vec4<f32>, grad_: vec4<f32>, m_old: vec4<f32>, v_old: vec4<f32>) -> Moments {
    let g = grad_ + adam_params.weight_decay * w;
    let m = adam_params.beta1 * m_old + (1.0 - adam_params.beta1) * g;
    let v = adam_params.beta2 * v_old + (1.0 - adam_params.beta2) * g * g;
    let denom = sqrt(v) / adam_params.sqrt_bias2 + adam_params.eps;
    return Moments(w - (adam_params.lr / adam_params.bias1) * m / denom, m, v);
}

@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = slot(wid, nwg, lid, adam_params.len, adam_params.off, adam_params.units_ok, 4u);
    if (at.is_unit) {
        for (var k = 0u; k < VEC4S; k++) {
            let i = at.first + k * at.stride;
            if (i < at.end) {
                let region = adam_params.region;
                let r = adam_update(load_weight4(i, region), load_grad4(i, region),
                                    load_moment1_4(i, region), load_moment2_4(i, region));
                moment1_4[i] = r.m;
                moment2_4[i] = r.v;
                weight4[i] = r.weight;
            }
        }
        return;
    }
    if (at.valid) {
        adam_element(at.first);
    }
}

// Adam on element i, where the vec4s or words do not reach.
fn adam_element(i: u32) {
    let r = adam_update(vec4<f32>(weight[i]), vec4<f32>(grad[i]), vec4<f32>(moment1[i]),
                        vec4<f32>(moment2[i]));
    moment1[i] = r.m.x;
    moment2[i] = r.v.x;
    weight[i] = r.weight.x;
}
