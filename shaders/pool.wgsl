// Pooling over NCHW planes, PyTorch semantics. Planes are (n, c) pairs; `planes` = n * c.
//   max_forward:       y = max over the window (kernel kh x kw, stride sh x sw, zero-size padding
//                      ph, pw that never wins); argmax = index iy * w + ix within the input plane.
//                      Ties keep the first maximum in row-major window order and a NaN wins (the
//                      last NaN), exactly PyTorch's comparison `v > best || isnan(v)`. One invocation per output; grid = ceil(planes*oh*ow / WG), folded.
//   max_forward_halves: max_forward for 2x2 windows of stride 2 without padding over rows and x_off
//                      of whole vec4s (`x4`): one invocation per two outputs of a row, their
//                      windows one vec4 of each of two input rows; grid = ceil(planes*oh*ow/2 / WG).
//   max_backward:      dx[iy, ix] = sum of dy over the outputs whose argmax is (iy, ix); a gather
//                      over the windows that contain (iy, ix). One invocation per input element;
//                      with `halves4` (2x2 windows, stride 2, no padding, rows and x_off multiples
//                      of 4) one per vec4 of a row, whose inputs belong to two known outputs.
//   adaptive_forward:  adaptive average pooling: output (oy, ox) averages rows
//                      [floor(oy*h/oh), ceil((oy+1)*h/oh)) and the same for columns, so an output
//                      larger than its input repeats input values. One invocation per output.
//   adaptive_backward: dx[iy, ix] = sum of dy / bin area over the bins containing (iy, ix).
//                      One invocation per input element.

override WG: u32 = 64;

struct Params {
    planes: u32, h: u32, w: u32, oh: u32, ow: u32, kh: u32, kw: u32, sh: u32, sw: u32,
    ph: u32, pw: u32, x_off: u32, y_off: u32, halves4: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<i32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> argmax_in: array<i32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dx4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read> x4: array<vec4<f32>>;

// An element i of the planes, each w x h: its column x, row y and plane; valid is false past the
// last plane.
struct Element {
    i: u32,
    x: u32,
    y: u32,
    plane: u32,
    valid: bool,
}

fn element(i: u32, w: u32, h: u32) -> Element {
    return Element(i, i % w, (i / w) % h, i / (w * h), i < params.planes * w * h);
}

// The element of planes of w x h this invocation computes.
fn invocation_element(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, w: u32, h: u32) -> Element {
    return element(workgroup_index(wid, nwg) * WG + lid.x, w, h);
}

// Tested on the bits: compilers may assume `v != v` is false.
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

@compute @workgroup_size(WG)
fn max_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_id) lid: vec3<u32>) {
    let out = invocation_element(wid, nwg, lid, params.ow, params.oh);
    if (!out.valid) { return; }
    let y_begin = max(i32(out.y * params.sh) - i32(params.ph), 0);
    let x_begin = max(i32(out.x * params.sw) - i32(params.pw), 0);
    let y_end = min(i32(out.y * params.sh + params.kh) - i32(params.ph), i32(params.h));
    let x_end = min(i32(out.x * params.sw + params.kw) - i32(params.pw), i32(params.w));
    let base = params.x_off + out.plane * params.h * params.w;
    var best = bitcast<f32>(0xff800000u);
    var best_index = y_begin * i32(params.w) + x_begin;
    for (var iy = y_begin; iy < y_end; iy++) {
        for (var ix = x_begin; ix < x_end; ix++) {
            let index = iy * i32(params.w) + ix;
            let v = x[base + u32(index)];
            if (v > best || is_nan(v)) {
                best = v;
                best_index = index;
            }
        }
    }
    y[params.y_off + out.i] = best;
    argmax[params.y_off + out.i] = best_index;
}

// The maximum of a 2x2 window and its index: values v in row-major window order, the first at
// input index `first`, rows w apart; max_forward's comparison, in its order.
struct WindowMax {
    best: f32,
    index: i32,
}

fn window_max(v: vec4<f32>, first: i32, w: i32) -> WindowMax {
    var m = WindowMax(bitcast<f32>(0xff800000u), first);
    let at = vec4<i32>(first, first + 1, first + w, first + w + 1);
    for (var k = 0u; k < 4u; k++) {
        if (v[k] > m.best || is_nan(v[k])) {
            m = WindowMax(v[k], at[k]);
        }
    }
    return m;
}

// Two outputs from two vec4 loads where max_forward makes eight scalar ones in runtime loops.
@compute @workgroup_size(WG)
fn max_forward_halves(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    let out = element(2u * i, params.ow, params.oh);
    if (!out.valid) { return; }
    // Input rows 2 oy and 2 oy + 1, columns 2 ox .. 2 ox + 3 (ox even): one vec4 of each.
    let row = (params.x_off + (out.plane * params.h + 2u * out.y) * params.w + 2u * out.x) / 4u;
    let top = x4[row];
    let bottom = x4[row + params.w / 4u];
    let w = i32(params.w);
    let first = i32(2u * out.y) * w + i32(2u * out.x);
    let left = window_max(vec4<f32>(top.x, top.y, bottom.x, bottom.y), first, w);
    let right = window_max(vec4<f32>(top.z, top.w, bottom.z, bottom.w), first + 2, w);
    y[params.y_off + out.i] = left.best;
    argmax[params.y_off + out.i] = left.index;
    y[params.y_off + out.i + 1u] = right.best;
    argmax[params.y_off + out.i + 1u] = right.index;
}

@compute @workgroup_size(WG)
fn max_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.w, params.h);
    if (params.halves4 == 1u) {
        max_backward_halves(at.i);
        return;
    }
    if (!at.valid) { return; }
    let here = i32(at.y * params.w + at.x);
    // Outputs whose window [o*s - p, o*s - p + k) contains the input position.
    let ty = at.y + params.ph;
    let tx = at.x + params.pw;
    let oy_begin = select(0u, (ty + 1u - params.kh + params.sh - 1u) / params.sh, ty + 1u > params.kh);
    let ox_begin = select(0u, (tx + 1u - params.kw + params.sw - 1u) / params.sw, tx + 1u > params.kw);
    let oy_end = min(ty / params.sh + 1u, params.oh);
    let ox_end = min(tx / params.sw + 1u, params.ow);
    var acc = 0.0;
    for (var oy = oy_begin; oy < oy_end; oy++) {
        for (var ox = ox_begin; ox < ox_end; ox++) {
            let o = params.y_off + (at.plane * params.oh + oy) * params.ow + ox;
            if (argmax_in[o] == here) {
                acc += dy[o];
            }
        }
    }
    dx[params.x_off + at.i] = acc;
}

// max_backward for 2x2 windows of stride 2: inputs 4i .. 4i + 3 (one row y, columns x .. x + 3)
// can only be the argmax of outputs (y / 2, x / 2) and (y / 2, x / 2 + 1).
fn max_backward_halves(i: u32) {
    let at = element(4u * i, params.w, params.h);
    if (!at.valid) { return; }
    let oy = at.y / 2u;
    let ox = at.x / 2u;
    var v = vec4<f32>(0.0);
    let here = i32(at.y * params.w + at.x);
    let o = params.y_off + (at.plane * params.oh + oy) * params.ow + ox;
    if (oy < params.oh && ox < params.ow) {
        let a = argmax_in[o];
        let g = dy[o];
        v.x = select(0.0, g, a == here);
        v.y = select(0.0, g, a == here + 1);
    }
    if (oy < params.oh && ox + 1u < params.ow) {
        let a = argmax_in[o + 1u];
        let g = dy[o + 1u];
        v.z = select(0.0, g, a == here + 2);
        v.w = select(0.0, g, a == here + 3);
    }
    dx4[params.x_off / 4u + i] = v;
}

fn bin_begin(o: u32, input: u32, output: u32) -> u32 {
    return (o * input) / output;
}

fn bin_end(o: u32, input: u32, output: u32) -> u32 {
    return ((o + 1u) * input + output - 1u) / output;
}

@compute @workgroup_size(WG)
fn adaptive_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let out = invocation_element(wid, nwg, lid, params.ow, params.oh);
    if (!out.valid) { return; }
    let y0 = bin_begin(out.y, params.h, params.oh);
    let y1 = bin_end(out.y, params.h, params.oh);
    let x0 = bin_begin(out.x, params.w, params.ow);
    let x1 = bin_end(out.x, params.w, params.ow);
    let base = params.x_off + out.plane * params.h * params.w;
    var acc = 0.0;
    for (var iy = y0; iy < y1; iy++) {
        for (var ix = x0; ix < x1; ix++) {
            acc += x[base + iy * params.w + ix];
        }
    }
    y[params.y_off + out.i] = acc / f32((y1 - y0) * (x1 - x0));
}

@compute @workgroup_size(WG)
fn adaptive_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                     @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = invocation_element(wid, nwg, lid, params.w, params.h);
    if (!at.valid) { return; }
    // Bins containing row y = at.y: oy from floor(y*oh/h) to ceil((y+1)*oh/h) - 1; checked exactly below.
    let oy_begin = (at.y * params.oh) / params.h;
    let oy_end = min(((at.y + 1u) * params.oh + params.h - 1u) / params.h, params.oh);
    let ox_begin = (at.x * params.ow) / params.w;
    let ox_end = min(((at.x + 1u) * params.ow + params.w - 1u) / params.w, params.ow);
    var acc = 0.0;
    for (var oy = oy_begin; oy < oy_end; oy++) {
        let y0 = bin_begin(oy, params.h, params.oh);
        let y1 = bin_end(oy, params.h, params.oh);
        if (at.y < y0 || at.y >= y1) { continue; }
        for (var ox = ox_begin; ox < ox_end; ox++) {
            let x0 = bin_begin(ox, params.w, params.ow);
            let x1 = bin_end(ox, params.w, params.ow);
            if (at.x < x0 || at.x >= x1) { continue; }
            acc += dy[params.y_off + (at.plane * params.oh + oy) * params.ow + ox]
                 / f32((y1 - y0) * (x1 - x0));
        }
    }
    dx[params.x_off + at.i] = acc;
}
