//! wgnn: a deep-learning engine on wgpu whose compute kernels are hand-written WGSL (`shaders/`).
//!
//! Layout: `gpu` opens the device and launches kernels within its limits; `tensor` is a shape over a
//! pooled GPU buffer; `ops` has one module per shader file (shape checks, forward and backward
//! launches); `gradcheck` verifies the backward kernels against finite differences on any device.

pub mod autograd;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod draw;
pub mod error;
pub mod evaluate;
pub mod fsutil;
pub mod gpu;
pub mod gradcheck;
pub mod models;
pub mod nn;
pub mod ops;
pub mod optimizer;
pub mod pictures;
pub mod tensor;
pub mod train;

pub use error::{Error, Result};
pub use gpu::{Gpu, GpuOptions};
pub use tensor::{DType, Tensor};
