// 3x3 stride-1 convolution by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, 2016): each
// 4x4 output tile costs 36 multiplies per (input, output) channel pair where F(2x2, 3x3)
// (winograd.wgsl) spends 64 and a direct convolution 144, and its transformed input is 2.25 floats
// per output pixel, not 4. Tiles, chunks, layouts and products are winograd.wgsl's (see its header),
// with 36 transformed positions xi = 6r + c instead of 16 and tiles of 4x4 outputs from 6x6 inputs
// (t below is a tile of the chunk; every grid is folded):
//   weights_transform_rows: U[xi, co, ci] = (G g G^T)[xi] with g = weight[co, ci], rows padded to
//                      ci_pad with zeros. One invocation per (co, vec4 of ci); grid =
//                      ceil(c_out * ci_pad/4 / WG).
//   flipped_weights_transform_rows: the same with g the transposed flipped kernel of an input
//                      gradient (co fastest).
//   input_transform:   V[xi, ci, t] = (B^T d B)[xi] with d the 6x6 input patch of the chunk's tile t
//                      (rows 4ty - ph .., columns 4tx - pw .., zero outside x); zero for t >= T.
//                      One invocation per (ci, four tiles); grid = ceil(c_in * t_pad/4 / WG).
//   input_transform_rows: input_transform where the four tiles of an invocation lie side by side
//                      in one tile row (tiles_w and t0 multiples of 4), pw = 1, and input rows and
//                      x_off are whole vec4s (`x4`): each of the six input rows is read as the six
//                      vec4s around the four patches, 36 loads where input_transform makes 144.
//                      Same grid.
//   output_transform:  y[n, co, 4ty + i, 4tx + j] = (A^T m A)[i, j] + 0.0, m[xi] = M[xi, co, t],
//                      for the pixels inside the output. One invocation per (co, four tiles),
//                      reading M as vec4s (`m4`); grid = ceil(c_out * t_pad/4 / WG).
//   output_transform_bias: the same with + bias[co] for + 0.0 (only this entry binds `bias`).
// The weight gradient is F(3x3, 4x4), by the transposition principle: per tile, the 3x3
// correlation of the 6x6 input patch d with the 4x4 output gradient g is G^T ((A g A^T) . (B^T d
// B)) G, so with V tile-major and DY row-major a matrix product per xi sums over the chunk's tiles:
// M[xi] [c_out, ci_pad] = DY[xi] V[xi].
//   input_by_tile:     V[xi, t, ci] = (B^T d B)[xi], channels padded to ci_pad. One invocation per
//                      (tile, vec4 of ci); grid = ceil(t_count * ci_pad/4 / WG).
//   input_by_tile_rows: input_by_tile where pw = 1 and input rows and x_off are whole vec4s
//                      (`x4`): each channel's six patch rows are read as the three vec4s around
//                      them, 72 loads where input_by_tile makes 144. Same grid.
//   grad_transform:    DY[xi, co, t] = (A g A^T)[xi] with g the 4x4 output gradient of tile t (zero
//                      outside the output), tiles padded to t_pad with zeros. One invocation per
//                      (co, four tiles); grid = ceil(c_out * t_pad/4 / WG).
//   grad_transform_rows: grad_transform where the four tiles of an invocation lie side by side in
//                      one tile row (tiles_w, t0 and t_count multiples of 4) and output rows and
//                      y_off are whole vec4s (`load_dy4`): each tile row is one vec4, 16 loads
//                      where grad_transform makes 64. Same grid.
//   weight_grad_output(_vec4) (winograd_common.wgsl): dweight[co, ci, ky, kx] = (G^T m G)[ky, kx],
//                      m[xi] = the sum over the chunks of tiles of M[chunk, xi, co, ci]
//                      (weight_grad_taps).
// With the points 0, 1, -1, 2, -2 and infinity:
// B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
// G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
// A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
// Every value below is a vec4 of four tiles or four channels, so each transform is written once
// and its stores are vec4s. A 6x6 matrix is a struct of six rows, each a struct of six values, and
// a 2-D transform is the 1-D one on each row, a transposition, the 1-D one on each row again: every
// element has a name, never an index, because lavapipe keeps in registers only what loops that
// unroll index, and loops of 36 do not unroll (a first version indexed arrays in such loops and
// ran its transforms at a twentieth of this speed).

struct Three { a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, }
struct Four { a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>, }
struct Six { a0: vec4<f32>, a1: vec4<f32>, a2: vec4<f32>, a3: vec4<f32>, a4: vec4<f32>, a5: vec4<f32>, }
// Matrices by rows: SixBySix has six rows of Six, and so on.
struct SixBySix { r0: Six, r1: Six, r2: Six, r3: Six, r4: Six, r5: Six, }
struct ThreeBySix { r0: Six, r1: Six, r2: Six, }
struct SixByThree { r0: Three, r1: Three, r2: Three, r3: Three, r4: Three, r5: Three, }
struct FourBySix { r0: Six, r1: Six, r2: Six, r3: Six, }
struct SixByFour { r0: Four, r1: Four, r2: Four, r3: Four, r4: Four, r5: Four, }

fn transpose_6x6(mat: SixBySix) -> SixBySix {
    return SixBySix(
        Six(mat.r0.a0, mat.r1.a0, mat.r2.a0, mat.r3.a0, mat.r4.a0, mat.r5.a0),
        Six(mat.r0.a1, mat.r1.a1, mat.r2.a1, mat.r3.a1, mat.r4.a1, mat.r5.a1),
        Six(mat.r0.a2, mat.r1.a2, mat.r2.a2, mat.r3.a2, mat.r4.a2, mat.r5.a2),
        Six(mat.r0.a3, mat.r1.a3, mat.r2.a3, mat.r3.a3, mat.r4.a3, mat.r5.a3),
        Six(mat.r0.a4, mat.r1.a4, mat.r2.a4, mat.r3.a4, mat.r4.a4, mat.r5.a4),
        Six(mat.r0.a5, mat.r1.a5, mat.r2.a5, mat.r3.a5, mat.r4.a5, mat.r5.a5));
}

fn transpose_3x6(mat: ThreeBySix) -> SixByThree {
    return SixByThree(
        Three(mat.r0.a0, mat.r1.a0, mat.r2.a0), Three(mat.r0.a1, mat.r1.a1, mat.r2.a1),
        Three(mat.r0.a2, mat.r1.a2, mat.r2.a2), Three(mat.r0.a3, mat.r1.a3, mat.r2.a3),
        Three(mat.r0.a4, mat.r1.a4, mat.r2.a4), Three(mat.r0.a5, mat.r1.a5, mat.r2.a5));
}

fn transpose_6x3(mat: SixByThree) -> ThreeBySix {
    return ThreeBySix(
        Six(mat.r0.a0, mat.r1.a0, mat.r2.a0, mat.r3.a0, mat.r4.a0, mat.r5.a0),
        Six(mat.r0.a1, mat.r1.a1, mat.r2.a1, mat.r3.a1, mat.r4.a1, mat.r5.a1),
        Six(mat.r0.a2, mat.r1.a2, mat.r2.a2, mat.r3.a2, mat.r4.a2, mat.r5.a2));
}

fn transpose_4x6(mat: FourBySix) -> SixByFour {
    return SixByFour(
        Four(mat.r0.a0, mat.r1.a0, mat.r2.a0, mat.r3.a0), Four(mat.r0.a1, mat.r1.a1, mat.r2.a1, mat.r3.a1),
        Four(mat.r0.a2, mat.r1.a2, mat.r2.a2, mat.r3.a2), Four(mat.r0.a3, mat.r1.a3, mat.r2.a3, mat.r3.a3),
        Four(mat.r0.a4, mat.r1.a4, mat.r2.a4, mat.r3.a4), Four(mat.r0.a5, mat.r1.a5, mat.r2.a5, mat.r3.a5));
}

fn transpose_6x4(mat: SixByFour) -> FourBySix {
    return FourBySix(
        Six(mat.r0.a0, mat.r1.a0, mat.r2.a0, mat.r3.a0, mat.r4.a0, mat.r5.a0),
        Six(mat.r0.a1, mat.r1.a1, mat.r2.a1, mat.r3.a1, mat.r4.a1, mat.r5.a1),
        Six(mat.r0.a2, mat.r1.a2, mat.r2.a2, mat.r3.a2, mat.r4.a2, mat.r5.a2),
        Six(mat.r0.a3, mat.r1.a3, mat.r2.a3, mat.r3.a3, mat.r4.a3, mat.r5.a3));
}

// B^T a of six values.
fn bt(a: Six) -> Six {
    return Six(
        4.0 * a.a0 - 5.0 * a.a2 + a.a4,
        a.a3 + a.a4 - 4.0 * (a.a1 + a.a2),
        4.0 * (a.a1 - a.a2) - a.a3 + a.a4,
        2.0 * (a.a3 - a.a1) - a.a2 + a.a4,
        2.0 * (a.a1 - a.a3) - a.a2 + a.a4,
        4.0 * a.a1 - 5.0 * a.a3 + a.a5);
}

fn bt_rows(mat: SixBySix) -> SixBySix {
    return SixBySix(bt(mat.r0), bt(mat.r1), bt(mat.r2), bt(mat.r3), bt(mat.r4), bt(mat.r5));
}

// B^T d B of a 6x6 patch d: (B^T (d B)^T)^T, each B^T on rows.
fn transform_input(d: SixBySix) -> SixBySix {
    return transpose_6x6(bt_rows(transpose_6x6(bt_rows(d))));
}

// G a of three kernel taps.
fn g6(a: Three) -> Six {
    return Six(
        0.25 * a.a0,
        -(a.a0 + a.a1 + a.a2) / 6.0,
        (a.a1 - a.a0 - a.a2) / 6.0,
        a.a0 / 24.0 + a.a1 / 12.0 + a.a2 / 6.0,
        a.a0 / 24.0 - a.a1 / 12.0 + a.a2 / 6.0,
        a.a2);
}

// G g G^T of a 3x3 kernel g (taps 3 ky + kx): G (g G^T), each G on rows of the transpose.
fn transform_kernel(g: array<vec4<f32>, 9>) -> SixBySix {
    let p = ThreeBySix(g6(Three(g[0], g[1], g[2])), g6(Three(g[3], g[4], g[5])),
                       g6(Three(g[6], g[7], g[8])));
    let q = transpose_3x6(p);
    return transpose_6x6(SixBySix(g6(q.r0), g6(q.r1), g6(q.r2), g6(q.r3), g6(q.r4), g6(q.r5)));
}

// Stores row i of a lane's transforms: position xi = 6i + c in slice xi of out4.
fn store_row(at: Lane, i: u32, row: Six) {
    let slice = at.rows * at.vec4s;
    let base = at.row * at.vec4s + at.c0 / 4u + 6u * i * slice;
    out4[base] = row.a0;
    out4[base + slice] = row.a1;
    out4[base + 2u * slice] = row.a2;
    out4[base + 3u * slice] = row.a3;
    out4[base + 4u * slice] = row.a4;
    out4[base + 5u * slice] = row.a5;
}

// Stores the 36 transformed vec4s of a lane: out4 holds 36 slices [rows, padded], one per xi.
fn store_transforms(at: Lane, v: SixBySix) {
    store_row(at, 0u, v.r0);
    store_row(at, 1u, v.r1);
    store_row(at, 2u, v.r2);
    store_row(at, 3u, v.r3);
    store_row(at, 4u, v.r4);
    store_row(at, 5u, v.r5);
}

// U of one lane: the taps of input channels c0 .. c0 + 3 of output channel `row`, one per
// component.
fn transform_weights(at: Lane, flipped: bool) {
    let co = at.row;
    let c = at.c0;
    store_transforms(at, transform_kernel(array<vec4<f32>, 9>(
        taps4(co, c, 0u, flipped), taps4(co, c, 1u, flipped), taps4(co, c, 2u, flipped),
        taps4(co, c, 3u, flipped), taps4(co, c, 4u, flipped), taps4(co, c, 5u, flipped),
        taps4(co, c, 6u, flipped), taps4(co, c, 7u, flipped), taps4(co, c, 8u, flipped))));
}

// Four 6x6 input patches, one per component: planes (of x) and top-left corners. A patch with
// its corner far above the input reads as zeros.
struct Patches {
    plane: vec4<u32>,
    iy: vec4<i32>,
    ix: vec4<i32>,
}

// Row r, column c of the four patches.
fn patch_at(p: Patches, r: i32, c: i32) -> vec4<f32> {
    return vec4<f32>(input_at(p.plane.x, p.iy.x + r, p.ix.x + c), input_at(p.plane.y, p.iy.y + r, p.ix.y + c),
                     input_at(p.plane.z, p.iy.z + r, p.ix.z + c), input_at(p.plane.w, p.iy.w + r, p.ix.w + c));
}

fn patch_row(p: Patches, r: i32) -> Six {
    return Six(patch_at(p, r, 0), patch_at(p, r, 1), patch_at(p, r, 2), patch_at(p, r, 3),
               patch_at(p, r, 4), patch_at(p, r, 5));
}

fn transformed_patches(p: Patches) -> SixBySix {
    return transform_input(SixBySix(patch_row(p, 0), patch_row(p, 1), patch_row(p, 2), patch_row(p, 3),
                                    patch_row(p, 4), patch_row(p, 5)));
}

// Far enough above any input that a patch starting there is all padding.
const OUTSIDE: i32 = -16;

@compute @workgroup_size(WG)
fn input_transform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                   @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.c_in, params.t_pad);
    if (!at.valid) { return; }
    // The chunk's tiles c0 .. c0 + 3 of input channel `row`; zero past the chunk's last tile.
    var p = Patches(vec4<u32>(0u), vec4<i32>(OUTSIDE), vec4<i32>(0));
    for (var j = 0u; j < 4u; j++) {
        if (at.c0 + j < params.t_count) {
            let o = tile_origin(params.t0 + at.c0 + j, 4u);
            p.plane[j] = o.n * params.c_in + at.row;
            p.iy[j] = i32(o.oy) - i32(params.ph);
            p.ix[j] = i32(o.ox) - i32(params.pw);
        }
    }
    store_transforms(at, transformed_patches(p));
}

// Vec4 k (columns 4k .. 4k + 3) of input row iy of plane `plane`, zero outside the input (rows of
// whole vec4s, so a vec4 is either inside or outside).
fn input_vec4(plane: u32, iy: i32, k: i32) -> vec4<f32> {
    if (iy < 0 || iy >= i32(params.h) || k < 0 || k >= i32(params.w / 4u)) {
        return vec4<f32>(0.0);
    }
    return load_x4((params.x_off + (plane * params.h + u32(iy)) * params.w) / 4u + u32(k));
}

// Row r of the patches of four side-by-side tiles whose first input column is 4 k0 + 3 (pw = 1):
// patch j's columns are 4 (k0 + j) + 3 .. 4 (k0 + j) + 8, in the six vec4s k0 .. k0 + 5.
fn patch_row_of_vec4s(plane: u32, iy: i32, k0: i32) -> Six {
    let b0 = input_vec4(plane, iy, k0);
    let b1 = input_vec4(plane, iy, k0 + 1);
    let b2 = input_vec4(plane, iy, k0 + 2);
    let b3 = input_vec4(plane, iy, k0 + 3);
    let b4 = input_vec4(plane, iy, k0 + 4);
    let b5 = input_vec4(plane, iy, k0 + 5);
    return Six(vec4<f32>(b0.w, b1.w, b2.w, b3.w), vec4<f32>(b1.x, b2.x, b3.x, b4.x),
               vec4<f32>(b1.y, b2.y, b3.y, b4.y), vec4<f32>(b1.z, b2.z, b3.z, b4.z),
               vec4<f32>(b1.w, b2.w, b3.w, b4.w), vec4<f32>(b2.x, b3.x, b4.x, b5.x));
}

// A vec4 at a time, lavapipe's loads cost a quarter of input_transform's scalar ones; the
// patches' values then move between registers by name.
@compute @workgroup_size(WG)
fn input_transform_rows(@builtin(workgroup_id) wid: vec3<u32>,
                        @builtin(num_workgroups) nwg: vec3<u32>,
                        @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.c_in, params.t_pad);
    if (!at.valid) { return; }
    // Tiles c0 .. c0 + 3 of the chunk: one row of tiles, the first at a multiple of four.
    let o = tile_origin(params.t0 + at.c0, 4u);
    let plane = o.n * params.c_in + at.row;
    let iy = i32(o.oy) - i32(params.ph);
    // The first patch's first column, o.ox - 1, is the last of vec4 o.ox / 4 - 1.
    let k0 = i32(o.ox / 4u) - 1;
    let d = SixBySix(patch_row_of_vec4s(plane, iy, k0), patch_row_of_vec4s(plane, iy + 1, k0),
                     patch_row_of_vec4s(plane, iy + 2, k0), patch_row_of_vec4s(plane, iy + 3, k0),
                     patch_row_of_vec4s(plane, iy + 4, k0), patch_row_of_vec4s(plane, iy + 5, k0));
    store_transforms(at, transform_input(d));
}

// A^T a of six values.
fn at4(a: Six) -> Four {
    let p = a.a1 + a.a2;
    let q = a.a1 - a.a2;
    let s = a.a3 + a.a4;
    let d = a.a3 - a.a4;
    return Four(a.a0 + p + s, q + 2.0 * d, p + 4.0 * s, q + 8.0 * d + a.a5);
}

// Row r (positions 6r ..) of the products M read as vec4s from `at`, the 36 slices slice4 vec4s
// apart: M [36, c_out, t_pad] for the output transform, one chunk of M [chunks, 36, c_out, ci_pad]
// for the weight gradient's.
fn m_row(at: u32, slice4: u32, r: u32) -> Six {
    let k = at + 6u * r * slice4;
    return Six(load_m4(k), load_m4(k + slice4), load_m4(k + 2u * slice4), load_m4(k + 3u * slice4),
               load_m4(k + 4u * slice4), load_m4(k + 5u * slice4));
}

// Column c of tile j's output rows, plus b, inside the output.
fn store_output_column(o: TileOrigin, base: u32, c: u32, col: Four, j: u32, b: f32) {
    let ox = o.ox + c;
    if (ox >= params.ow) { return; }
    let at = base + o.oy * params.ow + ox;
    y[at] = col.a0[j] + b;
    if (o.oy + 1u < params.oh) { y[at + params.ow] = col.a1[j] + b; }
    if (o.oy + 2u < params.oh) { y[at + 2u * params.ow] = col.a2[j] + b; }
    if (o.oy + 3u < params.oh) { y[at + 3u * params.ow] = col.a3[j] + b; }
}

// The output tiles of invocation i of output_transform, each pixel plus b.
fn store_output_tiles(i: u32, b: f32) {
    let t_vec4s = params.t_pad / 4u;
    let co = i / t_vec4s;
    let t4 = i % t_vec4s;
    // Tiles 4 t4 .. 4 t4 + 3 of output channel co; A^T m A = (A^T (m A)^T)^T, whose transpose
    // (columns of the output tiles) is what the stores want.
    let at = co * t_vec4s + t4;
    let slice4 = params.c_out * t_vec4s;
    let q = transpose_6x4(SixByFour(at4(m_row(at, slice4, 0u)), at4(m_row(at, slice4, 1u)),
                                     at4(m_row(at, slice4, 2u)), at4(m_row(at, slice4, 3u)),
                                     at4(m_row(at, slice4, 4u)), at4(m_row(at, slice4, 5u))));
    let c0 = at4(q.r0);
    let c1 = at4(q.r1);
    let c2 = at4(q.r2);
    let c3 = at4(q.r3);
    for (var j = 0u; j < 4u; j++) {
        let t_local = 4u * t4 + j;
        if (t_local < params.t_count) {
            let o = tile_origin(params.t0 + t_local, 4u);
            let base = params.y_off + (o.n * params.c_out + co) * params.oh * params.ow;
            store_output_column(o, base, 0u, c0, j, b);
            store_output_column(o, base, 1u, c1, j, b);
            store_output_column(o, base, 2u, c2, j, b);
            store_output_column(o, base, 3u, c3, j, b);
        }
    }
}

// output_transform's invocations: one per (co, vec4 of tiles).
fn output_invocations() -> u32 {
    return params.c_out * (params.t_pad / 4u);
}

@compute @workgroup_size(WG)
fn output_transform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= output_invocations()) { return; }
    store_output_tiles(i, 0.0);
}

@compute @workgroup_size(WG)
fn output_transform_bias(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                         @builtin(local_invocation_id) lid: vec3<u32>) {
    let i = workgroup_index(wid, nwg) * WG + lid.x;
    if (i >= output_invocations()) { return; }
    store_output_tiles(i, bias[i / (params.t_pad / 4u)]);
}

// The planes of channels c0 .. c0 + 3 (one per component) of image n of `channels`; channels past
// the last repeat it (the products' rows or columns for them are never stored).
fn channel_planes(n: u32, channels: u32, c0: u32) -> vec4<u32> {
    let first = n * channels;
    let last = channels - 1u;
    return vec4<u32>(first + min(c0, last), first + min(c0 + 1u, last), first + min(c0 + 2u, last),
                     first + min(c0 + 3u, last));
}

@compute @workgroup_size(WG)
fn input_by_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.t_count, params.ci_pad);
    if (!at.valid) { return; }
    // Channels c0 .. c0 + 3 of the chunk's tile `row`.
    let o = tile_origin(params.t0 + at.row, 4u);
    let p = Patches(
        channel_planes(o.n, params.c_in, at.c0),
        vec4<i32>(i32(o.oy) - i32(params.ph)),
        vec4<i32>(i32(o.ox) - i32(params.pw)));
    store_transforms(at, transformed_patches(p));
}

// Row iy of one tile's patches in four planes, one per component, the tile's first input column
// 4 k0 + 3 (pw = 1): columns 4 k0 + 3 .. 4 k0 + 8 of each plane, in its vec4s k0 .. k0 + 2.
fn channels_patch_row(planes: vec4<u32>, iy: i32, k0: i32) -> Six {
    let p0 = Three(input_vec4(planes.x, iy, k0), input_vec4(planes.x, iy, k0 + 1), input_vec4(planes.x, iy, k0 + 2));
    let p1 = Three(input_vec4(planes.y, iy, k0), input_vec4(planes.y, iy, k0 + 1), input_vec4(planes.y, iy, k0 + 2));
    let p2 = Three(input_vec4(planes.z, iy, k0), input_vec4(planes.z, iy, k0 + 1), input_vec4(planes.z, iy, k0 + 2));
    let p3 = Three(input_vec4(planes.w, iy, k0), input_vec4(planes.w, iy, k0 + 1), input_vec4(planes.w, iy, k0 + 2));
    return Six(vec4<f32>(p0.a0.w, p1.a0.w, p2.a0.w, p3.a0.w), vec4<f32>(p0.a1.x, p1.a1.x, p2.a1.x, p3.a1.x),
               vec4<f32>(p0.a1.y, p1.a1.y, p2.a1.y, p3.a1.y), vec4<f32>(p0.a1.z, p1.a1.z, p2.a1.z, p3.a1.z),
               vec4<f32>(p0.a1.w, p1.a1.w, p2.a1.w, p3.a1.w), vec4<f32>(p0.a2.x, p1.a2.x, p2.a2.x, p3.a2.x));
}

// Read from a texture copy, a vec4 costs lavapipe about what a float from a buffer does, so this
// form's 72 vec4s undercut input_by_tile's 144 floats (PERFORMANCE.md 45); read from buffers they
// did not (33, measured on a machine with AVX-512).
@compute @workgroup_size(WG)
fn input_by_tile_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.t_count, params.ci_pad);
    if (!at.valid) { return; }
    // Channels c0 .. c0 + 3 of the chunk's tile `row`, whose first input column, o.ox - 1, is the
    // last of vec4 o.ox / 4 - 1.
    let o = tile_origin(params.t0 + at.row, 4u);
    let planes = channel_planes(o.n, params.c_in, at.c0);
    let iy = i32(o.oy) - i32(params.ph);
    let k0 = i32(o.ox / 4u) - 1;
    let d = SixBySix(channels_patch_row(planes, iy, k0), channels_patch_row(planes, iy + 1, k0),
                     channels_patch_row(planes, iy + 2, k0), channels_patch_row(planes, iy + 3, k0),
                     channels_patch_row(planes, iy + 4, k0), channels_patch_row(planes, iy + 5, k0));
    store_transforms(at, transform_input(d));
}

// A a of four output-gradient values.
fn a6(a: Four) -> Six {
    let p = a.a0 + a.a2;
    let q = a.a1 + a.a3;
    let s = a.a0 + 4.0 * a.a2;
    let d = 2.0 * a.a1 + 8.0 * a.a3;
    return Six(a.a0, p + q, p - q, s + d, s - d, a.a3);
}

// Four 4x4 output-gradient tiles, one per component: planes (of dy) and top-left corners. A tile
// with its corner at row oh reads as zeros.
struct GradTiles {
    plane: vec4<u32>,
    oy: vec4<u32>,
    ox: vec4<u32>,
}

// Row r of the tiles g, one per component.
fn grad_row(g: GradTiles, r: u32) -> Four {
    let oy = g.oy + vec4<u32>(r);
    return Four(grad_column(g, oy, 0u), grad_column(g, oy, 1u), grad_column(g, oy, 2u),
                grad_column(g, oy, 3u));
}

// Column c of rows oy of the tiles g, one per component.
fn grad_column(g: GradTiles, oy: vec4<u32>, c: u32) -> vec4<f32> {
    let ox = g.ox + vec4<u32>(c);
    return vec4<f32>(grad_at(g.plane.x, oy.x, ox.x), grad_at(g.plane.y, oy.y, ox.y),
                     grad_at(g.plane.z, oy.z, ox.z), grad_at(g.plane.w, oy.w, ox.w));
}

@compute @workgroup_size(WG)
fn grad_transform(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.c_out, params.t_pad);
    if (!at.valid) { return; }
    // The chunk's tiles c0 .. c0 + 3 of output channel `row`; zero past the chunk's last tile.
    var g = GradTiles(vec4<u32>(0u), vec4<u32>(params.oh), vec4<u32>(0u));
    for (var j = 0u; j < 4u; j++) {
        if (at.c0 + j < params.t_count) {
            let o = tile_origin(params.t0 + at.c0 + j, 4u);
            g.plane[j] = o.n * params.c_out + at.row;
            g.oy[j] = o.oy;
            g.ox[j] = o.ox;
        }
    }
    // A g A^T = A (g A^T), from the rows of g A^T.
    store_transforms(at, transform_grad(FourBySix(a6(grad_row(g, 0u)), a6(grad_row(g, 1u)),
                                                  a6(grad_row(g, 2u)), a6(grad_row(g, 3u)))));
}

// A g A^T from the rows of g A^T: A on its columns (the rows of its transpose), then transposed
// back.
fn transform_grad(rows: FourBySix) -> SixBySix {
    let e = transpose_4x6(rows);
    return transpose_6x6(SixBySix(a6(e.r0), a6(e.r1), a6(e.r2), a6(e.r3), a6(e.r4), a6(e.r5)));
}

// Vec4 k (columns 4k .. 4k + 3) of output-gradient row oy of plane `plane`, zero below the output
// (rows of whole vec4s).
fn grad_vec4(plane: u32, oy: u32, k: u32) -> vec4<f32> {
    if (oy >= params.oh) { return vec4<f32>(0.0); }
    return load_dy4((params.y_off + (plane * params.oh + oy) * params.ow) / 4u + k);
}

// Row oy of four side-by-side tiles, one per component, from their vec4s k0 .. k0 + 3 of output
// row oy: A of the row (g A^T's row).
fn grad_row_of_vec4s(plane: u32, oy: u32, k0: u32) -> Six {
    let b0 = grad_vec4(plane, oy, k0);
    let b1 = grad_vec4(plane, oy, k0 + 1u);
    let b2 = grad_vec4(plane, oy, k0 + 2u);
    let b3 = grad_vec4(plane, oy, k0 + 3u);
    return a6(Four(vec4<f32>(b0.x, b1.x, b2.x, b3.x), vec4<f32>(b0.y, b1.y, b2.y, b3.y),
                   vec4<f32>(b0.z, b1.z, b2.z, b3.z), vec4<f32>(b0.w, b1.w, b2.w, b3.w)));
}

// As input_by_tile_rows: 16 vec4s from a texture copy against grad_transform's 64 floats.
@compute @workgroup_size(WG)
fn grad_transform_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_id) lid: vec3<u32>) {
    let at = lane(wid, nwg, lid, params.c_out, params.t_pad);
    if (!at.valid) { return; }
    // Tiles c0 .. c0 + 3 of the chunk (all inside it): one row of tiles, the first at a multiple
    // of four.
    let o = tile_origin(params.t0 + at.c0, 4u);
    let plane = o.n * params.c_out + at.row;
    let k0 = o.ox / 4u;
    store_transforms(at, transform_grad(FourBySix(
        grad_row_of_vec4s(plane, o.oy, k0), grad_row_of_vec4s(plane, o.oy + 1u, k0),
        grad_row_of_vec4s(plane, o.oy + 2u, k0), grad_row_of_vec4s(plane, o.oy + 3u, k0))));
}

// G^T a of six values.
fn gt3(a: Six) -> Three {
    let p = a.a1 + a.a2;
    let q = a.a2 - a.a1;
    let s = a.a3 + a.a4;
    let d = a.a3 - a.a4;
    return Three(0.25 * a.a0 - p / 6.0 + s / 24.0, q / 6.0 + d / 12.0, (s - p) / 6.0 + a.a5);
}

fn add_six(a: Six, b: Six) -> Six {
    return Six(a.a0 + b.a0, a.a1 + b.a1, a.a2 + b.a2, a.a3 + b.a3, a.a4 + b.a4, a.a5 + b.a5);
}

fn weight_grad_taps(i: u32) -> GradTaps {
    let ci_vec4s = params.ci_pad / 4u;
    let co = i / ci_vec4s;
    let ci0 = (i % ci_vec4s) * 4u;
    // M is [chunks, 36, c_out, ci_pad]; q = the sum over chunks of M[_, xi, co, ci0 .. ci0 + 4],
    // one input channel per component.
    let slice4 = params.c_out * ci_vec4s;
    let zero = Six(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var q = SixBySix(zero, zero, zero, zero, zero, zero);
    for (var k = 0u; k < params.chunks; k++) {
        let at = (k * 36u) * slice4 + co * ci_vec4s + ci0 / 4u;
        q = SixBySix(add_six(q.r0, m_row(at, slice4, 0u)), add_six(q.r1, m_row(at, slice4, 1u)),
                     add_six(q.r2, m_row(at, slice4, 2u)), add_six(q.r3, m_row(at, slice4, 3u)),
                     add_six(q.r4, m_row(at, slice4, 4u)), add_six(q.r5, m_row(at, slice4, 5u)));
    }
    // G^T q G = (G^T (q G)^T)^T: rows of q G first; t holds the columns of the taps.
    let e = transpose_6x3(SixByThree(gt3(q.r0), gt3(q.r1), gt3(q.r2), gt3(q.r3), gt3(q.r4), gt3(q.r5)));
    let t0 = gt3(e.r0);
    let t1 = gt3(e.r1);
    let t2 = gt3(e.r2);
    return GradTaps(co, ci0, array<vec4<f32>, 9>(t0.a0, t1.a0, t2.a0, t0.a1, t1.a1, t2.a1, t0.a2, t1.a2, t2.a2));
}
