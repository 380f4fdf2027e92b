// 2-D convolution, NCHW, f32, PyTorch semantics (cross-correlation, zero padding, no dilation).
// On lavapipe every storage load costs a per-lane loop, so each kernel loads vec4s and reuses each
// loaded value many times from registers. Register arrays are indexed only by loop counters of
// short loops without breaks: if a loop does not unroll, the array moves to memory and the kernel
// runs at half speed (measured; see PERFORMANCE.md).
//   pack_weight:         packed[ci, ky, kx, co] = weight[co, ci, ky, kx], co padded with zeros to a
//                        multiple of FC, so the forward kernels load FC channels' weights as two
//                        vec4s. With `flip`, weight is [c_in, c_out, kh, kw] read flipped:
//                        packed[ci, ky, kx, co] = weight[ci, co, kh-1-ky, kw-1-kx], which makes the
//                        forward kernels compute the input gradient of a stride-1 convolution
//                        (padding k - 1 - p). One invocation per vec4 of packed channels.
//   pack_weight_blocks:  pack_weight without flip when c_in * kh * kw is a multiple of 4: a 4 x 4
//                        block per invocation, four vec4 loads along the weight's rows stored as
//                        four vec4s along packed rows.
//   pad_rows:            out4 as [n, ci, yy, xx] = x[n, ci, yy - ph, xx - pw], zero outside x, for
//                        yy < oh + kh - 1 and xx < 4 * row_vec4s (whole vec4s). One invocation
//                        per vec4.
//   forward_rows:        stride 1, kw <= 5: y[n, co, oy, ox] = 0.0 + sum over ci, ky, kx of
//                        x[n, ci, oy - ph + ky, ox - pw + kx] * weight[co, ci, ky, kx], reading the
//                        padded rows of pad_rows. Each invocation computes FC output channels x
//                        QUADS quads (4 consecutive output pixels of a row, or with ROW_PAIRS 2
//                        columns of 2 rows) of the batch: per (ci, ky) it loads two vec4s of
//                        padded rows per quad and serves all kw taps from them by shifting.
//                        Grid = ceil(ceil(c_out/FC) * blocks of quads / WG), folded.
//   forward:             any stride and kernel, same sum on the unpadded input. Each invocation
//                        computes FC output channels x FX consecutive pixels of the flattened
//                        output plane; grid = ceil(n * ceil(c_out/FC) * ceil(oh*ow/FX) / WG).
//   forward_rows_bias, forward_bias: the same with bias[co] for 0.0. Only these two use `bias`,
//                        so the others bind no buffer for it.
// Other input gradients are conv_transpose2d.wgsl's forward with this weight; the weight gradient
// is conv_weight_grad.wgsl's, the bias gradient a per-channel sum (reduce.wgsl).

override WG: u32 = 64;
// Register block of `forward`: output channels (two vec4s) and output columns per invocation.
const FC: u32 = 8u;
const FX: u32 = 4u;
// `forward_rows`: kernel width (at most 5, so two vec4s of a padded row hold the 4 + KW - 1 inputs
// of a quad), fixed per pipeline so the 3-wide case compiles to its own straight-line code.
override KW: u32 = 3u;
// `forward_rows` on planes at most 2 wide (VGG's 2x2 layers): a quad is 2 columns x 2 rows, so
// it is full; padded rows are one vec4 (ow + kw - 1 <= 4).
override ROW_PAIRS: bool = false;
// Quads (4 consecutive output pixels of a row) per invocation.
const QUADS: u32 = 2u;
const_assert FC * QUADS == 16u;

// Params and bindings 0 to 4 (params, x, weight, bias, y): conv_common.wgsl, prepended.
@group(0) @binding(7) var<storage, read> packed: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> x_rows: array<vec4<f32>>;
// The vec4 output of pad_rows and pack_weight.
@group(0) @binding(11) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read> weight4: array<vec4<f32>>;

// Output channels of the packed weight, padded to whole register blocks.
fn padded_out() -> u32 {
    return (params.c_out + FC - 1u) / FC * FC;
}

// `forward`'s block of invocation i: output pixels p0 .. p0 + FX of image nn, lo[j] holding
// channels co0 .. co0 + 3 of pixel p0 + j and hi[j] the next four, before the bias.
struct DirectBlock {
    valid: bool,
    nn: u32,
    co0: u32,
    p0: u32,
    lo: array<vec4<f32>, FX>,
    hi: array<vec4<f32>, FX>,
}

fn direct_block(i: u32) -> DirectBlock {
    let plane = params.oh * params.ow;
    let blocks_p = (plane + FX - 1u) / FX;
    let blocks_c = (params.c_out + FC - 1u) / FC;
    if (i >= params.n * blocks_c * blocks_p) { return DirectBlock(); }
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
    return DirectBlock(true, nn, co0, p0, acc_lo, acc_hi);
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = direct_block(workgroup_index(wid, nwg) * WG + lid.x);
    if (!blk.valid) { return; }
    store_direct(blk, vec4<f32>(0.0), vec4<f32>(0.0));
}

@compute @workgroup_size(WG)
fn forward_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = direct_block(workgroup_index(wid, nwg) * WG + lid.x);
    if (!blk.valid) { return; }
    store_direct(blk, biases4(blk.co0), biases4(blk.co0 + 4u));
}

// bias[co0 .. co0 + 4], channels past c_out repeating the last (they are not stored).
fn biases4(co0: u32) -> vec4<f32> {
    return vec4<f32>(bias[min(co0, params.c_out - 1u)], bias[min(co0 + 1u, params.c_out - 1u)],
                     bias[min(co0 + 2u, params.c_out - 1u)], bias[min(co0 + 3u, params.c_out - 1u)]);
}

// Stores a `forward` block plus b_lo (its channels co0 .. co0 + 3) and b_hi (the next four).
fn store_direct(blk: DirectBlock, b_lo: vec4<f32>, b_hi: vec4<f32>) {
    let plane = params.oh * params.ow;
    // Flat loops without breaks, so they unroll and the accumulators stay in registers.
    for (var j = 0u; j < FX; j++) {
        if (blk.p0 + j < plane) {
            let out_pixel = params.y_off + blk.nn * params.c_out * plane + blk.p0 + j;
            store_channels(out_pixel, plane, blk.co0, blk.lo[j] + b_lo);
            store_channels(out_pixel, plane, blk.co0 + 4u, blk.hi[j] + b_hi);
        }
    }
}

// y[pixel + (co0 + c) * plane] = o[c] for the channels c < 4 below c_out.
fn store_channels(pixel: u32, plane: u32, co0: u32, o: vec4<f32>) {
    if (co0 < params.c_out) { y[pixel + co0 * plane] = o.x; }
    if (co0 + 1u < params.c_out) { y[pixel + (co0 + 1u) * plane] = o.y; }
    if (co0 + 2u < params.c_out) { y[pixel + (co0 + 2u) * plane] = o.z; }
    if (co0 + 3u < params.c_out) { y[pixel + (co0 + 3u) * plane] = o.w; }
}

@compute @workgroup_size(WG)
fn pack_weight(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let out_vec4s = padded_out() / 4u;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.c_in * params.kh * params.kw * out_vec4s) { return; }
    let co0 = (i % out_vec4s) * 4u;
    let kx = (i / out_vec4s) % params.kw;
    let ky = (i / (out_vec4s * params.kw)) % params.kh;
    let ci = i / (out_vec4s * params.kw * params.kh);
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let co = co0 + j;
        if (co < params.c_out) {
            if (params.flip == 1u) {
                v[j] = weight[((ci * params.c_out + co) * params.kh + params.kh - 1u - ky) * params.kw + params.kw - 1u - kx];
            } else {
                v[j] = weight[((co * params.c_in + ci) * params.kh + ky) * params.kw + kx];
            }
        }
    }
    out4[i] = v;
}

// pack_weight without flip when c_in * kh * kw is a multiple of 4: a 4 x 4 block per invocation,
// four vec4 loads along the weight's rows transposed into four vec4 stores along packed rows.
@compute @workgroup_size(WG)
fn pack_weight_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let out_vec4s = padded_out() / 4u;
    let k_vec4s = params.c_in * params.kh * params.kw / 4u;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= k_vec4s * out_vec4s) { return; }
    let co0 = (i % out_vec4s) * 4u;
    let k4 = i / out_vec4s;
    // rows[j]: weight[co0 + j, 4 k4 .. 4 k4 + 3], zero past c_out.
    var rows: array<vec4<f32>, 4>;
    for (var j = 0u; j < 4u; j++) {
        if (co0 + j < params.c_out) {
            rows[j] = weight4[(co0 + j) * k_vec4s + k4];
        }
    }
    for (var t = 0u; t < 4u; t++) {
        out4[(4u * k4 + t) * out_vec4s + co0 / 4u] = vec4<f32>(rows[0][t], rows[1][t], rows[2][t], rows[3][t]);
    }
}

@compute @workgroup_size(WG)
fn pad_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * params.c_in * params.rows * params.row_vec4s) { return; }
    let xx0 = (i % params.row_vec4s) * 4u;
    let yy = (i / params.row_vec4s) % params.rows;
    let plane = i / (params.row_vec4s * params.rows);
    let iy = i32(yy) - i32(params.ph);
    var v = vec4<f32>(0.0);
    if (iy >= 0 && iy < i32(params.h)) {
        let row = params.x_off + (plane * params.h + u32(iy)) * params.w;
        for (var j = 0u; j < 4u; j++) {
            let ix = i32(xx0 + j) - i32(params.pw);
            if (ix >= 0 && ix < i32(params.w)) {
                v[j] = x[row + u32(ix)];
            }
        }
    }
    out4[i] = v;
}

// A quad's inputs for tap column s of its window (a, b): elements s .. s + 3 of the eight values
// (s <= 4); with ROW_PAIRS, elements s, s + 1 of row a then of row b (s <= 3; the second column
// of a 1-wide plane is never stored).
fn shifted(a: vec4<f32>, b: vec4<f32>, s: u32) -> vec4<f32> {
    if (ROW_PAIRS) {
        switch s {
            case 0u: { return vec4<f32>(a.xy, b.xy); }
            case 1u: { return vec4<f32>(a.yz, b.yz); }
            case 2u: { return vec4<f32>(a.zw, b.zw); }
            default: { return vec4<f32>(a.ww, b.ww); }
        }
    }
    switch s {
        case 0u: { return a; }
        case 1u: { return vec4<f32>(a.yzw, b.x); }
        case 2u: { return vec4<f32>(a.zw, b.xy); }
        case 3u: { return vec4<f32>(a.w, b.xyz); }
        default: { return b; }
    }
}

// forward_rows' block of invocation i: output channels co0 .. co0 + FC of quads first .. first
// + QUADS (those up to last), acc[c * QUADS + t] holding channel co0 + c of quad t before the
// bias, and where each quad's output goes (see the end of rows_block).
struct RowsBlock {
    valid: bool,
    co0: u32,
    first: u32,
    last: u32,
    out_at: array<u32, QUADS>,
    out_row: array<u32, QUADS>,
    out_col: array<u32, QUADS>,
    acc: array<vec4<f32>, FC * QUADS>,
}

fn rows_block(i: u32) -> RowsBlock {
    var quads_per_row = (params.ow + 3u) / 4u;
    var quads = params.oh * quads_per_row;
    if (ROW_PAIRS) {
        quads_per_row = 1u;
        quads = (params.oh + 1u) / 2u;
    }
    let blocks_c = (params.c_out + FC - 1u) / FC;
    // Quads are numbered across the batch (image nn's quad q is nn * quads + q). On large planes
    // a block's quads lie in one image and images vary slowest, so an image's input stays in
    // cache across channel blocks; on small planes a block may span images and output channels
    // vary slowest, so a workgroup's invocations share weights.
    var first: u32;
    var last: u32;
    var co0: u32;
    if (params.image_major == 1u) {
        let blocks_q = (quads + QUADS - 1u) / QUADS;
        if (i >= params.n * blocks_c * blocks_q) { return RowsBlock(); }
        let nn = i / (blocks_q * blocks_c);
        co0 = ((i / blocks_q) % blocks_c) * FC;
        first = nn * quads + (i % blocks_q) * QUADS;
        last = nn * quads + quads - 1u;
    } else {
        let blocks_q = (params.n * quads + QUADS - 1u) / QUADS;
        if (i >= blocks_c * blocks_q) { return RowsBlock(); }
        co0 = (i / blocks_q) * FC;
        first = (i % blocks_q) * QUADS;
        last = params.n * quads - 1u;
    }
    // Per quad: the first vec4 of its window in its image's padded input (channel 0), and where
    // its output goes: the row and column of its first pixel and that pixel's index in channel 0
    // of its image. Quads past `last` repeat it and are not stored.
    var start: array<u32, QUADS>;
    var out_row: array<u32, QUADS>;
    var out_col: array<u32, QUADS>;
    var out_at: array<u32, QUADS>;
    let plane_vec4s = params.rows * params.row_vec4s;
    for (var t = 0u; t < QUADS; t++) {
        let fq = min(first + t, last);
        let nn = fq / quads;
        let q = fq % quads;
        out_row[t] = q / quads_per_row;
        out_col[t] = (q % quads_per_row) * 4u;
        if (ROW_PAIRS) {
            out_row[t] = 2u * q;
        }
        start[t] = nn * params.c_in * plane_vec4s + out_row[t] * params.row_vec4s + out_col[t] / 4u;
        out_at[t] = nn * params.c_out * params.oh * params.ow + out_row[t] * params.ow + out_col[t];
    }
    // A quad's window: two vec4s along its padded row, or its two padded rows.
    var second = 1u;
    if (ROW_PAIRS) {
        second = params.row_vec4s;
    }
    // acc[c * QUADS + t]: output channel co0 + c at the four pixels of quad t. Every index into acc
    // must be a constant once loops unroll, or the whole block leaves registers (2x slower here).
    var acc: array<vec4<f32>, FC * QUADS>;
    let packed_row = padded_out() / 4u;
    for (var ci = 0u; ci < params.c_in; ci++) {
        for (var ky = 0u; ky < params.kh; ky++) {
            let tap0 = (ci * params.kh + ky) * KW * packed_row + co0 / 4u;
            var lo: array<vec4<f32>, QUADS>;
            var hi: array<vec4<f32>, QUADS>;
            for (var t = 0u; t < QUADS; t++) {
                let at = start[t] + ci * plane_vec4s + ky * params.row_vec4s;
                lo[t] = x_rows[at];
                hi[t] = x_rows[at + second];
            }
            if (KW == 3u) {
                // The common 3-wide kernel, written out: its three shifted windows are registers.
                var w: array<vec4<f32>, 6>;
                for (var kx = 0u; kx < 3u; kx++) {
                    w[2u * kx] = packed[tap0 + kx * packed_row];
                    w[2u * kx + 1u] = packed[tap0 + kx * packed_row + 1u];
                }
                for (var t = 0u; t < QUADS; t++) {
                    let x0 = shifted(lo[t], hi[t], 0u);
                    let x1 = shifted(lo[t], hi[t], 1u);
                    let x2 = shifted(lo[t], hi[t], 2u);
                    for (var c = 0u; c < 4u; c++) {
                        acc[c * QUADS + t] += w[0][c] * x0 + w[2][c] * x1 + w[4][c] * x2;
                        acc[(c + 4u) * QUADS + t] += w[1][c] * x0 + w[3][c] * x1 + w[5][c] * x2;
                    }
                }
            } else {
                for (var kx = 0u; kx < KW; kx++) {
                    let w_lo = packed[tap0 + kx * packed_row];
                    let w_hi = packed[tap0 + kx * packed_row + 1u];
                    for (var t = 0u; t < QUADS; t++) {
                        let xs = shifted(lo[t], hi[t], kx);
                        for (var c = 0u; c < 4u; c++) {
                            acc[c * QUADS + t] += w_lo[c] * xs;
                            acc[(c + 4u) * QUADS + t] += w_hi[c] * xs;
                        }
                    }
                }
            }
        }
    }
    return RowsBlock(true, co0, first, last, out_at, out_row, out_col, acc);
}

@compute @workgroup_size(WG)
fn forward_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = rows_block(workgroup_index(wid, nwg) * WG + lid.x);
    if (!blk.valid) { return; }
    store_rows(blk, array<f32, FC>());
}

@compute @workgroup_size(WG)
fn forward_rows_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let blk = rows_block(workgroup_index(wid, nwg) * WG + lid.x);
    if (!blk.valid) { return; }
    let lo = biases4(blk.co0);
    let hi = biases4(blk.co0 + 4u);
    store_rows(blk, array<f32, FC>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w));
}

// Stores a forward_rows block, channel co0 + c plus b[c]. Written out (FC * QUADS = 16 entries),
// so acc is only indexed by constants (see acc in rows_block).
fn store_rows(blk: RowsBlock, b: array<f32, FC>) {
    store_block(0u, blk, b, blk.acc[0]);
    store_block(1u, blk, b, blk.acc[1]);
    store_block(2u, blk, b, blk.acc[2]);
    store_block(3u, blk, b, blk.acc[3]);
    store_block(4u, blk, b, blk.acc[4]);
    store_block(5u, blk, b, blk.acc[5]);
    store_block(6u, blk, b, blk.acc[6]);
    store_block(7u, blk, b, blk.acc[7]);
    store_block(8u, blk, b, blk.acc[8]);
    store_block(9u, blk, b, blk.acc[9]);
    store_block(10u, blk, b, blk.acc[10]);
    store_block(11u, blk, b, blk.acc[11]);
    store_block(12u, blk, b, blk.acc[12]);
    store_block(13u, blk, b, blk.acc[13]);
    store_block(14u, blk, b, blk.acc[14]);
    store_block(15u, blk, b, blk.acc[15]);
}

// Stores entry r of forward_rows' block (output channel co0 + r / QUADS, quad t = r % QUADS) plus
// b[r / QUADS]; channels past c_out and repeated quads (first + t > last) are not stored.
fn store_block(r: u32, blk: RowsBlock, b: array<f32, FC>, v: vec4<f32>) {
    let co = blk.co0 + r / QUADS;
    let t = r % QUADS;
    if (co < params.c_out && blk.first + t <= blk.last) {
        let at = params.y_off + blk.out_at[t] + co * params.oh * params.ow;
        if (ROW_PAIRS) {
            store_row_pair(at, blk.out_row[t], v + b[r / QUADS]);
        } else {
            store_quad(at, blk.out_col[t], v + b[r / QUADS]);
        }
    }
}

// y[at + j] = v[j] for the pixels j of a quad whose first pixel, at column ox0, is y[at]. No loop,
// so the caller's loop still unrolls.
fn store_quad(at: u32, ox0: u32, v: vec4<f32>) {
    y[at] = v.x;
    if (ox0 + 1u < params.ow) { y[at + 1u] = v.y; }
    if (ox0 + 2u < params.ow) { y[at + 2u] = v.z; }
    if (ox0 + 3u < params.ow) { y[at + 3u] = v.w; }
}

// With ROW_PAIRS: columns 0 and 1 of rows oy0 and oy0 + 1 are v.xy and v.zw; y[at] is (oy0, 0).
fn store_row_pair(at: u32, oy0: u32, v: vec4<f32>) {
    y[at] = v.x;
    if (params.ow > 1u) { y[at + 1u] = v.y; }
    if (oy0 + 1u < params.oh) {
        y[at + params.ow] = v.z;
        if (params.ow > 1u) { y[at + params.ow + 1u] = v.w; }
    }
}
