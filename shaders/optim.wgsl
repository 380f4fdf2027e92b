// Optimiser updates, in place, one invocation per parameter element; grid = ceil(len / WG), folded.
// All four tensors of a chunk start at the same element, so they share one shift `off`.
//   sgd:  PyTorch's SGD (dampening 0, no Nesterov): d = g + weight_decay * w; with momentum,
//         v = d on the first step and v = momentum * v + d after, and d = v; then w -= lr * d.
//   adam: PyTorch's Adam (L2 weight decay added to the gradient, not AdamW):
//         g' = g + weight_decay * w; m = beta1 * m + (1 - beta1) * g'; v = beta2 * v + (1 - beta2) * g'^2;
//         w -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps), bias_i = 1 - beta_i^step.

override WG: u32 = 64;

struct SgdParams {
    len: u32,
    off: u32,
    first_step: u32,
    _pad: u32,
    lr: f32,
    momentum: f32,
    weight_decay: f32,
    _pad2: f32,
}

struct AdamParams {
    len: u32,
    off: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bias1: f32,
    sqrt_bias2: f32,
    _pad0: f32,
    _pad1: f32,
    _pad2: f32,
}

@group(0) @binding(0) var<uniform> sgd_params: SgdParams;
@group(0) @binding(0) var<uniform> adam_params: AdamParams;
@group(0) @binding(1) var<storage, read_write> weight: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> moment1: array<f32>;
@group(0) @binding(4) var<storage, read_write> moment2: array<f32>;

@compute @workgroup_size(WG)
fn sgd(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= sgd_params.len) { return; }
    let j = sgd_params.off + i;
    var d = grad[j] + sgd_params.weight_decay * weight[j];
    if (sgd_params.momentum != 0.0) {
        if (sgd_params.first_step == 1u) {
            moment1[j] = d;
        } else {
            moment1[j] = sgd_params.momentum * moment1[j] + d;
        }
        d = moment1[j];
    }
    weight[j] -= sgd_params.lr * d;
}

@compute @workgroup_size(WG)
fn adam(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= adam_params.len) { return; }
    let j = adam_params.off + i;
    let g = grad[j] + adam_params.weight_decay * weight[j];
    let m = adam_params.beta1 * moment1[j] + (1.0 - adam_params.beta1) * g;
    let v = adam_params.beta2 * moment2[j] + (1.0 - adam_params.beta2) * g * g;
    moment1[j] = m;
    moment2[j] = v;
    let denom = sqrt(v) / adam_params.sqrt_bias2 + adam_params.eps;
    weight[j] -= (adam_params.lr / adam_params.bias1) * m / denom;
}
