//! The one error type of relukit.

use std::fmt;

/// What kind of inconsistency an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Two buffers that must have the same length do not.
    LengthMismatch,
    /// A [`ChannelLayout`](crate::ChannelLayout) does not describe the buffer
    /// (its product differs from the length, or overflows `usize`).
    LayoutMismatch,
    /// A PReLU `weight` has neither 1 nor `channels` elements, or `grad_weight`
    /// does not match `weight`.
    WeightMismatch,
    /// A slope (`negative_slope`) is NaN, or infinite once converted to the compute
    /// type (`f32` for `f32`, `f16` and `bf16`; `f64` for `f64`).
    NonFiniteSlope,
    /// Two arrays that must have the same shape do not (the ndarray API).
    ShapeMismatch,
    /// An axis is not one of the array's axes (the ndarray API).
    AxisOutOfRange,
    /// A dead-unit monitor was given data for another number of units.
    UnitMismatch,
    /// A count or parameter is outside its allowed range: a thread count above
    /// [`threads::max_threads`](crate::threads::max_threads), a negative or NaN
    /// `ceiling`, a NaN `threshold`, an RReLU `lower` above `upper`, a monitor's `tau`
    /// outside `(0, 1]` or `rate` outside `[0, 1]`.
    OutOfRange,
    /// Bytes given to [`DeadUnitMonitor::from_bytes`](crate::DeadUnitMonitor::from_bytes)
    /// are not a monitor written by [`to_bytes`](crate::DeadUnitMonitor::to_bytes):
    /// truncated, corrupted, or of an unknown format version.
    InvalidData,
    /// Memory for a result whose size comes from an argument (a monitor's units) cannot
    /// be allocated.
    AllocationFailed,
    /// A dead-unit monitor that counts only (made by
    /// [`DeadUnitMonitor::counts_only`](crate::DeadUnitMonitor::counts_only) or read
    /// from a version 1 file) was asked for what needs the outputs' magnitudes
    /// (dormant units), or given a monitor without them to merge into one with them.
    NoMagnitudes,
}

/// An argument that does not fit the others. The message names the argument and
/// the expected and actual sizes; nothing was written when an error is returned.
///
/// ```
/// let x = [1.0f32, 2.0];
/// let mut out = [0.0f32; 3];
/// let err = relukit::relu(&x, &mut out).unwrap_err();
/// assert_eq!(err.kind(), relukit::ErrorKind::LengthMismatch);
/// assert_eq!(err.to_string(), "`output` has 3 elements, expected 2 (the length of `input`)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, message: String) -> Self {
        Self { kind, message }
    }

    /// The kind of the error, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Checks that buffer `name` has the length of `reference_name`.
    pub(crate) fn check_len(
        name: &str,
        actual: usize,
        reference_name: &str,
        expected: usize,
    ) -> Result<(), Error> {
        if actual == expected {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::LengthMismatch,
                format!(
                    "`{name}` has {actual} elements, expected {expected} (the length of `{reference_name}`)"
                ),
            ))
        }
    }
}

impl Error {
    /// Checks that PReLU's `grad_weight` is as long as its `weight`.
    pub(crate) fn check_grad_weight(grad_weight: usize, weight: usize) -> Result<(), Error> {
        if grad_weight == weight {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::WeightMismatch,
                format!(
                    "`grad_weight` has {grad_weight} elements, expected {weight} (the length of `weight`)"
                ),
            ))
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
