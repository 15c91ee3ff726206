//! The ufuncs: NumPy's ufunc C API with inner loops that call the relukit kernels.
//!
//! NumPy does the broadcasting, casting, `out=`/`where=`, buffering and the loop over
//! the outer dimensions; each inner loop gets one 1-D run of elements with byte strides.
//! Contiguous, aligned runs go to the kernels directly (in place when the output is the
//! input); other runs are copied through 1024-element buffers in blocks. NumPy releases
//! the interpreter lock around inner loops of non-object dtypes.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

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

/// The slope operand of a run, when it is one finite value for the whole run (the usual
/// broadcast scalar): then the run goes to the kernels; otherwise (an array of slopes,
/// or a non-finite one) it follows the reference element by element.
///
/// # Safety
/// `slope` is the float64 operand of a run of `n` elements with byte stride `step`.
unsafe fn constant_slope(n: usize, slope: *const c_char, step: isize) -> Option<f64> {
    // SAFETY: the operand holds at least one element when n > 0.
    let s = (n > 0 && step == 0).then(|| unsafe { slope.cast::<f64>().read_unaligned() })?;
    s.is_finite().then_some(s)
}

unsafe extern "C" fn leaky_loop<T: Float>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: as the loop's.
    quietly(|| unsafe { leaky_run::<T>(args, dims, steps) })
}

/// The body of [`leaky_loop`].
///
/// # Safety
/// NumPy's arguments to a (x, slope) -> out loop of types (T, f64) -> T.
unsafe fn leaky_run<T: Float>(args: *mut *mut c_char, dims: *mut npy_intp, steps: *mut npy_intp) {
    // SAFETY: NumPy passes three operands: x, slope, out.
    let (n, slope, slope_step) = unsafe { (*dims as usize, *args.add(1), *steps.add(1)) };
    // SAFETY: as above.
    if let Some(s) = unsafe { constant_slope(n, slope, slope_step) } {
        // SAFETY: NumPy passes three operand pointers and strides.
        let (mut args2, mut steps2) = unsafe { ([*args, *args.add(2)], [*steps, *steps.add(2)]) };
        // SAFETY: NumPy's operands less the constant slope.
        return unsafe {
            unary::<T>(
                args2.as_mut_ptr(),
                dims,
                steps2.as_mut_ptr(),
                |x, o| drop(relukit::leaky_relu(x, s, o)),
                |d| drop(relukit::leaky_relu_inplace(d, s)),
            )
        };
    }
    for i in 0..n as isize {
        // SAFETY: element i of each operand is in bounds.
        unsafe {
            let x = (*args).offset(i * *steps).cast::<T>().read_unaligned();
            let s = slope.offset(i * slope_step).cast::<f64>().read_unaligned();
            (*args.add(2))
                .offset(i * *steps.add(2))
                .cast::<T>()
                .write_unaligned(reference::leaky_relu(x, s));
        }
    }
}

unsafe extern "C" fn leaky_backward_loop<T: Float>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: as the loop's.
    quietly(|| unsafe { leaky_backward_run::<T>(args, dims, steps) })
}

/// The body of [`leaky_backward_loop`].
///
/// # Safety
/// NumPy's arguments to a (grad, x, slope) -> out loop of types (T, T, f64) -> T.
unsafe fn leaky_backward_run<T: Float>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
) {
    // SAFETY: NumPy passes four operands: grad_output, x, slope, out.
    let (n, slope, slope_step) = unsafe { (*dims as usize, *args.add(2), *steps.add(2)) };
    // SAFETY: as above.
    if let Some(s) = unsafe { constant_slope(n, slope, slope_step) } {
        // SAFETY: NumPy passes four operand pointers and strides.
        let (mut args3, mut steps3) = unsafe {
            (
                [*args, *args.add(1), *args.add(3)],
                [*steps, *steps.add(1), *steps.add(3)],
            )
        };
        // SAFETY: NumPy's operands less the constant slope.
        return unsafe {
            binary::<T, T, T>(args3.as_mut_ptr(), dims, steps3.as_mut_ptr(), |g, x, o| {
                drop(relukit::leaky_relu_backward(g, x, s, o))
            })
        };
    }
    for i in 0..n as isize {
        // SAFETY: element i of each of the four operands is in bounds.
        unsafe {
            let g = (*args).offset(i * *steps).cast::<T>().read_unaligned();
            let x = (*args.add(1))
                .offset(i * *steps.add(1))
                .cast::<T>()
                .read_unaligned();
            let s = slope.offset(i * slope_step).cast::<f64>().read_unaligned();
            (*args.add(3))
                .offset(i * *steps.add(3))
                .cast::<T>()
                .write_unaligned(reference::leaky_relu_backward(g, x, s));
        }
    }
}

// ---- building the ufuncs ----

/// Creates a ufunc from loops and their operand type numbers; the tables are leaked,
/// since NumPy keeps pointers to them for the life of the process.
fn make_ufunc(
    py: Python<'_>,
    name: &'static CStr,
    doc: &'static CStr,
    nin: c_int,
    loops: Vec<(Loop, Vec<NPY_TYPES>)>,
) -> PyResult<Py<PyAny>> {
    let ntypes = loops.len() as c_int;
    let funcs: &'static mut [PyUFuncGenericFunction] = loops
        .iter()
        .map(|(f, _)| Some(*f))
        .collect::<Vec<_>>()
        .leak();
    let data: &'static mut [*mut c_void] = vec![ptr::null_mut(); loops.len()].leak();
    let types: &'static mut [c_char] = loops
        .iter()
        .flat_map(|(_, t)| t.iter().map(|&t| t as c_char))
        .collect::<Vec<_>>()
        .leak();
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
/// and the three float types.
pub fn relu(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops: Vec<(Loop, Vec<NPY_TYPES>)> = vec![
        (identity_loop::<u8>, vec![NPY_BOOL, NPY_BOOL]),
        (relu_loop::<i8>, vec![NPY_BYTE, NPY_BYTE]),
        (identity_loop::<u8>, vec![NPY_UBYTE, NPY_UBYTE]),
        (relu_loop::<i16>, vec![NPY_SHORT, NPY_SHORT]),
        (identity_loop::<u16>, vec![NPY_USHORT, NPY_USHORT]),
        (relu_loop::<i32>, vec![NPY_INT, NPY_INT]),
        (identity_loop::<u32>, vec![NPY_UINT, NPY_UINT]),
        (relu_loop::<i64>, vec![NPY_LONG, NPY_LONG]),
        (identity_loop::<u64>, vec![NPY_ULONG, NPY_ULONG]),
        (relu_loop::<i64>, vec![NPY_LONGLONG, NPY_LONGLONG]),
        (identity_loop::<u64>, vec![NPY_ULONGLONG, NPY_ULONGLONG]),
        (relu_loop::<f16>, vec![NPY_HALF, NPY_HALF]),
        (relu_loop::<f32>, vec![NPY_FLOAT, NPY_FLOAT]),
        (relu_loop::<f64>, vec![NPY_DOUBLE, NPY_DOUBLE]),
    ];
    make_ufunc(py, c"relu", c"relu(x, /, out=None, *, where=True, ...)\n\nReLU, max(0, x): x for x > 0, +0 otherwise (also for -0.0 and -inf); NaN stays NaN, bits unchanged.", 1, loops)
}

pub fn relu_derivative(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops: Vec<(Loop, Vec<NPY_TYPES>)> = vec![
        (derivative_loop::<f16>, vec![NPY_HALF, NPY_HALF]),
        (derivative_loop::<f32>, vec![NPY_FLOAT, NPY_FLOAT]),
        (derivative_loop::<f64>, vec![NPY_DOUBLE, NPY_DOUBLE]),
    ];
    make_ufunc(py, c"relu_derivative", c"relu_derivative(x, /, out=None, *, where=True, ...)\n\n1 for x > 0, 0 for x <= 0 (the gradient at 0 is 0), NaN stays NaN.", 1, loops)
}

pub fn relu_backward(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops: Vec<(Loop, Vec<NPY_TYPES>)> = vec![
        (backward_loop::<f16>, vec![NPY_HALF, NPY_HALF, NPY_HALF]),
        (backward_loop::<f32>, vec![NPY_FLOAT, NPY_FLOAT, NPY_FLOAT]),
        (
            backward_loop::<f64>,
            vec![NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE],
        ),
    ];
    make_ufunc(py, c"relu_backward", c"relu_backward(grad_output, x, /, out=None, *, where=True, ...)\n\ngrad_output where x > 0, +0 where x <= 0 (a select: inf or NaN gradients there give 0), NaN where x is NaN.", 2, loops)
}

pub fn leaky_relu(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops: Vec<(Loop, Vec<NPY_TYPES>)> = vec![
        (leaky_loop::<f16>, vec![NPY_HALF, NPY_DOUBLE, NPY_HALF]),
        (leaky_loop::<f32>, vec![NPY_FLOAT, NPY_DOUBLE, NPY_FLOAT]),
        (leaky_loop::<f64>, vec![NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE]),
    ];
    make_ufunc(py, c"leaky_relu_ufunc", c"leaky_relu_ufunc(x, negative_slope, /, out=None, *, where=True, ...)\n\nLeaky ReLU with the slope as an operand (float64, broadcast). relukit.leaky_relu checks the slope first.", 2, loops)
}

pub fn leaky_relu_backward(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops: Vec<(Loop, Vec<NPY_TYPES>)> = vec![
        (
            leaky_backward_loop::<f16>,
            vec![NPY_HALF, NPY_HALF, NPY_DOUBLE, NPY_HALF],
        ),
        (
            leaky_backward_loop::<f32>,
            vec![NPY_FLOAT, NPY_FLOAT, NPY_DOUBLE, NPY_FLOAT],
        ),
        (
            leaky_backward_loop::<f64>,
            vec![NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE, NPY_DOUBLE],
        ),
    ];
    make_ufunc(py, c"leaky_relu_backward_ufunc", c"leaky_relu_backward_ufunc(grad_output, x, negative_slope, /, out=None, *, where=True, ...)\n\nLeaky ReLU backward with the slope as an operand. relukit.leaky_relu_backward checks the slope first.", 3, loops)
}
