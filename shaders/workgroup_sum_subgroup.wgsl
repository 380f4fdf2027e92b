// Prepended to batch_norm.wgsl and reduce.wgsl instead of workgroup_sum.wgsl on devices with
// subgroup operations: the same workgroup_sum2 / workgroup_sum, in two barriers instead of a tree's
// log2(WG). Each subgroup adds its invocations' values (subgroupAdd) and its first invocation
// stores the sum in its own slot, every other slot holding zero; then each invocation adds the
// slots lane, lane + size, ... of the whole workgroup and its subgroup adds those. No assumption
// on how invocations are grouped into subgroups; the order is fixed by the device, so results are
// bit-reproducible on it. Every invocation of the workgroup must call it (it has barriers).

var<workgroup> reduction_slots: array<vec2<f32>, WG>;

fn workgroup_sum2(v: vec2<f32>, lid: u32) -> vec2<f32> {
    let lane = subgroupExclusiveAdd(1u);
    let size = subgroupAdd(1u);
    let subgroup_total = subgroupAdd(v);
    reduction_slots[lid] = select(vec2<f32>(0.0), subgroup_total, lane == 0u);
    workgroupBarrier();
    var acc = vec2<f32>(0.0);
    for (var slot = lane; slot < WG; slot += size) {
        acc += reduction_slots[slot];
    }
    let total = subgroupAdd(acc);
    // The slots are reused by the next call.
    workgroupBarrier();
    return total;
}

fn workgroup_sum(v: f32, lid: u32) -> f32 {
    return workgroup_sum2(vec2<f32>(v, 0.0), lid).x;
}
