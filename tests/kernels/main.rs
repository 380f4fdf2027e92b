//! Every kernel against an independent f64 CPU reference (`reference.rs`) on seeded random inputs
//! with awkward shapes, the references themselves against finite differences, the GPU gradient
//! checks, and the device-limit paths (binding size, workgroup grid) forced small.

mod batch_norm;
mod common;
mod conv;
mod elementwise;
mod gradcheck;
mod limits;
mod loss;
mod matmul;
mod metrics;
mod optim;
mod pool;
mod reduce;
mod reference;
mod runtime;
mod winograd;

/// Relative-norm tolerance for f32 kernels against the f64 reference: an f32 sum of a few thousand
/// O(1) terms is off by about 1e-6 relative; indexing or formula bugs are off by far more.
pub const TOL: f64 = 1e-5;
/// Tolerance for the f64 references against f64 central differences (step 1e-6).
pub const REF_FD_TOL: f64 = 1e-6;
