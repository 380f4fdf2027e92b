// Prepended to winograd.wgsl and winograd4x4.wgsl (after common.wgsl, before one of the operand
// preludes, winograd_operands_buffers.wgsl or winograd_operands_textures.wgsl, which bind x, dy
// and M): what the two Winograd variants share. Their launch parameters (one struct, as for the
// Rust twin ops::conv::winograd::Params) and other bindings; the tile, kernel, input and gradient
// lookups; the entry points of the weights transforms, each lane's U written by each file's
// transform_weights:
//   weights_transform_rows, flipped_weights_transform_rows: see winograd.wgsl's header;
// and the entry points that write the weight gradient from the taps each file's
// weight_grad_taps computes:
//   weight_grad_output: dweight[co, ci, ky, kx] from weight_grad_taps. One invocation per (co,
//                      vec4 of ci), writing dweight as scalars (`dweight`); grid =
//                      ceil(c_out * ci_pad/4 / WG).
//   weight_grad_output_vec4: the same when c_in is a multiple of 4, writing each invocation's
//                      36 floats as nine vec4s (`out4`).

override WG: u32 = 64;

struct Params {
    c_in: u32, h: u32, w: u32, c_out: u32, oh: u32, ow: u32, ph: u32, pw: u32,
    tiles_h: u32, tiles_w: u32, t_pad: u32, co_pad: u32, x_off: u32,
    y_off: u32, ci_pad: u32, t0: u32, t_count: u32, chunks: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> out4: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> dweight: array<f32>;

// Where the output tile t (numbered over the images bound, row-major within each) starts, with
// tiles `side` pixels wide.
struct TileOrigin {
    n: u32,
    oy: u32,
    ox: u32,
}

fn tile_origin(t: u32, side: u32) -> TileOrigin {
    let tx = t % params.tiles_w;
    let ty = (t / params.tiles_w) % params.tiles_h;
    return TileOrigin(t / (params.tiles_w * params.tiles_h), side * ty, side * tx);
}

// An invocation of a transform that writes a [rows, padded] matrix per transformed position, four
// columns c0 .. c0 + 3 of one row each (padded a multiple of 4); valid is false past the last row.
struct Lane {
    row: u32,
    c0: u32,
    rows: u32,
    vec4s: u32,
    valid: bool,
}

fn lane(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, rows: u32, padded: u32) -> Lane {
    let vec4s = padded / 4u;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    return Lane(i / vec4s, (i % vec4s) * 4u, rows, vec4s, i < rows * vec4s);
}

// The lane of a weights transform: (co, vec4 of ci), ci fastest for a forward, so neighbouring
// lanes read neighbouring kernels; co fastest when `flipped`, for the same reason (the flipped
// kernels of neighbouring co lie 9 floats apart, of neighbouring ci c_out * 9). `flipped` is a
// constant of each entry point, never a uniform: lavapipe (Mesa 22.3) recompiles a shader at every
// dispatch, and never frees the old one, when inlining a uniform branch folds half of it away
// (PERFORMANCE.md 42).
fn kernel_lane(wid: vec3<u32>, nwg: vec3<u32>, lid: vec3<u32>, flipped: bool) -> Lane {
    let vec4s = params.ci_pad / 4u;
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    var row = i / vec4s;
    var c4 = i % vec4s;
    if (flipped) {
        row = i % params.c_out;
        c4 = i / params.c_out;
    }
    return Lane(row, c4 * 4u, params.c_out, vec4s, i < params.c_out * vec4s);
}

// Tap k (3 ky + kx) of the kernels from input channels ci0 .. ci0 + 3 into output channel co, zero
// past c_in: weight[co, ci0 .. ci0 + 4] of a forward or, `flipped`, the transposed flipped
// kernels weight[ci0 .. ci0 + 4, co, 2 - ky, 2 - kx] of an input gradient (the weight is the
// forward's [c_in', c_out', 3, 3]).
fn taps4(co: u32, ci0: u32, k: u32, flipped: bool) -> vec4<f32> {
    var t = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let ci = ci0 + j;
        if (ci < params.c_in) {
            if (flipped) {
                t[j] = weight[(ci * params.c_out + co) * 9u + 8u - k];
            } else {
                t[j] = weight[(co * params.c_in + ci) * 9u + k];
            }
        }
    }
    return t;
}

// The weights transforms' entry points, U of each lane by each file's transform_weights.
@compute @workgroup_size(WG)
fn weights_transform_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                          @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = kernel_lane(wid, nwg, lid, false);
    if (at.valid) { transform_weights(at, false); }
}

@compute @workgroup_size(WG)
fn flipped_weights_transform_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = kernel_lane(wid, nwg, lid, true);
    if (at.valid) { transform_weights(at, true); }
}

// Input value at row iy, column ix of plane `plane` (an (n, ci) pair), zero outside.
fn input_at(plane: u32, iy: i32, ix: i32) -> f32 {
    if (iy < 0 || iy >= i32(params.h) || ix < 0 || ix >= i32(params.w)) {
        return 0.0;
    }
    return load_x(params.x_off + plane * params.h * params.w + u32(iy) * params.w + u32(ix));
}

// Output gradient at row oy, column ox of plane `plane` (an (n, co) pair), zero outside.
fn grad_at(plane: u32, oy: u32, ox: u32) -> f32 {
    if (oy >= params.oh || ox >= params.ow) {
        return 0.0;
    }
    return load_dy(params.y_off + (plane * params.oh + oy) * params.ow + ox);
}

// The taps of invocation i of weight_grad_output: o[k] is tap k = 3 ky + kx of the kernels
// (co, ci0 .. ci0 + 4), one per component.
struct GradTaps {
    co: u32,
    ci0: u32,
    o: array<vec4<f32>, 9>,
}

// weight_grad_output's invocations: one per (co, vec4 of ci).
fn weight_grad_invocations() -> u32 {
    return params.c_out * (params.ci_pad / 4u);
}

@compute @workgroup_size(WG)
fn weight_grad_output(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= weight_grad_invocations()) { return; }
    let g = weight_grad_taps(i);
    // dweight[co, ci0 .. ci0 + 4, 3, 3]: 36 consecutive floats.
    let out = (g.co * params.c_in + g.ci0) * 9u;
    for (var j = 0u; j < 4u; j++) {
        if (g.ci0 + j < params.c_in) {
            let k = out + 9u * j;
            dweight[k] = g.o[0][j];
            dweight[k + 1u] = g.o[1][j];
            dweight[k + 2u] = g.o[2][j];
            dweight[k + 3u] = g.o[3][j];
            dweight[k + 4u] = g.o[4][j];
            dweight[k + 5u] = g.o[5][j];
            dweight[k + 6u] = g.o[6][j];
            dweight[k + 7u] = g.o[7][j];
            dweight[k + 8u] = g.o[8][j];
        }
    }
}

@compute @workgroup_size(WG)
fn weight_grad_output_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= weight_grad_invocations()) { return; }
    let g = weight_grad_taps(i);
    let o = g.o;
    // dweight[co, ci0 .. ci0 + 4, 3, 3]: 36 consecutive floats starting on a vec4 boundary (c_in
    // is a multiple of 4).
    let v = (g.co * params.c_in + g.ci0) * 9u / 4u;
    out4[v] = vec4<f32>(o[0].x, o[1].x, o[2].x, o[3].x);
    out4[v + 1u] = vec4<f32>(o[4].x, o[5].x, o[6].x, o[7].x);
    out4[v + 2u] = vec4<f32>(o[8].x, o[0].y, o[1].y, o[2].y);
    out4[v + 3u] = vec4<f32>(o[3].y, o[4].y, o[5].y, o[6].y);
    out4[v + 4u] = vec4<f32>(o[7].y, o[8].y, o[0].z, o[1].z);
    out4[v + 5u] = vec4<f32>(o[2].z, o[3].z, o[4].z, o[5].z);
    out4[v + 6u] = vec4<f32>(o[6].z, o[7].z, o[8].z, o[0].w);
    out4[v + 7u] = vec4<f32>(o[1].w, o[2].w, o[3].w, o[4].w);
    out4[v + 8u] = vec4<f32>(o[5].w, o[6].w, o[7].w, o[8].w);
}
