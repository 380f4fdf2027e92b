// 2-D convolution, NCHW, f32, PyTorch semantics (cross-correlation, zero padding, no dilation).
//   forward:             y[n, co, oy, ox] = bias[co] + sum over ci, ky, kx of
//                        x[n, ci, oy*sh - ph + ky, ox*sw - pw + kx] * weight[co, ci, ky, kx]
//                        x [n, c_in, h, w], weight [c_out, c_in, kh, kw], y [n, c_out, oh, ow].
//                        One invocation per output element; grid = ceil(n*c_out*oh*ow / WG), folded.
//   weight_grad_partial: partial[s, co, ci, ky, kx] = sum over the output rows (n, oy) of segment s
//                        and all ox of dy[n, co, oy, ox] * x[n, ci, oy*sh - ph + ky, ox*sw - pw + kx].
//                        Segments split the reduction so enough invocations run; reduce.wgsl's
//                        sum_columns adds them up in a fixed order. One invocation per (s, weight).
// The input gradient is conv_transpose2d.wgsl's forward with this weight; the bias gradient is a
// per-channel sum (reduce.wgsl).

override WG: u32 = 64;

struct Params {
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    has_bias: u32,
    x_off: u32,
    y_off: u32,
    segments: u32,
    rows_per_segment: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * params.c_out * params.oh * params.ow) { return; }
    let ox = i % params.ow;
    let oy = (i / params.ow) % params.oh;
    let co = (i / (params.ow * params.oh)) % params.c_out;
    let nn = i / (params.ow * params.oh * params.c_out);
    var acc = 0.0;
    if (params.has_bias == 1u) {
        acc = bias[co];
    }
    // Signed so that positions in the padding are negative and skipped.
    let iy0 = i32(oy * params.sh) - i32(params.ph);
    let ix0 = i32(ox * params.sw) - i32(params.pw);
    for (var ci = 0u; ci < params.c_in; ci++) {
        let x_plane = params.x_off + (nn * params.c_in + ci) * params.h * params.w;
        let w_plane = (co * params.c_in + ci) * params.kh * params.kw;
        for (var ky = 0u; ky < params.kh; ky++) {
            let iy = iy0 + i32(ky);
            if (iy < 0 || iy >= i32(params.h)) { continue; }
            for (var kx = 0u; kx < params.kw; kx++) {
                let ix = ix0 + i32(kx);
                if (ix < 0 || ix >= i32(params.w)) { continue; }
                acc += x[x_plane + u32(iy) * params.w + u32(ix)] * weight[w_plane + ky * params.kw + kx];
            }
        }
    }
    y[params.y_off + i] = acc;
}

@compute @workgroup_size(WG)
fn weight_grad_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let weights = params.c_out * params.c_in * params.kh * params.kw;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.segments * weights) { return; }
    let wi = i % weights;
    let s = i / weights;
    let kx = wi % params.kw;
    let ky = (wi / params.kw) % params.kh;
    let ci = (wi / (params.kw * params.kh)) % params.c_in;
    let co = wi / (params.kw * params.kh * params.c_in);
    let row_begin = s * params.rows_per_segment;
    let row_end = min(row_begin + params.rows_per_segment, params.n * params.oh);
    var acc = 0.0;
    for (var r = row_begin; r < row_end; r++) {
        let nn = r / params.oh;
        let oy = r % params.oh;
        let iy = i32(oy * params.sh + ky) - i32(params.ph);
        if (iy < 0 || iy >= i32(params.h)) { continue; }
        let dy_row = params.y_off + ((nn * params.c_out + co) * params.oh + oy) * params.ow;
        let x_row = params.x_off + ((nn * params.c_in + ci) * params.h + u32(iy)) * params.w;
        for (var ox = 0u; ox < params.ow; ox++) {
            let ix = i32(ox * params.sw + kx) - i32(params.pw);
            if (ix < 0 || ix >= i32(params.w)) { continue; }
            acc += dy[dy_row + ox] * x[x_row + u32(ix)];
        }
    }
    partial[i] = acc;
}
