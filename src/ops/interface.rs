//! Typed kernel interfaces: each shader's uniform parameters are declared once, in Rust, together
//! with the layout their WGSL twin must have, and each storage binding has a name. tests/shaders.rs
//! checks both against the WGSL with naga, so the two sides cannot drift apart.

use crate::gpu::{Shader, Slot};

/// One field of a uniform struct: its name, WGSL type and byte offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    pub ty: &'static str,
    pub offset: usize,
}

/// A uniform struct as the WGSL must declare it: its name, fields and size in bytes.
#[derive(Clone, Copy, Debug)]
pub struct ParamsLayout {
    pub name: &'static str,
    pub fields: &'static [Field],
    pub size: usize,
}

/// The Rust side of one shader file: the uniform struct(s) its entry points bind at binding 0, and
/// its storage bindings by name.
#[derive(Clone, Copy, Debug)]
pub struct Interface {
    pub shader: Shader,
    pub params: &'static [ParamsLayout],
    pub slots: &'static [Slot],
}

/// Declares a kernel's uniform parameter struct (`#[repr(C)]`, Pod, fields of 4-byte scalars
/// named as in WGSL) and its `LAYOUT` for the check against the WGSL twin.
macro_rules! kernel_params {
    ($(#[$attr:meta])* struct $name:ident { $($field:ident: $ty:ident),* $(,)? }) => {
        $(#[$attr])*
        #[repr(C)]
        #[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
        pub(crate) struct $name {
            $($field: $ty),*
        }

        impl $name {
            pub(crate) const LAYOUT: $crate::ops::ParamsLayout = $crate::ops::ParamsLayout {
                name: stringify!($name),
                fields: &[$($crate::ops::Field {
                    name: stringify!($field),
                    ty: stringify!($ty),
                    offset: ::std::mem::offset_of!($name, $field),
                }),*],
                size: ::std::mem::size_of::<$name>(),
            };
        }
    };
}
pub(crate) use kernel_params;

/// Declares a module of a shader's storage bindings: `CONST: wgsl_name = binding`, and `ALL`.
macro_rules! slots {
    ($(#[$attr:meta])* mod $module:ident { $($konst:ident: $name:ident = $binding:literal),* $(,)? }) => {
        $(#[$attr])*
        pub(crate) mod $module {
            use $crate::gpu::Slot;
            $(pub(crate) const $konst: Slot = Slot { name: stringify!($name), binding: $binding };)*
            pub(crate) const ALL: &[Slot] = &[$($konst),*];
        }
    };
}
pub(crate) use slots;

/// Every shader file's interface, in `Shader::ALL`'s order.
pub fn interfaces() -> Vec<Interface> {
    use super::conv::{self, winograd};
    use super::{batch_norm, elementwise, loss, matmul, metrics, optim, pool, reduce};
    let interface = |shader, params, slots| Interface {
        shader,
        params,
        slots,
    };
    vec![
        interface(
            Shader::Conv2d,
            &[conv::Params::LAYOUT],
            conv::conv2d_slot::ALL,
        ),
        interface(
            Shader::Winograd,
            &[winograd::Params::LAYOUT],
            winograd::slot::ALL,
        ),
        interface(
            Shader::ConvTranspose2d,
            &[conv::Params::LAYOUT],
            conv::transpose_slot::ALL,
        ),
        interface(
            Shader::BatchNorm,
            &[batch_norm::Params::LAYOUT],
            batch_norm::slot::ALL,
        ),
        interface(Shader::Pool, &[pool::Params::LAYOUT], pool::slot::ALL),
        interface(Shader::Matmul, &[matmul::Params::LAYOUT], matmul::slot::ALL),
        interface(
            Shader::Elementwise,
            &[elementwise::Params::LAYOUT],
            elementwise::slot::ALL,
        ),
        interface(Shader::Loss, &[loss::Params::LAYOUT], loss::slot::ALL),
        interface(
            Shader::Optim,
            &[optim::SgdParams::LAYOUT, optim::AdamParams::LAYOUT],
            optim::slot::ALL,
        ),
        interface(Shader::Reduce, &[reduce::Params::LAYOUT], reduce::slot::ALL),
        interface(
            Shader::Metrics,
            &[metrics::Params::LAYOUT],
            metrics::slot::ALL,
        ),
    ]
}
