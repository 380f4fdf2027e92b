// Prepended to batch_norm.wgsl where its kernels read x and dy as vec4s from storage buffers, by
// vec4 index in the binding.

@group(0) @binding(16) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(17) var<storage, read> dy4: array<vec4<f32>>;

fn load_x4(v: u32) -> vec4<f32> {
    return x4[v];
}

fn load_dy4(v: u32) -> vec4<f32> {
    return dy4[v];
}
