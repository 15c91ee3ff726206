//! The raw entry points: device pointers (as `u64`), lengths and a stream handle, for
//! callers that hold memory relukit did not allocate (PyTorch, CuPy, DLPack). Each
//! checks its arguments exactly as the CPU function of the same name, then enqueues
//! its kernels on `stream` and returns without waiting. An output may be its input
//! (in place); other overlaps are not allowed.
//!
//! # Safety (every function here)
//! Each pointer must be a device allocation of the [`Gpu`]'s context (or mapped into
//! it) holding the stated number of elements of `dtype`, readable (inputs) or writable
//! (outputs) by work on `stream` until that work completes, and `stream` must be a
//! live stream of that context (or null, the legacy default stream).

use std::ffi::c_void;

use cudarc::driver::CudaFunction;
use cudarc::driver::sys::CUstream;
use relukit::{ChannelLayout, check};

use crate::element::{Dtype, Slope};
use crate::plan::{self, BLOCK, Pass, Shape};
use crate::{Error, Gpu};

/// Pointer to a kernel argument, as cuLaunchKernel takes it.
fn arg<T>(value: &T) -> *mut c_void {
    (value as *const T).cast_mut().cast()
}

/// Enqueues `function` on `stream`.
///
/// # Safety
/// `params` must match the kernel's parameters in number and types, and every pointer
/// among them must satisfy the module's contract (see the module docs).
unsafe fn launch(
    gpu: &Gpu,
    function: &CudaFunction,
    blocks: u64,
    threads: u64,
    stream: CUstream,
    params: &mut [*mut c_void],
) -> Result<(), Error> {
    let blocks = u32::try_from(blocks)
        .ok()
        .filter(|&b| b < (1 << 31))
        .ok_or_else(|| {
            Error::Driver(format!(
                "a launch of {blocks} blocks is beyond CUDA's grid limit"
            ))
        })?;
    gpu.context().bind_to_thread()?;
    // SAFETY: the caller guarantees the parameters; the grid is within CUDA's limits.
    unsafe {
        cudarc::driver::result::launch_kernel(
            function.cu_function(),
            (blocks, 1, 1),
            (threads as u32, 1, 1),
            0,
            stream,
            params,
        )?;
    }
    Ok(())
}

/// Whether every pointer is 16-byte aligned (the kernels' packs).
fn aligned(pointers: &[u64]) -> i32 {
    i32::from(pointers.iter().all(|p| p % 16 == 0))
}

/// An elementwise kernel over `len` elements: `pointers` then `len`, the alignment
/// flag and, for Leaky ReLU, the slope.
///
/// # Safety
/// As the module: `pointers` are the kernel's buffers in order, each of `len` elements.
unsafe fn elementwise(
    gpu: &Gpu,
    operation: &str,
    dtype: Dtype,
    pointers: &[u64],
    len: usize,
    slope: Option<Slope>,
    stream: CUstream,
) -> Result<(), Error> {
    if len == 0 {
        return Ok(());
    }
    let n = len as u64;
    let vec = aligned(pointers);
    let mut params: Vec<*mut c_void> = pointers.iter().map(arg).collect();
    params.push(arg(&n));
    params.push(arg(&vec));
    let (slope32, slope64);
    match slope {
        Some(Slope::F32(s)) => {
            slope32 = s;
            params.push(arg(&slope32));
        }
        Some(Slope::F64(s)) => {
            slope64 = s;
            params.push(arg(&slope64));
        }
        None => {}
    }
    let blocks = plan::elementwise_blocks(n, dtype.size(), gpu.multiprocessors());
    // SAFETY: the parameters are the kernel's, in order; pointers as the caller promised.
    unsafe {
        launch(
            gpu,
            gpu.function(operation, dtype),
            u64::from(blocks),
            BLOCK,
            stream,
            &mut params,
        )
    }
}

/// ReLU: `output[i] = relu(input[i])` (`output` may be `input`).
///
/// # Safety
/// See the module docs; both buffers hold `len` elements.
pub unsafe fn relu(
    gpu: &Gpu,
    dtype: Dtype,
    input: u64,
    output: u64,
    len: usize,
    stream: CUstream,
) -> Result<(), Error> {
    // SAFETY: forwarded from the caller.
    unsafe { elementwise(gpu, "relu", dtype, &[input, output], len, None, stream) }
}

/// ReLU's derivative: 1 where `input > 0`, 0 elsewhere, NaN kept.
///
/// # Safety
/// See the module docs; both buffers hold `len` elements.
pub unsafe fn relu_derivative(
    gpu: &Gpu,
    dtype: Dtype,
    input: u64,
    output: u64,
    len: usize,
    stream: CUstream,
) -> Result<(), Error> {
    // SAFETY: forwarded from the caller.
    unsafe {
        elementwise(
            gpu,
            "relu_derivative",
            dtype,
            &[input, output],
            len,
            None,
            stream,
        )
    }
}

/// ReLU backward: `grad_input[i]` is `grad_output[i]` where `input[i] > 0`, else `+0`
/// (`grad_input` may be `grad_output`).
///
/// # Safety
/// See the module docs; the three buffers hold `len` elements.
pub unsafe fn relu_backward(
    gpu: &Gpu,
    dtype: Dtype,
    grad_output: u64,
    input: u64,
    grad_input: u64,
    len: usize,
    stream: CUstream,
) -> Result<(), Error> {
    // SAFETY: forwarded from the caller.
    unsafe {
        elementwise(
            gpu,
            "relu_backward",
            dtype,
            &[grad_output, input, grad_input],
            len,
            None,
            stream,
        )
    }
}

/// Leaky ReLU with `negative_slope` (checked as the CPU checks it).
///
/// # Safety
/// See the module docs; both buffers hold `len` elements.
#[allow(clippy::too_many_arguments)]
pub unsafe fn leaky_relu(
    gpu: &Gpu,
    dtype: Dtype,
    input: u64,
    output: u64,
    len: usize,
    negative_slope: f64,
    stream: CUstream,
) -> Result<(), Error> {
    let slope = Slope::new(dtype, negative_slope)?;
    // SAFETY: forwarded from the caller.
    unsafe {
        elementwise(
            gpu,
            "leaky_relu",
            dtype,
            &[input, output],
            len,
            Some(slope),
            stream,
        )
    }
}

/// Leaky ReLU backward (`grad_input` may be `grad_output`).
///
/// # Safety
/// See the module docs; the three buffers hold `len` elements.
#[allow(clippy::too_many_arguments)]
pub unsafe fn leaky_relu_backward(
    gpu: &Gpu,
    dtype: Dtype,
    grad_output: u64,
    input: u64,
    grad_input: u64,
    len: usize,
    negative_slope: f64,
    stream: CUstream,
) -> Result<(), Error> {
    let slope = Slope::new(dtype, negative_slope)?;
    // SAFETY: forwarded from the caller.
    unsafe {
        elementwise(
            gpu,
            "leaky_relu_backward",
            dtype,
            &[grad_output, input, grad_input],
            len,
            Some(slope),
            stream,
        )
    }
}

/// PReLU over `layout` with `weight` of `weight_len` elements (1 or the channels;
/// checked as the CPU checks it); `output` may be `input`.
///
/// # Safety
/// See the module docs; `input` and `output` hold `len` elements, `weight` holds
/// `weight_len`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn prelu(
    gpu: &Gpu,
    dtype: Dtype,
    input: u64,
    len: usize,
    weight: u64,
    weight_len: usize,
    layout: ChannelLayout,
    output: u64,
    stream: CUstream,
) -> Result<(), Error> {
    check::layout(layout, "input", len)?;
    check::weight(layout, weight_len)?;
    if len == 0 {
        return Ok(());
    }
    let shape = Shape::new(
        layout,
        weight_len,
        dtype.size(),
        aligned(&[input, output]) == 1,
        Pass::Forward,
    );
    let mut params = [arg(&input), arg(&weight), arg(&output), arg(&shape)];
    // SAFETY: the parameters are the kernel's, in order; pointers as the caller promised.
    unsafe {
        launch(
            gpu,
            gpu.function("prelu", dtype),
            shape.blocks(),
            BLOCK,
            stream,
            &mut params,
        )
    }
}

/// PReLU backward: `grad_input` (which may be `grad_output`) and `grad_weight` (as
/// many elements as `weight`, overwritten with the sums; the same bits on every run).
///
/// # Safety
/// See the module docs; `grad_output`, `input` and `grad_input` hold `len` elements,
/// `weight` and `grad_weight` hold `weight_len`.
#[allow(clippy::too_many_arguments)]
pub unsafe fn prelu_backward(
    gpu: &Gpu,
    dtype: Dtype,
    grad_output: u64,
    input: u64,
    len: usize,
    weight: u64,
    weight_len: usize,
    layout: ChannelLayout,
    grad_input: u64,
    grad_weight: u64,
    stream: CUstream,
) -> Result<(), Error> {
    check::layout(layout, "input", len)?;
    check::weight(layout, weight_len)?;
    if weight_len == 0 {
        // No channels, so no elements: nothing to compute or write.
        return Ok(());
    }
    let size = dtype.size();
    let empty = ChannelLayout::new(0, layout.channels(), layout.inner());
    let layout = if len == 0 { empty } else { layout };
    let shape = Shape::new(
        layout,
        weight_len,
        size,
        aligned(&[grad_output, input, grad_input]) == 1,
        Pass::Backward,
    );
    let partial_bytes = (shape.partial_len() as usize).max(1) * 8;
    gpu.context().bind_to_thread()?;
    // SAFETY: a stream-ordered allocation on the caller's stream, freed on it below.
    let partial = unsafe { cudarc::driver::result::malloc_async(stream, partial_bytes)? };
    let result = (|| {
        if len > 0 {
            let mut params = [
                arg(&grad_output),
                arg(&input),
                arg(&weight),
                arg(&grad_input),
                arg(&partial),
                arg(&shape),
            ];
            // SAFETY: the parameters are the kernel's; `partial` holds partial_len slots.
            unsafe {
                launch(
                    gpu,
                    gpu.function("prelu_backward", dtype),
                    shape.blocks(),
                    BLOCK,
                    stream,
                    &mut params,
                )?;
            }
        }
        let threads = if len == 0 { 1 } else { shape.reduce_threads() };
        let mut params = [arg(&partial), arg(&grad_weight), arg(&shape), arg(&threads)];
        // SAFETY: one block per weight element; with no data every sum is 0 (no slots read).
        unsafe {
            launch(
                gpu,
                gpu.function("prelu_grad_weight", dtype),
                weight_len as u64,
                threads,
                stream,
                &mut params,
            )
        }
    })();
    // SAFETY: `partial` was allocated above on this stream and is freed once, after the
    // kernels that use it (stream order).
    unsafe { cudarc::driver::result::free_async(partial, stream)? };
    result
}

/// Makes later work on `stream` wait for the work enqueued so far on `producer`,
/// without blocking the host (an event recorded on `producer`): what a consumer of a
/// `__cuda_array_interface__` owes the producer's stream. Nothing to do when the two
/// are the same stream.
///
/// # Safety
/// Both streams are live streams of the [`Gpu`]'s context (or null, the legacy
/// default stream, or `CU_STREAM_LEGACY`/`CU_STREAM_PER_THREAD`).
pub unsafe fn wait(gpu: &Gpu, stream: CUstream, producer: CUstream) -> Result<(), Error> {
    use cudarc::driver::result::{event, stream as streams};
    use cudarc::driver::sys::{CUevent_flags, CUevent_wait_flags};
    if stream == producer {
        return Ok(());
    }
    gpu.context().bind_to_thread()?;
    let marker = event::create(CUevent_flags::CU_EVENT_DISABLE_TIMING)?;
    // SAFETY: a fresh event; the streams are live as the caller guarantees. The event
    // is destroyed after the wait is enqueued, which CUDA allows (it is released once
    // the wait completes).
    unsafe {
        let waited = event::record(marker, producer).and_then(|()| {
            streams::wait_event(stream, marker, CUevent_wait_flags::CU_EVENT_WAIT_DEFAULT)
        });
        event::destroy(marker)?;
        waited?;
    }
    Ok(())
}

/// The ordinal of the GPU that holds device address `address` (for memory described
/// without its device, as `__cuda_array_interface__` describes it).
///
/// # Errors
/// [`Error::NoDriver`] without a driver; [`Error::Driver`] when the address is not
/// memory the driver knows.
pub fn device_of(address: u64) -> Result<usize, Error> {
    use cudarc::driver::sys::{CUpointer_attribute, CUresult, cuPointerGetAttribute};
    if !crate::driver_present() {
        return Err(Error::NoDriver);
    }
    cudarc::driver::result::init()?;
    let mut ordinal: i32 = -1;
    // SAFETY: one out-pointer of the attribute's type (an int); the driver checks the
    // address and returns an error for one it does not know.
    let status = unsafe {
        cuPointerGetAttribute(
            (&mut ordinal as *mut i32).cast(),
            CUpointer_attribute::CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL,
            address,
        )
    };
    if status != CUresult::CUDA_SUCCESS {
        return Err(Error::Driver(format!(
            "address {address:#x} is not GPU memory the driver knows ({status:?})"
        )));
    }
    usize::try_from(ordinal).map_err(|_| Error::Driver(format!("device ordinal {ordinal}")))
}
