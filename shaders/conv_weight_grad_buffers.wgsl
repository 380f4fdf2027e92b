// Prepended to conv_weight_grad.wgsl for channels-last copies in storage buffers: load_x_last(i)
// and load_dy_last(i) read vec4 i of the copies of x and dy, store_last(i, v) writes vec4 i of
// channels_last's output.
@group(0) @binding(8) var<storage, read> x_last: array<vec4<f32>>;
@group(0) @binding(9) var<storage, read> dy_last: array<vec4<f32>>;
@group(0) @binding(11) var<storage, read_write> out4: array<vec4<f32>>;

fn load_x_last(i: u32) -> vec4<f32> {
    return x_last[i];
}

fn load_dy_last(i: u32) -> vec4<f32> {
    return dy_last[i];
}

fn store_last(i: u32, v: vec4<f32>) {
    out4[i] = v;
}
