// 2-D convolution, NCHW, f32, PyTorch semantics (cross-correlation, zero padding, no dilation).
//   forward:             y[n, co, oy, ox] = bias[co] + sum over ci, ky, kx of
//                        x[n, ci, oy*sh - ph + ky, ox*sw - pw + kx] * weight[co, ci, ky, kx]
//                        x [n, c_in, h, w], weight [c_out, c_in, kh, kw], y [n, c_out, oh, ow].
//                        Each invocation computes BC output channels x BX output columns of one row
//                        (each loaded input serves BC outputs, each weight BX outputs);
//                        grid = ceil(n * ceil(c_out/BC) * oh * ceil(ow/BX) / WG), folded.
//   weight_grad_partial: partial[s, co, ci, ky, kx] = sum over the output rows (n, oy) of segment s
//                        and all ox of dy[n, co, oy, ox] * x[n, ci, oy*sh - ph + ky, ox*sw - pw + kx].
//                        Segments split the reduction so enough invocations run; reduce.wgsl's
//                        sum_columns adds them up in a fixed order. Each invocation computes BC x BI
//                        channel pairs of one tap (ky, kx) for one segment.
//   flip_transpose:      partial[ci, co, ky, kx] = weight[co, ci, kh-1-ky, kw-1-kx]: with it, the input
//                        gradient of a stride-1 convolution is this file's forward (padding
//                        k - 1 - p). One invocation per weight.
// Other input gradients are conv_transpose2d.wgsl's forward with this weight; the bias gradient is
// a per-channel sum (reduce.wgsl).

override WG: u32 = 64;
// Register block of `forward`: output channels and output columns per invocation.
const BC: u32 = 4u;
const BX: u32 = 4u;
// Register block of `weight_grad_partial`: BC output channels x BI input channels per invocation.
const BI: u32 = 4u;

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
    let blocks_x = (params.ow + BX - 1u) / BX;
    let blocks_c = (params.c_out + BC - 1u) / BC;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * blocks_c * params.oh * blocks_x) { return; }
    let ox0 = (i % blocks_x) * BX;
    let oy = (i / blocks_x) % params.oh;
    let co0 = ((i / (blocks_x * params.oh)) % blocks_c) * BC;
    let nn = i / (blocks_x * params.oh * blocks_c);
    var acc: array<array<f32, BX>, BC>;
    let iy0 = i32(oy * params.sh) - i32(params.ph);
    let taps = params.kh * params.kw;
    for (var ci = 0u; ci < params.c_in; ci++) {
        let x_plane = params.x_off + (nn * params.c_in + ci) * params.h * params.w;
        for (var ky = 0u; ky < params.kh; ky++) {
            let iy = iy0 + i32(ky);
            if (iy < 0 || iy >= i32(params.h)) { continue; }
            let x_row = x_plane + u32(iy) * params.w;
            for (var kx = 0u; kx < params.kw; kx++) {
                // BX input values, each reused for BC channels; out-of-range taps read a valid
                // element and count as zero.
                var xv: array<f32, BX>;
                for (var j = 0u; j < BX; j++) {
                    let ix = i32((ox0 + j) * params.sw + kx) - i32(params.pw);
                    let inside = ix >= 0 && ix < i32(params.w);
                    xv[j] = select(0.0, x[x_row + u32(clamp(ix, 0, i32(params.w) - 1))], inside);
                }
                for (var c = 0u; c < BC; c++) {
                    let co = min(co0 + c, params.c_out - 1u);
                    let wv = weight[(co * params.c_in + ci) * taps + ky * params.kw + kx];
                    for (var j = 0u; j < BX; j++) {
                        acc[c][j] += wv * xv[j];
                    }
                }
            }
        }
    }
    for (var c = 0u; c < BC; c++) {
        let co = co0 + c;
        if (co >= params.c_out) { break; }
        var b = 0.0;
        if (params.has_bias == 1u) {
            b = bias[co];
        }
        let row = params.y_off + ((nn * params.c_out + co) * params.oh + oy) * params.ow;
        for (var j = 0u; j < BX; j++) {
            if (ox0 + j >= params.ow) { break; }
            y[row + ox0 + j] = acc[c][j] + b;
        }
    }
}

@compute @workgroup_size(WG)
fn weight_grad_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let taps = params.kh * params.kw;
    let blocks_i = (params.c_in + BI - 1u) / BI;
    let blocks_o = (params.c_out + BC - 1u) / BC;
    let per_segment = blocks_o * blocks_i * taps;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.segments * per_segment) { return; }
    let kx = i % params.kw;
    let ky = (i / params.kw) % params.kh;
    let ci0 = ((i / taps) % blocks_i) * BI;
    let co0 = ((i / (taps * blocks_i)) % blocks_o) * BC;
    let s = i / per_segment;
    let row_begin = s * params.rows_per_segment;
    let row_end = min(row_begin + params.rows_per_segment, params.n * params.oh);
    var acc: array<array<f32, BI>, BC>;
    for (var r = row_begin; r < row_end; r++) {
        let nn = r / params.oh;
        let oy = r % params.oh;
        let iy = i32(oy * params.sh + ky) - i32(params.ph);
        if (iy < 0 || iy >= i32(params.h)) { continue; }
        for (var ox = 0u; ox < params.ow; ox++) {
            let ix = i32(ox * params.sw + kx) - i32(params.pw);
            if (ix < 0 || ix >= i32(params.w)) { continue; }
            // BC output gradients and BI inputs, each reused for the other side's channels.
            var g: array<f32, BC>;
            for (var c = 0u; c < BC; c++) {
                let co = min(co0 + c, params.c_out - 1u);
                g[c] = dy[params.y_off + ((nn * params.c_out + co) * params.oh + oy) * params.ow + ox];
            }
            for (var k = 0u; k < BI; k++) {
                let ci = min(ci0 + k, params.c_in - 1u);
                let xv = x[params.x_off + ((nn * params.c_in + ci) * params.h + u32(iy)) * params.w + u32(ix)];
                for (var c = 0u; c < BC; c++) {
                    acc[c][k] += g[c] * xv;
                }
            }
        }
    }
    let weights = params.c_out * params.c_in * taps;
    for (var c = 0u; c < BC; c++) {
        let co = co0 + c;
        if (co >= params.c_out) { break; }
        for (var k = 0u; k < BI; k++) {
            let ci = ci0 + k;
            if (ci >= params.c_in) { break; }
            partial[s * weights + (co * params.c_in + ci) * taps + ky * params.kw + kx] = acc[c][k];
        }
    }
}

@compute @workgroup_size(WG)
fn flip_transpose(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let taps = params.kh * params.kw;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.c_out * params.c_in * taps) { return; }
    let kx = i % params.kw;
    let ky = (i / params.kw) % params.kh;
    let co = (i / taps) % params.c_out;
    let ci = i / (taps * params.c_out);
    partial[i] = weight[(co * params.c_in + ci) * taps + (params.kh - 1u - ky) * params.kw + params.kw - 1u - kx];
}
