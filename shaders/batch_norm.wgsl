// Batch normalisation over NCHW, PyTorch semantics: training normalises with the batch mean and the
// biased variance and updates running_mean / running_var with `momentum` and the unbiased variance;
// evaluation normalises with the running statistics. `stats` holds mean[c] then invstd[c]
// (invstd = 1 / sqrt(var + eps)), the two numbers every later pass needs. With RELU, a ReLU that
// follows the layer runs in the same passes: apply* write max(y, 0), and the backward kernels mask
// dy where the saved output (binding y) is not > 0, as threshold_backward does, so neither a ReLU
// pass nor its gradient pass runs. x and dy read as vec4s (`load_x4`, `load_dy4`) come from storage
// buffers (batch_norm_operands_buffers.wgsl) or from texture copies of their bindings
// (batch_norm_operands_textures.wgsl), whichever prelude is prepended.
// Planes are cut into segments of seg_len values (the last may be shorter); partial sums are per
// (n, c, segment), one invocation each, read as vec4s when planes and offsets allow. No workgroup
// barriers: on lavapipe a barrier costs more than summing a thousand values.
//   stats_partials:    per segment, mean and sum of squared deviations in one pass (Welford per
//                      vec4 lane, the lanes merged as in stats_finalize).
//                      partials[2 * (((n_base + n) * segments + seg) * c + ch) + {0, 1}] =
//                      (mean, m2). Grid = ceil(n * c * segments / WG), folded.
//   stats_finalize:    per channel, merges the segments' (mean, m2) (Chan et al.), writes stats
//                      and updates the running statistics. One invocation per channel.
//   stats_eval:        stats from running_mean / running_var. One invocation per channel.
//   apply:             y = (x - mean) * invstd * gamma + beta. One invocation per element.
//   apply_vec4:        the same when vec4_ok (planes and offsets multiples of 4): an invocation
//                      takes PLANE_VEC4S vec4s of one plane (see PlaneShare), loading its
//                      channel's numbers once. Grid = ceil(n * c * plane_invocations / WG), folded.
//   backward_partials: per segment, (sum dy, sum dy * xhat). Same grid as stats_partials.
//   backward_finalize: per channel, dbeta = sum dy and dgamma = sum dy * xhat over the segments.
//   stats_partials_workgroup, backward_partials_workgroup: the GPU family's stats_partials and
//                      backward_partials: one workgroup per segment, its WG invocations reading
//                      consecutive values (coalesced), summed by workgroup_sum (workgroup_sum.wgsl);
//                      the statistics in two passes (the second reads from cache).
//                      Grid = n * c * segments workgroups, folded.
//   backward_input:    training: dx = gamma * invstd * (dy - dbeta / m - xhat * dgamma / m), m = n*h*w;
//                      evaluation (statistics are constants): dx = gamma * invstd * dy. One
//                      invocation per element; backward_input_vec4: apply_vec4's grid.

override WG: u32 = 64;
// Whether a ReLU follows (see above); set by the launches of the kernels that read it.
override RELU: bool = false;
// Vec4s of one plane an invocation of apply_vec4 / backward_input_vec4 takes: set by their launches
// from ops::batch_norm, so the grid (plane_invocations) and the kernel agree.
override PLANE_VEC4S: u32 = 4u;

struct Params {
    n: u32, c: u32, hw: u32, n_base: u32, x_off: u32, dy_off: u32, out_off: u32,
    training: u32, momentum: f32, eps: f32, count: u32, segments: u32, seg_len: u32,
    vec4_ok: u32, plane_invocations: u32, y_off: u32,
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
@group(0) @binding(18) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(19) var<storage, read> y: array<f32>;
@group(0) @binding(20) var<storage, read> y4: array<vec4<f32>>;

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
            acc += load_x4(first + v);
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
            let d = load_x4(first + v) - mean;
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

// The output gradient g where a fused ReLU passed it (its output y > 0), else 0, as
// threshold_backward; g itself without RELU (y is then not read).
fn relu_masked(g: vec4<f32>, y_value: vec4<f32>) -> vec4<f32> {
    return select(vec4<f32>(0.0), g, y_value > vec4<f32>(0.0));
}

// The output gradient at vec4 v of the bound arrays (dy_off / 4 + v; y's at y_off / 4 + v),
// masked by a fused ReLU.
fn dy_vec4(v: u32) -> vec4<f32> {
    let g = load_dy4(params.dy_off / 4u + v);
    if (RELU) {
        return relu_masked(g, y4[params.y_off / 4u + v]);
    }
    return g;
}

// The same at element j (lanes past the first are ignored).
fn dy_element(j: u32) -> vec4<f32> {
    let g = vec4<f32>(dy[params.dy_off + j]);
    if (RELU) {
        return relu_masked(g, vec4<f32>(y[params.y_off + j]));
    }
    return g;
}

// (sum dy, sum dy * (x - mean)) over a share, dy masked by a fused ReLU.
fn sum_dy_and_dy_dx(share: Share, mean: f32) -> vec2<f32> {
    var sum_dy = vec4<f32>(0.0);
    var sum_dy_dx = vec4<f32>(0.0);
    if (params.vec4_ok == 1u) {
        let first = share.seg.x / 4u;
        let first_x = params.x_off / 4u + first;
        for (var v = share.lane; v < share.seg.y / 4u; v += share.stride) {
            let g = dy_vec4(first + v);
            sum_dy += g;
            sum_dy_dx += g * (load_x4(first_x + v) - mean);
        }
    } else {
        for (var j = share.lane; j < share.seg.y; j += share.stride) {
            let g = dy_element(share.seg.x + j).x;
            sum_dy.x += g;
            sum_dy_dx.x += g * (x[params.x_off + share.seg.x + j] - mean);
        }
    }
    return vec2<f32>(sum_dy.x + sum_dy.y + sum_dy.z + sum_dy.w,
                     sum_dy_dx.x + sum_dy_dx.y + sum_dy_dx.z + sum_dy_dx.w);
}

// (mean, sum of squared deviations) of a segment (first element, length) in one pass: Welford's
// update on each vec4 lane, then the lanes merged as stats_finalize merges segments. Reading the
// segment twice (the GPU family's way) cost lavapipe one vec4 load per vec4 more.
fn segment_moments(seg: vec2<u32>) -> vec2<f32> {
    var mean = vec4<f32>(0.0);
    var m2 = vec4<f32>(0.0);
    if (params.vec4_ok == 1u) {
        let first = (params.x_off + seg.x) / 4u;
        let count = seg.y / 4u;
        for (var v = 0u; v < count; v++) {
            let value = load_x4(first + v);
            let delta = value - mean;
            mean += delta * (1.0 / f32(v + 1u));
            m2 += delta * (value - mean);
        }
        let total = (mean.x + mean.y + mean.z + mean.w) / 4.0;
        let d = mean - total;
        return vec2<f32>(total, m2.x + m2.y + m2.z + m2.w + f32(count) * dot(d, d));
    }
    for (var j = 0u; j < seg.y; j++) {
        let value = x[params.x_off + seg.x + j];
        let delta = value - mean.x;
        mean.x += delta * (1.0 / f32(j + 1u));
        m2.x += delta * (value - mean.x);
    }
    return vec2<f32>(mean.x, m2.x);
}

@compute @workgroup_size(WG)
fn stats_partials(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.segments);
    if (!at.valid) { return; }
    let moments = segment_moments(segment(at.i));
    let slot = partial_slot(at.i);
    partials[slot] = moments.x;
    partials[slot + 1u] = moments.y;
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

// max(v, 0) after a fused ReLU, else v.
fn activation(v: vec4<f32>) -> vec4<f32> {
    if (RELU) {
        return max(v, vec4<f32>(0.0));
    }
    return v;
}

@compute @workgroup_size(WG)
fn apply(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.hw);
    if (!at.valid) { return; }
    let xhat = (x[params.x_off + at.i] - stats_in[at.ch]) * stats_in[params.c + at.ch];
    out[params.out_off + at.i] = activation(vec4<f32>(xhat * gamma[at.ch] + beta[at.ch])).x;
}

// The vec4s an invocation of apply_vec4 or backward_input_vec4 takes: PLANE_VEC4S of one plane,
// first, first + stride, .. below end (vec4 indices in the views, shifts not included), so that
// neighbouring invocations touch neighbouring vec4s; all of channel ch. A plane has
// plane_invocations = ceil(hw / 4 / PLANE_VEC4S) invocations.
struct PlaneShare {
    first: u32,
    stride: u32,
    end: u32,
    ch: u32,
    valid: bool,
}

fn plane_share(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> PlaneShare {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    let plane = i / params.plane_invocations;
    let plane_vec4s = params.hw / 4u;
    return PlaneShare(plane * plane_vec4s + i % params.plane_invocations, params.plane_invocations,
                      (plane + 1u) * plane_vec4s, plane % params.c, plane < params.n * params.c);
}

// The channel's numbers are loaded once per invocation: on lavapipe each load is a loop over the
// lanes, and with one vec4 per invocation (and four loads for it) apply took 2.3x relu_forward's
// time for the same traffic (PERFORMANCE.md 30).
@compute @workgroup_size(WG)
fn apply_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let share = plane_share(wid, nwg, lid);
    if (!share.valid) { return; }
    let mean = stats_in[share.ch];
    let invstd = stats_in[params.c + share.ch];
    let scale = gamma[share.ch];
    let shift = beta[share.ch];
    for (var k = 0u; k < PLANE_VEC4S; k++) {
        let v = share.first + k * share.stride;
        if (v < share.end) {
            let xhat = (load_x4(params.x_off / 4u + v) - mean) * invstd;
            out4[params.out_off / 4u + v] = activation(xhat * scale + shift);
        }
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

// A channel's numbers for its input gradient.
struct ChannelGrad {
    mean: f32,
    invstd: f32,
    // gamma * invstd
    scale: f32,
    // dbeta / m and dgamma / m (training only)
    dbeta_m: f32,
    dgamma_m: f32,
}

fn channel_grad(ch: u32) -> ChannelGrad {
    let invstd = stats_in[params.c + ch];
    var cg = ChannelGrad(stats_in[ch], invstd, gamma[ch] * invstd, 0.0, 0.0);
    if (params.training == 1u) {
        let m = f32(params.count);
        cg.dbeta_m = dbeta_in[ch] / m;
        cg.dgamma_m = dgamma_in[ch] / m;
    }
    return cg;
}

// dx for four values of a channel from their (masked) output gradients g and inputs xv.
fn input_grad(cg: ChannelGrad, g: vec4<f32>, xv: vec4<f32>) -> vec4<f32> {
    if (params.training == 1u) {
        let xhat = (xv - cg.mean) * cg.invstd;
        return cg.scale * (g - cg.dbeta_m - xhat * cg.dgamma_m);
    }
    return cg.scale * g;
}

@compute @workgroup_size(WG)
fn backward_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.hw);
    if (!at.valid) { return; }
    let dx = input_grad(channel_grad(at.ch), dy_element(at.i), vec4<f32>(x[params.x_off + at.i]));
    out[params.out_off + at.i] = dx.x;
}

// backward_input on vec4s of a plane (vec4_ok), apply_vec4's grid; a separate entry point so that
// neither binds more than eight storage buffers.
@compute @workgroup_size(WG)
fn backward_input_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let share = plane_share(wid, nwg, lid);
    if (!share.valid) { return; }
    let cg = channel_grad(share.ch);
    for (var k = 0u; k < PLANE_VEC4S; k++) {
        let v = share.first + k * share.stride;
        if (v < share.end) {
            let xv = load_x4(params.x_off / 4u + v);
            out4[params.out_off / 4u + v] = input_grad(cg, dy_vec4(v), xv);
        }
    }
}
