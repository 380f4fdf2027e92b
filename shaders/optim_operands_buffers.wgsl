// Prepended to optim.wgsl where its vec4 path reads the weight, gradient and moments from their
// storage buffers, by vec4 index in the bindings (`region` is the texture prelude's).

@group(0) @binding(6) var<storage, read> grad4: array<vec4<f32>>;

fn load_weight4(i: u32, region: u32) -> vec4<f32> {
    return weight4[i];
}

fn load_grad4(i: u32, region: u32) -> vec4<f32> {
    return grad4[i];
}

fn load_moment1_4(i: u32, region: u32) -> vec4<f32> {
    return moment1_4[i];
}

fn load_moment2_4(i: u32, region: u32) -> vec4<f32> {
    return moment2_4[i];
}
