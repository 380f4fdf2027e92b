// Batch normalisation over NCHW, PyTorch semantics: training normalises with the batch mean and the
// biased variance and updates running_mean / running_var with `momentum` and the unbiased variance;
// evaluation normalises with the running statistics. `stats` holds mean[c] then invstd[c]
// (invstd = 1 / sqrt(var + eps)), the two numbers every later pass needs.
// Planes are cut into segments of seg_len values (the last may be shorter); partial sums are per
// (n, c, segment), one invocation each, read as vec4s when planes and offsets allow. No workgroup
// barriers: on lavapipe a barrier costs more than summing a thousand values.
//   stats_partials:    per segment, mean and sum of squared deviations (two passes over it).
//                      partials[2 * (((n_base + n) * segments + seg) * c + ch) + {0, 1}] =
//                      (mean, m2). Grid = ceil(n * c * segments / WG), folded.
//   stats_finalize:    per channel, merges the segments' (mean, m2) (Chan et al.), writes stats
//                      and updates the running statistics. One invocation per channel.
//   stats_eval:        stats from running_mean / running_var. One invocation per channel.
//   apply:             y = (x - mean) * invstd * gamma + beta. One invocation per element, or per
//                      vec4 of a plane when vec4_ok (planes and offsets multiples of 4).
//   backward_partials: per segment, (sum dy, sum dy * xhat). Same grid as stats_partials.
//   backward_finalize: per channel, dbeta = sum dy and dgamma = sum dy * xhat over the segments.
//   stats_partials_workgroup, backward_partials_workgroup: the GPU family's stats_partials and
//                      backward_partials: one workgroup per segment, its WG invocations reading
//                      consecutive values (coalesced), summed by workgroup_sum (workgroup_sum.wgsl).
//                      Grid = n * c * segments workgroups, folded.
//   backward_input:    training: dx = gamma * invstd * (dy - dbeta / m - xhat * dgamma / m), m = n*h*w;
//                      evaluation (statistics are constants): dx = gamma * invstd * dy. One
//                      invocation per element; backward_input_vec4: per vec4 of a plane.

override WG: u32 = 64;

struct Params {
    n: u32, c: u32, hw: u32, n_base: u32, x_off: u32, dy_off: u32, out_off: u32,
    training: u32, momentum: f32, eps: f32, count: u32, segments: u32, seg_len: u32,
    vec4_ok: u32, _pad1: u32, _pad2: u32,
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
@group(0) @binding(16) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> dy4: array<vec4<f32>>;
@group(0) @binding(18) var<storage, read_write> out4: array<vec4<f32>>;

// Element i of [n, c, per] values (per = hw for the values themselves, segments for the partial
// sums' invocations): its channel ch; valid is false past the last.
struct Element {
    i: u32,
    ch: u32,
    valid: bool,
}

fn element(i: u32, per: u32) -> Element {
    return Element(i, (i / per) % params.c, i < params.n * params.c * per);
}

// The element of [n, c, per] values this invocation computes.
fn invocation_element(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, per: u32) -> Element {
    return element(workgroup_index(wid, nwg) * WG + lid.x, per);
}

// The GPU family's partial sums: the segment of [n, c, segments] this workgroup sums.
fn workgroup_element(wid: vec3<u32>, nwg: vec3<u32>) -> Element {
    return element(workgroup_index(wid, nwg), params.segments);
}

// Invocation i of a partial-sum kernel covers segment i % segments of plane i / segments (of
// the view): its first element and length.
fn segment(i: u32) -> vec2<u32> {
    let plane = i / params.segments;
    let begin = (i % params.segments) * params.seg_len;
    return vec2<u32>(plane * params.hw + begin, min(params.seg_len, params.hw - begin));
}

// Its partial-sum slot: partials are [n, segments, c, 2], so a channel's slots are a stride of c
// apart (with [n, c, segments, 2], stats_finalize ran 300x slower on lavapipe: 15 ms against
// 0.05 ms at batch 32; the cause was not found).
fn partial_slot(i: u32) -> u32 {
    let plane = i / params.segments;
    let nn = params.n_base + plane / params.c;
    return 2u * ((nn * params.segments + i % params.segments) * params.c + plane % params.c);
}

// Values in segment `seg` of a plane.
fn segment_len(seg: u32) -> f32 {
    return f32(min(params.seg_len, params.hw - seg * params.seg_len));
}

// The elements a summing invocation reads of a segment (seg = first element, length; multiples of
// 4 when vec4_ok): every `stride`-th vec4 (or value) from its `lane`-th. The CPU family's
// invocations read a whole segment (lane 0, stride 1), the GPU family's a workgroup's share.
struct Share {
    seg: vec2<u32>,
    lane: u32,
    stride: u32,
}

// Sum of x over a share.
fn sum_x(share: Share) -> f32 {
    var acc = vec4<f32>(0.0);
    if (params.vec4_ok == 1u) {
        let first = (params.x_off + share.seg.x) / 4u;
        for (var v = share.lane; v < share.seg.y / 4u; v += share.stride) {
            acc += x4[first + v];
        }
    } else {
        for (var j = share.lane; j < share.seg.y; j += share.stride) {
            acc.x += x[params.x_off + share.seg.x + j];
        }
    }
    return acc.x + acc.y + acc.z + acc.w;
}

// Sum of (x - mean)^2 over a share.
fn sum_squared_deviations(share: Share, mean: f32) -> f32 {
    var acc = vec4<f32>(0.0);
    if (params.vec4_ok == 1u) {
        let first = (params.x_off + share.seg.x) / 4u;
        for (var v = share.lane; v < share.seg.y / 4u; v += share.stride) {
            let d = x4[first + v] - mean;
            acc += d * d;
        }
    } else {
        for (var j = share.lane; j < share.seg.y; j += share.stride) {
            let d = x[params.x_off + share.seg.x + j] - mean;
            acc.x += d * d;
        }
    }
    return acc.x + acc.y + acc.z + acc.w;
}

// (sum dy, sum dy * (x - mean)) over a share.
fn sum_dy_and_dy_dx(share: Share, mean: f32) -> vec2<f32> {
    var sum_dy = vec4<f32>(0.0);
    var sum_dy_dx = vec4<f32>(0.0);
    if (params.vec4_ok == 1u) {
        let first_x = (params.x_off + share.seg.x) / 4u;
        let first_dy = (params.dy_off + share.seg.x) / 4u;
        for (var v = share.lane; v < share.seg.y / 4u; v += share.stride) {
            let g = dy4[first_dy + v];
            sum_dy += g;
            sum_dy_dx += g * (x4[first_x + v] - mean);
        }
    } else {
        for (var j = share.lane; j < share.seg.y; j += share.stride) {
            let g = dy[params.dy_off + share.seg.x + j];
            sum_dy.x += g;
            sum_dy_dx.x += g * (x[params.x_off + share.seg.x + j] - mean);
        }
    }
    return vec2<f32>(sum_dy.x + sum_dy.y + sum_dy.z + sum_dy.w,
                     sum_dy_dx.x + sum_dy_dx.y + sum_dy_dx.z + sum_dy_dx.w);
}

@compute @workgroup_size(WG)
fn stats_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.segments);
    if (!at.valid) { return; }
    let share = Share(segment(at.i), 0u, 1u);
    let mean = sum_x(share) / f32(share.seg.y);
    let slot = partial_slot(at.i);
    partials[slot] = mean;
    partials[slot + 1u] = sum_squared_deviations(share, mean);
}

@compute @workgroup_size(WG)
fn stats_partials_workgroup(@builtin(workgroup_id) wid: vec3<u32>,
                            @builtin(num_workgroups) nwg: vec3<u32>,
                            @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = workgroup_element(wid, nwg);
    if (!at.valid) { return; }
    let share = Share(segment(at.i), lid.x, WG);
    let mean = workgroup_sum(sum_x(share), lid.x) / f32(share.seg.y);
    let m2 = workgroup_sum(sum_squared_deviations(share, mean), lid.x);
    if (lid.x == 0u) {
        let slot = partial_slot(at.i);
        partials[slot] = mean;
        partials[slot + 1u] = m2;
    }
}

@compute @workgroup_size(WG)
fn stats_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = workgroup_index(wid, nwg) * WG + lid.x;
    if (ch >= params.c) { return; }
    // Slot j = nn * segments + seg holds segment seg of image nn's plane.
    let slots = params.n * params.segments;
    var mean_sum = 0.0;
    for (var j = 0u; j < slots; j++) {
        mean_sum += partials_in[2u * (j * params.c + ch)] * segment_len(j % params.segments);
    }
    let mean = mean_sum / f32(params.count);
    var m2 = 0.0;
    for (var j = 0u; j < slots; j++) {
        let slot = 2u * (j * params.c + ch);
        let d = partials_in[slot] - mean;
        m2 += partials_in[slot + 1u] + segment_len(j % params.segments) * d * d;
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
    if (params.vec4_ok == 1u) {
        // Four values of one plane per invocation.
        let at = element(4u * i, params.hw);
        if (!at.valid) { return; }
        let xhat = (x4[params.x_off / 4u + i] - stats_in[at.ch]) * stats_in[params.c + at.ch];
        out4[params.out_off / 4u + i] = xhat * gamma[at.ch] + beta[at.ch];
    } else {
        let at = element(i, params.hw);
        if (!at.valid) { return; }
        let xhat = (x[params.x_off + i] - stats_in[at.ch]) * stats_in[params.c + at.ch];
        out[params.out_off + i] = xhat * gamma[at.ch] + beta[at.ch];
    }
}

@compute @workgroup_size(WG)
fn backward_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.segments);
    if (!at.valid) { return; }
    // sum dy * xhat = invstd * sum dy * (x - mean).
    let sums = sum_dy_and_dy_dx(Share(segment(at.i), 0u, 1u), stats_in[at.ch]);
    let slot = partial_slot(at.i);
    partials[slot] = sums.x;
    partials[slot + 1u] = sums.y * stats_in[params.c + at.ch];
}

@compute @workgroup_size(WG)
fn backward_partials_workgroup(@builtin(workgroup_id) wid: vec3<u32>,
                               @builtin(num_workgroups) nwg: vec3<u32>,
                               @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = workgroup_element(wid, nwg);
    if (!at.valid) { return; }
    let sums = workgroup_sum2(
        sum_dy_and_dy_dx(Share(segment(at.i), lid.x, WG), stats_in[at.ch]), lid.x);
    if (lid.x == 0u) {
        let slot = partial_slot(at.i);
        partials[slot] = sums.x;
        partials[slot + 1u] = sums.y * stats_in[params.c + at.ch];
    }
}

@compute @workgroup_size(WG)
fn backward_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let ch = workgroup_index(wid, nwg) * WG + lid.x;
    if (ch >= params.c) { return; }
    var sum_dy = 0.0;
    var sum_dy_xhat = 0.0;
    for (var j = 0u; j < params.n * params.segments; j++) {
        let slot = 2u * (j * params.c + ch);
        sum_dy += partials_in[slot];
        sum_dy_xhat += partials_in[slot + 1u];
    }
    dbeta[ch] = sum_dy;
    dgamma[ch] = sum_dy_xhat;
}

// dx for four values of channel ch from their output gradients g and inputs xv (lanes past a
// scalar invocation's one value are ignored).
fn input_grad(ch: u32, g: vec4<f32>, xv: vec4<f32>) -> vec4<f32> {
    let invstd = stats_in[params.c + ch];
    if (params.training == 1u) {
        let m = f32(params.count);
        let xhat = (xv - stats_in[ch]) * invstd;
        return gamma[ch] * invstd * (g - dbeta_in[ch] / m - xhat * dgamma_in[ch] / m);
    }
    return gamma[ch] * invstd * g;
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.hw);
    if (!at.valid) { return; }
    let dx = input_grad(at.ch, vec4<f32>(dy[params.dy_off + at.i]), vec4<f32>(x[params.x_off + at.i]));
    out[params.out_off + at.i] = dx.x;
}

// backward_input on vec4s of a plane (vec4_ok); a separate entry point so that neither binds more
// than eight storage buffers.
@compute @workgroup_size(WG)
fn backward_input_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    let at = element(4u * i, params.hw);
    if (!at.valid) { return; }
    out4[params.out_off / 4u + i] = input_grad(at.ch, dy4[params.dy_off / 4u + i], x4[params.x_off / 4u + i]);
}
