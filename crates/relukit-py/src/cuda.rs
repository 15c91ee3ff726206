//! The GPU path of `relukit.torch` and `relukit.cuda`: device pointers, handed over by
//! the Python layer with the caller's current stream, to `relukit_cuda::raw`. The Python
//! layer allocates every output through the caller's library (PyTorch, CuPy...) and
//! passes dense arrays only; here the arguments are checked as the CPU functions check
//! them, and the kernels enqueued on the caller's stream (nothing waits: the library's
//! stream order holds). Also here: reading a DLPack capsule, a stream waiting for
//! another, and the device of an address, for arrays that arrive by
//! `__cuda_array_interface__` or DLPack.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods};
use relukit::ChannelLayout;
use relukit_cuda::cudarc::driver::sys::CUstream;
use relukit_cuda::dlpack::{self, DLManagedTensor, DLManagedTensorVersioned, FLAG_READ_ONLY};
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
    Dtype::ALL
        .into_iter()
        .find(|d| d.name() == name)
        .ok_or_else(|| {
            PyValueError::new_err(format!("relukit CUDA backend: no kernels for dtype {name}"))
        })
}

/// The operations `_cuda` runs, with how many pointers each takes: the one list the
/// Python layers read (`_cuda_operations`), so a GPU operation is named in one place
/// between relukit-cuda's `raw` functions and relukit.torch.
const OPERATIONS: [(&str, usize); 7] = [
    ("relu", 2),
    ("relu_derivative", 2),
    ("relu_backward", 3),
    ("leaky_relu", 2),
    ("leaky_relu_backward", 3),
    ("prelu", 3),
    ("prelu_backward", 5),
];

/// The names of the operations [`_cuda`] runs.
#[pyfunction]
pub fn _cuda_operations() -> Vec<&'static str> {
    OPERATIONS.iter().map(|(name, _)| *name).collect()
}

/// The element types of the kernels, GPU and CPU tensor paths alike: `(NumPy name,
/// bytes)` for each of `relukit_cuda::Dtype::ALL`, the one list the Python layers read.
#[pyfunction]
pub fn _dtypes() -> Vec<(&'static str, usize)> {
    Dtype::ALL.iter().map(|d| (d.name(), d.size())).collect()
}

/// Runs `operation` on device `device` (its primary context, PyTorch's), on `stream`
/// (a `CUstream` handle as an integer, 0 for the legacy default stream).
///
/// `pointers` are, in order: `relu`/`relu_derivative`/`leaky_relu`: input, output; `relu_backward`/
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
    let Some(&(_, expected)) = OPERATIONS.iter().find(|(name, _)| *name == operation) else {
        return Err(PyValueError::new_err(format!(
            "relukit CUDA backend: no operation named {operation:?}"
        )));
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
                "relu_derivative" => raw::relu_derivative(&gpu, dtype, p[0], p[1], len, stream),
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
                "prelu_backward" => raw::prelu_backward(
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
                other => unreachable!("{other} is in OPERATIONS without an arm here"),
            }
        }
    })
    .map_err(to_py)
}

/// Makes later work on stream `stream` of device `device` wait for the work enqueued so
/// far on `producer` (both `CUstream` handles as integers), without blocking: for an
/// array whose `__cuda_array_interface__` names the stream it was made on.
#[pyfunction]
pub fn _cuda_wait(py: Python<'_>, device: usize, stream: u64, producer: u64) -> PyResult<()> {
    py.detach(|| {
        let gpu = Gpu::get(device)?;
        // SAFETY: both handles are streams of that device's primary context, which the
        // Python caller took from the array and from its library's current stream.
        unsafe {
            raw::wait(
                &gpu,
                stream as usize as CUstream,
                producer as usize as CUstream,
            )
        }
    })
    .map_err(to_py)
}

/// The ordinal of the GPU holding device address `address`.
#[pyfunction]
pub fn _cuda_device_of(address: u64) -> PyResult<usize> {
    raw::device_of(address).map_err(to_py)
}

/// A DLPack capsule's tensor: `(address of the first element, (device type, device
/// id), dtype name, shape, strides in elements, read only)`; the dtype name is
/// NumPy's (`float32`, `bfloat16`, `int64`...). The capsule is only read: its producer
/// still owns the tensor, and frees it with the capsule.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn _dlpack(
    capsule: &Bound<'_, PyCapsule>,
) -> PyResult<(u64, (i32, i32), String, Vec<i64>, Vec<i64>, bool)> {
    let name = capsule.name()?;
    // SAFETY: the name is the capsule's own, alive while the capsule is.
    let name = name.map(|n| unsafe { n.as_cstr() }.to_bytes().to_vec());
    let (tensor, read_only) = match name.as_deref() {
        Some(b"dltensor") => {
            let managed = capsule
                .pointer_checked(Some(c"dltensor"))?
                .cast::<DLManagedTensor>();
            // SAFETY: a "dltensor" capsule holds a DLManagedTensor (DLPack's contract).
            (unsafe { &raw const (*managed.as_ptr()).dl_tensor }, false)
        }
        Some(b"dltensor_versioned") => {
            let managed = capsule
                .pointer_checked(Some(c"dltensor_versioned"))?
                .cast::<DLManagedTensorVersioned>();
            // SAFETY: a "dltensor_versioned" capsule holds a DLManagedTensorVersioned.
            let m = unsafe { &*managed.as_ptr() };
            if m.version.major != 1 {
                return Err(PyValueError::new_err(format!(
                    "a DLPack {}.{} tensor: relukit reads DLPack 1.x",
                    m.version.major, m.version.minor
                )));
            }
            (&raw const m.dl_tensor, m.flags & FLAG_READ_ONLY != 0)
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "not a DLPack tensor capsule (its name is {:?}; a used one is \"used_dltensor\")",
                other.map(|n| String::from_utf8_lossy(n).into_owned())
            )));
        }
    };
    // SAFETY: the tensor lives in the capsule, which the caller holds.
    let d = unsafe { dlpack::describe(tensor, read_only) }.map_err(PyValueError::new_err)?;
    let dtype = d.dtype.map_or_else(|name| name, |t| t.name().to_string());
    Ok((
        d.address,
        (d.device.device_type, d.device.device_id),
        dtype,
        d.shape,
        d.strides,
        d.read_only,
    ))
}
