//! 3x3 stride-1 convolutions by Winograd's minimal filtering (winograd.wgsl): F(2x2, 3x3) for forward
//! passes and input gradients, F(3x3, 2x2) for weight gradients, each as transforms around sixteen
//! matrix products. conv2d uses them when the transformed operands fit one binding.

use super::VEC;
use crate::error::Result;
use crate::gpu::{Gpu, Launch, Shader};
use crate::ops::interface::{kernel_params, slots};
use crate::ops::matmul::{ALayout, batched_products};
use crate::ops::{nchw, optional_input, u32_of};
use crate::tensor::{DType, Tensor};

/// Transformed values per tile and per kernel: the 4x4 of F(2x2, 3x3).
const XI: usize = 16;
/// Input channels below which the direct kernels win on lavapipe. Measured per 3x3 convolution at
/// batch 32, Winograd against direct (ms): forward 64@32 143 / 100 (the products' k is 64), 128@16
/// 91 / 100, 256@8 68 / 105, 512@4 64 / 110, 512@2 19 / 31; weight gradient 64@32 175 / 122 (only
/// 64 blocks of 8 x 8 in each product), 128@16 84 / 114, 512@4 62 / 111.
const MIN_CHANNELS: usize = 128;

kernel_params! {
    /// winograd.wgsl's launch parameters.
    struct Params {
        n: u32, c_in: u32, h: u32, w: u32, c_out: u32, oh: u32, ow: u32, ph: u32, pw: u32,
        tiles_h: u32, tiles_w: u32, t_pad: u32, co_pad: u32, x_off: u32,
        y_off: u32, ci_pad: u32,
    }
}

impl Params {
    /// The geometry of a 3x3 stride-1 convolution of x [n, c_in, h, w] into [n, c_out, oh, ow]
    /// with `padding`: its 2x2 tiles and channels padded to vec4s.
    fn new(
        [n, c_in, h, w]: [usize; 4],
        [c_out, oh, ow]: [usize; 3],
        padding: [usize; 2],
    ) -> Params {
        Params {
            n: u32_of(n),
            c_in: u32_of(c_in),
            h: u32_of(h),
            w: u32_of(w),
            c_out: u32_of(c_out),
            oh: u32_of(oh),
            ow: u32_of(ow),
            ph: u32_of(padding[0]),
            pw: u32_of(padding[1]),
            tiles_h: u32_of(oh.div_ceil(2)),
            tiles_w: u32_of(ow.div_ceil(2)),
            co_pad: u32_of(c_out.div_ceil(VEC) * VEC),
            ci_pad: u32_of(c_in.div_ceil(VEC) * VEC),
            ..Params::default()
        }
    }
}

slots! {
    /// winograd.wgsl's storage bindings.
    mod slot {
        X: x = 1, WEIGHT: weight = 2, BIAS: bias = 3, Y: y = 4, OUT4: out4 = 5, M: m = 6,
        DY: dy = 7, DWEIGHT: dweight = 8, M4: m4 = 9,
    }
}

/// The convolution of x [N, Cin, H, W] with a 3x3 `weight` (stride 1, `padding`) into [N, Cout,
/// out_hw], as conv2d's forward (`flip` false: weight [Cout, Cin, 3, 3]) or as the input gradient
/// (`flip`: weight [Cin', Cout', 3, 3] = the forward's, flipped and transposed). None when a
/// transformed operand would not fit one binding, or with fewer than MIN_CHANNELS input channels;
/// the caller then takes the direct kernels.
pub(crate) fn conv3x3(
    gpu: &Gpu,
    x: &Tensor,
    weight: &Tensor,
    flip: bool,
    bias: Option<&Tensor>,
    out_hw: [usize; 2],
    padding: [usize; 2],
) -> Result<Option<Tensor>> {
    let [n, c_in, h, w] = nchw("conv2d", "input", x.shape())?;
    let [a, b, _, _] = nchw("conv2d", "weight", weight.shape())?;
    let c_out = if flip { b } else { a };
    let [oh, ow] = out_hw;
    let (tiles_h, tiles_w) = (oh.div_ceil(2), ow.div_ceil(2));
    let tiles = n * tiles_h * tiles_w;
    let t_pad = tiles.div_ceil(VEC) * VEC;
    let co_pad = c_out.div_ceil(VEC) * VEC;
    let ci_pad = c_in.div_ceil(VEC) * VEC;
    let cap = gpu.max_view_elems();
    // The forward's weight [c_out, c_in, 3, 3] transforms best into rows along c_in (U[xi, co,
    // ci]); the flipped one of an input gradient, [c_in', c_out', 3, 3], into k-major U[xi, ci,
    // co]. Either way the product is over c_in.
    let (u_shape, a_layout, transform, transform_invocations) = if flip {
        (
            [XI, c_in, co_pad],
            ALayout::KMajor(co_pad),
            "weights_transform",
            c_in * co_pad / VEC,
        )
    } else {
        (
            [XI, c_out, ci_pad],
            ALayout::Rows(ci_pad),
            "weights_transform_rows",
            c_out * ci_pad / VEC,
        )
    };
    let sizes = [
        x.numel(),
        n * c_out * oh * ow,
        u_shape.iter().product(),
        XI * c_in * t_pad,
        XI * c_out * t_pad,
    ];
    if c_in < MIN_CHANNELS || tiles == 0 || sizes.iter().any(|&s| s > cap) {
        return Ok(None);
    }
    let params = Params {
        t_pad: u32_of(t_pad),
        ..Params::new([n, c_in, h, w], [c_out, oh, ow], padding)
    };
    let u = Tensor::uninit(gpu, &u_shape, DType::F32);
    let v = Tensor::uninit(gpu, &[XI, c_in, t_pad], DType::F32);
    let m = Tensor::uninit(gpu, &[XI, c_out, t_pad], DType::F32);
    let y = Tensor::uninit(gpu, &[n, c_out, oh, ow], DType::F32);
    let (wv, uv) = (
        gpu.whole(weight, "conv2d weight")?,
        gpu.whole(&u, "Winograd-transformed weight")?,
    );
    Launch::new(
        Shader::Winograd,
        transform,
        &params,
        &[(slot::WEIGHT, &wv), (slot::OUT4, &uv)],
    )
    .run(gpu, transform_invocations)?;
    let (xv, vv) = (
        gpu.whole(x, "conv2d input")?,
        gpu.whole(&v, "Winograd-transformed input")?,
    );
    Launch::new(
        Shader::Winograd,
        "input_transform",
        &Params {
            x_off: xv.shift,
            ..params
        },
        &[(slot::X, &xv), (slot::OUT4, &vv)],
    )
    .run(gpu, c_in * t_pad / VEC)?;
    // Products over the padded tile count (the padding tiles' columns are zero), so rows of M
    // are whole vec4s.
    let (mv, yv) = (
        gpu.whole(&m, "Winograd products")?,
        gpu.whole(&y, "conv2d output")?,
    );
    batched_products(
        gpu,
        (XI, [u_shape[1] * u_shape[2], c_in * t_pad, c_out * t_pad]),
        [c_out, t_pad, c_in],
        (&uv, a_layout),
        (&vv, t_pad),
        &mv,
        None,
    )?;
    let bv = bias.map(|b| gpu.whole(b, "conv2d bias")).transpose()?;
    let (entry, buffers) = optional_input(
        ["output_transform", "output_transform_bias"],
        bv.as_ref().map(|b| (slot::BIAS, b)),
        &[(slot::M, &mv), (slot::Y, &yv)],
    );
    Launch::new(Shader::Winograd, entry, &params, &buffers).run(gpu, c_out * tiles)?;
    Ok(Some(y))
}

/// dweight [Cout, Cin, 3, 3] of y = conv2d(x, weight) with stride 1 and `padding`, from x [N, Cin,
/// H, W] and dy [N, Cout, OH, OW]. None when a transformed operand would not fit one binding, or
/// with fewer than MIN_CHANNELS input channels.
pub(crate) fn weight_grad3x3(
    gpu: &Gpu,
    x: &Tensor,
    dy: &Tensor,
    padding: [usize; 2],
) -> Result<Option<Tensor>> {
    let [n, c_in, h, w] = nchw("conv2d backward", "input", x.shape())?;
    let [dn, c_out, oh, ow] = nchw("conv2d backward", "dy", dy.shape())?;
    if dn != n || oh + 2 != h + 2 * padding[0] || ow + 2 != w + 2 * padding[1] {
        // Mismatched shapes: the direct kernel's checks name them.
        return Ok(None);
    }
    let (tiles_h, tiles_w) = (oh.div_ceil(2), ow.div_ceil(2));
    let tiles = n * tiles_h * tiles_w;
    let ci_pad = c_in.div_ceil(VEC) * VEC;
    let co_pad = c_out.div_ceil(VEC) * VEC;
    let cap = gpu.max_view_elems();
    let sizes = [
        x.numel(),
        dy.numel(),
        XI * tiles * ci_pad,
        XI * tiles * co_pad,
        XI * c_out * ci_pad,
    ];
    if c_in < MIN_CHANNELS || tiles == 0 || sizes.iter().any(|&s| s > cap) {
        return Ok(None);
    }
    let v = Tensor::uninit(gpu, &[XI, tiles, ci_pad], DType::F32);
    let g = Tensor::uninit(gpu, &[XI, tiles, co_pad], DType::F32);
    let m = Tensor::uninit(gpu, &[XI, c_out, ci_pad], DType::F32);
    let dw = Tensor::uninit(gpu, &[c_out, c_in, 3, 3], DType::F32);
    let (xv, dv) = (
        gpu.whole(x, "conv2d input")?,
        gpu.whole(dy, "conv2d output gradient")?,
    );
    let params = Params {
        x_off: xv.shift,
        y_off: dv.shift,
        ..Params::new([n, c_in, h, w], [c_out, oh, ow], padding)
    };
    let vv = gpu.whole(&v, "Winograd-transformed input")?;
    Launch::new(
        Shader::Winograd,
        "input_by_tile",
        &params,
        &[(slot::X, &xv), (slot::OUT4, &vv)],
    )
    .run(gpu, tiles * ci_pad / VEC)?;
    let gv = gpu.whole(&g, "Winograd-transformed output gradient")?;
    Launch::new(
        Shader::Winograd,
        "grad_transform",
        &params,
        &[(slot::DY, &dv), (slot::OUT4, &gv)],
    )
    .run(gpu, tiles * co_pad / VEC)?;
    // Columns past c_in (products with the repeated last channel) are computed, never read.
    let mv = gpu.whole(&m, "Winograd products")?;
    batched_products(
        gpu,
        (XI, [tiles * co_pad, tiles * ci_pad, c_out * ci_pad]),
        [c_out, ci_pad, tiles],
        (&gv, ALayout::KMajor(co_pad)),
        (&vv, ci_pad),
        &mv,
        None,
    )?;
    // dweight as vec4s when c_in is a multiple of 4 (each invocation's 36 floats then start on a
    // vec4), else as scalars.
    let (entry, out) = if c_in % VEC == 0 {
        ("weight_grad_output_vec4", slot::OUT4)
    } else {
        ("weight_grad_output", slot::DWEIGHT)
    };
    let wv = gpu.whole(&dw, "conv2d weight gradient")?;
    Launch::new(
        Shader::Winograd,
        entry,
        &params,
        &[(slot::M4, &mv), (out, &wv)],
    )
    .run(gpu, c_out * ci_pad / VEC)?;
    Ok(Some(dw))
}
