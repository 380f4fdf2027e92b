// Prepended to batch_norm.wgsl and reduce.wgsl: the GPU family's workgroup reduction. The WG
// invocations of a workgroup each hold a value; workgroup_sum returns their sum to all of them,
// added in a fixed order (a halving tree over workgroup memory, any WG), so results are
// bit-reproducible. Every invocation of the workgroup must call it (it has barriers).

var<workgroup> reduction_slots: array<vec2<f32>, WG>;

// The sums of the workgroup's x and y components.
fn workgroup_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
    reduction_slots[lid] = v;
    workgroupBarrier();
    // Halve the live slots each step: slot t takes t + half while t + half is live.
    for (var live = WG; live > 1u; live = (live + 1u) / 2u) {
        let half = (live + 1u) / 2u;
        if (lid + half < live) {
            reduction_slots[lid] += reduction_slots[lid + half];
        }
        workgroupBarrier();
    }
    let total = reduction_slots[0];
    // The slots are reused by the next call.
    workgroupBarrier();
    return total;
}

fn workgroup_sum(v: f32, lid: u32) -> f32 {
    return workgroup_sum2(vec2<f32>(v, 0.0), lid).x;
}
