// Matrix product with strided operands, for linear layers and their gradients:
//   c[m, n] = sum over k of A(m, k) * B(k, n)  (+ bias[n] if has_bias)  (+ c[m, n] if accumulate)
// A(m, k) = a[a_off + m * a_row + k * a_col] and B(k, n) = b[b_off + k * b_row + n * b_col], so a
// transposed operand is just other strides; c is row-major [m, n] at c_off.
// Each invocation computes a TM x TN block of c (register blocking: the A and B values loaded for
// one k are reused TN and TM times). Grid = ceil(m / TM) * ceil(n / TN) / WG workgroups, folded.

override WG: u32 = 64;
const TM: u32 = 4u;
const TN: u32 = 4u;

struct Params {
    m: u32,
    n: u32,
    k: u32,
    a_row: u32,
    a_col: u32,
    b_row: u32,
    b_col: u32,
    has_bias: u32,
    accumulate: u32,
    a_off: u32,
    b_off: u32,
    c_off: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

@compute @workgroup_size(WG)
fn matmul(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let blocks_n = (params.n + TN - 1u) / TN;
    let block = workgroup_index(wid, nwg) * WG + lid.x;
    if (block >= blocks_n * ((params.m + TM - 1u) / TM)) { return; }
    let m0 = (block / blocks_n) * TM;
    let n0 = (block % blocks_n) * TN;
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
    for (var i = 0u; i < TM; i++) {
        let row = m0 + i;
        if (row >= params.m) { break; }
        for (var j = 0u; j < TN; j++) {
            let col = n0 + j;
            if (col >= params.n) { break; }
            var v = acc[i][j];
            if (params.has_bias == 1u) {
                v += bias[col];
            }
            let o = params.c_off + row * params.n + col;
            if (params.accumulate == 1u) {
                v += c[o];
            }
            c[o] = v;
        }
    }
}
