//! The ufuncs: NumPy's ufunc C API with inner loops that call the relukit kernels.
//!
//! NumPy does the broadcasting, casting, `out=`/`where=`, buffering and the loop over
//! the outer dimensions; each inner loop gets one 1-D run of elements with byte strides.
//! Contiguous, aligned runs go to the kernels directly (in place when the output is the
//! input); other runs are copied through 1024-element buffers in blocks. NumPy releases
//! the interpreter lock around inner loops of non-object dtypes.

use std::ffi::{
    CStr, c_char, c_int, c_long, c_longlong, c_schar, c_short, c_uchar, c_uint, c_ulong,
    c_ulonglong, c_ushort, c_void,
};
use std::ptr;
use std::sync::Mutex;

use half::f16;
use numpy::npyffi::{NPY_TYPES, PY_UFUNC_API, PyUFuncGenericFunction, npy_intp};
use pyo3::prelude::*;
use relukit::{Element, Float, reference};

use crate::pool;

/// Elements per block of a strided run.
const BLOCK: usize = 1024;

type Loop = unsafe extern "C" fn(*mut *mut c_char, *mut npy_intp, *mut npy_intp, *mut c_void);

/// Whether `n` elements of `T` at `p` with byte stride `stride` form an aligned slice.
fn contiguous<T>(p: *const c_char, stride: isize) -> bool {
    stride == size_of::<T>() as isize && (p as usize).is_multiple_of(align_of::<T>())
}

/// Copies `dst.len()` elements at byte stride `stride` from `src`.
///
/// # Safety
/// `src + i * stride` is valid for reads of a `T` for every `i < dst.len()`.
unsafe fn gather<T: Copy>(src: *const c_char, stride: isize, dst: &mut [T]) {
    for (i, d) in dst.iter_mut().enumerate() {
        // SAFETY: in bounds by the contract; NumPy strides need not keep alignment.
        *d = unsafe { src.offset(i as isize * stride).cast::<T>().read_unaligned() };
    }
}

/// Writes `src` at byte stride `stride` from `dst`.
///
/// # Safety
/// `dst + i * stride` is valid for writes of a `T` for every `i < src.len()`.
unsafe fn scatter<T: Copy>(src: &[T], dst: *mut c_char, stride: isize) {
    for (i, &v) in src.iter().enumerate() {
        // SAFETY: in bounds by the contract.
        unsafe {
            dst.offset(i as isize * stride)
                .cast::<T>()
                .write_unaligned(v)
        };
    }
}

/// One input, one output: `kernel(x, out)`, or `inplace(data)` when NumPy passes the
/// same contiguous buffer twice.
///
/// # Safety
/// `args`, `dimensions` and `steps` are what NumPy passes to a 1-in 1-out inner loop
/// whose operand types are `T`.
unsafe fn unary<T: Copy + Default + Send + Sync>(
    args: *mut *mut c_char,
    dimensions: *mut npy_intp,
    steps: *mut npy_intp,
    kernel: impl Fn(&[T], &mut [T]) + Sync,
    inplace: impl Fn(&mut [T]) + Sync,
) {
    // SAFETY: NumPy passes two operand pointers, one length and two strides.
    let (n, x, out, xs, os) = unsafe {
        (
            *dimensions as usize,
            *args,
            *args.add(1),
            *steps,
            *steps.add(1),
        )
    };
    if contiguous::<T>(x, xs) && contiguous::<T>(out, os) {
        if x == out {
            // SAFETY: n aligned, initialised elements owned by the output array.
            let data = unsafe { std::slice::from_raw_parts_mut(out.cast::<T>(), n) };
            return pool::run(n, || inplace(data));
        }
        // SAFETY: NumPy copies operands that overlap partially, so distinct pointers
        // mean distinct memory; both hold n aligned elements.
        let (x, out) = unsafe {
            (
                std::slice::from_raw_parts(x.cast::<T>(), n),
                std::slice::from_raw_parts_mut(out.cast::<T>(), n),
            )
        };
        return pool::run(n, || kernel(x, out));
    }
    let (mut a, mut o) = ([T::default(); BLOCK], [T::default(); BLOCK]);
    for start in (0..n).step_by(BLOCK) {
        let m = BLOCK.min(n - start);
        // SAFETY: elements start..start + m of each operand are in bounds.
        unsafe {
            gather(x.offset(start as isize * xs), xs, &mut a[..m]);
            kernel(&a[..m], &mut o[..m]);
            scatter(&o[..m], out.offset(start as isize * os), os);
        }
    }
}

/// Two inputs, one output: `kernel(a, b, out)`. When the output is one of the inputs,
/// the blocks are copied first, so aliasing is safe.
///
/// # Safety
/// As [`unary`], for a 2-in 1-out loop of `A`, `B` to `T`.
unsafe fn binary<
    A: Copy + Default + Send + Sync,
    B: Copy + Default + Send + Sync,
    T: Copy + Default + Send + Sync,
>(
    args: *mut *mut c_char,
    dimensions: *mut npy_intp,
    steps: *mut npy_intp,
    kernel: impl Fn(&[A], &[B], &mut [T]) + Sync,
) {
    // SAFETY: NumPy passes three operand pointers, one length and three strides.
    let (n, a, b, out) = unsafe { (*dimensions as usize, *args, *args.add(1), *args.add(2)) };
    // SAFETY: as above.
    let (sa, sb, so) = unsafe { (*steps, *steps.add(1), *steps.add(2)) };
    if contiguous::<A>(a, sa)
        && contiguous::<B>(b, sb)
        && contiguous::<T>(out, so)
        && out != a
        && out != b
    {
        // SAFETY: distinct pointers are distinct memory (NumPy resolves partial
        // overlap), each holding n aligned elements.
        let (a, b, out) = unsafe {
            (
                std::slice::from_raw_parts(a.cast::<A>(), n),
                std::slice::from_raw_parts(b.cast::<B>(), n),
                std::slice::from_raw_parts_mut(out.cast::<T>(), n),
            )
        };
        return pool::run(n, || kernel(a, b, out));
    }
    let (mut x, mut y, mut o) = (
        [A::default(); BLOCK],
        [B::default(); BLOCK],
        [T::default(); BLOCK],
    );
    for start in (0..n).step_by(BLOCK) {
        let m = BLOCK.min(n - start);
        // SAFETY: elements start..start + m of each operand are in bounds.
        unsafe {
            gather(a.offset(start as isize * sa), sa, &mut x[..m]);
            gather(b.offset(start as isize * sb), sb, &mut y[..m]);
            kernel(&x[..m], &y[..m], &mut o[..m]);
            scatter(&o[..m], out.offset(start as isize * so), so);
        }
    }
}

/// Runs `f` without leaving a new "invalid" floating-point flag behind: the kernels
/// compare NaNs (which sets that flag on x86-64) where the contract passes them through,
/// and NumPy turns a raised flag into a RuntimeWarning that `np.maximum` does not give.
/// Flags raised before the loop, and the other flags, are kept.
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(deprecated)] // the intrinsics are deprecated only in favour of inline assembly
        // SAFETY: reading and writing MXCSR's sticky exception flags changes no rounding
        // or exception-mask mode; SSE is part of the x86-64 baseline.
        unsafe {
            use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
            const INVALID: u32 = 1;
            let before = _mm_getcsr() & INVALID;
            let result = f();
            _mm_setcsr((_mm_getcsr() & !INVALID) | before);
            result
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()
}

// ---- the loops ----

unsafe extern "C" fn relu_loop<T: Element>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: registered for 1-in 1-out operands of type T.
    quietly(|| unsafe {
        unary::<T>(
            args,
            dims,
            steps,
            |x, o| drop(relukit::relu(x, o)),
            relukit::relu_inplace,
        )
    })
}

/// ReLU of unsigned integers and booleans: every value is >= 0, so a copy.
unsafe extern "C" fn identity_loop<T: Copy + Default + Send + Sync>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: registered for 1-in 1-out operands of type T.
    unsafe { unary::<T>(args, dims, steps, |x, o| o.copy_from_slice(x), |_| {}) }
}

unsafe extern "C" fn derivative_loop<T: Float>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    let inplace = |d: &mut [T]| {
        let copy = d.to_vec();
        drop(relukit::relu_derivative(&copy, d));
    };
    // SAFETY: registered for 1-in 1-out operands of type T.
    quietly(|| unsafe {
        unary::<T>(
            args,
            dims,
            steps,
            |x, o| drop(relukit::relu_derivative(x, o)),
            inplace,
        )
    })
}

unsafe extern "C" fn backward_loop<T: Float>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: registered for (grad_output, x) -> grad_input of type T.
    quietly(|| unsafe {
        binary::<T, T, T>(args, dims, steps, |g, x, o| {
            drop(relukit::relu_backward(g, x, o))
        })
    })
}

/// The float types the loops run on, with their NaN.
pub trait Real: Float {
    const NAN: Self;
}
impl Real for f16 {
    const NAN: Self = f16::NAN;
}
impl Real for f32 {
    const NAN: Self = f32::NAN;
}
impl Real for f64 {
    const NAN: Self = f64::NAN;
}

/// Whether `negative_slope` is finite in the compute type of `T` (`1e39` is not, for
/// float32 and float16). relukit checks the slope before the lengths, so a call on
/// empty slices answers exactly that.
fn slope_ok<T: Float>(negative_slope: f64) -> bool {
    relukit::leaky_relu::<T>(&[], negative_slope, &mut []).is_ok()
}

/// An element whose slope is not finite: NaN, and NumPy's "invalid value" flag raised
/// after the loop (a RuntimeWarning, or FloatingPointError under `np.errstate`), the
/// way `np.sqrt(-1)` reports. `relukit.leaky_relu` checks slopes before and raises.
fn raise_invalid() {
    let (a, b) = (
        std::hint::black_box(f64::INFINITY),
        std::hint::black_box(f64::INFINITY),
    );
    std::hint::black_box(a - b);
}

/// The slope operand of a run, when it is one value for the whole run (the usual
/// broadcast scalar) that is finite in the compute type: then the run goes to the
/// kernels; otherwise (an array of slopes, or a non-finite one) it goes element by
/// element.
///
/// # Safety
/// `slope` is the float64 operand of a run of `n` elements with byte stride `step`.
unsafe fn constant_slope<T: Float>(n: usize, slope: *const c_char, step: isize) -> Option<f64> {
    // SAFETY: the operand holds at least one element when n > 0.
    let s = (n > 0 && step == 0).then(|| unsafe { slope.cast::<f64>().read_unaligned() })?;
    slope_ok::<T>(s).then_some(s)
}

unsafe extern "C" fn leaky_loop<T: Real>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: as the loop's.
    if quietly(|| unsafe { leaky_run::<T>(args, dims, steps) }) {
        raise_invalid();
    }
}

/// The body of [`leaky_loop`]; returns whether a slope was not finite.
///
/// # Safety
/// NumPy's arguments to a (x, slope) -> out loop of types (T, f64) -> T.
unsafe fn leaky_run<T: Real>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
) -> bool {
    // SAFETY: NumPy passes three operands: x, slope, out.
    let (n, slope, slope_step) = unsafe { (*dims as usize, *args.add(1), *steps.add(1)) };
    // SAFETY: as above.
    if let Some(s) = unsafe { constant_slope::<T>(n, slope, slope_step) } {
        // SAFETY: NumPy passes three operand pointers and strides.
        let (mut args2, mut steps2) = unsafe { ([*args, *args.add(2)], [*steps, *steps.add(2)]) };
        // SAFETY: NumPy's operands less the constant slope.
        unsafe {
            unary::<T>(
                args2.as_mut_ptr(),
                dims,
                steps2.as_mut_ptr(),
                |x, o| drop(relukit::leaky_relu(x, s, o)),
                |d| drop(relukit::leaky_relu_inplace(d, s)),
            )
        };
        return false;
    }
    let mut invalid = false;
    for i in 0..n as isize {
        // SAFETY: element i of each operand is in bounds.
        unsafe {
            let x = (*args).offset(i * *steps).cast::<T>().read_unaligned();
            let s = slope.offset(i * slope_step).cast::<f64>().read_unaligned();
            let value = if slope_ok::<T>(s) {
                reference::leaky_relu(x, s)
            } else {
                invalid = true;
                T::NAN
            };
            (*args.add(2))
                .offset(i * *steps.add(2))
                .cast::<T>()
                .write_unaligned(value);
        }
    }
    invalid
}

unsafe extern "C" fn leaky_backward_loop<T: Real>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: as the loop's.
    if quietly(|| unsafe { leaky_backward_run::<T>(args, dims, steps) }) {
        raise_invalid();
    }
}

/// The body of [`leaky_backward_loop`]; returns whether a slope was not finite.
///
/// # Safety
/// NumPy's arguments to a (grad, x, slope) -> out loop of types (T, T, f64) -> T.
unsafe fn leaky_backward_run<T: Real>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
) -> bool {
    // SAFETY: NumPy passes four operands: grad_output, x, slope, out.
    let (n, slope, slope_step) = unsafe { (*dims as usize, *args.add(2), *steps.add(2)) };
    // SAFETY: as above.
    if let Some(s) = unsafe { constant_slope::<T>(n, slope, slope_step) } {
        // SAFETY: NumPy passes four operand pointers and strides.
        let (mut args3, mut steps3) = unsafe {
            (
                [*args, *args.add(1), *args.add(3)],
                [*steps, *steps.add(1), *steps.add(3)],
            )
        };
        // SAFETY: NumPy's operands less the constant slope.
        unsafe {
            binary::<T, T, T>(args3.as_mut_ptr(), dims, steps3.as_mut_ptr(), |g, x, o| {
                drop(relukit::leaky_relu_backward(g, x, s, o))
            })
        };
        return false;
    }
    let mut invalid = false;
    for i in 0..n as isize {
        // SAFETY: element i of each of the four operands is in bounds.
        unsafe {
            let g = (*args).offset(i * *steps).cast::<T>().read_unaligned();
            let x = (*args.add(1))
                .offset(i * *steps.add(1))
                .cast::<T>()
                .read_unaligned();
            let s = slope.offset(i * slope_step).cast::<f64>().read_unaligned();
            let value = if slope_ok::<T>(s) {
                reference::leaky_relu_backward(g, x, s)
            } else {
                invalid = true;
                T::NAN
            };
            (*args.add(3))
                .offset(i * *steps.add(3))
                .cast::<T>()
                .write_unaligned(value);
        }
    }
    invalid
}

// ---- building the ufuncs ----

/// One inner loop: the function and, per operand, NumPy's type number and the size of
/// the Rust type the function reads or writes there.
struct Spec {
    function: Loop,
    operands: Vec<(NPY_TYPES, usize)>,
}

/// A loop whose `operands` operands all have NumPy type `npy` and Rust type `T`: the
/// type the loop was instantiated with, so its size is what the loop really touches.
fn same<T>(function: Loop, npy: NPY_TYPES, operands: usize) -> Spec {
    Spec {
        function,
        operands: vec![(npy, size_of::<T>()); operands],
    }
}

/// A Leaky ReLU loop: data of type `T` (`npy`), a float64 slope, then the output.
fn with_slope<T>(function: Loop, npy: NPY_TYPES, data_operands: usize) -> Spec {
    let mut operands = vec![(npy, size_of::<T>()); data_operands];
    operands.push((NPY_DOUBLE, size_of::<f64>()));
    operands.push((npy, size_of::<T>()));
    Spec { function, operands }
}

/// Per ufunc, per loop, the item sizes of the Rust types (checked by the tests against
/// NumPy's dtypes, so that a loop never reads or writes past an element).
static ITEM_SIZES: Mutex<Vec<(&'static str, Vec<usize>)>> = Mutex::new(Vec::new());

/// `[(ufunc name, [item size of each operand of each loop, in registration order])]`.
#[pyfunction]
pub fn _loop_item_sizes() -> Vec<(&'static str, Vec<usize>)> {
    ITEM_SIZES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// Creates a ufunc from loops; the tables are leaked, since NumPy keeps pointers to
/// them for the life of the process.
fn make_ufunc(
    py: Python<'_>,
    name: &'static CStr,
    doc: &'static CStr,
    nin: c_int,
    loops: Vec<Spec>,
) -> PyResult<Py<PyAny>> {
    let ntypes = loops.len() as c_int;
    let funcs: &'static mut [PyUFuncGenericFunction] = loops
        .iter()
        .map(|spec| Some(spec.function))
        .collect::<Vec<_>>()
        .leak();
    let data: &'static mut [*mut c_void] = vec![ptr::null_mut(); loops.len()].leak();
    let types: &'static mut [c_char] = loops
        .iter()
        .flat_map(|spec| spec.operands.iter().map(|&(t, _)| t as c_char))
        .collect::<Vec<_>>()
        .leak();
    ITEM_SIZES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push((
            name.to_str().unwrap_or("?"),
            loops
                .iter()
                .flat_map(|spec| spec.operands.iter().map(|&(_, size)| size))
                .collect(),
        ));
    // SAFETY: the tables live forever; name and doc are static C strings; NumPy's
    // ufunc API is loaded by the numpy crate on first use.
    let ufunc = unsafe {
        PY_UFUNC_API.PyUFunc_FromFuncAndData(
            py,
            funcs.as_mut_ptr(),
            data.as_mut_ptr(),
            types.as_mut_ptr(),
            ntypes,
            nin,
            1,
            -1, // PyUFunc_None: no identity
            name.as_ptr(),
            doc.as_ptr(),
            0,
        )
    };
    // SAFETY: a new reference or NULL with a Python error set.
    unsafe { Bound::from_owned_ptr_or_err(py, ufunc) }.map(Bound::unbind)
}

use NPY_TYPES::*;

/// The ufunc loops of `relu`: booleans and unsigned integers (a copy), signed integers,
/// and the three float types. Integer loops use C's types (`long` is 4 bytes on
/// Windows), as NumPy's type numbers do.
pub fn relu(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        same::<u8>(identity_loop::<u8>, NPY_BOOL, 2),
        same::<c_schar>(relu_loop::<c_schar>, NPY_BYTE, 2),
        same::<c_uchar>(identity_loop::<c_uchar>, NPY_UBYTE, 2),
        same::<c_short>(relu_loop::<c_short>, NPY_SHORT, 2),
        same::<c_ushort>(identity_loop::<c_ushort>, NPY_USHORT, 2),
        same::<c_int>(relu_loop::<c_int>, NPY_INT, 2),
        same::<c_uint>(identity_loop::<c_uint>, NPY_UINT, 2),
        same::<c_long>(relu_loop::<c_long>, NPY_LONG, 2),
        same::<c_ulong>(identity_loop::<c_ulong>, NPY_ULONG, 2),
        same::<c_longlong>(relu_loop::<c_longlong>, NPY_LONGLONG, 2),
        same::<c_ulonglong>(identity_loop::<c_ulonglong>, NPY_ULONGLONG, 2),
        same::<f16>(relu_loop::<f16>, NPY_HALF, 2),
        same::<f32>(relu_loop::<f32>, NPY_FLOAT, 2),
        same::<f64>(relu_loop::<f64>, NPY_DOUBLE, 2),
    ];
    make_ufunc(py, c"relu", c"relu(x, /, out=None, *, where=True, ...)\n\nReLU, max(0, x): x for x > 0, +0 otherwise (also for -0.0 and -inf); NaN stays NaN, bits unchanged.", 1, loops)
}

pub fn relu_derivative(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        same::<f16>(derivative_loop::<f16>, NPY_HALF, 2),
        same::<f32>(derivative_loop::<f32>, NPY_FLOAT, 2),
        same::<f64>(derivative_loop::<f64>, NPY_DOUBLE, 2),
    ];
    make_ufunc(py, c"relu_derivative", c"relu_derivative(x, /, out=None, *, where=True, ...)\n\n1 for x > 0, 0 for x <= 0 (the gradient at 0 is 0), NaN stays NaN.", 1, loops)
}

pub fn relu_backward(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        same::<f16>(backward_loop::<f16>, NPY_HALF, 3),
        same::<f32>(backward_loop::<f32>, NPY_FLOAT, 3),
        same::<f64>(backward_loop::<f64>, NPY_DOUBLE, 3),
    ];
    make_ufunc(py, c"relu_backward", c"relu_backward(grad_output, x, /, out=None, *, where=True, ...)\n\ngrad_output where x > 0, +0 where x <= 0 (a select: inf or NaN gradients there give 0), NaN where x is NaN.", 2, loops)
}

pub fn leaky_relu(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        with_slope::<f16>(leaky_loop::<f16>, NPY_HALF, 1),
        with_slope::<f32>(leaky_loop::<f32>, NPY_FLOAT, 1),
        with_slope::<f64>(leaky_loop::<f64>, NPY_DOUBLE, 1),
    ];
    make_ufunc(py, c"leaky_relu_ufunc", c"leaky_relu_ufunc(x, negative_slope, /, out=None, *, where=True, ...)\n\nLeaky ReLU with the slope as an operand (float64, broadcast). A slope that is not finite in the compute type gives NaN and NumPy's invalid-value warning; relukit.leaky_relu raises ValueError instead.", 2, loops)
}

pub fn leaky_relu_backward(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        with_slope::<f16>(leaky_backward_loop::<f16>, NPY_HALF, 2),
        with_slope::<f32>(leaky_backward_loop::<f32>, NPY_FLOAT, 2),
        with_slope::<f64>(leaky_backward_loop::<f64>, NPY_DOUBLE, 2),
    ];
    make_ufunc(py, c"leaky_relu_backward_ufunc", c"leaky_relu_backward_ufunc(grad_output, x, negative_slope, /, out=None, *, where=True, ...)\n\nLeaky ReLU backward with the slope as an operand. A slope that is not finite in the compute type gives NaN and NumPy's invalid-value warning; relukit.leaky_relu_backward raises ValueError instead.", 3, loops)
}
