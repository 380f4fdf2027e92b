// Matrix product with strided operands, for linear layers and their gradients:
//   c[m, n] = sum over k of A(m, k) * B(k, n)  (+ bias[n] if has_bias is 1, + bias[m] if 2, with
//   vec4_out)  (+ c[m, n] if accumulate)
// A(m, k) = a[a_off + m * a_row + k * a_col] and B(k, n) = b[b_off + k * b_row + n * b_col], so a
// transposed operand is just other strides; c is row-major [m, n] at c_off.
//   matmul:       any strides. Each invocation computes a TM x TN block of c (the A and B values
//                 loaded for one k are reused TN and TM times). Grid = ceil(m/TM) * ceil(n/TN)
//                 invocations, folded.
//   matmul_vec4:  B row-major with rows a multiple of 4 floats long (b_col = 1, b_row % 4 = 0,
//                 b_off % 4 = 0), read as vec4s (b4). Each invocation computes 4 rows x 8 columns,
//                 two vec4 accumulators per row. Grid = ceil(m/4) * ceil(n/8) invocations, folded.
//   matmul_vec4x2: both operands k-major with rows a multiple of 4 floats: A(m, k) =
//                 a4[(a_off + k * a_col) / 4 + m / 4][m % 4] (a_row = 1) and B as for matmul_vec4.
//                 Each invocation computes 8 rows x 8 columns from two vec4s of each operand per
//                 k (64 multiply-adds per four loads). `batch` products at once, the z-th with
//                 its operands and result z * a_batch, b_batch, c_batch elements further (one
//                 dispatch for Winograd's sixteen). Grid = batch * ceil(m/8) * ceil(n/8)
//                 invocations.
//   matmul_rows_vec4x2: as matmul_vec4x2 with A row-major instead: A(m, k) =
//                 a4[(a_off + m * a_row) / 4 + k / 4][k % 4], rows a multiple of 4 floats and
//                 zero from k to the row's end (B's rows there are not read: its last row is). Per
//                 four k, one vec4 of each of 8 rows of A and two of 4 rows of B (256
//                 multiply-adds per 16 loads). Same grid.
//   transpose:    c[j, i] = a[i, j] for a [m, n] (c's rows padded to b_row floats, the padding
//                 zeroed), so linear's weight [out, in] becomes a row-major B. One invocation per
//                 element of c.
// The vec4 product entry points have a _bias twin (matmul_vec4_bias, matmul_vec4x2_bias,
// matmul_rows_vec4x2_bias), the only ones that read `bias` (has_bias 1 or 2): the others bind no
// buffer for it. `matmul` has none: linear's B, the only operand a bias comes with, is always
// vec4-aligned. The batched products' larger blocks are in batched_matmul.wgsl.

override WG: u32 = 64;
const TM: u32 = 4u;
const TN: u32 = 4u;

struct Params {
    m: u32, n: u32, k: u32, a_row: u32, a_col: u32, b_row: u32, b_col: u32,
    has_bias: u32, accumulate: u32, a_off: u32, b_off: u32, c_off: u32, vec4_out: u32,
    batch: u32, a_batch: u32, b_batch: u32, c_batch: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> c4: array<vec4<f32>>;

// Where this invocation's product of a batch starts in c (elements past c_off).
var<private> c_shift: u32;

// The bias values a block's stores add (see store and store4): with has_bias 1 the block's columns
// n0 .. n0 + 8 (cols), with 2 its rows m0 .. m0 + 8 (rows); zero in the entry points without bias,
// which never read them and bind no bias buffer.
struct BlockBias {
    cols: array<vec4<f32>, 2>,
    rows: array<f32, 8>,
}

// The bias values of the block at (m0, n0); indices past the matrix repeat its last row or column
// (their results are never stored).
fn block_bias(m0: u32, n0: u32) -> BlockBias {
    var bb: BlockBias;
    if (params.has_bias == 1u) {
        for (var j = 0u; j < 8u; j++) {
            bb.cols[j / 4u][j % 4u] = bias[min(n0 + j, params.n - 1u)];
        }
    }
    if (params.has_bias == 2u) {
        for (var r = 0u; r < 8u; r++) {
            bb.rows[r] = bias[min(m0 + r, params.m - 1u)];
        }
    }
    return bb;
}

// `matmul`'s TM x TN blocks: ceil(m/TM) * ceil(n/TN), column blocks fastest; block i's origin.
fn scalar_blocks() -> u32 {
    return ((params.n + TN - 1u) / TN) * ((params.m + TM - 1u) / TM);
}

fn scalar_origin(i: u32) -> vec2<u32> {
    let blocks_n = (params.n + TN - 1u) / TN;
    return vec2<u32>((i / blocks_n) * TM, (i % blocks_n) * TN);
}

// The TM x TN block of c at (m0, n0), before bias and accumulation.
fn scalar_block(m0: u32, n0: u32) -> array<array<f32, TN>, TM> {
    var acc: array<array<f32, TN>, TM>;
    for (var k = 0u; k < params.k; k++) {
        var bk: array<f32, TN>;
        for (var j = 0u; j < TN; j++) {
            // Clamped so edge blocks read valid memory; their extra results are never stored.
            let col = min(n0 + j, params.n - 1u);
            bk[j] = b[params.b_off + k * params.b_row + col * params.b_col];
        }
        for (var i = 0u; i < TM; i++) {
            let row = min(m0 + i, params.m - 1u);
            let ak = a[params.a_off + row * params.a_row + k * params.a_col];
            for (var j = 0u; j < TN; j++) {
                acc[i][j] += ak * bk[j];
            }
        }
    }
    return acc;
}

// Stores `matmul`'s block at (m0, n0).
fn store_scalar_block(m0: u32, n0: u32, acc: array<array<f32, TN>, TM>) {
    // Flat loops without breaks, so they unroll and acc stays in registers.
    for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) {
            if (m0 + i < params.m && n0 + j < params.n) {
                store(m0 + i, n0 + j, acc[i][j], 0.0);
            }
        }
    }
}

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= scalar_blocks()) { return; }
    let o = scalar_origin(i);
    store_scalar_block(o.x, o.y, scalar_block(o.x, o.y));
}

// c[row, col] = value, plus b (the bias of column col) and the old c[row, col] when asked.
fn store(row: u32, col: u32, value: f32, b: f32) {
    var v = value;
    if (params.has_bias == 1u) {
        v += b;
    }
    let o = params.c_off + c_shift + row * params.n + col;
    if (params.accumulate == 1u) {
        v += c[o];
    }
    c[o] = v;
}

// `matmul_vec4`'s 4 x 8 blocks: ceil(m/4) * ceil(n/8), column blocks fastest; block i's origin.
fn vec4_blocks() -> u32 {
    return ((params.n + 7u) / 8u) * ((params.m + 3u) / 4u);
}

fn vec4_origin(i: u32) -> vec2<u32> {
    let blocks_n = (params.n + 7u) / 8u;
    return vec2<u32>((i / blocks_n) * 4u, (i % blocks_n) * 8u);
}

// The 4 x 8 block of c at (m0, n0): lo[i] holds row m0 + i, columns n0 .. n0 + 3, hi[i] the next four.
struct Vec4Block {
    lo: array<vec4<f32>, 4>,
    hi: array<vec4<f32>, 4>,
}

fn vec4_block(m0: u32, n0: u32) -> Vec4Block {
    let has_hi = n0 + 4u < params.n;
    let row4 = params.b_row / 4u;
    let base = params.b_off / 4u + n0 / 4u;
    var lo: array<vec4<f32>, 4>;
    var hi: array<vec4<f32>, 4>;
    for (var k = 0u; k < params.k; k++) {
        let b_lo = b4[base + k * row4];
        var b_hi = vec4<f32>(0.0);
        if (has_hi) {
            b_hi = b4[base + k * row4 + 1u];
        }
        for (var i = 0u; i < 4u; i++) {
            // Clamped so edge blocks read valid memory; their extra rows are never stored.
            let row = min(m0 + i, params.m - 1u);
            let a_ik = a[params.a_off + row * params.a_row + k * params.a_col];
            lo[i] += a_ik * b_lo;
            hi[i] += a_ik * b_hi;
        }
    }
    return Vec4Block(lo, hi);
}

// Stores `matmul_vec4`'s block at (m0, n0) with the bias values bb. Written out, so lo and hi are
// only indexed by constants (a loop here may not unroll, and then the accumulators live in memory).
fn store_vec4_block(m0: u32, n0: u32, blk: Vec4Block, bb: BlockBias) {
    store_row(m0 + 0u, n0, blk.lo[0], blk.hi[0], bb.cols, bb.rows[0]);
    store_row(m0 + 1u, n0, blk.lo[1], blk.hi[1], bb.cols, bb.rows[1]);
    store_row(m0 + 2u, n0, blk.lo[2], blk.hi[2], bb.cols, bb.rows[2]);
    store_row(m0 + 3u, n0, blk.lo[3], blk.hi[3], bb.cols, bb.rows[3]);
}

// Stores row `row` of a block if it is inside c: lo at columns n0 .. n0 + 3 and hi at the next
// four, with the block's column biases b_cols and the row's bias b_row.
fn store_row(row: u32, n0: u32, lo: vec4<f32>, hi: vec4<f32>, b_cols: array<vec4<f32>, 2>, b_row: f32) {
    if (row < params.m) {
        store4(row, n0, lo, b_cols[0], b_row);
        store4(row, n0 + 4u, hi, b_cols[1], b_row);
    }
}

@compute @workgroup_size(WG)
fn matmul_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= vec4_blocks()) { return; }
    let o = vec4_origin(i);
    store_vec4_block(o.x, o.y, vec4_block(o.x, o.y), BlockBias());
}

@compute @workgroup_size(WG)
fn matmul_vec4_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= vec4_blocks()) { return; }
    let o = vec4_origin(i);
    store_vec4_block(o.x, o.y, vec4_block(o.x, o.y), block_bias(o.x, o.y));
}

// store(row, col0 + j, v[j], b_cols[j]) for the columns j < 4 below n; one vec4 store when vec4_out
// (no column bias, no accumulation, n and c_off multiples of 4, so a vec4 is inside the row or past
// it), plus b_row (the bias of the row) with has_bias 2.
fn store4(row: u32, col0: u32, v: vec4<f32>, b_cols: vec4<f32>, b_row: f32) {
    if (params.vec4_out == 1u) {
        if (col0 < params.n) {
            // has_bias 2: a bias per row (a 1x1 convolution's output channel).
            var out = v;
            if (params.has_bias == 2u) {
                out += b_row;
            }
            c4[(params.c_off + c_shift + row * params.n + col0) / 4u] = out;
        }
        return;
    }
    if (col0 < params.n) { store(row, col0, v.x, b_cols.x); }
    if (col0 + 1u < params.n) { store(row, col0 + 1u, v.y, b_cols.y); }
    if (col0 + 2u < params.n) { store(row, col0 + 2u, v.z, b_cols.z); }
    if (col0 + 3u < params.n) { store(row, col0 + 3u, v.w, b_cols.w); }
}

// Product z and 8 x 8 block (m0, n0) of c, block columns fastest, for invocation i of the
// batched products; sets c_shift. valid is false past the last block.
struct Block {
    valid: bool,
    z: u32,
    m0: u32,
    n0: u32,
}

fn block_of(i: u32) -> Block {
    let blocks_n = (params.n + 7u) / 8u;
    let per_product = blocks_n * ((params.m + 7u) / 8u);
    let z = i / per_product;
    let b = i % per_product;
    c_shift = z * params.c_batch;
    return Block(i < params.batch * per_product, z, (b / blocks_n) * 8u, (b % blocks_n) * 8u);
}

// matmul_vec4x2's 8 x 8 block (see the header), before bias and accumulation.
fn k_major_block(block: Block) -> array<vec4<f32>, 16> {
    let z = block.z;
    let m0 = block.m0;
    let n0 = block.n0;
    // The second vec4 of a block past the matrix re-reads the first; its results are not stored.
    let a_hi = select(0u, 1u, m0 + 4u < params.m);
    let b_hi = select(0u, 1u, n0 + 4u < params.n);
    let a_base = (params.a_off + z * params.a_batch) / 4u + m0 / 4u;
    let b_base = (params.b_off + z * params.b_batch) / 4u + n0 / 4u;
    // acc[2i + h]: row m0 + i, columns n0 + 4h .. n0 + 4h + 3.
    var acc: array<vec4<f32>, 16>;
    // Four k per iteration, then the rest one by one.
    let k4 = params.k / 4u * 4u;
    for (var k = 0u; k < k4; k += 4u) {
        for (var u = 0u; u < 4u; u++) {
            accumulate_k(&acc, k + u, a_base, a_hi, b_base, b_hi);
        }
    }
    for (var k = k4; k < params.k; k++) {
        accumulate_k(&acc, k, a_base, a_hi, b_base, b_hi);
    }
    return acc;
}

@compute @workgroup_size(WG)
fn matmul_vec4x2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x);
    if (!block.valid) { return; }
    store_block(block.m0, block.n0, k_major_block(block), BlockBias());
}

@compute @workgroup_size(WG)
fn matmul_vec4x2_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x);
    if (!block.valid) { return; }
    store_block(block.m0, block.n0, k_major_block(block), block_bias(block.m0, block.n0));
}

// acc += the outer product of k-major A's and B's row k over the 8 x 8 block.
fn accumulate_k(acc: ptr<function, array<vec4<f32>, 16>>, k: u32, a_base: u32, a_hi: u32,
                b_base: u32, b_hi: u32) {
    let a_lo = a4[a_base + k * (params.a_col / 4u)];
    let a_up = a4[a_base + k * (params.a_col / 4u) + a_hi];
    let b_lo = b4[b_base + k * (params.b_row / 4u)];
    let b_up = b4[b_base + k * (params.b_row / 4u) + b_hi];
    for (var i = 0u; i < 4u; i++) {
        (*acc)[2u * i] += a_lo[i] * b_lo;
        (*acc)[2u * i + 1u] += a_lo[i] * b_up;
        (*acc)[8u + 2u * i] += a_up[i] * b_lo;
        (*acc)[8u + 2u * i + 1u] += a_up[i] * b_up;
    }
}

// The 8 x 8 block at (m0, n0) of c, acc[2i + h] holding row m0 + i, columns n0 + 4h .. n0 + 4h + 3,
// with the bias values bb.
// Written out: as a loop this did not unroll, and indexing acc with its counter moved the whole
// block to memory (9.8 against 20.2 GFLOP/s at 1024^3).
fn store_block(m0: u32, n0: u32, acc: array<vec4<f32>, 16>, bb: BlockBias) {
    store_row(m0 + 0u, n0, acc[0], acc[1], bb.cols, bb.rows[0]);
    store_row(m0 + 1u, n0, acc[2], acc[3], bb.cols, bb.rows[1]);
    store_row(m0 + 2u, n0, acc[4], acc[5], bb.cols, bb.rows[2]);
    store_row(m0 + 3u, n0, acc[6], acc[7], bb.cols, bb.rows[3]);
    store_row(m0 + 4u, n0, acc[8], acc[9], bb.cols, bb.rows[4]);
    store_row(m0 + 5u, n0, acc[10], acc[11], bb.cols, bb.rows[5]);
    store_row(m0 + 6u, n0, acc[12], acc[13], bb.cols, bb.rows[6]);
    store_row(m0 + 7u, n0, acc[14], acc[15], bb.cols, bb.rows[7]);
}

// matmul_rows_vec4x2's 8 x 8 block (see the header), before bias and accumulation.
fn rows_block(block: Block) -> array<vec4<f32>, 16> {
    let z = block.z;
    let m0 = block.m0;
    let n0 = block.n0;
    let b_hi = select(0u, 1u, n0 + 4u < params.n);
    let b_base = (params.b_off + z * params.b_batch) / 4u + n0 / 4u;
    let b_row4 = params.b_row / 4u;
    // Rows of A, vec4s along k; rows past m re-read the last one and are not stored.
    let a_base = (params.a_off + z * params.a_batch) / 4u;
    let a_row4 = params.a_row / 4u;
    var row: array<u32, 8>;
    for (var r = 0u; r < 8u; r++) {
        row[r] = a_base + min(m0 + r, params.m - 1u) * a_row4;
    }
    // acc[2i + h]: row m0 + i, columns n0 + 4h .. n0 + 4h + 3.
    var acc: array<vec4<f32>, 16>;
    let last = params.k - 1u;
    for (var q = 0u; q < (params.k + 3u) / 4u; q++) {
        // B's rows past k repeat its last one: A is zero there.
        let k0 = b_base + min(4u * q, last) * b_row4;
        let k1 = b_base + min(4u * q + 1u, last) * b_row4;
        let k2 = b_base + min(4u * q + 2u, last) * b_row4;
        let k3 = b_base + min(4u * q + 3u, last) * b_row4;
        let lo0 = b4[k0];
        let hi0 = b4[k0 + b_hi];
        let lo1 = b4[k1];
        let hi1 = b4[k1 + b_hi];
        let lo2 = b4[k2];
        let hi2 = b4[k2 + b_hi];
        let lo3 = b4[k3];
        let hi3 = b4[k3 + b_hi];
        for (var r = 0u; r < 8u; r++) {
            let a = a4[row[r] + q];
            acc[2u * r] += a.x * lo0 + a.y * lo1 + a.z * lo2 + a.w * lo3;
            acc[2u * r + 1u] += a.x * hi0 + a.y * hi1 + a.z * hi2 + a.w * hi3;
        }
    }
    return acc;
}

@compute @workgroup_size(WG)
fn matmul_rows_vec4x2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x);
    if (!block.valid) { return; }
    store_block(block.m0, block.n0, rows_block(block), BlockBias());
}

@compute @workgroup_size(WG)
fn matmul_rows_vec4x2_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x);
    if (!block.valid) { return; }
    store_block(block.m0, block.n0, rows_block(block), block_bias(block.m0, block.n0));
}

@compute @workgroup_size(WG)
fn transpose(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.n * params.b_row) { return; }
    let col = i % params.b_row;
    let row = i / params.b_row;
    var v = 0.0;
    if (col < params.m) {
        v = a[params.a_off + col * params.n + row];
    }
    c[i] = v;
}
