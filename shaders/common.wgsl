// Prepended to every kernel file. Grids wider than the device's per-dimension workgroup limit are
// folded into (x, y, z); this recovers the linear workgroup index. Kernels guard the overshoot.
fn workgroup_index(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + nwg.x * (wid.y + nwg.y * wid.z);
}
