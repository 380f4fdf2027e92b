// Prepended to conv_weight_grad.wgsl for channels-last copies in rgba32float textures, vec4 i of
// a copy at texel (i % TEXELS_PER_ROW, i / TEXELS_PER_ROW) (the Rust twin: gpu::TEXELS_PER_ROW):
// channels_last stores into one (a storage texture), weight_grad_partial fetches from two. On
// lavapipe a texel fetch costs a quarter of a storage load (batched_operands_textures.wgsl).
const TEXELS_PER_ROW: u32 = 4096u;

@group(0) @binding(8) var x_last: texture_2d<f32>;
@group(0) @binding(9) var dy_last: texture_2d<f32>;
@group(0) @binding(11) var out_last: texture_storage_2d<rgba32float, write>;

fn texel(i: u32) -> vec2<u32> {
    return vec2<u32>(i % TEXELS_PER_ROW, i / TEXELS_PER_ROW);
}

fn load_x_last(i: u32) -> vec4<f32> {
    return textureLoad(x_last, texel(i), 0);
}

fn load_dy_last(i: u32) -> vec4<f32> {
    return textureLoad(dy_last, texel(i), 0);
}

fn store_last(i: u32, v: vec4<f32>) {
    textureStore(out_last, texel(i), v);
}
