// The kernel test modules and tolerances, shared by the test binaries that run them on different
// devices (main.rs, gpu_family.rs, gl.rs); each defines `options()`, the device it opens.

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
