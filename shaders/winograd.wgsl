// 3x3 stride-1 convolution by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, 2016): each
// 2x2 output tile costs 16 multiplies per (input, output) channel pair instead of 36, so the same
// product kernel finishes the convolution 2.25x sooner. Tiles are numbered over the n images bound
// (n * ceil(oh/2) * ceil(ow/2) of them), and a launch transforms the chunk of T = t_count tiles
// from tile t0 (all of them, unless the transformed operands would exceed one binding; the chunks
// then take turns in the same buffers). The transformed weight U and the chunk's input V
// [16, c_in, t_pad] (t_pad = T rounded up to 4) are operands of matmul.wgsl's products,
// batched in one dispatch: M[xi] [c_out, t_pad] = U[xi] V[xi] over c_in, with U [16, c_out, ci_pad]
// row-major (weights_transform_rows, and matmul_rows_vec4x2 or its larger twins).
// Below, t is a tile of the chunk (tile t0 + t of the images bound).
//   weights_transform_rows: U[xi, co, ci] = (G g G^T)[xi] with g = weight[co, ci], rows padded to
//                      ci_pad with zeros: the row-major A of matmul_rows_vec4x2 (neighbouring
//                      lanes read neighbouring kernels and write neighbouring vec4s). One
//                      invocation per (co, vec4 of ci); grid = ceil(c_out * ci_pad/4 / WG), folded.
//   flipped_weights_transform_rows: the same with g the transposed flipped kernel
//                      weight[ci, co, 2 - ky, 2 - kx] of an input gradient (co fastest).
//   input_transform:   V[xi, ci, t] = (B^T d B)[xi] with d the 4x4 input patch of tile t (rows
//                      2ty - ph .., columns 2tx - pw .., zero outside x); zero for t >= T. One
//                      invocation per (ci, four tiles), storing vec4s; grid = ceil(c_in * t_pad/4
//                      / WG), folded.
//   output_transform:  y[n, co, 2ty + i, 2tx + j] = (A^T m A)[i, j] + 0.0, m[xi] = M[xi, co, t],
//                      for the pixels inside the output. One invocation per (co, tile); grid =
//                      ceil(c_out * T / WG), folded.
//   output_transform_bias: the same with + bias[co] for + 0.0 (only this entry binds `bias`).
// G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
// A^T = [1 1 1 0; 0 1 -1 -1].
// The weight gradient is F(3x3, 2x2): per tile, the 3x3 correlation of the 4x4 input patch d with
// the 2x2 output gradient g. Its B^T differs from the one above only by the sign of its last row,
// so it is folded into the gradient's transform: G' = [1 0; 1/2 1/2; 1/2 -1/2; 0 -1],
// A'^T = [1 1 1 0; 0 1 -1 0; 0 1 1 1]. With V and DY laid out tile-major, a matrix product per xi
// sums over the chunk's tiles: M[chunk, xi] [c_out, ci_pad] = DY[xi] V[xi], DY row-major.
//   input_by_tile:     V[xi, t, ci] = (B^T d B)[xi], channels padded to ci_pad. One
//                      invocation per (tile, vec4 of ci); grid = ceil(t_count * ci_pad/4 / WG).
//   grad_transform:    DY[xi, co, t] = (G' g G'^T)[xi] with g the 2x2 output gradient of tile t (zero
//                      outside the output), tiles padded to t_pad with zeros. One invocation per
//                      (co, four tiles); grid = ceil(c_out * t_pad/4 / WG).
//   weight_grad_output(_vec4) (winograd_common.wgsl): dweight[co, ci, ky, kx] = (A'^T m A')[ky,
//                      kx], m[xi] = the sum over the chunks of tiles of M[chunk, xi, co, ci] (the
//                      products of each chunk, read as vec4s `m4`; weight_grad_taps).

// Stores the 4x4 transforms v[j] of the lane's columns c0 + j: out4 holds 16 slices [rows, padded]
// (one per position xi = 4r + c), each vec4 the lane's four columns.
fn store_transforms(at: Lane, v: array<array<vec4<f32>, 4>, 4>) {
    let slice = at.rows * at.vec4s;
    for (var xi = 0u; xi < 16u; xi++) {
        let r = xi / 4u;
        let c = xi % 4u;
        out4[xi * slice + at.row * at.vec4s + at.c0 / 4u] = vec4<f32>(v[0][r][c], v[1][r][c], v[2][r][c], v[3][r][c]);
    }
}

// U[at + c * slice] = (r G^T)[c] for one row r = (p, q, s) of G g, four kernels at once.
fn store_kernel_row(at: u32, slice: u32, p: vec4<f32>, q: vec4<f32>, s: vec4<f32>) {
    out4[at] = p;
    out4[at + slice] = 0.5 * (p + q + s);
    out4[at + 2u * slice] = 0.5 * (p - q + s);
    out4[at + 3u * slice] = s;
}

// U of one lane: the nine taps of four kernels, rows of G g, each times G^T; U[4r + c] lies r * 4
// slices in.
fn transform_weights(at: Lane, flipped: bool) {
    let co = at.row;
    let ci0 = at.c0;
    let g0 = taps4(co, ci0, 0u, flipped);
    let g1 = taps4(co, ci0, 1u, flipped);
    let g2 = taps4(co, ci0, 2u, flipped);
    let g3 = taps4(co, ci0, 3u, flipped);
    let g4 = taps4(co, ci0, 4u, flipped);
    let g5 = taps4(co, ci0, 5u, flipped);
    let g6 = taps4(co, ci0, 6u, flipped);
    let g7 = taps4(co, ci0, 7u, flipped);
    let g8 = taps4(co, ci0, 8u, flipped);
    let slice = params.c_out * at.vec4s;
    let u = co * at.vec4s + ci0 / 4u;
    store_kernel_row(u, slice, g0, g1, g2);
    store_kernel_row(u + 4u * slice, slice, 0.5 * (g0 + g3 + g6), 0.5 * (g1 + g4 + g7), 0.5 * (g2 + g5 + g8));
    store_kernel_row(u + 8u * slice, slice, 0.5 * (g0 - g3 + g6), 0.5 * (g1 - g4 + g7), 0.5 * (g2 - g5 + g8));
    store_kernel_row(u + 12u * slice, slice, g6, g7, g8);
}

// B^T d B of the chunk's tile t of input channel ci, as 4 rows; zero past the chunk's last tile.
fn transform_tile(ci: u32, t_local: u32) -> array<vec4<f32>, 4> {
    if (t_local >= params.t_count) {
        return array<vec4<f32>, 4>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    }
    let o = tile_origin(params.t0 + t_local, 2u);
    let plane = o.n * params.c_in + ci;
    let iy = i32(o.oy) - i32(params.ph);
    let ix = i32(o.ox) - i32(params.pw);
    var d: array<vec4<f32>, 4>;
    for (var r = 0; r < 4; r++) {
        d[r] = vec4<f32>(input_at(plane, iy + r, ix), input_at(plane, iy + r, ix + 1),
                         input_at(plane, iy + r, ix + 2), input_at(plane, iy + r, ix + 3));
    }
    // Rows of B^T d, then each times B.
    let e0 = d[0] - d[2];
    let e1 = d[1] + d[2];
    let e2 = d[2] - d[1];
    let e3 = d[1] - d[3];
    return array<vec4<f32>, 4>(tile_row(e0), tile_row(e1), tile_row(e2), tile_row(e3));
}

// (e B) for one row e of B^T d.
fn tile_row(e: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(e.x - e.z, e.y + e.z, e.z - e.y, e.y - e.w);
}

@compute @workgroup_size(WG)
fn input_transform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.c_in, params.t_pad);
    if (!at.valid) { return; }
    // Tiles c0 .. c0 + 3 of input channel `row`.
    var v: array<array<vec4<f32>, 4>, 4>;
    for (var j = 0u; j < 4u; j++) {
        v[j] = transform_tile(at.row, at.c0 + j);
    }
    store_transforms(at, v);
}

@compute @workgroup_size(WG)
fn output_transform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.c_out * params.t_count) { return; }
    store_output_tile(i, 0.0);
}

@compute @workgroup_size(WG)
fn output_transform_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= params.c_out * params.t_count) { return; }
    store_output_tile(i, bias[i / params.t_count]);
}

// The output tile of invocation i of output_transform, each pixel plus b.
fn store_output_tile(i: u32, b: f32) {
    let t_local = i % params.t_count;
    let co = i / params.t_count;
    // M is [16, c_out, t_pad], over the chunk's tiles.
    let slice = params.c_out * params.t_pad;
    var q: array<vec4<f32>, 4>;
    for (var r = 0u; r < 4u; r++) {
        let at = (4u * r) * slice + co * params.t_pad + t_local;
        q[r] = vec4<f32>(load_m(at), load_m(at + slice), load_m(at + 2u * slice), load_m(at + 3u * slice));
    }
    // Rows of A^T q (2 x 4), then each times A.
    let a0 = q[0] + q[1] + q[2];
    let a1 = q[1] - q[2] - q[3];
    let out0 = vec2<f32>(a0.x + a0.y + a0.z, a0.y - a0.z - a0.w) + b;
    let out1 = vec2<f32>(a1.x + a1.y + a1.z, a1.y - a1.z - a1.w) + b;
    let o = tile_origin(params.t0 + t_local, 2u);
    let oy = o.oy;
    let ox = o.ox;
    let at = params.y_off + ((o.n * params.c_out + co) * params.oh + oy) * params.ow + ox;
    y[at] = out0.x;
    if (ox + 1u < params.ow) { y[at + 1u] = out0.y; }
    if (oy + 1u < params.oh) {
        y[at + params.ow] = out1.x;
        if (ox + 1u < params.ow) { y[at + params.ow + 1u] = out1.y; }
    }
}

@compute @workgroup_size(WG)
fn input_by_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.t_count, params.ci_pad);
    if (!at.valid) { return; }
    // Channels past c_in repeat the last one: the products' columns for them are never stored.
    var v: array<array<vec4<f32>, 4>, 4>;
    for (var j = 0u; j < 4u; j++) {
        v[j] = transform_tile(min(at.c0 + j, params.c_in - 1u), at.row);
    }
    store_transforms(at, v);
}

// G' g G'^T for the 2x2 output gradient of tile t, output channel co, as 4 rows.
fn transform_grad(co: u32, t: u32) -> array<vec4<f32>, 4> {
    let o = tile_origin(t, 2u);
    let plane = o.n * params.c_out + co;
    let g0 = vec2<f32>(grad_at(plane, o.oy, o.ox), grad_at(plane, o.oy, o.ox + 1u));
    let g1 = vec2<f32>(grad_at(plane, o.oy + 1u, o.ox), grad_at(plane, o.oy + 1u, o.ox + 1u));
    // Rows of G' g (4 x 2), then each times G'^T.
    return array<vec4<f32>, 4>(grad_row(g0), grad_row(0.5 * (g0 + g1)), grad_row(0.5 * (g0 - g1)), grad_row(-g1));
}

// (r G'^T) for one row r of G' g.
fn grad_row(r: vec2<f32>) -> vec4<f32> {
    return vec4<f32>(r.x, 0.5 * (r.x + r.y), 0.5 * (r.x - r.y), -r.y);
}

@compute @workgroup_size(WG)
fn grad_transform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.c_out, params.t_pad);
    if (!at.valid) { return; }
    // Tiles c0 .. c0 + 3 of output channel `row`; zero past the chunk's last tile.
    var g: array<array<vec4<f32>, 4>, 4>;
    for (var j = 0u; j < 4u; j++) {
        if (at.c0 + j < params.t_count) {
            g[j] = transform_grad(at.row, params.t0 + at.c0 + j);
        }
    }
    store_transforms(at, g);
}

fn weight_grad_taps(i: u32) -> GradTaps {
    let ci_vec4s = params.ci_pad / 4u;
    let co = i / ci_vec4s;
    let ci0 = (i % ci_vec4s) * 4u;
    // M is [chunks, 16, c_out, ci_pad], one partial sum per chunk of tiles; q_rc = the sum over
    // chunks of M[_, 4r + c, co, ci0 .. ci0 + 4], one input channel per component, so every sum
    // below transforms four kernels at once.
    let slice4 = params.c_out * ci_vec4s;
    var q: array<vec4<f32>, 16>;
    for (var k = 0u; k < params.chunks; k++) {
        let at = (k * 16u) * slice4 + co * ci_vec4s + ci0 / 4u;
        for (var xi = 0u; xi < 16u; xi++) {
            q[xi] += load_m4(at + xi * slice4);
        }
    }
    let q00 = q[0];
    let q01 = q[1];
    let q02 = q[2];
    let q03 = q[3];
    let q10 = q[4];
    let q11 = q[5];
    let q12 = q[6];
    let q13 = q[7];
    let q20 = q[8];
    let q21 = q[9];
    let q22 = q[10];
    let q23 = q[11];
    let q30 = q[12];
    let q31 = q[13];
    let q32 = q[14];
    let q33 = q[15];
    // Rows of A'^T q (3 x 4), then each times A': o_k is tap k = 3 ky + kx.
    let a00 = q00 + q10 + q20;
    let a01 = q01 + q11 + q21;
    let a02 = q02 + q12 + q22;
    let a03 = q03 + q13 + q23;
    let a10 = q10 - q20;
    let a11 = q11 - q21;
    let a12 = q12 - q22;
    let a13 = q13 - q23;
    let a20 = q10 + q20 + q30;
    let a21 = q11 + q21 + q31;
    let a22 = q12 + q22 + q32;
    let a23 = q13 + q23 + q33;
    let o0 = a00 + a01 + a02;
    let o1 = a01 - a02;
    let o2 = a01 + a02 + a03;
    let o3 = a10 + a11 + a12;
    let o4 = a11 - a12;
    let o5 = a11 + a12 + a13;
    let o6 = a20 + a21 + a22;
    let o7 = a21 - a22;
    let o8 = a21 + a22 + a23;
    return GradTaps(co, ci0, array<vec4<f32>, 9>(o0, o1, o2, o3, o4, o5, o6, o7, o8));
}

