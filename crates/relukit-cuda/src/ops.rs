//! The typed API on cudarc device buffers: the CPU crate's slice functions, with the
//! same names, arguments and errors, plus the stream the work is enqueued on. Each
//! returns once the work is enqueued; cudarc's event tracking orders it with the other
//! work on the buffers.

use std::sync::Arc;

use cudarc::driver::{CudaStream, DevicePtr, DevicePtrMut};
use relukit::{ChannelLayout, check};

use crate::element::CudaFloat;
use crate::{Error, Gpu, raw};

fn gpu_of(stream: &CudaStream) -> Result<Arc<Gpu>, Error> {
    Gpu::get(stream.context().ordinal())
}

/// ReLU into `output`, as [`relukit::relu`].
///
/// # Errors
/// [`relukit::ErrorKind::LengthMismatch`] (as [`Error::Argument`]) if the lengths
/// differ; the GPU errors of [`Gpu::get`].
pub fn relu<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    input: &impl DevicePtr<T>,
    output: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    check::length("output", output.len(), "input", input.len())?;
    let gpu = gpu_of(stream)?;
    let len = input.len();
    let (x, _x) = input.device_ptr(stream);
    let (y, _y) = output.device_ptr_mut(stream);
    // SAFETY: both are live buffers of `len` elements on this stream's context, kept
    // alive and ordered by the guards until the work is enqueued.
    unsafe { raw::relu(&gpu, T::DTYPE, x, y, len, stream.cu_stream()) }
}

/// ReLU in place, as [`relukit::relu_inplace`].
///
/// # Errors
/// The GPU errors of [`Gpu::get`].
pub fn relu_inplace<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    data: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    let gpu = gpu_of(stream)?;
    let len = data.len();
    let (x, _x) = data.device_ptr_mut(stream);
    // SAFETY: one live buffer of `len` elements, read and written in place.
    unsafe { raw::relu(&gpu, T::DTYPE, x, x, len, stream.cu_stream()) }
}

/// ReLU's derivative into `output`, as [`relukit::relu_derivative`].
///
/// # Errors
/// As [`relu`].
pub fn relu_derivative<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    input: &impl DevicePtr<T>,
    output: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    check::length("output", output.len(), "input", input.len())?;
    let gpu = gpu_of(stream)?;
    let len = input.len();
    let (x, _x) = input.device_ptr(stream);
    let (y, _y) = output.device_ptr_mut(stream);
    // SAFETY: as in `relu`.
    unsafe { raw::relu_derivative(&gpu, T::DTYPE, x, y, len, stream.cu_stream()) }
}

/// ReLU backward into `grad_input`, as [`relukit::relu_backward`].
///
/// # Errors
/// [`relukit::ErrorKind::LengthMismatch`] if `input` or `grad_input` is not as long as
/// `grad_output`; the GPU errors of [`Gpu::get`].
pub fn relu_backward<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    grad_output: &impl DevicePtr<T>,
    input: &impl DevicePtr<T>,
    grad_input: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    check::length("input", input.len(), "grad_output", grad_output.len())?;
    check::length(
        "grad_input",
        grad_input.len(),
        "grad_output",
        grad_output.len(),
    )?;
    let gpu = gpu_of(stream)?;
    let len = input.len();
    let (g, _g) = grad_output.device_ptr(stream);
    let (x, _x) = input.device_ptr(stream);
    let (gi, _gi) = grad_input.device_ptr_mut(stream);
    // SAFETY: three live buffers of `len` elements on this stream's context.
    unsafe { raw::relu_backward(&gpu, T::DTYPE, g, x, gi, len, stream.cu_stream()) }
}

/// ReLU backward in place over the gradient, as [`relukit::relu_backward_inplace`].
///
/// # Errors
/// As [`relu_backward`].
pub fn relu_backward_inplace<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    grad: &mut impl DevicePtrMut<T>,
    input: &impl DevicePtr<T>,
) -> Result<(), Error> {
    check::length("input", input.len(), "grad", grad.len())?;
    let gpu = gpu_of(stream)?;
    let len = input.len();
    let (x, _x) = input.device_ptr(stream);
    let (g, _g) = grad.device_ptr_mut(stream);
    // SAFETY: two live buffers of `len` elements; the gradient is rewritten in place.
    unsafe { raw::relu_backward(&gpu, T::DTYPE, g, x, g, len, stream.cu_stream()) }
}

/// Leaky ReLU into `output`, as [`relukit::leaky_relu`].
///
/// # Errors
/// [`relukit::ErrorKind::NonFiniteSlope`] or [`relukit::ErrorKind::LengthMismatch`] as
/// the CPU function; the GPU errors of [`Gpu::get`].
pub fn leaky_relu<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    input: &impl DevicePtr<T>,
    negative_slope: f64,
    output: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    check::negative_slope::<T>(negative_slope)?;
    check::length("output", output.len(), "input", input.len())?;
    let gpu = gpu_of(stream)?;
    let len = input.len();
    let (x, _x) = input.device_ptr(stream);
    let (y, _y) = output.device_ptr_mut(stream);
    // SAFETY: as in `relu`.
    unsafe {
        raw::leaky_relu(
            &gpu,
            T::DTYPE,
            x,
            y,
            len,
            negative_slope,
            stream.cu_stream(),
        )
    }
}

/// Leaky ReLU in place, as [`relukit::leaky_relu_inplace`].
///
/// # Errors
/// As [`leaky_relu`].
pub fn leaky_relu_inplace<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    data: &mut impl DevicePtrMut<T>,
    negative_slope: f64,
) -> Result<(), Error> {
    check::negative_slope::<T>(negative_slope)?;
    let gpu = gpu_of(stream)?;
    let len = data.len();
    let (x, _x) = data.device_ptr_mut(stream);
    // SAFETY: as in `relu_inplace`.
    unsafe {
        raw::leaky_relu(
            &gpu,
            T::DTYPE,
            x,
            x,
            len,
            negative_slope,
            stream.cu_stream(),
        )
    }
}

/// Leaky ReLU backward into `grad_input`, as [`relukit::leaky_relu_backward`].
///
/// # Errors
/// As [`relu_backward`], plus [`relukit::ErrorKind::NonFiniteSlope`].
pub fn leaky_relu_backward<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    grad_output: &impl DevicePtr<T>,
    input: &impl DevicePtr<T>,
    negative_slope: f64,
    grad_input: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    check::negative_slope::<T>(negative_slope)?;
    check::length("input", input.len(), "grad_output", grad_output.len())?;
    check::length(
        "grad_input",
        grad_input.len(),
        "grad_output",
        grad_output.len(),
    )?;
    let gpu = gpu_of(stream)?;
    let len = input.len();
    let (g, _g) = grad_output.device_ptr(stream);
    let (x, _x) = input.device_ptr(stream);
    let (gi, _gi) = grad_input.device_ptr_mut(stream);
    // SAFETY: as in `relu_backward`.
    unsafe {
        raw::leaky_relu_backward(
            &gpu,
            T::DTYPE,
            g,
            x,
            gi,
            len,
            negative_slope,
            stream.cu_stream(),
        )
    }
}

/// PReLU into `output`, as [`relukit::prelu`].
///
/// # Errors
/// [`relukit::ErrorKind::LayoutMismatch`], [`relukit::ErrorKind::WeightMismatch`] or
/// [`relukit::ErrorKind::LengthMismatch`] as the CPU function; the GPU errors of
/// [`Gpu::get`].
pub fn prelu<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    input: &impl DevicePtr<T>,
    weight: &impl DevicePtr<T>,
    layout: ChannelLayout,
    output: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    check::layout(layout, "input", input.len())?;
    check::weight(layout, weight.len())?;
    check::length("output", output.len(), "input", input.len())?;
    let gpu = gpu_of(stream)?;
    let (len, weight_len) = (input.len(), weight.len());
    let (x, _x) = input.device_ptr(stream);
    let (w, _w) = weight.device_ptr(stream);
    let (y, _y) = output.device_ptr_mut(stream);
    // SAFETY: live buffers of the checked lengths on this stream's context.
    unsafe {
        raw::prelu(
            &gpu,
            T::DTYPE,
            x,
            len,
            w,
            weight_len,
            layout,
            y,
            stream.cu_stream(),
        )
    }
}

/// PReLU in place, as [`relukit::prelu_inplace`].
///
/// # Errors
/// As [`prelu`].
pub fn prelu_inplace<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    data: &mut impl DevicePtrMut<T>,
    weight: &impl DevicePtr<T>,
    layout: ChannelLayout,
) -> Result<(), Error> {
    check::layout(layout, "data", data.len())?;
    check::weight(layout, weight.len())?;
    let gpu = gpu_of(stream)?;
    let (len, weight_len) = (data.len(), weight.len());
    let (w, _w) = weight.device_ptr(stream);
    let (x, _x) = data.device_ptr_mut(stream);
    // SAFETY: as in `prelu`, the data rewritten in place.
    unsafe {
        raw::prelu(
            &gpu,
            T::DTYPE,
            x,
            len,
            w,
            weight_len,
            layout,
            x,
            stream.cu_stream(),
        )
    }
}

/// PReLU backward, as [`relukit::prelu_backward`]: `grad_input`, and `grad_weight`
/// overwritten with the per-channel sums (in f64, combined in an order fixed by the
/// layout: the same bits on every run and every GPU; within the CPU's error bound of
/// the exact sum, not necessarily its bits).
///
/// # Errors
/// As [`prelu`], plus [`relukit::ErrorKind::LengthMismatch`] for `grad_output` or
/// `grad_input` and [`relukit::ErrorKind::WeightMismatch`] for `grad_weight`.
pub fn prelu_backward<T: CudaFloat>(
    stream: &Arc<CudaStream>,
    grad_output: &impl DevicePtr<T>,
    input: &impl DevicePtr<T>,
    weight: &impl DevicePtr<T>,
    layout: ChannelLayout,
    grad_input: &mut impl DevicePtrMut<T>,
    grad_weight: &mut impl DevicePtrMut<T>,
) -> Result<(), Error> {
    check::layout(layout, "input", input.len())?;
    check::weight(layout, weight.len())?;
    check::length("grad_output", grad_output.len(), "input", input.len())?;
    check::length("grad_input", grad_input.len(), "input", input.len())?;
    check::grad_weight(grad_weight.len(), weight.len())?;
    let gpu = gpu_of(stream)?;
    let (len, weight_len) = (input.len(), weight.len());
    let (g, _g) = grad_output.device_ptr(stream);
    let (x, _x) = input.device_ptr(stream);
    let (w, _w) = weight.device_ptr(stream);
    let (gi, _gi) = grad_input.device_ptr_mut(stream);
    let (gw, _gw) = grad_weight.device_ptr_mut(stream);
    // SAFETY: live buffers of the checked lengths on this stream's context.
    unsafe {
        raw::prelu_backward(
            &gpu,
            T::DTYPE,
            g,
            x,
            len,
            w,
            weight_len,
            layout,
            gi,
            gw,
            stream.cu_stream(),
        )
    }
}
