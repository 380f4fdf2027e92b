//! The one error type of the crate: every failure a user can cause or meet says what went wrong in one line.

/// What went wrong, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No adapter fits the request; the message lists the adapters that exist.
    #[error("{0}")]
    Adapter(String),
    /// Tensor shapes or op arguments do not fit together.
    #[error("{0}")]
    Shape(String),
    /// A tensor or dispatch exceeds what the device can bind or launch.
    #[error("{0}")]
    Limit(String),
    /// The device reported a validation error, ran out of memory, or was lost.
    #[error("{0}")]
    Device(String),
    /// A file could not be read or written, or does not hold what it should (weights, images).
    #[error("{0}")]
    File(String),
    /// Values that should be finite are not (weights about to be saved).
    #[error("{0}")]
    NonFinite(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Returns `Error::Shape` with a formatted message.
#[macro_export]
macro_rules! shape_err {
    ($($arg:tt)*) => { $crate::error::Error::Shape(format!($($arg)*)) };
}

/// Returns early with `Error::Shape` unless the condition holds.
#[macro_export]
macro_rules! ensure_shape {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond { return Err($crate::shape_err!($($arg)*)); }
    };
}
