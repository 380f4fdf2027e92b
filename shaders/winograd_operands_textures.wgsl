// Prepended to winograd4x4.wgsl after winograd_common.wgsl where a transform reads its operand
// (the input x, the output gradient dy or the products M: one a launch) from an rgba32float
// texture copy of its storage binding, vec4 i at texel (i % TEXELS_PER_ROW, i / TEXELS_PER_ROW)
// (the Rust twin: gpu::TEXELS_PER_ROW). Only the entry points that read vec4s are launched so
// (input_transform_rows, output_transform, output_transform_bias, input_by_tile_rows,
// grad_transform_rows, weight_grad_output and weight_grad_output_vec4): on lavapipe a texel fetch
// costs a quarter of a storage load a component (batched_operands_textures.wgsl), but a float
// read alone costs a whole texel.
const TEXELS_PER_ROW: u32 = 4096u;

@group(0) @binding(11) var operand: texture_2d<f32>;

fn operand_vec4(i: u32) -> vec4<f32> {
    return textureLoad(operand, vec2<u32>(i % TEXELS_PER_ROW, i / TEXELS_PER_ROW), 0);
}

fn operand_float(i: u32) -> f32 {
    return operand_vec4(i / 4u)[i % 4u];
}

fn load_x(i: u32) -> f32 {
    return operand_float(i);
}

fn load_x4(i: u32) -> vec4<f32> {
    return operand_vec4(i);
}

fn load_dy(i: u32) -> f32 {
    return operand_float(i);
}

fn load_dy4(i: u32) -> vec4<f32> {
    return operand_vec4(i);
}

fn load_m(i: u32) -> f32 {
    return operand_float(i);
}

fn load_m4(i: u32) -> vec4<f32> {
    return operand_vec4(i);
}
