//! relukit's ReLU family on NVIDIA GPUs, with the CPU crate's exact contract.
//!
//! Every function here has the name, arguments and errors of the [`relukit`] slice
//! function it mirrors, plus the cudarc stream its work is enqueued on, and gives the
//! same bits as that function on x86-64 ([`relukit::reference`]): NaN inputs kept with
//! their payload, `relu(-0.0) = +0.0`, a select (not a multiply) in the backward
//! passes, `f16`/`bf16` products computed in `f32` and rounded once. PReLU's weight
//! gradient is summed in `f64` in an order fixed by the layout alone, so it has the same
//! bits on every run (PyTorch does not promise that on a GPU).
//!
//! ```no_run
//! use relukit_cuda::{Gpu, cudarc::driver::CudaContext};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let context = CudaContext::new(0)?;
//! let stream = context.default_stream();
//! let x = stream.clone_htod(&[-2.0f32, -0.0, 0.5, f32::NAN])?;
//! let mut y = stream.alloc_zeros::<f32>(4)?;
//! relukit_cuda::relu(&stream, &x, &mut y)?;
//! let y = stream.clone_dtoh(&y)?;
//! assert_eq!(y[..3], [0.0, 0.0, 0.5]);
//! println!("{}", Gpu::get(0)?.description());
//! # Ok(()) }
//! ```
//!
//! ## How it runs
//! The kernels are CUDA C++ (`src/kernels.cu`, no headers) compiled at run time by
//! NVRTC, once per device and process ([`Gpu::get`]): to machine code for the device's
//! compute capability, which any driver of the same major CUDA version loads, or, for a
//! GPU newer than the NVRTC, to PTX after checking that the driver accepts its ISA
//! version ([`Error::PtxTooNew`] names both otherwise). The driver (`libcuda.so`) and
//! NVRTC (`libnvrtc.so`) are both loaded at run time: this crate builds everywhere, and
//! a machine without them gets [`Error::NoDriver`] or [`Error::NoCompiler`], never a
//! crash. `RELUKIT_NVRTC_DIR` names NVRTC's folder (PyPI's `nvidia-cuda-nvrtc`,
//! PyTorch's, a CUDA toolkit's); see `nvrtc.rs` for the search order.
//!
//! The elementwise kernels move 16-byte packs (when every pointer is 16-byte aligned,
//! single elements otherwise); PReLU's launch shapes are in `plan.rs`. [`raw`] takes
//! device pointers and a stream handle, for memory owned by PyTorch, CuPy or DLPack
//! ([`dlpack`] reads a DLPack tensor).

mod device;
pub mod dlpack;
mod element;
mod error;
mod nvrtc;
mod ops;
mod plan;
pub mod raw;

pub use cudarc;
pub use device::{Gpu, OPERATIONS, SOURCE, driver_present, driver_version};
pub use element::{CudaFloat, Dtype};
pub use error::Error;
pub use ops::{
    leaky_relu, leaky_relu_backward, leaky_relu_inplace, prelu, prelu_backward, prelu_inplace,
    relu, relu_backward, relu_backward_inplace, relu_derivative, relu_inplace,
};

/// The compiler: which NVRTC is used, and compiling the kernels for any GPU without one
/// (the test command checks that every kernel compiles for sm_80 and sm_90).
pub mod compiler {
    pub use crate::nvrtc::{
        Output, check_ptx, compile, newest_ptx_for_driver, ptx_version, version,
    };
}
