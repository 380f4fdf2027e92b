// The weight gradient of a 2-D convolution, NCHW, f32, PyTorch semantics (parameters as in
// conv2d.wgsl, from conv_common.wgsl, prepended), for the CPU family: both operands are first
// copied channels-last, so each load brings four channels, and each invocation reuses every
// loaded vec4 across an 8 x 8 block of channel pairs. The copies live in storage buffers or in
// rgba32float textures, as one of two preludes says (load_x_last, load_dy_last, store_last: vec4
// i of a copy); on lavapipe without AVX-512 a texel costs a quarter of a storage load
// (PERFORMANCE.md 38, 39).
//   channels_last:       copy i as [n, y, x, c] = x[n, c, y, x], channels padded with zeros to a
//                        multiple of 4. One invocation per vec4 of the copy.
//   weight_grad_partial: partial[s, co, ci, ky, kx] = sum over the output rows (n, oy) of segment s
//                        and all ox of dy[n, co, oy, ox] * x[n, ci, oy*sh - ph + ky, ox*sw - pw + kx],
//                        reading the channels-last copies of dy and x. Segments split the
//                        reduction so enough invocations run; reduce.wgsl's sum_columns adds them
//                        up in a fixed order. Each invocation computes 8 x 8 channel pairs of one
//                        tap (ky, kx) for one segment: grid = segments * ceil(c_out / 8) *
//                        ceil(c_in / 8) * kh * kw invocations, folded.

override WG: u32 = 64;

@group(0) @binding(6) var<storage, read_write> partial: array<f32>;

@compute @workgroup_size(WG)
fn weight_grad_partial(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let taps = params.kh * params.kw;
    // Blocks of 8 channels; channels-last rows hold vec4s of 4 (vecs_i, vecs_o per pixel).
    let blocks_i = (params.c_in + 7u) / 8u;
    let blocks_o = (params.c_out + 7u) / 8u;
    let vecs_i = (params.c_in + 3u) / 4u;
    let vecs_o = (params.c_out + 3u) / 4u;
    let per_segment = blocks_o * blocks_i * taps;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.segments * per_segment) { return; }
    // Channel blocks vary fastest: neighbouring lanes share the tap and segment, so their loops
    // over rows and columns have the same bounds (no divergence).
    let bi = i % blocks_i;
    let bo = (i / blocks_i) % blocks_o;
    let kx = (i / (blocks_i * blocks_o)) % params.kw;
    let ky = (i / (blocks_i * blocks_o * params.kw)) % params.kh;
    let s = i / per_segment;
    let row_begin = s * params.rows_per_segment;
    let row_end = min(row_begin + params.rows_per_segment, params.n * params.oh);
    // A last block of only 4 channels reads its first vec4 twice; those results are not stored.
    let hi_o = select(0u, 1u, 2u * bo + 1u < vecs_o);
    let hi_i = select(0u, 1u, 2u * bi + 1u < vecs_i);
    // acc[2c + h]: output channel 8bo + c (c < 8) with input channels 8bi + 4h .. 8bi + 4h + 3.
    var acc: array<vec4<f32>, 16>;
    var ox_begin = 0u;
    if (params.pw > kx) {
        ox_begin = (params.pw - kx + params.sw - 1u) / params.sw;
    }
    var ox_end = 0u;
    if (params.w + params.pw > kx) {
        ox_end = min(params.ow, (params.w + params.pw - kx - 1u) / params.sw + 1u);
    }
    for (var r = row_begin; r < row_end; r++) {
        let nn = r / params.oh;
        let oy = r % params.oh;
        let iy = i32(oy * params.sh + ky) - i32(params.ph);
        if (iy < 0 || iy >= i32(params.h)) { continue; }
        // Output columns ox in [ox_begin, ox_end) read inside the row: ix = ox * sw + kx - pw.
        let g_row = (nn * params.oh + oy) * params.ow;
        let x_row = (nn * params.h + u32(iy)) * params.w;
        for (var ox = ox_begin; ox < ox_end; ox++) {
            let g_at = (g_row + ox) * vecs_o + 2u * bo;
            let x_at = (x_row + ox * params.sw + kx - params.pw) * vecs_i + 2u * bi;
            let g_lo = load_dy_last(g_at);
            let g_hi = load_dy_last(g_at + hi_o);
            let x_lo = load_x_last(x_at);
            let x_hi = load_x_last(x_at + hi_i);
            for (var c = 0u; c < 4u; c++) {
                acc[2u * c] += g_lo[c] * x_lo;
                acc[2u * c + 1u] += g_lo[c] * x_hi;
                acc[8u + 2u * c] += g_hi[c] * x_lo;
                acc[8u + 2u * c + 1u] += g_hi[c] * x_hi;
            }
        }
    }
    // Written out (16 entries), so acc is only indexed by constants.
    store_weight_grad(0u, s, bo, bi, ky * params.kw + kx, acc[0]);
    store_weight_grad(1u, s, bo, bi, ky * params.kw + kx, acc[1]);
    store_weight_grad(2u, s, bo, bi, ky * params.kw + kx, acc[2]);
    store_weight_grad(3u, s, bo, bi, ky * params.kw + kx, acc[3]);
    store_weight_grad(4u, s, bo, bi, ky * params.kw + kx, acc[4]);
    store_weight_grad(5u, s, bo, bi, ky * params.kw + kx, acc[5]);
    store_weight_grad(6u, s, bo, bi, ky * params.kw + kx, acc[6]);
    store_weight_grad(7u, s, bo, bi, ky * params.kw + kx, acc[7]);
    store_weight_grad(8u, s, bo, bi, ky * params.kw + kx, acc[8]);
    store_weight_grad(9u, s, bo, bi, ky * params.kw + kx, acc[9]);
    store_weight_grad(10u, s, bo, bi, ky * params.kw + kx, acc[10]);
    store_weight_grad(11u, s, bo, bi, ky * params.kw + kx, acc[11]);
    store_weight_grad(12u, s, bo, bi, ky * params.kw + kx, acc[12]);
    store_weight_grad(13u, s, bo, bi, ky * params.kw + kx, acc[13]);
    store_weight_grad(14u, s, bo, bi, ky * params.kw + kx, acc[14]);
    store_weight_grad(15u, s, bo, bi, ky * params.kw + kx, acc[15]);
}

// Stores entry r of weight_grad_partial's block: output channel 8bo + r / 2 with input channels
// 8bi + 4 (r % 2) .. + 3 at tap `tap` of segment s, those below c_out and c_in.
fn store_weight_grad(r: u32, s: u32, bo: u32, bi: u32, tap: u32, v: vec4<f32>) {
    let taps = params.kh * params.kw;
    let co = bo * 8u + r / 2u;
    let ci0 = bi * 8u + (r % 2u) * 4u;
    let at = s * params.c_out * params.c_in * taps + (co * params.c_in + ci0) * taps + tap;
    if (co < params.c_out) {
        if (ci0 < params.c_in) { partial[at] = v.x; }
        if (ci0 + 1u < params.c_in) { partial[at + taps] = v.y; }
        if (ci0 + 2u < params.c_in) { partial[at + 2u * taps] = v.z; }
        if (ci0 + 3u < params.c_in) { partial[at + 3u * taps] = v.w; }
    }
}

@compute @workgroup_size(WG)
fn channels_last(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let c_vec4s = (params.c_in + 3u) / 4u;
    let plane = params.h * params.w;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * plane * c_vec4s) { return; }
    let c0 = (i % c_vec4s) * 4u;
    let px = (i / c_vec4s) % plane;
    let nn = i / (c_vec4s * plane);
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        if (c0 + j < params.c_in) {
            v[j] = x[params.x_off + (nn * params.c_in + c0 + j) * plane + px];
        }
    }
    store_last(i, v);
}
