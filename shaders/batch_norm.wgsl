// Batch normalisation over NCHW, PyTorch semantics: training normalises with the batch mean and the
// biased variance and updates running_mean / running_var with `momentum` and the unbiased variance;
// evaluation normalises with the running statistics. `stats` holds mean[c] then invstd[c]
// (invstd = 1 / sqrt(var + eps)), the two numbers every later pass needs.
//   stats_partials:    per (n, c) plane, mean and sum of squared deviations over h*w (two passes
//                      over the plane). One workgroup per plane; grid = n*c workgroups, folded.
//                      partials[2 * ((n_base + n) * c + ch) + {0, 1}] = (mean, m2).
//   stats_finalize:    per channel, merges the planes' (mean, m2) (Chan et al.), writes stats and
//                      updates the running statistics. One invocation per channel.
//   stats_eval:        stats from running_mean / running_var. One invocation per channel.
//   apply:             y = (x - mean) * invstd * gamma + beta. One invocation per element.
//   backward_partials: per (n, c) plane, (sum dy, sum dy * xhat). One workgroup per plane.
//   backward_finalize: per channel, dbeta = sum dy and dgamma = sum dy * xhat over the planes.
//   backward_input:    training: dx = gamma * invstd * (dy - dbeta / m - xhat * dgamma / m), m = n*h*w;
//                      evaluation (statistics are constants): dx = gamma * invstd * dy.

override WG: u32 = 64;

struct Params {
    n: u32,
    c: u32,
    hw: u32,
    n_base: u32,
    x_off: u32,
    dy_off: u32,
    out_off: u32,
    training: u32,
    momentum: f32,
    eps: f32,
    count: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@group(0) @binding(3) var<storage, read> partials_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<storage, read> stats_in: array<f32>;
@group(0) @binding(8) var<storage, read> gamma: array<f32>;
@group(0) @binding(9) var<storage, read> beta: array<f32>;
@group(0) @binding(10) var<storage, read_write> out: array<f32>;
@group(0) @binding(11) var<storage, read> dy: array<f32>;
@group(0) @binding(12) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(13) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(14) var<storage, read> dgamma_in: array<f32>;
@group(0) @binding(15) var<storage, read> dbeta_in: array<f32>;

var<workgroup> scratch: array<f32, WG>;
var<workgroup> scratch2: array<f32, WG>;

// Sums `value` over the workgroup; every invocation gets the total.
fn workgroup_sum(lid: u32, value: f32) -> f32 {
    scratch[lid] = value;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            scratch[lid] += scratch[lid + stride];
        }
        workgroupBarrier();
    }
    let total = scratch[0];
    workgroupBarrier();
    return total;
}

// Sums two values over the workgroup at once (one tree, half the barriers).
fn workgroup_sum2(lid: u32, a: f32, b: f32) -> vec2<f32> {
    scratch[lid] = a;
    scratch2[lid] = b;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid < stride) {
            scratch[lid] += scratch[lid + stride];
            scratch2[lid] += scratch2[lid + stride];
        }
        workgroupBarrier();
    }
    let total = vec2<f32>(scratch[0], scratch2[0]);
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(WG)
fn stats_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let plane = workgroup_index(wid, nwg);
    if (plane >= params.n * params.c) { return; }
    let base = params.x_off + plane * params.hw;
    var sum = 0.0;
    for (var i = lid.x; i < params.hw; i += WG) {
        sum += x[base + i];
    }
    let mean = workgroup_sum(lid.x, sum) / f32(params.hw);
    var m2 = 0.0;
    for (var i = lid.x; i < params.hw; i += WG) {
        let d = x[base + i] - mean;
        m2 += d * d;
    }
    let total_m2 = workgroup_sum(lid.x, m2);
    if (lid.x == 0u) {
        let nn = params.n_base + plane / params.c;
        let slot = 2u * (nn * params.c + plane % params.c);
        partials[slot] = mean;
        partials[slot + 1u] = total_m2;
    }
}

@compute @workgroup_size(WG)
fn stats_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = workgroup_index(wid, nwg) * WG + lid.x;
    if (ch >= params.c) { return; }
    var mean_sum = 0.0;
    for (var nn = 0u; nn < params.n; nn++) {
        mean_sum += partials_in[2u * (nn * params.c + ch)];
    }
    let mean = mean_sum / f32(params.n);
    var m2 = 0.0;
    for (var nn = 0u; nn < params.n; nn++) {
        let slot = 2u * (nn * params.c + ch);
        let d = partials_in[slot] - mean;
        m2 += partials_in[slot + 1u] + f32(params.hw) * d * d;
    }
    let count = f32(params.count);
    stats[ch] = mean;
    stats[params.c + ch] = 1.0 / sqrt(m2 / count + params.eps);
    let m = params.momentum;
    running_mean[ch] = (1.0 - m) * running_mean[ch] + m * mean;
    running_var[ch] = (1.0 - m) * running_var[ch] + m * (m2 / (count - 1.0));
}

@compute @workgroup_size(WG)
fn stats_eval(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = workgroup_index(wid, nwg) * WG + lid.x;
    if (ch >= params.c) { return; }
    stats[ch] = running_mean[ch];
    stats[params.c + ch] = 1.0 / sqrt(running_var[ch] + params.eps);
}

@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * params.c * params.hw) { return; }
    let ch = (i / params.hw) % params.c;
    let xhat = (x[params.x_off + i] - stats_in[ch]) * stats_in[params.c + ch];
    out[params.out_off + i] = xhat * gamma[ch] + beta[ch];
}

@compute @workgroup_size(WG)
fn backward_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let plane = workgroup_index(wid, nwg);
    if (plane >= params.n * params.c) { return; }
    let ch = plane % params.c;
    let mean = stats_in[ch];
    let invstd = stats_in[params.c + ch];
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var i = lid.x; i < params.hw; i += WG) {
        let g = dy[params.dy_off + plane * params.hw + i];
        sum_dy += g;
        sum_dy_xhat += g * (x[params.x_off + plane * params.hw + i] - mean) * invstd;
    }
    let total = workgroup_sum2(lid.x, sum_dy, sum_dy_xhat);
    if (lid.x == 0u) {
        let slot = 2u * ((params.n_base + plane / params.c) * params.c + ch);
        partials[slot] = total.x;
        partials[slot + 1u] = total.y;
    }
}

@compute @workgroup_size(WG)
fn backward_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = workgroup_index(wid, nwg) * WG + lid.x;
    if (ch >= params.c) { return; }
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var nn = 0u; nn < params.n; nn++) {
        let slot = 2u * (nn * params.c + ch);
        sum_dy += partials_in[slot];
        sum_dy_xhat += partials_in[slot + 1u];
    }
    dbeta[ch] = sum_dy;
    dgamma[ch] = sum_dy_xhat;
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * params.c * params.hw) { return; }
    let ch = (i / params.hw) % params.c;
    let invstd = stats_in[params.c + ch];
    let g = dy[params.dy_off + i];
    var dx = gamma[ch] * invstd * g;
    if (params.training == 1u) {
        let m = f32(params.count);
        let xhat = (x[params.x_off + i] - stats_in[ch]) * invstd;
        dx = gamma[ch] * invstd * (g - dbeta_in[ch] / m - xhat * dgamma_in[ch] / m);
    }
    out[params.out_off + i] = dx;
}
