// The CPU family's batched products with large register blocks, for devices where every loaded
// component is dear (lavapipe on an x86 host without AVX-512: PERFORMANCE.md 35-38):
//   c_z[m, n] = sum over k of A_z(m, k) * B_z(k, n)  (+ bias[m] in the _bias entry points)
// for z < batch, the z-th operands and result z * a_batch, b_batch, c_batch elements past a_off,
// b_off, c_off. Operands are read as vec4s, load_a(i) and load_b(i) being vec4 i of A's and B's
// binding: from storage buffers or from texture copies of them (see the two preludes). B_z(k, n) =
// load_b((b_off + z * b_batch + k * b_row) / 4 + n / 4)[n % 4] (row-major, rows a multiple of 4
// floats); c_z row-major [m, n] with n a multiple of 4, stored as vec4s. Every offset, stride and
// batch step is a multiple of 4.
//   matmul_vec4x4, matmul_vec4x8: A k-major, A_z(m, k) = load_a((a_off + z * a_batch + k *
//                 a_stride) / 4 + m / 4)[m % 4]. Each invocation computes a 16 x 16 (vec4x4) or
//                 32 x 32 (vec4x8) block of c from four (eight) vec4s of each operand per k: 256
//                 (1024) multiply-adds per 8 (16) loads.
//   matmul_rows_vec4x4, matmul_rows_vec4x8 (and _bias): A row-major, A_z(m, k) = load_a((a_off +
//                 z * a_batch + m * a_stride) / 4 + k / 4)[k % 4], zero from k to the row's end
//                 (B's rows there are not read: its last row is). Per four k, one vec4 of each of
//                 the block's 16 (32) rows of A and four (eight) of four rows of B.
// Grid: batch * ceil(m / side) * ceil(n / side) invocations, folded; block columns fastest. Blocks
// reaching past m or n re-read A's last row or B's last vec4 and store only what is inside c.
// Every statement over a block's rows is written out, so the accumulators are indexed by constants
// alone: a loop over them does not unroll, and an array indexed by a counter costs a stack round
// trip per access on lavapipe (PERFORMANCE.md 35).

override WG: u32 = 64;

struct Params {
    m: u32, n: u32, k: u32, a_stride: u32, b_row: u32, a_off: u32, b_off: u32, c_off: u32,
    batch: u32, a_batch: u32, b_batch: u32, c_batch: u32,
}

// Bindings 1 and 2 (a4, b4) and load_a, load_b: batched_operands_buffers.wgsl or
// batched_operands_textures.wgsl, prepended.
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c4: array<vec4<f32>>;

// Product z and side x side block (m0, n0) of c for invocation i; valid is false past the last
// block.
struct Block {
    valid: bool,
    z: u32,
    m0: u32,
    n0: u32,
}

fn block_of(i: u32, side: u32) -> Block {
    let blocks_n = (params.n + side - 1u) / side;
    let per_product = blocks_n * ((params.m + side - 1u) / side);
    let b = i % per_product;
    return Block(i < params.batch * per_product, i / per_product, (b / blocks_n) * side,
                 (b % blocks_n) * side);
}

// Of the `count` vec4s from element `first` (< total), the index of the last one that holds an
// element below `total`: count - 1 unless the block reaches past total.
fn last_vec4(first: u32, total: u32, count: u32) -> u32 {
    return min(count - 1u, (total - first + 3u) / 4u - 1u);
}

// c_z[row, col0 .. col0 + 3] = v if col0 is inside the row (n is a multiple of 4).
fn store4(block: Block, row: u32, col0: u32, v: vec4<f32>) {
    if (col0 < params.n) {
        c4[(params.c_off + block.z * params.c_batch + row * params.n + col0) / 4u] = v;
    }
}

// A row of 16 columns of a 16 x 16 block, 4 vec4s.
alias Row16 = array<vec4<f32>, 4>;
alias Block16 = array<Row16, 16>;

// acc + s * b.
fn axpy16(acc: Row16, s: f32, b: Row16) -> Row16 {
    return Row16(
        acc[0] + s * b[0],
        acc[1] + s * b[1],
        acc[2] + s * b[2],
        acc[3] + s * b[3],
    );
}

// acc + a.x * b[0] + a.y * b[1] + a.z * b[2] + a.w * b[3]: four k of one row of A.
fn add_four_k16(acc: Row16, a: vec4<f32>, b: array<Row16, 4>) -> Row16 {
    return Row16(
        acc[0] + a.x * b[0][0] + a.y * b[1][0] + a.z * b[2][0] + a.w * b[3][0],
        acc[1] + a.x * b[0][1] + a.y * b[1][1] + a.z * b[2][1] + a.w * b[3][1],
        acc[2] + a.x * b[0][2] + a.y * b[1][2] + a.z * b[2][2] + a.w * b[3][2],
        acc[3] + a.x * b[0][3] + a.y * b[1][3] + a.z * b[2][3] + a.w * b[3][3],
    );
}

// 4 vec4s from vec4 `o` of operand a4 (A) or b4 (B), those past `last` re-reading it (see
// last_vec4).
fn a_vec4s16(o: u32, last: u32) -> Row16 {
    return Row16(
        load_a(o),
        load_a(o + min(1u, last)),
        load_a(o + min(2u, last)),
        load_a(o + min(3u, last)),
    );
}

fn b_vec4s16(o: u32, last: u32) -> Row16 {
    return Row16(
        load_b(o),
        load_b(o + min(1u, last)),
        load_b(o + min(2u, last)),
        load_b(o + min(3u, last)),
    );
}

// The k-major block (matmul_vec4x4): per k, 4 vec4s of A's 16 rows and 4 of B's columns.
fn k_major_block16(block: Block) -> Block16 {
    let last_a = last_vec4(block.m0, params.m, 4u);
    let a_base = (params.a_off + block.z * params.a_batch) / 4u + block.m0 / 4u;
    let b_base = (params.b_off + block.z * params.b_batch) / 4u + block.n0 / 4u;
    let last_b = last_vec4(block.n0, params.n, 4u);
    var acc: Block16;
    for (var k = 0u; k < params.k; k++) {
        let a = a_vec4s16(a_base + k * (params.a_stride / 4u), last_a);
        let b = b_vec4s16(b_base + k * (params.b_row / 4u), last_b);
        acc[0] = axpy16(acc[0], a[0].x, b);
        acc[1] = axpy16(acc[1], a[0].y, b);
        acc[2] = axpy16(acc[2], a[0].z, b);
        acc[3] = axpy16(acc[3], a[0].w, b);
        acc[4] = axpy16(acc[4], a[1].x, b);
        acc[5] = axpy16(acc[5], a[1].y, b);
        acc[6] = axpy16(acc[6], a[1].z, b);
        acc[7] = axpy16(acc[7], a[1].w, b);
        acc[8] = axpy16(acc[8], a[2].x, b);
        acc[9] = axpy16(acc[9], a[2].y, b);
        acc[10] = axpy16(acc[10], a[2].z, b);
        acc[11] = axpy16(acc[11], a[2].w, b);
        acc[12] = axpy16(acc[12], a[3].x, b);
        acc[13] = axpy16(acc[13], a[3].y, b);
        acc[14] = axpy16(acc[14], a[3].z, b);
        acc[15] = axpy16(acc[15], a[3].w, b);
    }
    return acc;
}

// The row-major block (matmul_rows_vec4x4): per four k, a vec4 of each of A's 16 rows and
// 4 vec4s of each of four rows of B.
fn rows_block16(block: Block) -> Block16 {
    let b_base = (params.b_off + block.z * params.b_batch) / 4u + block.n0 / 4u;
    let last_b = last_vec4(block.n0, params.n, 4u);
    let a_row4 = params.a_stride / 4u;
    // Row r of the block starts at a_base + r * a_row4; rows past m re-read the last one.
    let a_base = (params.a_off + block.z * params.a_batch) / 4u + block.m0 * a_row4;
    let last_r = params.m - 1u - block.m0;
    let last_k = params.k - 1u;
    let b_row4 = params.b_row / 4u;
    var acc: Block16;
    for (var q = 0u; q < (params.k + 3u) / 4u; q++) {
        // B's rows past k repeat its last one: A is zero there.
        let b = array<Row16, 4>(
            b_vec4s16(b_base + min(4u * q, last_k) * b_row4, last_b),
            b_vec4s16(b_base + min(4u * q + 1u, last_k) * b_row4, last_b),
            b_vec4s16(b_base + min(4u * q + 2u, last_k) * b_row4, last_b),
            b_vec4s16(b_base + min(4u * q + 3u, last_k) * b_row4, last_b),
        );
        let a = a_base + q;
        acc[0] = add_four_k16(acc[0], load_a(a), b);
        acc[1] = add_four_k16(acc[1], load_a(a + min(1u, last_r) * a_row4), b);
        acc[2] = add_four_k16(acc[2], load_a(a + min(2u, last_r) * a_row4), b);
        acc[3] = add_four_k16(acc[3], load_a(a + min(3u, last_r) * a_row4), b);
        acc[4] = add_four_k16(acc[4], load_a(a + min(4u, last_r) * a_row4), b);
        acc[5] = add_four_k16(acc[5], load_a(a + min(5u, last_r) * a_row4), b);
        acc[6] = add_four_k16(acc[6], load_a(a + min(6u, last_r) * a_row4), b);
        acc[7] = add_four_k16(acc[7], load_a(a + min(7u, last_r) * a_row4), b);
        acc[8] = add_four_k16(acc[8], load_a(a + min(8u, last_r) * a_row4), b);
        acc[9] = add_four_k16(acc[9], load_a(a + min(9u, last_r) * a_row4), b);
        acc[10] = add_four_k16(acc[10], load_a(a + min(10u, last_r) * a_row4), b);
        acc[11] = add_four_k16(acc[11], load_a(a + min(11u, last_r) * a_row4), b);
        acc[12] = add_four_k16(acc[12], load_a(a + min(12u, last_r) * a_row4), b);
        acc[13] = add_four_k16(acc[13], load_a(a + min(13u, last_r) * a_row4), b);
        acc[14] = add_four_k16(acc[14], load_a(a + min(14u, last_r) * a_row4), b);
        acc[15] = add_four_k16(acc[15], load_a(a + min(15u, last_r) * a_row4), b);
    }
    return acc;
}

// The row biases of a 16 x 16 block at m0; rows past m repeat the last one.
fn row_biases16(m0: u32) -> array<f32, 16> {
    var b: array<f32, 16>;
    for (var r = 0u; r < 16u; r++) {
        b[r] = bias[min(m0 + r, params.m - 1u)];
    }
    return b;
}

// Stores row r of a 16 x 16 block, plus the row's bias b_row, if the row is inside c.
fn store_row16(block: Block, r: u32, v: Row16, b_row: f32) {
    let row = block.m0 + r;
    if (row < params.m) {
        store4(block, row, block.n0 + 0u, v[0] + b_row);
        store4(block, row, block.n0 + 4u, v[1] + b_row);
        store4(block, row, block.n0 + 8u, v[2] + b_row);
        store4(block, row, block.n0 + 12u, v[3] + b_row);
    }
}

fn store_block16(block: Block, acc: Block16, b: array<f32, 16>) {
    store_row16(block, 0u, acc[0], b[0]);
    store_row16(block, 1u, acc[1], b[1]);
    store_row16(block, 2u, acc[2], b[2]);
    store_row16(block, 3u, acc[3], b[3]);
    store_row16(block, 4u, acc[4], b[4]);
    store_row16(block, 5u, acc[5], b[5]);
    store_row16(block, 6u, acc[6], b[6]);
    store_row16(block, 7u, acc[7], b[7]);
    store_row16(block, 8u, acc[8], b[8]);
    store_row16(block, 9u, acc[9], b[9]);
    store_row16(block, 10u, acc[10], b[10]);
    store_row16(block, 11u, acc[11], b[11]);
    store_row16(block, 12u, acc[12], b[12]);
    store_row16(block, 13u, acc[13], b[13]);
    store_row16(block, 14u, acc[14], b[14]);
    store_row16(block, 15u, acc[15], b[15]);
}

@compute @workgroup_size(WG)
fn matmul_vec4x4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x, 16u);
    if (!block.valid) { return; }
    store_block16(block, k_major_block16(block), array<f32, 16>());
}

@compute @workgroup_size(WG)
fn matmul_rows_vec4x4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x, 16u);
    if (!block.valid) { return; }
    store_block16(block, rows_block16(block), array<f32, 16>());
}

@compute @workgroup_size(WG)
fn matmul_rows_vec4x4_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x, 16u);
    if (!block.valid) { return; }
    store_block16(block, rows_block16(block), row_biases16(block.m0));
}

// A row of 32 columns of a 32 x 32 block, 8 vec4s.
alias Row32 = array<vec4<f32>, 8>;
alias Block32 = array<Row32, 32>;

// acc + s * b.
fn axpy32(acc: Row32, s: f32, b: Row32) -> Row32 {
    return Row32(
        acc[0] + s * b[0],
        acc[1] + s * b[1],
        acc[2] + s * b[2],
        acc[3] + s * b[3],
        acc[4] + s * b[4],
        acc[5] + s * b[5],
        acc[6] + s * b[6],
        acc[7] + s * b[7],
    );
}

// acc + a.x * b[0] + a.y * b[1] + a.z * b[2] + a.w * b[3]: four k of one row of A.
fn add_four_k32(acc: Row32, a: vec4<f32>, b: array<Row32, 4>) -> Row32 {
    return Row32(
        acc[0] + a.x * b[0][0] + a.y * b[1][0] + a.z * b[2][0] + a.w * b[3][0],
        acc[1] + a.x * b[0][1] + a.y * b[1][1] + a.z * b[2][1] + a.w * b[3][1],
        acc[2] + a.x * b[0][2] + a.y * b[1][2] + a.z * b[2][2] + a.w * b[3][2],
        acc[3] + a.x * b[0][3] + a.y * b[1][3] + a.z * b[2][3] + a.w * b[3][3],
        acc[4] + a.x * b[0][4] + a.y * b[1][4] + a.z * b[2][4] + a.w * b[3][4],
        acc[5] + a.x * b[0][5] + a.y * b[1][5] + a.z * b[2][5] + a.w * b[3][5],
        acc[6] + a.x * b[0][6] + a.y * b[1][6] + a.z * b[2][6] + a.w * b[3][6],
        acc[7] + a.x * b[0][7] + a.y * b[1][7] + a.z * b[2][7] + a.w * b[3][7],
    );
}

// 8 vec4s from vec4 `o` of operand a4 (A) or b4 (B), those past `last` re-reading it (see
// last_vec4).
fn a_vec4s32(o: u32, last: u32) -> Row32 {
    return Row32(
        load_a(o),
        load_a(o + min(1u, last)),
        load_a(o + min(2u, last)),
        load_a(o + min(3u, last)),
        load_a(o + min(4u, last)),
        load_a(o + min(5u, last)),
        load_a(o + min(6u, last)),
        load_a(o + min(7u, last)),
    );
}

fn b_vec4s32(o: u32, last: u32) -> Row32 {
    return Row32(
        load_b(o),
        load_b(o + min(1u, last)),
        load_b(o + min(2u, last)),
        load_b(o + min(3u, last)),
        load_b(o + min(4u, last)),
        load_b(o + min(5u, last)),
        load_b(o + min(6u, last)),
        load_b(o + min(7u, last)),
    );
}

// The k-major block (matmul_vec4x8): per k, 8 vec4s of A's 32 rows and 8 of B's columns.
fn k_major_block32(block: Block) -> Block32 {
    let last_a = last_vec4(block.m0, params.m, 8u);
    let a_base = (params.a_off + block.z * params.a_batch) / 4u + block.m0 / 4u;
    let b_base = (params.b_off + block.z * params.b_batch) / 4u + block.n0 / 4u;
    let last_b = last_vec4(block.n0, params.n, 8u);
    var acc: Block32;
    for (var k = 0u; k < params.k; k++) {
        let a = a_vec4s32(a_base + k * (params.a_stride / 4u), last_a);
        let b = b_vec4s32(b_base + k * (params.b_row / 4u), last_b);
        acc[0] = axpy32(acc[0], a[0].x, b);
        acc[1] = axpy32(acc[1], a[0].y, b);
        acc[2] = axpy32(acc[2], a[0].z, b);
        acc[3] = axpy32(acc[3], a[0].w, b);
        acc[4] = axpy32(acc[4], a[1].x, b);
        acc[5] = axpy32(acc[5], a[1].y, b);
        acc[6] = axpy32(acc[6], a[1].z, b);
        acc[7] = axpy32(acc[7], a[1].w, b);
        acc[8] = axpy32(acc[8], a[2].x, b);
        acc[9] = axpy32(acc[9], a[2].y, b);
        acc[10] = axpy32(acc[10], a[2].z, b);
        acc[11] = axpy32(acc[11], a[2].w, b);
        acc[12] = axpy32(acc[12], a[3].x, b);
        acc[13] = axpy32(acc[13], a[3].y, b);
        acc[14] = axpy32(acc[14], a[3].z, b);
        acc[15] = axpy32(acc[15], a[3].w, b);
        acc[16] = axpy32(acc[16], a[4].x, b);
        acc[17] = axpy32(acc[17], a[4].y, b);
        acc[18] = axpy32(acc[18], a[4].z, b);
        acc[19] = axpy32(acc[19], a[4].w, b);
        acc[20] = axpy32(acc[20], a[5].x, b);
        acc[21] = axpy32(acc[21], a[5].y, b);
        acc[22] = axpy32(acc[22], a[5].z, b);
        acc[23] = axpy32(acc[23], a[5].w, b);
        acc[24] = axpy32(acc[24], a[6].x, b);
        acc[25] = axpy32(acc[25], a[6].y, b);
        acc[26] = axpy32(acc[26], a[6].z, b);
        acc[27] = axpy32(acc[27], a[6].w, b);
        acc[28] = axpy32(acc[28], a[7].x, b);
        acc[29] = axpy32(acc[29], a[7].y, b);
        acc[30] = axpy32(acc[30], a[7].z, b);
        acc[31] = axpy32(acc[31], a[7].w, b);
    }
    return acc;
}

// The row-major block (matmul_rows_vec4x8): per four k, a vec4 of each of A's 32 rows and
// 8 vec4s of each of four rows of B.
fn rows_block32(block: Block) -> Block32 {
    let b_base = (params.b_off + block.z * params.b_batch) / 4u + block.n0 / 4u;
    let last_b = last_vec4(block.n0, params.n, 8u);
    let a_row4 = params.a_stride / 4u;
    // Row r of the block starts at a_base + r * a_row4; rows past m re-read the last one.
    let a_base = (params.a_off + block.z * params.a_batch) / 4u + block.m0 * a_row4;
    let last_r = params.m - 1u - block.m0;
    let last_k = params.k - 1u;
    let b_row4 = params.b_row / 4u;
    var acc: Block32;
    for (var q = 0u; q < (params.k + 3u) / 4u; q++) {
        // B's rows past k repeat its last one: A is zero there.
        let b = array<Row32, 4>(
            b_vec4s32(b_base + min(4u * q, last_k) * b_row4, last_b),
            b_vec4s32(b_base + min(4u * q + 1u, last_k) * b_row4, last_b),
            b_vec4s32(b_base + min(4u * q + 2u, last_k) * b_row4, last_b),
            b_vec4s32(b_base + min(4u * q + 3u, last_k) * b_row4, last_b),
        );
        let a = a_base + q;
        acc[0] = add_four_k32(acc[0], load_a(a), b);
        acc[1] = add_four_k32(acc[1], load_a(a + min(1u, last_r) * a_row4), b);
        acc[2] = add_four_k32(acc[2], load_a(a + min(2u, last_r) * a_row4), b);
        acc[3] = add_four_k32(acc[3], load_a(a + min(3u, last_r) * a_row4), b);
        acc[4] = add_four_k32(acc[4], load_a(a + min(4u, last_r) * a_row4), b);
        acc[5] = add_four_k32(acc[5], load_a(a + min(5u, last_r) * a_row4), b);
        acc[6] = add_four_k32(acc[6], load_a(a + min(6u, last_r) * a_row4), b);
        acc[7] = add_four_k32(acc[7], load_a(a + min(7u, last_r) * a_row4), b);
        acc[8] = add_four_k32(acc[8], load_a(a + min(8u, last_r) * a_row4), b);
        acc[9] = add_four_k32(acc[9], load_a(a + min(9u, last_r) * a_row4), b);
        acc[10] = add_four_k32(acc[10], load_a(a + min(10u, last_r) * a_row4), b);
        acc[11] = add_four_k32(acc[11], load_a(a + min(11u, last_r) * a_row4), b);
        acc[12] = add_four_k32(acc[12], load_a(a + min(12u, last_r) * a_row4), b);
        acc[13] = add_four_k32(acc[13], load_a(a + min(13u, last_r) * a_row4), b);
        acc[14] = add_four_k32(acc[14], load_a(a + min(14u, last_r) * a_row4), b);
        acc[15] = add_four_k32(acc[15], load_a(a + min(15u, last_r) * a_row4), b);
        acc[16] = add_four_k32(acc[16], load_a(a + min(16u, last_r) * a_row4), b);
        acc[17] = add_four_k32(acc[17], load_a(a + min(17u, last_r) * a_row4), b);
        acc[18] = add_four_k32(acc[18], load_a(a + min(18u, last_r) * a_row4), b);
        acc[19] = add_four_k32(acc[19], load_a(a + min(19u, last_r) * a_row4), b);
        acc[20] = add_four_k32(acc[20], load_a(a + min(20u, last_r) * a_row4), b);
        acc[21] = add_four_k32(acc[21], load_a(a + min(21u, last_r) * a_row4), b);
        acc[22] = add_four_k32(acc[22], load_a(a + min(22u, last_r) * a_row4), b);
        acc[23] = add_four_k32(acc[23], load_a(a + min(23u, last_r) * a_row4), b);
        acc[24] = add_four_k32(acc[24], load_a(a + min(24u, last_r) * a_row4), b);
        acc[25] = add_four_k32(acc[25], load_a(a + min(25u, last_r) * a_row4), b);
        acc[26] = add_four_k32(acc[26], load_a(a + min(26u, last_r) * a_row4), b);
        acc[27] = add_four_k32(acc[27], load_a(a + min(27u, last_r) * a_row4), b);
        acc[28] = add_four_k32(acc[28], load_a(a + min(28u, last_r) * a_row4), b);
        acc[29] = add_four_k32(acc[29], load_a(a + min(29u, last_r) * a_row4), b);
        acc[30] = add_four_k32(acc[30], load_a(a + min(30u, last_r) * a_row4), b);
        acc[31] = add_four_k32(acc[31], load_a(a + min(31u, last_r) * a_row4), b);
    }
    return acc;
}

// The row biases of a 32 x 32 block at m0; rows past m repeat the last one.
fn row_biases32(m0: u32) -> array<f32, 32> {
    var b: array<f32, 32>;
    for (var r = 0u; r < 32u; r++) {
        b[r] = bias[min(m0 + r, params.m - 1u)];
    }
    return b;
}

// Stores row r of a 32 x 32 block, plus the row's bias b_row, if the row is inside c.
fn store_row32(block: Block, r: u32, v: Row32, b_row: f32) {
    let row = block.m0 + r;
    if (row < params.m) {
        store4(block, row, block.n0 + 0u, v[0] + b_row);
        store4(block, row, block.n0 + 4u, v[1] + b_row);
        store4(block, row, block.n0 + 8u, v[2] + b_row);
        store4(block, row, block.n0 + 12u, v[3] + b_row);
        store4(block, row, block.n0 + 16u, v[4] + b_row);
        store4(block, row, block.n0 + 20u, v[5] + b_row);
        store4(block, row, block.n0 + 24u, v[6] + b_row);
        store4(block, row, block.n0 + 28u, v[7] + b_row);
    }
}

fn store_block32(block: Block, acc: Block32, b: array<f32, 32>) {
    store_row32(block, 0u, acc[0], b[0]);
    store_row32(block, 1u, acc[1], b[1]);
    store_row32(block, 2u, acc[2], b[2]);
    store_row32(block, 3u, acc[3], b[3]);
    store_row32(block, 4u, acc[4], b[4]);
    store_row32(block, 5u, acc[5], b[5]);
    store_row32(block, 6u, acc[6], b[6]);
    store_row32(block, 7u, acc[7], b[7]);
    store_row32(block, 8u, acc[8], b[8]);
    store_row32(block, 9u, acc[9], b[9]);
    store_row32(block, 10u, acc[10], b[10]);
    store_row32(block, 11u, acc[11], b[11]);
    store_row32(block, 12u, acc[12], b[12]);
    store_row32(block, 13u, acc[13], b[13]);
    store_row32(block, 14u, acc[14], b[14]);
    store_row32(block, 15u, acc[15], b[15]);
    store_row32(block, 16u, acc[16], b[16]);
    store_row32(block, 17u, acc[17], b[17]);
    store_row32(block, 18u, acc[18], b[18]);
    store_row32(block, 19u, acc[19], b[19]);
    store_row32(block, 20u, acc[20], b[20]);
    store_row32(block, 21u, acc[21], b[21]);
    store_row32(block, 22u, acc[22], b[22]);
    store_row32(block, 23u, acc[23], b[23]);
    store_row32(block, 24u, acc[24], b[24]);
    store_row32(block, 25u, acc[25], b[25]);
    store_row32(block, 26u, acc[26], b[26]);
    store_row32(block, 27u, acc[27], b[27]);
    store_row32(block, 28u, acc[28], b[28]);
    store_row32(block, 29u, acc[29], b[29]);
    store_row32(block, 30u, acc[30], b[30]);
    store_row32(block, 31u, acc[31], b[31]);
}

@compute @workgroup_size(WG)
fn matmul_vec4x8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x, 32u);
    if (!block.valid) { return; }
    store_block32(block, k_major_block32(block), array<f32, 32>());
}

@compute @workgroup_size(WG)
fn matmul_rows_vec4x8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x, 32u);
    if (!block.valid) { return; }
    store_block32(block, rows_block32(block), array<f32, 32>());
}

@compute @workgroup_size(WG)
fn matmul_rows_vec4x8_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>) {
    let block = block_of(workgroup_index(wid, nwg) * WG + lid.x, 32u);
    if (!block.valid) { return; }
    store_block32(block, rows_block32(block), row_biases32(block.m0));
}
