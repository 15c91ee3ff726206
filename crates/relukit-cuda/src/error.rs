//! The crate's error: an argument error with exactly the CPU crate's kind and message,
//! or what went wrong with the GPU, its driver or the compiler.

use std::fmt;

/// Why a GPU call did not run. Nothing was written when an error is returned, except
/// for [`Error::Driver`] raised by a launch, after which the stream's state is the
/// driver's to report.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The arguments do not fit: the same kind and message as the CPU function.
    Argument(relukit::Error),
    /// No CUDA driver library (`libcuda.so`) could be loaded: no NVIDIA driver here.
    NoDriver,
    /// NVRTC (`libnvrtc.so`) could not be loaded; the message says where relukit looked.
    NoCompiler(String),
    /// NVRTC rejected the kernels (its log is in the message).
    Compile(String),
    /// The driver cannot load code from this NVRTC: it emitted PTX of an ISA version
    /// newer than the driver's CUDA version accepts.
    PtxTooNew {
        /// The PTX ISA version NVRTC emitted, e.g. `(9, 2)`.
        ptx: (u32, u32),
        /// The newest PTX ISA version the driver accepts, e.g. `(9, 0)`.
        driver_accepts: (u32, u32),
        /// The driver's CUDA version, e.g. `(13, 0)`.
        driver_cuda: (u32, u32),
    },
    /// A call into the CUDA driver failed.
    Driver(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Argument(e) => write!(f, "{e}"),
            Error::NoDriver => write!(
                f,
                "no CUDA driver: libcuda.so could not be loaded (is an NVIDIA driver installed and a GPU present?)"
            ),
            Error::NoCompiler(where_) => write!(f, "NVRTC could not be loaded: {where_}"),
            Error::Compile(log) => write!(f, "NVRTC could not compile relukit's kernels: {log}"),
            Error::PtxTooNew {
                ptx,
                driver_accepts,
                driver_cuda,
            } => write!(
                f,
                "NVRTC emitted PTX ISA {}.{}, but the driver (CUDA {}.{}) accepts PTX up to {}.{}: \
                 use an NVRTC no newer than the driver (RELUKIT_NVRTC_DIR) or update the driver",
                ptx.0, ptx.1, driver_cuda.0, driver_cuda.1, driver_accepts.0, driver_accepts.1
            ),
            Error::Driver(e) => write!(f, "CUDA driver error: {e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<relukit::Error> for Error {
    fn from(e: relukit::Error) -> Self {
        Error::Argument(e)
    }
}

impl From<cudarc::driver::DriverError> for Error {
    fn from(e: cudarc::driver::DriverError) -> Self {
        Error::Driver(format!("{e:?}"))
    }
}

impl Error {
    /// The CPU crate's error, if this is an argument error.
    pub fn argument(&self) -> Option<&relukit::Error> {
        match self {
            Error::Argument(e) => Some(e),
            _ => None,
        }
    }
}
