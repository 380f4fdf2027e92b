// Deterministic sums (fixed order, no atomics), used by gradients that reduce over a batch.
//   sum_blocks:  input viewed as [groups, len], each row cut into `parts` blocks of `block`
//                elements; out[g * parts + j] = sum of block j of row g. One invocation per
//                output, summing in order (four running sums of a vec4 when vec4_ok: len, block
//                and in_off multiples of 4); no workgroup barriers, which cost more than the sums
//                on lavapipe. Grid = ceil(groups * parts / WG), folded.
//   sum_blocks_workgroup: the GPU family's sum_blocks: one workgroup per output, its WG
//                invocations reading consecutive values (coalesced), summed by workgroup_sum
//                (workgroup_sum.wgsl). Grid = groups * parts workgroups, folded.
//   sum_columns: input viewed as [rows, cols]; out[c] = sum over rows of in[r, c], plus out[c]
//                itself when `accumulate` is 1 (to add up chunks). One invocation per column, or
//                per four columns read as vec4s when vec4_ok (cols and in_off multiples of 4).

override WG: u32 = 64;

struct Params {
    groups: u32, len: u32, parts: u32, block: u32, rows: u32, cols: u32,
    accumulate: u32, in_off: u32, vec4_ok: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> src4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> dst4: array<vec4<f32>>;

// Sum of the `lane`-th, (lane + stride)-th, ... vec4s (or values) of output o's block: the whole
// block for the CPU family's invocations (lane 0, stride 1), a workgroup's share for the GPU's.
fn block_sum(o: u32, lane: u32, stride: u32) -> f32 {
    let begin = (o / params.parts) * params.len + (o % params.parts) * params.block;
    let count = min(params.block, params.len - (o % params.parts) * params.block);
    var acc = vec4<f32>(0.0);
    if (params.vec4_ok == 1u) {
        let first = (params.in_off + begin) / 4u;
        for (var v = lane; v < count / 4u; v += stride) {
            acc += src4[first + v];
        }
    } else {
        for (var t = lane; t < count; t += stride) {
            acc.x += src[params.in_off + begin + t];
        }
    }
    return (acc.x + acc.y) + (acc.z + acc.w);
}

@compute @workgroup_size(WG)
fn sum_blocks(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_id) lid: vec3<u32>) {
    let o = workgroup_index(wid, nwg) * WG + lid.x;
    if (o >= params.groups * params.parts) { return; }
    dst[o] = block_sum(o, 0u, 1u);
}

@compute @workgroup_size(WG)
fn sum_blocks_workgroup(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_id) lid: vec3<u32>) {
    let o = workgroup_index(wid, nwg);
    if (o >= params.groups * params.parts) { return; }
    let total = workgroup_sum(block_sum(o, lid.x, WG), lid.x);
    if (lid.x == 0u) {
        dst[o] = total;
    }
}

@compute @workgroup_size(WG)
fn sum_columns(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (params.vec4_ok == 1u) {
        // Four columns per invocation.
        if (4u * i >= params.cols) { return; }
        let row4 = params.cols / 4u;
        var acc = vec4<f32>(0.0);
        for (var r = 0u; r < params.rows; r++) {
            acc += src4[params.in_off / 4u + r * row4 + i];
        }
        if (params.accumulate == 1u) {
            acc += dst4[i];
        }
        dst4[i] = acc;
        return;
    }
    if (i >= params.cols) { return; }
    var acc = 0.0;
    for (var r = 0u; r < params.rows; r++) {
        acc += src[params.in_off + r * params.cols + i];
    }
    if (params.accumulate == 1u) {
        acc += dst[i];
    }
    dst[i] = acc;
}
