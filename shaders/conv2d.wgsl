// 2-D convolution, NCHW, f32, PyTorch semantics (cross-correlation, zero padding, no dilation).
//   pack_weight:         packed[ci, ky, kx, co] = weight[co, ci, ky, kx], co padded with zeros to a
//                        multiple of FC, so `forward` loads FC channels' weights as two vec4s. With
//                        `flip`, weight is [c_in, c_out, kh, kw] read flipped: packed[ci, ky, kx, co]
//                        = weight[ci, co, kh-1-ky, kw-1-kx], which makes `forward` compute the input
//                        gradient of a stride-1 convolution (padding k - 1 - p). One invocation per
//                        packed element.
//   forward:             y[n, co, oy, ox] = bias[co] + sum over ci, ky, kx of
//                        x[n, ci, oy*sh - ph + ky, ox*sw - pw + kx] * weight[co, ci, ky, kx]
//                        x [n, c_in, h, w], packed weight, y [n, c_out, oh, ow]. Each invocation
//                        computes FC output channels x FX consecutive output pixels of a plane (each
//                        loaded input serves FC outputs, each vec4 of weights FX pixels);
//                        grid = ceil(n * ceil(c_out/FC) * ceil(oh*ow/FX) / WG), folded.
//   channels_last:       partial[n, y, x, c] = x[n, c, y, x], channels padded with zeros to a multiple
//                        of 4 (so `weight_grad_partial` loads four channels as one vec4). One
//                        invocation per element.
//   weight_grad_partial: partial[s, co, ci, ky, kx] = sum over the output rows (n, oy) of segment s
//                        and all ox of dy[n, co, oy, ox] * x[n, ci, oy*sh - ph + ky, ox*sw - pw + kx],
//                        reading channels-last copies of dy and x. Segments split the reduction so
//                        enough invocations run; reduce.wgsl's sum_columns adds them up in a fixed
//                        order. Each invocation computes 4 x 4 channel pairs of one tap (ky, kx)
//                        for one segment.
// Other input gradients are conv_transpose2d.wgsl's forward with this weight; the bias gradient is
// a per-channel sum (reduce.wgsl).

override WG: u32 = 64;
// Register block of `forward`: output channels (two vec4s) and output columns per invocation.
const FC: u32 = 8u;
const FX: u32 = 4u;

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
    flip: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> partial: array<f32>;
@group(0) @binding(7) var<storage, read> packed: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> x_last: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> dy_last: array<vec4<f32>>;

// Output channels of the packed weight, padded to whole register blocks.
fn padded_out() -> u32 {
    return (params.c_out + FC - 1u) / FC * FC;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let plane = params.oh * params.ow;
    let blocks_p = (plane + FX - 1u) / FX;
    let blocks_c = (params.c_out + FC - 1u) / FC;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * blocks_c * blocks_p) { return; }
    let p0 = (i % blocks_p) * FX;
    let co0 = ((i / blocks_p) % blocks_c) * FC;
    let nn = i / (blocks_p * blocks_c);
    // The block is FX consecutive output pixels of the plane, so it may span rows (small planes
    // such as VGG's 2x2 fill it). Pixels past the plane repeat the last one and are not stored.
    var iy0: array<i32, FX>;
    var ix0: array<i32, FX>;
    for (var j = 0u; j < FX; j++) {
        let p = min(p0 + j, plane - 1u);
        iy0[j] = i32((p / params.ow) * params.sh) - i32(params.ph);
        ix0[j] = i32((p % params.ow) * params.sw) - i32(params.pw);
    }
    // acc_lo[j] holds channels co0..co0+3 of pixel p0 + j, acc_hi[j] the next four.
    var acc_lo: array<vec4<f32>, FX>;
    var acc_hi: array<vec4<f32>, FX>;
    let row_vec4s = padded_out() / 4u;
    for (var ci = 0u; ci < params.c_in; ci++) {
        let x_plane = params.x_off + (nn * params.c_in + ci) * params.h * params.w;
        for (var ky = 0u; ky < params.kh; ky++) {
            for (var kx = 0u; kx < params.kw; kx++) {
                let tap = ((ci * params.kh + ky) * params.kw + kx) * row_vec4s + co0 / 4u;
                let w_lo = packed[tap];
                let w_hi = packed[tap + 1u];
                for (var j = 0u; j < FX; j++) {
                    // Out-of-range taps read a valid element and count as zero.
                    let iy = iy0[j] + i32(ky);
                    let ix = ix0[j] + i32(kx);
                    let inside = iy >= 0 && iy < i32(params.h) && ix >= 0 && ix < i32(params.w);
                    let at = u32(clamp(iy, 0, i32(params.h) - 1)) * params.w + u32(clamp(ix, 0, i32(params.w) - 1));
                    let xv = select(0.0, x[x_plane + at], inside);
                    acc_lo[j] += w_lo * xv;
                    acc_hi[j] += w_hi * xv;
                }
            }
        }
    }
    for (var c = 0u; c < FC; c++) {
        let co = co0 + c;
        if (co >= params.c_out) { break; }
        var b = 0.0;
        if (params.has_bias == 1u) {
            b = bias[co];
        }
        let out_plane = params.y_off + (nn * params.c_out + co) * plane;
        for (var j = 0u; j < FX; j++) {
            if (p0 + j >= plane) { break; }
            var v = acc_hi[j][c % 4u];
            if (c < 4u) {
                v = acc_lo[j][c];
            }
            y[out_plane + p0 + j] = v + b;
        }
    }
}

@compute @workgroup_size(WG)
fn weight_grad_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let taps = params.kh * params.kw;
    let blocks_i = (params.c_in + 3u) / 4u;
    let blocks_o = (params.c_out + 3u) / 4u;
    let per_segment = blocks_o * blocks_i * taps;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.segments * per_segment) { return; }
    let kx = i % params.kw;
    let ky = (i / params.kw) % params.kh;
    let bi = (i / taps) % blocks_i;
    let bo = (i / (taps * blocks_i)) % blocks_o;
    let s = i / per_segment;
    let row_begin = s * params.rows_per_segment;
    let row_end = min(row_begin + params.rows_per_segment, params.n * params.oh);
    // acc[c] holds input channels 4bi..4bi+3 of output channel 4bo + c.
    var acc: array<vec4<f32>, 4>;
    for (var r = row_begin; r < row_end; r++) {
        let nn = r / params.oh;
        let oy = r % params.oh;
        let iy = i32(oy * params.sh + ky) - i32(params.ph);
        if (iy < 0 || iy >= i32(params.h)) { continue; }
        let g_row = (nn * params.oh + oy) * params.ow;
        let x_row = (nn * params.h + u32(iy)) * params.w;
        for (var ox = 0u; ox < params.ow; ox++) {
            let ix = i32(ox * params.sw + kx) - i32(params.pw);
            if (ix < 0 || ix >= i32(params.w)) { continue; }
            // Channels-last copies: four output gradients and four inputs in one load each.
            let g = dy_last[(g_row + ox) * blocks_o + bo];
            let xv = x_last[(x_row + u32(ix)) * blocks_i + bi];
            acc[0] += g.x * xv;
            acc[1] += g.y * xv;
            acc[2] += g.z * xv;
            acc[3] += g.w * xv;
        }
    }
    let weights = params.c_out * params.c_in * taps;
    for (var c = 0u; c < 4u; c++) {
        let co = bo * 4u + c;
        if (co >= params.c_out) { break; }
        for (var k = 0u; k < 4u; k++) {
            let ci = bi * 4u + k;
            if (ci >= params.c_in) { break; }
            partial[s * weights + (co * params.c_in + ci) * taps + ky * params.kw + kx] = acc[c][k];
        }
    }
}

@compute @workgroup_size(WG)
fn channels_last(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let c_pad = (params.c_in + 3u) / 4u * 4u;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * params.h * params.w * c_pad) { return; }
    let c = i % c_pad;
    let px = (i / c_pad) % (params.h * params.w);
    let nn = i / (c_pad * params.h * params.w);
    var v = 0.0;
    if (c < params.c_in) {
        v = x[params.x_off + (nn * params.c_in + c) * params.h * params.w + px];
    }
    partial[i] = v;
}

@compute @workgroup_size(WG)
fn pack_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let out_pad = padded_out();
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.c_in * params.kh * params.kw * out_pad) { return; }
    let co = i % out_pad;
    let kx = (i / out_pad) % params.kw;
    let ky = (i / (out_pad * params.kw)) % params.kh;
    let ci = i / (out_pad * params.kw * params.kh);
    var v = 0.0;
    if (co < params.c_out) {
        if (params.flip == 1u) {
            v = weight[((ci * params.c_out + co) * params.kh + params.kh - 1u - ky) * params.kw + params.kw - 1u - kx];
        } else {
            v = weight[((co * params.c_in + ci) * params.kh + ky) * params.kw + kx];
        }
    }
    partial[i] = v;
}
