//! Every shader file's interface in one list, for tests/shaders. Apart from interface.rs, so
//! that the op files, which use interface.rs's macros, are not imported back by it.

use super::conv::{self, winograd};
use super::interface::Interface;
use super::{
    batch_norm, batched_matmul, elementwise, loss, matmul, metrics, optim, pool, reduce, tiled,
};
use crate::gpu::Shader;

/// Every shader file's interface, in `Shader::ALL`'s order.
pub fn interfaces() -> Vec<Interface> {
    let interface = |shader, params, slots| Interface {
        shader,
        params,
        slots,
        overrides: &[],
    };
    vec![
        Interface {
            overrides: conv::conv2d::OVERRIDES,
            ..interface(
                Shader::Conv2d,
                &[conv::Params::LAYOUT],
                conv::conv2d_slot::ALL,
            )
        },
        interface(
            Shader::ConvWeightGrad,
            &[conv::Params::LAYOUT],
            conv::weight_grad::slot::ALL,
        ),
        interface(
            Shader::ConvWeightGradTextures,
            &[conv::Params::LAYOUT],
            conv::weight_grad::texture_slot::ALL,
        ),
        interface(
            Shader::Winograd,
            &[winograd::Params::LAYOUT],
            winograd::slot::ALL,
        ),
        interface(
            Shader::Winograd4x4,
            &[winograd::Params::LAYOUT],
            winograd::slot::ALL,
        ),
        interface(
            Shader::Winograd4x4Textures,
            &[winograd::Params::LAYOUT],
            winograd::texture_slot::ALL,
        ),
        interface(
            Shader::ConvTranspose2d,
            &[conv::Params::LAYOUT],
            conv::transpose_slot::ALL,
        ),
        Interface {
            overrides: batch_norm::OVERRIDES,
            ..interface(
                Shader::BatchNorm,
                &[batch_norm::Params::LAYOUT],
                batch_norm::slot::ALL,
            )
        },
        Interface {
            overrides: batch_norm::OVERRIDES,
            ..interface(
                Shader::BatchNormTextures,
                &[batch_norm::Params::LAYOUT],
                batch_norm::texture_slot::ALL,
            )
        },
        interface(Shader::Pool, &[pool::Params::LAYOUT], pool::slot::ALL),
        interface(Shader::Matmul, &[matmul::Params::LAYOUT], matmul::slot::ALL),
        interface(
            Shader::BatchedMatmul,
            &[batched_matmul::Params::LAYOUT],
            batched_matmul::slot::ALL,
        ),
        interface(
            Shader::BatchedMatmulTextures,
            &[batched_matmul::Params::LAYOUT],
            batched_matmul::texture_slot::ALL,
        ),
        interface(
            Shader::Elementwise,
            &[elementwise::Params::LAYOUT],
            elementwise::slot::ALL,
        ),
        interface(Shader::Loss, &[loss::Params::LAYOUT], loss::slot::ALL),
        Interface {
            overrides: optim::OVERRIDES,
            ..interface(
                Shader::Optim,
                &[optim::SgdParams::LAYOUT, optim::AdamParams::LAYOUT],
                optim::slot::ALL,
            )
        },
        Interface {
            overrides: optim::OVERRIDES,
            ..interface(
                Shader::OptimTextures,
                &[optim::SgdParams::LAYOUT, optim::AdamParams::LAYOUT],
                optim::texture_slot::ALL,
            )
        },
        Interface {
            overrides: optim::OVERRIDES,
            ..interface(
                Shader::OptimWords,
                &[optim::SgdParams::LAYOUT, optim::AdamParams::LAYOUT],
                optim::words_slot::ALL,
            )
        },
        interface(Shader::Reduce, &[reduce::Params::LAYOUT], reduce::slot::ALL),
        interface(
            Shader::Metrics,
            &[metrics::Params::LAYOUT],
            metrics::slot::ALL,
        ),
        Interface {
            overrides: tiled::OVERRIDES,
            ..interface(Shader::Tiled, &[tiled::Params::LAYOUT], tiled::slot::ALL)
        },
    ]
}
