// Prepended to batched_matmul.wgsl for operands read from their storage buffers: load_a(i) and
// load_b(i) are vec4 i of A's and B's bindings.
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

fn load_a(i: u32) -> vec4<f32> {
    return a4[i];
}

fn load_b(i: u32) -> vec4<f32> {
    return b4[i];
}
