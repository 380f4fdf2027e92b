// Prepended to batched_matmul.wgsl for operands read from rgba32float texture copies of their
// storage bindings, vec4 i of a binding at texel (i % TEXELS_PER_ROW, i / TEXELS_PER_ROW) (the
// Rust twin: gpu::TEXELS_PER_ROW). On lavapipe a storage load runs a loop over the lanes with a
// variable-index insert, which without AVX-512 costs a stack round trip per component; a texel
// fetch inserts at constant indices: 2-4x less a loaded component (PERFORMANCE.md 38).
const TEXELS_PER_ROW: u32 = 4096u;

@group(0) @binding(1) var a4: texture_2d<f32>;
@group(0) @binding(2) var b4: texture_2d<f32>;

fn load_a(i: u32) -> vec4<f32> {
    return textureLoad(a4, vec2<u32>(i % TEXELS_PER_ROW, i / TEXELS_PER_ROW), 0);
}

fn load_b(i: u32) -> vec4<f32> {
    return textureLoad(b4, vec2<u32>(i % TEXELS_PER_ROW, i / TEXELS_PER_ROW), 0);
}
