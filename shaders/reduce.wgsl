// Deterministic sums (fixed order, no atomics), used by gradients that reduce over a batch.
//   sum_blocks:  input viewed as [groups, len], each row cut into `parts` blocks of `block`
//                elements; out[g * parts + j] = sum of block j of row g. One workgroup of WG
//                invocations per output (strided loads, then a tree in workgroup memory);
//                grid = groups * parts workgroups, folded.
//   sum_columns: input viewed as [rows, cols]; out[c] = sum over rows of in[r, c], plus out[c]
//                itself when `accumulate` is 1 (to add up chunks). One invocation per column.

override WG: u32 = 64;

struct Params {
    groups: u32,
    len: u32,
    parts: u32,
    block: u32,
    rows: u32,
    cols: u32,
    accumulate: u32,
    in_off: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn sum_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let o = workgroup_index(wid, nwg);
    // The whole workgroup leaves together, so the barriers below stay uniform.
    if (o >= params.groups * params.parts) { return; }
    let g = o / params.parts;
    let j = o % params.parts;
    let begin = j * params.block;
    let end = min(begin + params.block, params.len);
    var acc = 0.0;
    for (var t = begin + lid.x; t < end; t += WG) {
        acc += src[params.in_off + g * params.len + t];
    }
    partial[lid.x] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride /= 2u) {
        if (lid.x < stride) {
            partial[lid.x] += partial[lid.x + stride];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        dst[o] = partial[0];
    }
}

@compute @workgroup_size(WG)
fn sum_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let c = workgroup_index(wid, nwg) * WG + lid.x;
    if (c >= params.cols) { return; }
    var acc = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        acc += src[params.in_off + r * params.cols + c];
    }
    if (params.accumulate == 1u) {
        acc += dst[c];
    }
    dst[c] = acc;
}
