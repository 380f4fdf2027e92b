// Prepended to conv2d.wgsl, conv_weight_grad.wgsl and conv_transpose2d.wgsl (after common.wgsl):
// their launch parameters, one struct for the three files as for their Rust twin
// (ops::conv::Params), and the bindings they declare. conv_transpose2d.wgsl reads only the fields
// up to y_off.
struct Params {
    n: u32, c_in: u32, h: u32, w: u32, c_out: u32, oh: u32, ow: u32, kh: u32, kw: u32,
    sh: u32, sw: u32, ph: u32, pw: u32, x_off: u32, y_off: u32,
    segments: u32, rows_per_segment: u32, flip: u32, rows: u32, row_vec4s: u32,
    image_major: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
