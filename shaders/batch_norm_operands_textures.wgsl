// Prepended to batch_norm.wgsl where its kernels read x and dy as vec4s from rgba32float texture
// copies of their bindings, vec4 v at texel (v % TEXELS_PER_ROW, v / TEXELS_PER_ROW) (the Rust
// twin: gpu::TEXELS_PER_ROW): on lavapipe a texel fetch costs a quarter of a storage load a
// component (batched_operands_textures.wgsl). The saved output y (a fused ReLU's mask) stays a
// storage buffer: the device has two operand textures.
const TEXELS_PER_ROW: u32 = 4096u;

@group(0) @binding(16) var x_texels: texture_2d<f32>;
@group(0) @binding(17) var dy_texels: texture_2d<f32>;

fn texel(v: u32) -> vec2<u32> {
    return vec2<u32>(v % TEXELS_PER_ROW, v / TEXELS_PER_ROW);
}

fn load_x4(v: u32) -> vec4<f32> {
    return textureLoad(x_texels, texel(v), 0);
}

fn load_dy4(v: u32) -> vec4<f32> {
    return textureLoad(dy_texels, texel(v), 0);
}
