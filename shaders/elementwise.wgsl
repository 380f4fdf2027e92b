// Elementwise kernels on flat f32 arrays. One invocation per element; grid = ceil(len / WG)
// workgroups, folded. Every binding carries an element shift (`*_off`) because a chunk of a large
// tensor is bound from an aligned offset. relu_forward, relu_backward and add read and write vec4s
// when `vec4_ok` (all shifts multiples of 4): invocation i < len / 4 handles elements 4i .. 4i + 3,
// the next len % 4 invocations one element each; grid = ceil((len / 4 + len % 4) / WG).
//   relu_forward:      y = max(x, 0)                      (a = x, out = y)
//   relu_backward:     dx = dy if y > 0 else 0            (a = dy, b = y, out = dx)
//   add:               out = a + b
//   scale_by_plane:    out[i] = a[i] * b[i / plane]       (dropout2d forward and backward: b = mask)
//   dropout2d_mask:    out[i] = 0 with probability p, else 1 / (1 - p); one value per (n, c) plane,
//                      from a hash of (seed, index), so a seed gives the same mask on any device.

override WG: u32 = 64;

struct Params {
    len: u32, a_off: u32, b_off: u32, out_off: u32, plane: u32, seed: u32, p: f32,
    scale: f32, vec4_ok: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> out4: array<vec4<f32>>;

fn element(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>) -> u32 {
    return workgroup_index(wid, nwg) * WG + lid.x;
}

// Vec4s the vectorised kernels handle as such.
fn vec4s() -> u32 {
    return select(0u, params.len / 4u, params.vec4_ok == 1u);
}

// The element a scalar invocation i >= vec4s() handles.
fn tail_element(i: u32) -> u32 {
    return 3u * vec4s() + i;
}

@compute @workgroup_size(WG)
fn relu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = element(wid, nwg, lid);
    if (i < vec4s()) {
        out4[params.out_off / 4u + i] = max(a4[params.a_off / 4u + i], vec4<f32>(0.0));
        return;
    }
    let e = tail_element(i);
    if (e >= params.len) { return; }
    out[params.out_off + e] = max(a[params.a_off + e], 0.0);
}

@compute @workgroup_size(WG)
fn relu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = element(wid, nwg, lid);
    if (i < vec4s()) {
        let y = b4[params.b_off / 4u + i];
        out4[params.out_off / 4u + i] = select(vec4<f32>(0.0), a4[params.a_off / 4u + i], y > vec4<f32>(0.0));
        return;
    }
    let e = tail_element(i);
    if (e >= params.len) { return; }
    out[params.out_off + e] = select(0.0, a[params.a_off + e], b[params.b_off + e] > 0.0);
}

@compute @workgroup_size(WG)
fn add(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
       @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = element(wid, nwg, lid);
    if (i < vec4s()) {
        out4[params.out_off / 4u + i] = a4[params.a_off / 4u + i] + b4[params.b_off / 4u + i];
        return;
    }
    let e = tail_element(i);
    if (e >= params.len) { return; }
    out[params.out_off + e] = a[params.a_off + e] + b[params.b_off + e];
}

@compute @workgroup_size(WG)
fn scale_by_plane(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = element(wid, nwg, lid);
    if (i >= params.len) { return; }
    out[params.out_off + i] = a[params.a_off + i] * b[params.b_off + i / params.plane];
}

// PCG hash (Jarkko & Olano, "Hash Functions for GPU Rendering", 2020).
fn pcg_hash(v: u32) -> u32 {
    let state = v * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

@compute @workgroup_size(WG)
fn dropout2d_mask(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = element(wid, nwg, lid);
    if (i >= params.len) { return; }
    let bits = pcg_hash(pcg_hash(params.seed) ^ i);
    // 24 random bits give a uniform number in [0, 1) exactly representable in f32.
    let u = f32(bits >> 8u) * (1.0 / 16777216.0);
    out[params.out_off + i] = select(params.scale, 0.0, u < params.p);
}
