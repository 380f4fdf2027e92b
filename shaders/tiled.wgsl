// The GPU kernel family (ops/tiled.rs): every product and convolution as one tiled matrix product
//   C(i, j) = sum over kk of A(i, kk) * B(kk, j)   for i < m, j < n, kk in the workgroup's k range,
// where the override MODE says what A, B and C are (each value compiles its own pipeline, so the
// switches below fold away):
//   MODE 0, product: A(i, kk) = a[a_off + z a_batch + i a_row + kk a_col], B(kk, j) = b[b_off +
//     z b_batch + kk b_row + j b_col], C row-major [m, n] at c_off + z c_batch (matmul.rs's
//     strided products; `batch` of them, the z-th in grid layer z).
//   MODE 1, convolution (implicit GEMM): A = the weight [c_out, c_in kh kw] at a_off; B(kk, j) the
//     im2col matrix of x [images, c_in, h, w] at b_off, gathered tile by tile, never stored (kk =
//     (ci, ky, kx), j = (image, oy, ox), x at (oy sh + ky - ph, ox sw + kx - pw), zero outside);
//     C = y [images, c_out, oh, ow] at c_off. m = c_out, n = images oh ow, k = c_in kh kw.
//   MODE 2, transposed convolution (gather): y [images, c_out, oh, ow] at c_off from x [images,
//     c_in, h, w] at b_off and the weight [c_in, c_out, kh, kw] at a_off. Output pixels are split
//     by phase ((Y + ph) % sh, (X + pw) % sw), one grid layer z each; in a phase only the taps
//     ky = ry + t sh, kx = rx + u sw meet an input pixel (qy - t, qx - u), qy = (Y + ph) / sh, so
//     kk = (ci, t, u) runs over c_in ceil(kh/sh) ceil(kw/sw) taps and no multiply is wasted on the
//     zeros a stride inserts. m = c_out, n = images (a layer's columns are its phase's pixels of
//     each image), k = the taps; batch = sh sw layers.
//   MODE 3, weight gradient: C(i, j) = dw[co, (ci, ky, kx)] = sum over kk = (image, oy, ox) of
//     A(i, kk) = g[image, co, oy, ox] at a_off times B(kk, j) = x[image, ci, oy sh + ky - ph,
//     ox sw + kx - pw] at b_off. Grid layer z sums k_split of the kk and stores its partial sums
//     at c_off + z c_batch (ops/tiled.rs adds the layers in a fixed order). m = c_out (g's
//     channels), n = c_in kh kw, k = images oh ow; batch = the layers.
// Bias (entry point tiled_bias only; tiled binds none): has_bias 1 adds bias[j], 2 adds bias[i].
// accumulate 1 adds the old C.
// Grid: tiles_m * tiles_n * batch workgroups of TX x TY invocations, folded; workgroup (z, tm, tn)
// computes the (4 TY) x (4 TX) tile of C at (4 TY tm, 4 TX tn), each invocation a 4 x 4 register
// block. Per stage the workgroup stages TK columns of A and TK rows of B in workgroup memory (each
// invocation loading 4 TK / TX and 4 TK / TY of them, along the operand's contiguous index; in
// MODE 0 as vec4s where a_vec4 / b_vec4 say the operand is aligned: a4 and b4 are a and b read
// as vec4s), then every invocation adds 16 products per pair of vec4s it reads. Each C(i, j) is
// summed in one fixed order, so results are bit-reproducible on a device.

override TX: u32 = 16u;
override TY: u32 = 16u;
override TK: u32 = 16u;
override MODE: u32 = 0u;

struct Params {
    m: u32, n: u32, k: u32, a_row: u32, a_col: u32, b_row: u32, b_col: u32, has_bias: u32,
    accumulate: u32, a_off: u32, b_off: u32, c_off: u32, a_batch: u32, b_batch: u32, c_batch: u32,
    batch: u32, tiles_m: u32, tiles_n: u32, k_split: u32, c_in: u32, h: u32, w: u32, oh: u32, ow: u32,
    kh: u32, kw: u32, sh: u32, sw: u32, ph: u32, pw: u32, a_vec4: u32, b_vec4: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// A's tile, k-major: a_tile[kk * TY + r / 4][r % 4] = A(tile row r, stage column kk).
var<workgroup> a_tile: array<vec4<f32>, TK * TY>;
// B's tile, row-major: b_tile[kk * TX + j / 4][j % 4] = B(stage row kk, tile column j).
var<workgroup> b_tile: array<vec4<f32>, TK * TX>;

// What a workgroup computes: grid layer z, its tile's origin, and its range of kk.
struct Work {
    z: u32,
    m0: u32,
    n0: u32,
    k_begin: u32,
    k_end: u32,
    // MODE 2: the phase's first (qy, qx) and its pixel counts (cy, cx).
    q0: vec2<u32>,
    counts: vec2<u32>,
}

// MODE 2: the first q and the count of outputs Y = q s + r - p in [0, out) for phase r.
fn phase_range(r: u32, s: u32, p: u32, out: u32) -> vec2<u32> {
    let first = (max(p, r) - r + s - 1u) / s;
    if (out + p <= r) { return vec2<u32>(first, 0u); }
    let end = (out - 1u + p - r) / s + 1u;
    return vec2<u32>(first, select(0u, end - first, end > first));
}

fn work_of(index: u32) -> Work {
    var work: Work;
    let tiles = params.tiles_m * params.tiles_n;
    work.z = index / tiles;
    work.m0 = (index % tiles) / params.tiles_n * 4u * TY;
    work.n0 = index % params.tiles_n * 4u * TX;
    work.k_begin = 0u;
    work.k_end = params.k;
    if (MODE == 2u) {
        let ys = phase_range(work.z / params.sw, params.sh, params.ph, params.oh);
        let xs = phase_range(work.z % params.sw, params.sw, params.pw, params.ow);
        work.q0 = vec2<u32>(ys.x, xs.x);
        work.counts = vec2<u32>(ys.y, xs.y);
    }
    if (MODE == 3u) {
        work.k_begin = work.z * params.k_split;
        work.k_end = min(work.k_begin + params.k_split, params.k);
    }
    return work;
}

// Columns of C this workgroup's grid layer has (MODE 2: the phase's pixels).
fn columns(work: Work) -> u32 {
    if (MODE == 2u) {
        return params.n * work.counts.x * work.counts.y;
    }
    return params.n;
}

// Taps of a MODE 2 phase along one axis: ceil(kernel / stride).
fn taps(kernel: u32, stride: u32) -> u32 {
    return (kernel + stride - 1u) / stride;
}

// x[image, ci, iy, ix] at b_off, zero outside the plane.
fn input_at(image: u32, ci: u32, iy: i32, ix: i32) -> f32 {
    if (iy < 0 || ix < 0 || iy >= i32(params.h) || ix >= i32(params.w)) { return 0.0; }
    return b[params.b_off + ((image * params.c_in + ci) * params.h + u32(iy)) * params.w + u32(ix)];
}

// x at kernel tap (ky, kx) of output pixel `pixel` = (image, oy, ox) of a [oh, ow] plane.
fn im2col(ci: u32, ky: u32, kx: u32, pixel: u32) -> f32 {
    let plane = params.oh * params.ow;
    let q = pixel % plane;
    let iy = i32((q / params.ow) * params.sh + ky) - i32(params.ph);
    let ix = i32((q % params.ow) * params.sw + kx) - i32(params.pw);
    return input_at(pixel / plane, ci, iy, ix);
}

fn a_at(work: Work, i: u32, kk: u32) -> f32 {
    if (i >= params.m || kk >= work.k_end) { return 0.0; }
    switch MODE {
        case 0u: {
            return a[params.a_off + work.z * params.a_batch + i * params.a_row + kk * params.a_col];
        }
        case 1u: {
            return a[params.a_off + i * params.k + kk];
        }
        case 2u: {
            let taps_y = taps(params.kh, params.sh);
            let taps_x = taps(params.kw, params.sw);
            let ci = kk / (taps_y * taps_x);
            let ky = work.z / params.sw + (kk / taps_x) % taps_y * params.sh;
            let kx = work.z % params.sw + kk % taps_x * params.sw;
            if (ky >= params.kh || kx >= params.kw) { return 0.0; }
            return a[params.a_off + ((ci * params.m + i) * params.kh + ky) * params.kw + kx];
        }
        default: {
            let plane = params.oh * params.ow;
            return a[params.a_off + (kk / plane * params.m + i) * plane + kk % plane];
        }
    }
}

fn b_at(work: Work, kk: u32, j: u32) -> f32 {
    if (kk >= work.k_end || j >= columns(work)) { return 0.0; }
    let taps2 = params.kh * params.kw;
    switch MODE {
        case 0u: {
            return b[params.b_off + work.z * params.b_batch + kk * params.b_row + j * params.b_col];
        }
        case 1u: {
            return im2col(kk / taps2, kk % taps2 / params.kw, kk % params.kw, j);
        }
        case 2u: {
            let taps_y = taps(params.kh, params.sh);
            let taps_x = taps(params.kw, params.sw);
            let per_image = work.counts.x * work.counts.y;
            let q = j % per_image;
            let iy = i32(work.q0.x + q / work.counts.y) - i32((kk / taps_x) % taps_y);
            let ix = i32(work.q0.y + q % work.counts.y) - i32(kk % taps_x);
            return input_at(j / per_image, kk / (taps_y * taps_x), iy, ix);
        }
        default: {
            return im2col(j / taps2, j % taps2 / params.kw, j % params.kw, kk);
        }
    }
}

// The same views as a and b, read four floats at a time by the three functions below (where
// a_vec4 and b_vec4 say the operand's rows or columns start on vec4s).
@group(0) @binding(5) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> b4: array<vec4<f32>>;

// MODE 0 with a_vec4 2 (A k-major: a_row 1; a_col, a_off and a_batch multiples of 4): A(i0 ..
// i0 + 3, kk) as one vec4 load, zero past m or the k range.
fn a_column4(work: Work, i0: u32, kk: u32) -> vec4<f32> {
    if (i0 >= params.m || kk >= work.k_end) { return vec4<f32>(); }
    let v = a4[(params.a_off + work.z * params.a_batch + i0 + kk * params.a_col) / 4u];
    return select(vec4<f32>(), v, i0 + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.m));
}

// MODE 0 with a_vec4 1 (A row-major: a_col 1; a_row, a_off and a_batch multiples of 4): A(i, kk ..
// kk + 3) as one vec4 load, zero past m or the k range.
fn a_row4(work: Work, i: u32, kk: u32) -> vec4<f32> {
    if (i >= params.m || kk >= work.k_end) { return vec4<f32>(); }
    let v = a4[(params.a_off + work.z * params.a_batch + i * params.a_row + kk) / 4u];
    return select(vec4<f32>(), v, kk + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(work.k_end));
}

// MODE 0 with b_vec4 1 (B row-major: b_col 1; b_row, b_off and b_batch multiples of 4): B(kk, j0 ..
// j0 + 3) as one vec4 load, zero past n or the k range.
fn b_row4(work: Work, kk: u32, j0: u32) -> vec4<f32> {
    if (j0 >= params.n || kk >= work.k_end) { return vec4<f32>(); }
    let v = b4[(params.b_off + work.z * params.b_batch + kk * params.b_row + j0) / 4u];
    return select(vec4<f32>(), v, j0 + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(params.n));
}

// Stages A's tile for the stage at k0: vec4 loads where a_vec4 allows, else one value at a time
// along A's contiguous index.
fn stage_a(work: Work, k0: u32, flat: u32) {
    let rows = 4u * TY;
    if (MODE == 0u && params.a_vec4 == 2u) {
        for (var e = flat; e < TK * TY; e += TX * TY) {
            a_tile[e] = a_column4(work, work.m0 + 4u * (e % TY), k0 + e / TY);
        }
        return;
    }
    if (MODE == 0u && params.a_vec4 == 1u) {
        for (var e = flat; e < TK / 4u * rows; e += TX * TY) {
            let r = e / (TK / 4u);
            let kk = 4u * (e % (TK / 4u));
            let v = a_row4(work, work.m0 + r, k0 + kk);
            for (var t = 0u; t < 4u; t++) {
                a_tile[(kk + t) * TY + r / 4u][r % 4u] = v[t];
            }
        }
        return;
    }
    for (var e = flat; e < TK * rows; e += TX * TY) {
        var r = e % rows;
        var kk = e / rows;
        if (a_runs_along_k()) {
            r = e / TK;
            kk = e % TK;
        }
        a_tile[kk * TY + r / 4u][r % 4u] = a_at(work, work.m0 + r, k0 + kk);
    }
}

// Stages B's tile for the stage at k0: vec4 loads where b_vec4 allows, else one value at a time.
fn stage_b(work: Work, k0: u32, flat: u32) {
    let cols = 4u * TX;
    if (MODE == 0u && params.b_vec4 == 1u) {
        for (var e = flat; e < TK * TX; e += TX * TY) {
            b_tile[e] = b_row4(work, k0 + e / TX, work.n0 + 4u * (e % TX));
        }
        return;
    }
    for (var e = flat; e < TK * cols; e += TX * TY) {
        var j = e % cols;
        var kk = e / cols;
        if (b_runs_along_k()) {
            j = e / TK;
            kk = e % TK;
        }
        b_tile[kk * TX + j / 4u][j % 4u] = b_at(work, k0 + kk, work.n0 + j);
    }
}

// Whether A's contiguous index is its column kk (loads then run along kk) rather than its row.
fn a_runs_along_k() -> bool {
    return MODE != 0u || params.a_col == 1u;
}

// Whether B's contiguous index is its row kk rather than its column j.
fn b_runs_along_k() -> bool {
    return MODE == 3u || (MODE == 0u && params.b_col != 1u && params.b_row == 1u);
}

// The 4 x 4 block of C at rows m0 + 4 ty .. and columns n0 + 4 tx .., before bias and accumulation.
fn tile_product(work: Work, lid: vec3<u32>) -> array<vec4<f32>, 4> {
    let flat = lid.y * TX + lid.x;
    var acc: array<vec4<f32>, 4>;
    for (var k0 = work.k_begin; k0 < work.k_end; k0 += TK) {
        stage_a(work, k0, flat);
        stage_b(work, k0, flat);
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let av = a_tile[kk * TY + lid.y];
            let bv = b_tile[kk * TX + lid.x];
            acc[0] = fma(vec4<f32>(av.x), bv, acc[0]);
            acc[1] = fma(vec4<f32>(av.y), bv, acc[1]);
            acc[2] = fma(vec4<f32>(av.z), bv, acc[2]);
            acc[3] = fma(vec4<f32>(av.w), bv, acc[3]);
        }
        workgroupBarrier();
    }
    return acc;
}

// Where C(i, j) of the workgroup's grid layer is stored.
fn c_index(work: Work, i: u32, j: u32) -> u32 {
    switch MODE {
        case 1u: {
            let plane = params.oh * params.ow;
            return params.c_off + (j / plane * params.m + i) * plane + j % plane;
        }
        case 2u: {
            let per_image = work.counts.x * work.counts.y;
            let q = j % per_image;
            let y = (work.q0.x + q / work.counts.y) * params.sh + work.z / params.sw - params.ph;
            let x = (work.q0.y + q % work.counts.y) * params.sw + work.z % params.sw - params.pw;
            return params.c_off + ((j / per_image * params.m + i) * params.oh + y) * params.ow + x;
        }
        default: {
            return params.c_off + work.z * params.c_batch + i * params.n + j;
        }
    }
}

// Stores the invocation's block: bias_rows[r] + bias_cols[col] added to each C(row r, col).
fn store_block(work: Work, lid: vec3<u32>, acc: array<vec4<f32>, 4>, bias_rows: vec4<f32>,
               bias_cols: vec4<f32>) {
    let n = columns(work);
    for (var r = 0u; r < 4u; r++) {
        let i = work.m0 + 4u * lid.y + r;
        for (var col = 0u; col < 4u; col++) {
            let j = work.n0 + 4u * lid.x + col;
            if (i < params.m && j < n) {
                let at = c_index(work, i, j);
                var value = acc[r][col] + bias_rows[r] + bias_cols[col];
                if (params.accumulate == 1u) {
                    value += c[at];
                }
                c[at] = value;
            }
        }
    }
}

// The workgroup's work, or none past the grid's end or its phase's columns (uniform per workgroup,
// so every invocation of it returns before any barrier).
fn workgroup_work(wid: vec3<u32>, nwg: vec3<u32>) -> Work {
    let index = workgroup_index(wid, nwg);
    var work = work_of(min(index, params.tiles_m * params.tiles_n * params.batch - 1u));
    if (index >= params.tiles_m * params.tiles_n * params.batch || work.n0 >= columns(work)) {
        work.k_end = 0u;
        work.m0 = params.m;
    }
    return work;
}

@compute @workgroup_size(TX, TY)
fn tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let work = workgroup_work(wid, nwg);
    store_block(work, lid, tile_product(work, lid), vec4<f32>(), vec4<f32>());
}

@compute @workgroup_size(TX, TY)
fn tiled_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let work = workgroup_work(wid, nwg);
    var rows = vec4<f32>();
    var cols = vec4<f32>();
    for (var e = 0u; e < 4u; e++) {
        let i = min(work.m0 + 4u * lid.y + e, params.m - 1u);
        let j = min(work.n0 + 4u * lid.x + e, params.n - 1u);
        if (params.has_bias == 2u) { rows[e] = bias[i]; }
        if (params.has_bias == 1u) { cols[e] = bias[j]; }
    }
    store_block(work, lid, tile_product(work, lid), rows, cols);
}
