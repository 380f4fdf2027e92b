// Prepended to winograd.wgsl and winograd4x4.wgsl after winograd_common.wgsl where the transforms
// read their operands from storage buffers: the input x (as floats, or as vec4s: `x4`), the output
// gradient dy (as floats) and the products M (as floats, or as vec4s: `m4`), by element or vec4
// index in the binding.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(6) var<storage, read> m: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(9) var<storage, read> m4: array<vec4<f32>>;
@group(0) @binding(10) var<storage, read> x4: array<vec4<f32>>;

fn load_x(i: u32) -> f32 {
    return x[i];
}

fn load_x4(i: u32) -> vec4<f32> {
    return x4[i];
}

fn load_dy(i: u32) -> f32 {
    return dy[i];
}

// Vec4 i of dy from its floats: grad_transform_rows, its only reader, runs on texture copies,
// and from buffers its scalar form grad_transform runs instead (PERFORMANCE.md 33), so dy needs
// no vec4 binding of its own.
fn load_dy4(i: u32) -> vec4<f32> {
    return vec4<f32>(dy[4u * i], dy[4u * i + 1u], dy[4u * i + 2u], dy[4u * i + 3u]);
}

fn load_m(i: u32) -> f32 {
    return m[i];
}

fn load_m4(i: u32) -> vec4<f32> {
    return m4[i];
}
