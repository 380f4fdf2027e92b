// Softmax cross-entropy over logits [n, c, s] (s = h*w pixels, or 1 for [n, c]), integer targets
// [n, s], mean reduction over the positions whose target is not `ignore_index`, as PyTorch's
// F.cross_entropy. Log-sum-exp subtracts the maximum first, so large logits do not overflow.
//   forward_terms: per position, loss = logsumexp(x) - x[target] and valid = 1, or 0 and 0 for an
//                  ignored position (and for a target outside [0, c), which cannot be read).
//                  One invocation per position; grid = ceil(n*s / WG), folded.
//   mean:          out = sum of losses / number of valid positions (sums from reduce.wgsl).
//                  One invocation.
//   backward:      dlogits[n, k, s] = (softmax(x)[k] - [k == target]) * dloss / valid count, 0 at
//                  ignored positions. One invocation per position, writing its c gradients.

override WG: u32 = 64;

struct Params {
    n: u32, c: u32, s: u32, ignore_index: i32, logits_off: u32, target_off: u32,
    out_off: u32, _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<i32>;
@group(0) @binding(3) var<storage, read_write> losses: array<f32>;
@group(0) @binding(4) var<storage, read_write> valid: array<f32>;
@group(0) @binding(5) var<storage, read> sums: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> dloss: array<f32>;

fn target_class(p: u32) -> i32 {
    let t = targets[params.target_off + p];
    if (t == params.ignore_index || t < 0 || t >= i32(params.c)) {
        return -1;
    }
    return t;
}

// The position p this invocation computes and its target class t (-1: ignored); valid is false
// past the last position.
struct Position {
    p: u32,
    t: i32,
    valid: bool,
}

fn position(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> Position {
    let p = workgroup_index(wid, nwg) * WG + lid.x;
    if (p >= params.n * params.s) {
        return Position(p, -1, false);
    }
    return Position(p, target_class(p), true);
}

// Index of (position p, class 0) in an [n, c, s] array starting at `off`; classes are s apart.
fn class0(off: u32, p: u32) -> u32 {
    return off + (p / params.s) * params.c * params.s + p % params.s;
}

fn log_sum_exp(base: u32) -> f32 {
    var hi = logits[base];
    for (var k = 1u; k < params.c; k++) {
        hi = max(hi, logits[base + k * params.s]);
    }
    var sum = 0.0;
    for (var k = 0u; k < params.c; k++) {
        sum += exp(logits[base + k * params.s] - hi);
    }
    return hi + log(sum);
}

@compute @workgroup_size(WG)
fn forward_terms(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = position(wid, nwg, lid);
    if (!at.valid) { return; }
    var loss = 0.0;
    var ok = 0.0;
    if (at.t >= 0) {
        let base = class0(params.logits_off, at.p);
        loss = log_sum_exp(base) - logits[base + u32(at.t) * params.s];
        ok = 1.0;
    }
    losses[params.out_off + at.p] = loss;
    valid[params.out_off + at.p] = ok;
}

@compute @workgroup_size(1)
fn mean() {
    out[params.out_off] = sums[0] / sums[1];
}

@compute @workgroup_size(WG)
fn backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = position(wid, nwg, lid);
    if (!at.valid) { return; }
    let base = class0(params.logits_off, at.p);
    let out_base = class0(params.out_off, at.p);
    if (at.t < 0) {
        for (var k = 0u; k < params.c; k++) {
            out[out_base + k * params.s] = 0.0;
        }
        return;
    }
    let lse = log_sum_exp(base);
    let scale = dloss[0] / sums[1];
    for (var k = 0u; k < params.c; k++) {
        let onehot = select(0.0, 1.0, k == u32(at.t));
        out[out_base + k * params.s] = (exp(logits[base + k * params.s] - lse) - onehot) * scale;
    }
}
