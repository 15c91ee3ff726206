//! The GPU path of `relukit.torch`: CUDA tensors' device pointers, handed over by the
//! Python layer with the caller's current stream, to `relukit_cuda::raw`. The Python
//! layer allocates every output through PyTorch and passes dense tensors only; here the
//! arguments are checked as the CPU functions check them, and the kernels enqueued on the
//! caller's stream (nothing waits: PyTorch's stream order holds).

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use relukit::ChannelLayout;
use relukit_cuda::cudarc::driver::sys::CUstream;
use relukit_cuda::{Dtype, Error, Gpu, raw};

/// A relukit-cuda error as a Python exception: argument errors are `ValueError` (as on
/// the CPU), everything about the driver, NVRTC or the device a `RuntimeError`.
fn to_py(error: Error) -> PyErr {
    match error {
        Error::Argument(e) => crate::errors::to_py(e),
        other => PyRuntimeError::new_err(format!("relukit CUDA backend: {other}")),
    }
}

fn dtype(name: &str) -> PyResult<Dtype> {
    match name {
        "float32" => Ok(Dtype::F32),
        "float64" => Ok(Dtype::F64),
        "float16" => Ok(Dtype::F16),
        "bfloat16" => Ok(Dtype::Bf16),
        _ => Err(PyValueError::new_err(format!(
            "relukit CUDA backend: no kernels for dtype {name}"
        ))),
    }
}

/// Runs `operation` on device `device` (its primary context, PyTorch's), on `stream`
/// (a `CUstream` handle as an integer, 0 for the legacy default stream).
///
/// `pointers` are, in order: `relu`/`leaky_relu`: input, output; `relu_backward`/
/// `leaky_relu_backward`: grad_output, input, grad_input; `prelu`: input, weight,
/// output; `prelu_backward`: grad_output, input, weight, grad_input, grad_weight.
/// `len` is the number of elements of the input; `layout` is PReLU's `(outer, channels,
/// inner)` and `weight_len` its number of slopes; `negative_slope` is Leaky ReLU's.
///
/// # Safety (for the Python caller, which `relukit.torch` is)
/// Every pointer is a live allocation of that device holding the elements stated, of
/// `dtype`, dense, and not freed before the work on `stream` completes (PyTorch's
/// caching allocator guarantees this for tensors used on their current stream).
#[pyfunction]
#[pyo3(signature = (operation, dtype_name, device, pointers, len, stream, negative_slope=0.0, layout=None, weight_len=0))]
#[allow(clippy::too_many_arguments)]
pub fn _cuda(
    py: Python<'_>,
    operation: &str,
    dtype_name: &str,
    device: usize,
    pointers: Vec<u64>,
    len: usize,
    stream: u64,
    negative_slope: f64,
    layout: Option<(usize, usize, usize)>,
    weight_len: usize,
) -> PyResult<()> {
    let dtype = dtype(dtype_name)?;
    let expected = match operation {
        "relu" | "leaky_relu" => 2,
        "relu_backward" | "leaky_relu_backward" | "prelu" => 3,
        "prelu_backward" => 5,
        _ => {
            return Err(PyValueError::new_err(format!(
                "relukit CUDA backend: no operation named {operation:?}"
            )));
        }
    };
    if pointers.len() != expected {
        return Err(PyValueError::new_err(format!(
            "relukit CUDA backend: {operation} takes {expected} pointers, got {}",
            pointers.len()
        )));
    }
    let layout = layout.map(|(o, c, i)| ChannelLayout::new(o, c, i));
    let p = &pointers;
    py.detach(|| {
        // The handle travels as an integer (a raw pointer is not `Send`).
        let stream = stream as usize as CUstream;
        let gpu = Gpu::get(device)?;
        // SAFETY: the pointers and the stream are the caller's tensors and current stream,
        // as this function's contract states; each raw function checks lengths, slopes
        // and layouts before enqueuing anything.
        unsafe {
            match operation {
                "relu" => raw::relu(&gpu, dtype, p[0], p[1], len, stream),
                "relu_backward" => raw::relu_backward(&gpu, dtype, p[0], p[1], p[2], len, stream),
                "leaky_relu" => {
                    raw::leaky_relu(&gpu, dtype, p[0], p[1], len, negative_slope, stream)
                }
                "leaky_relu_backward" => raw::leaky_relu_backward(
                    &gpu,
                    dtype,
                    p[0],
                    p[1],
                    p[2],
                    len,
                    negative_slope,
                    stream,
                ),
                "prelu" => raw::prelu(
                    &gpu,
                    dtype,
                    p[0],
                    len,
                    p[1],
                    weight_len,
                    layout.unwrap_or(ChannelLayout::new(len, 1, 1)),
                    p[2],
                    stream,
                ),
                _ => raw::prelu_backward(
                    &gpu,
                    dtype,
                    p[0],
                    p[1],
                    len,
                    p[2],
                    weight_len,
                    layout.unwrap_or(ChannelLayout::new(len, 1, 1)),
                    p[3],
                    p[4],
                    stream,
                ),
            }
        }
    })
    .map_err(to_py)
}
