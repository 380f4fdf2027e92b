// Prepended to optim.wgsl where its vec4 path reads the weight, gradient and moments from
// rgba32float texture copies of their bindings, two stacked in each texture: the weight, then the
// gradient `region` texels later in weight_grad_texels; the first moment (SGD's velocity), then
// the second `region` texels later in moment_texels (SGD without momentum copies no velocity,
// and its update ignores what load_moment1_4 returns). Vec4 i of a binding is at texel
// (i % TEXELS_PER_ROW, i / TEXELS_PER_ROW) of its region (the Rust twin: gpu::TEXELS_PER_ROW). On
// lavapipe without AVX-512 a texel fetch costs about a quarter of a storage load a component
// (batched_operands_textures.wgsl); the updates still store into the buffers.
const TEXELS_PER_ROW: u32 = 4096u;

@group(0) @binding(9) var weight_grad_texels: texture_2d<f32>;
@group(0) @binding(10) var moment_texels: texture_2d<f32>;

fn texel(v: u32) -> vec2<u32> {
    return vec2<u32>(v % TEXELS_PER_ROW, v / TEXELS_PER_ROW);
}

fn load_weight4(i: u32, region: u32) -> vec4<f32> {
    return textureLoad(weight_grad_texels, texel(i), 0);
}

fn load_grad4(i: u32, region: u32) -> vec4<f32> {
    return textureLoad(weight_grad_texels, texel(region + i), 0);
}

fn load_moment1_4(i: u32, region: u32) -> vec4<f32> {
    return textureLoad(moment_texels, texel(i), 0);
}

fn load_moment2_4(i: u32, region: u32) -> vec4<f32> {
    return textureLoad(moment_texels, texel(region + i), 0);
}
