//! Typed kernel interfaces: each shader's uniform parameters are declared once, in Rust, together
//! with the layout their WGSL twin must have, and each storage binding has a name. tests/shaders
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

/// The Rust side of one shader file: the uniform struct(s) its entry points bind at binding 0, its
/// storage bindings by name, and the values its launches give its own `override` constants (the
/// launch shape's, `WG` or the tile's `TX`, `TY`, `TK`, come from `Tuning`).
#[derive(Clone, Copy, Debug)]
pub struct Interface {
    pub shader: Shader,
    pub params: &'static [ParamsLayout],
    pub slots: &'static [Slot],
    pub overrides: &'static [(&'static str, &'static [f64])],
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
            pub(crate) const LAYOUT: $crate::ops::interface::ParamsLayout =
                $crate::ops::interface::ParamsLayout {
                    name: stringify!($name),
                    fields: &[$($crate::ops::interface::Field {
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
