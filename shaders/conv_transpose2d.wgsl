// Transposed 2-D convolution, NCHW, f32, PyTorch semantics; weight layout [c_in, c_out, kh, kw].
//   forward: y[n, co, oy, ox] = sum over ci, ky, kx with oy = iy*sh - ph + ky and
//            ox = ix*sw - pw + kx of x[n, ci, iy, ix] * weight[ci, co, ky, kx].
//            Written as a gather (each output sums its own inputs), so there are no atomics and the
//            result is bit-reproducible. x [n, c_in, h, w], y [n, c_out, oh, ow].
//            One invocation per output element; grid = ceil(n*c_out*oh*ow / WG), folded.
//   forward_bias: the same sum started from bias[co].
//   place_patches: with stride == kernel the windows do not overlap, and the op is the product
//            P[n] = W^T x[n] ([c_out*kh*kw, h*w], matmul.wgsl, W read as [c_in, c_out*kh*kw])
//            followed by this pass: y[n, co, oy, ox] = P[n, (co*kh + ky)*kw + kx, iy*w + ix]
//            with oy + ph = iy*kh + ky and ox + pw = ix*kw + kx. P is bound as x.
//            One invocation per output element; grid = ceil(n*c_out*oh*ow / WG), folded.
//   place_patches_bias: the same plus bias[co].
// Only the _bias entry points use `bias`, so the others bind no buffer for it.
// The same gather is conv2d's input gradient (x = dy, weight = the conv weight [c_out, c_in, ...]
// read as [c_in', c_out', ...]). This op's input gradient is conv2d.wgsl's forward, and its weight
// gradient is conv2d.wgsl's weight_grad_partial with the roles of x and dy exchanged.

override WG: u32 = 64;

// Params and its bindings (params, x, weight, bias, y): conv_common.wgsl, prepended.

// Output elements, one invocation each.
fn outputs() -> u32 {
    return params.n * params.c_out * params.oh * params.ow;
}

// Output channel of output element i.
fn channel(i: u32) -> u32 {
    return (i / (params.ow * params.oh)) % params.c_out;
}

@compute @workgroup_size(WG)
fn forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= outputs()) { return; }
    y[params.y_off + i] = gather(i, 0.0);
}

@compute @workgroup_size(WG)
fn forward_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= outputs()) { return; }
    y[params.y_off + i] = gather(i, bias[channel(i)]);
}

// start + the sum of `forward` for output element i.
fn gather(i: u32, start: f32) -> f32 {
    let ox = i % params.ow;
    let oy = (i / params.ow) % params.oh;
    let co = channel(i);
    let nn = i / (params.ow * params.oh * params.c_out);
    var acc = start;
    let ty = oy + params.ph;
    let tx = ox + params.pw;
    // Only taps with ky = ty (mod sh) land on an input row; step through those alone.
    for (var ky = ty % params.sh; ky < params.kh && ky <= ty; ky += params.sh) {
        let iy = (ty - ky) / params.sh;
        if (iy >= params.h) { continue; }
        for (var kx = tx % params.sw; kx < params.kw && kx <= tx; kx += params.sw) {
            let ix = (tx - kx) / params.sw;
            if (ix >= params.w) { continue; }
            for (var ci = 0u; ci < params.c_in; ci++) {
                acc += x[params.x_off + ((nn * params.c_in + ci) * params.h + iy) * params.w + ix]
                     * weight[((ci * params.c_out + co) * params.kh + ky) * params.kw + kx];
            }
        }
    }
    return acc;
}

@compute @workgroup_size(WG)
fn place_patches(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= outputs()) { return; }
    y[params.y_off + i] = patch_value(i);
}

@compute @workgroup_size(WG)
fn place_patches_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= outputs()) { return; }
    y[params.y_off + i] = patch_value(i) + bias[channel(i)];
}

// The product entry that output element i of place_patches takes.
fn patch_value(i: u32) -> f32 {
    let ox = i % params.ow;
    let oy = (i / params.ow) % params.oh;
    let co = channel(i);
    let nn = i / (params.oh * params.ow * params.c_out);
    // Every output lies in exactly one window: oy + ph < h * kh because oh = h*kh - 2ph.
    let ty = oy + params.ph;
    let tx = ox + params.pw;
    let row = (co * params.kh + ty % params.kh) * params.kw + tx % params.kw;
    let column = (ty / params.kh) * params.w + tx / params.kw;
    let patches = params.c_out * params.kh * params.kw;
    return x[params.x_off + (nn * patches + row) * params.h * params.w + column];
}
