// Optimiser updates, in place. All four tensors of a chunk start at the same element, so they
// share one shift `off`; when it is a multiple of 4 (vec4_ok), invocation i < len / 4 updates
// elements 4i .. 4i + 3 as vec4s and the next len % 4 invocations one element each, else one
// invocation per element; grid = ceil(invocations / WG), folded. The same per-lane arithmetic
// serves both, so results do not depend on the path.
//   sgd:  PyTorch's SGD (dampening 0, no Nesterov): d = g + weight_decay * w; with momentum,
//         v = d on the first step and v = momentum * v + d after, and d = v; then w -= lr * d.
//   adam: PyTorch's Adam (L2 weight decay added to the gradient, not AdamW):
//         g' = g + weight_decay * w; m = beta1 * m + (1 - beta1) * g'; v = beta2 * v + (1 - beta2) * g'^2;
//         w -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps), bias_i = 1 - beta_i^step.

override WG: u32 = 64;

struct SgdParams {
    len: u32, off: u32, first_step: u32, vec4_ok: u32, lr: f32, momentum: f32,
    weight_decay: f32, _pad2: f32,
}

struct AdamParams {
    len: u32, off: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, weight_decay: f32,
    bias1: f32, sqrt_bias2: f32, vec4_ok: u32, _pad1: f32, _pad2: f32,
}

@group(0) @binding(0) var<uniform> sgd_params: SgdParams;
@group(0) @binding(0) var<uniform> adam_params: AdamParams;
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment2: array<f32>;
@group(0) @binding(5) var<storage, read_write> weight4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> grad4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> moment1_4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> moment2_4: array<vec4<f32>>;

// An invocation's work: the index i of its values in the bound arrays (off included), of a vec4
// (is_vec4) or of one element; valid is false past the tensor's end.
struct Slot {
    i: u32,
    is_vec4: bool,
    valid: bool,
}

fn slot(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, len: u32, off: u32, vec4_ok: u32) -> Slot {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    let vec4s = select(0u, len / 4u, vec4_ok == 1u);
    if (i < vec4s) {
        return Slot(off / 4u + i, true, true);
    }
    let element = 3u * vec4s + i;
    return Slot(off + element, false, element < len);
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
    let at = slot(wid, nwg, lid, sgd_params.len, sgd_params.off, sgd_params.vec4_ok);
    if (at.is_vec4) {
        let r = sgd_update(weight4[at.i], grad4[at.i], moment1_4[at.i]);
        if (sgd_params.momentum != 0.0) {
            moment1_4[at.i] = r.m;
        }
        weight4[at.i] = r.weight;
        return;
    }
    if (!at.valid) { return; }
    let r = sgd_update(vec4<f32>(weight[at.i]), vec4<f32>(grad[at.i]), vec4<f32>(moment1[at.i]));
    if (sgd_params.momentum != 0.0) {
        moment1[at.i] = r.m.x;
    }
    weight[at.i] = r.weight.x;
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
    let at = slot(wid, nwg, lid, adam_params.len, adam_params.off, adam_params.vec4_ok);
    if (at.is_vec4) {
        let r = adam_update(weight4[at.i], grad4[at.i], moment1_4[at.i], moment2_4[at.i]);
        moment1_4[at.i] = r.m;
        moment2_4[at.i] = r.v;
        weight4[at.i] = r.weight;
        return;
    }
    if (!at.valid) { return; }
    let r = adam_update(vec4<f32>(weight[at.i]), vec4<f32>(grad[at.i]), vec4<f32>(moment1[at.i]),
                        vec4<f32>(moment2[at.i]));
    moment1[at.i] = r.m.x;
    moment2[at.i] = r.v.x;
    weight[at.i] = r.weight.x;
}
