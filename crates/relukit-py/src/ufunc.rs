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

use half::{bf16, f16};
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
            return pool::run::<T, _>(n, || inplace(data));
        }
        // SAFETY: NumPy copies operands that overlap partially, so distinct pointers
        // mean distinct memory; both hold n aligned elements.
        let (x, out) = unsafe {
            (
                std::slice::from_raw_parts(x.cast::<T>(), n),
                std::slice::from_raw_parts_mut(out.cast::<T>(), n),
            )
        };
        return pool::run::<T, _>(n, || kernel(x, out));
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
        return pool::run::<T, _>(n, || kernel(a, b, out));
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

/// The float types the loops run on, with their NaN.
pub trait Real: Float + numpy::Element {
    const NAN: Self;
}
impl Real for f16 {
    const NAN: Self = f16::NAN;
}
impl Real for bf16 {
    const NAN: Self = bf16::NAN;
}
impl Real for f32 {
    const NAN: Self = f32::NAN;
}
impl Real for f64 {
    const NAN: Self = f64::NAN;
}

/// Defines a 1-in 1-out loop: `$run(x, out)` on contiguous runs, `$inplace(data)` when
/// the output is the input.
macro_rules! unary_loop {
    ($name:ident<$t:ident: $bound:path>, $run:expr, $inplace:expr) => {
        unsafe extern "C" fn $name<$t: $bound>(
            args: *mut *mut c_char,
            dims: *mut npy_intp,
            steps: *mut npy_intp,
            _: *mut c_void,
        ) {
            // SAFETY: registered for 1-in 1-out operands of type T.
            quietly(|| unsafe { unary::<$t>(args, dims, steps, $run, $inplace) })
        }
    };
}

/// Defines a 2-in 1-out loop (`grad_output, x -> grad_input`): `$run(g, x, out)`.
macro_rules! binary_loop {
    ($name:ident<$t:ident: $bound:path>, $run:expr) => {
        unsafe extern "C" fn $name<$t: $bound>(
            args: *mut *mut c_char,
            dims: *mut npy_intp,
            steps: *mut npy_intp,
            _: *mut c_void,
        ) {
            // SAFETY: registered for 2-in 1-out operands of type T.
            quietly(|| unsafe { binary::<$t, $t, $t>(args, dims, steps, $run) })
        }
    };
}

/// The slice functions' results are `Ok` here: the loops' lengths always match.
fn done(_: Result<(), relukit::Error>) {}

/// A derivative in place: the slice functions take a separate output.
fn through_copy<T: Copy>(data: &mut [T], f: impl Fn(&[T], &mut [T]) -> Result<(), relukit::Error>) {
    let copy = data.to_vec();
    done(f(&copy, data));
}

unary_loop!(relu_loop<T: Element>, |x, o| done(relukit::relu(x, o)), relukit::relu_inplace);
unary_loop!(
    derivative_loop<T: Float>,
    |x, o| done(relukit::relu_derivative(x, o)),
    |d| through_copy(d, relukit::relu_derivative)
);
binary_loop!(backward_loop<T: Float>, |g, x, o| done(relukit::relu_backward(g, x, o)));
unary_loop!(relu6_loop<T: Float>, |x, o| done(relukit::relu6(x, o)), relukit::relu6_inplace);
unary_loop!(
    relu6_derivative_loop<T: Float>,
    |x, o| done(relukit::relu6_derivative(x, o)),
    |d| through_copy(d, relukit::relu6_derivative)
);
binary_loop!(relu6_backward_loop<T: Float>, |g, x, o| done(relukit::relu6_backward(g, x, o)));

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

/// An operation with float64 parameter operands (a slope, a ceiling, a threshold and
/// its value): the ufunc's operands are the `INPUTS` data arrays, then the `PARAMS`
/// parameters, then the output.
pub trait WithParams<T: Real> {
    /// Data operands: 1 (`x`) or 2 (`grad_output, x`).
    const INPUTS: usize;
    /// Parameter operands: 1 or 2.
    const PARAMS: usize;
    /// The slice function on a run with constant parameters (`b` is `a` for one input);
    /// its parameter check comes first, so a call on empty slices answers whether the
    /// parameters are valid, with relukit's message.
    fn run(p: [f64; 2], a: &[T], b: &[T], out: &mut [T]) -> Result<(), relukit::Error>;
    /// The same in place (`data` is `a`; one input only).
    fn run_inplace(p: [f64; 2], data: &mut [T]) -> Result<(), relukit::Error> {
        let copy = data.to_vec();
        Self::run(p, &copy, &copy, data)
    }
    /// One element, for valid parameters: the reference.
    fn element(p: [f64; 2], a: T, b: T) -> T;
}

/// Declares operations with parameters: name, inputs, parameters, run, in place, element.
macro_rules! with_params {
    ($($op:ident: $inputs:literal, $params:literal,
       |$p:ident, $a:ident, $b:ident, $o:ident| $run:expr,
       $(inplace |$pi:ident, $d:ident| $inplace:expr,)?
       element |$pe:ident, $ea:ident, $eb:ident| $element:expr;)*) => {$(
        pub struct $op;
        impl<T: Real> WithParams<T> for $op {
            const INPUTS: usize = $inputs;
            const PARAMS: usize = $params;
            fn run($p: [f64; 2], $a: &[T], $b: &[T], $o: &mut [T]) -> Result<(), relukit::Error> {
                let _ = $b;
                $run
            }
            $(fn run_inplace($pi: [f64; 2], $d: &mut [T]) -> Result<(), relukit::Error> {
                $inplace
            })?
            fn element($pe: [f64; 2], $ea: T, $eb: T) -> T {
                let _ = $eb;
                $element
            }
        }
    )*};
}

with_params! {
    Leaky: 1, 1, |p, a, b, o| relukit::leaky_relu(a, p[0], o),
        inplace |p, d| relukit::leaky_relu_inplace(d, p[0]),
        element |p, a, b| reference::leaky_relu(a, p[0]);
    LeakyDerivative: 1, 1, |p, a, b, o| relukit::leaky_relu_derivative(a, p[0], o),
        element |p, a, b| reference::leaky_relu_derivative(a, p[0]);
    LeakyBackward: 2, 1, |p, a, b, o| relukit::leaky_relu_backward(a, b, p[0], o),
        element |p, a, b| reference::leaky_relu_backward(a, b, p[0]);
    Clipped: 1, 1, |p, a, b, o| relukit::clipped_relu(a, p[0], o),
        inplace |p, d| relukit::clipped_relu_inplace(d, p[0]),
        element |p, a, b| reference::clipped_relu(a, p[0]);
    ClippedDerivative: 1, 1, |p, a, b, o| relukit::clipped_relu_derivative(a, p[0], o),
        element |p, a, b| reference::clipped_relu_derivative(a, p[0]);
    ClippedBackward: 2, 1, |p, a, b, o| relukit::clipped_relu_backward(a, b, p[0], o),
        element |p, a, b| reference::clipped_relu_backward(a, b, p[0]);
    Threshold: 1, 2, |p, a, b, o| relukit::threshold(a, p[0], p[1], o),
        inplace |p, d| relukit::threshold_inplace(d, p[0], p[1]),
        element |p, a, b| reference::threshold(a, p[0], p[1]);
    ThresholdDerivative: 1, 1, |p, a, b, o| relukit::threshold_derivative(a, p[0], o),
        element |p, a, b| reference::threshold_derivative(a, p[0]);
    ThresholdBackward: 2, 1, |p, a, b, o| relukit::threshold_backward(a, b, p[0], o),
        element |p, a, b| reference::threshold_backward(a, b, p[0]);
}

/// Whether parameters are valid for `Op` on `T` (a call on empty slices).
fn valid<T: Real, Op: WithParams<T>>(p: [f64; 2]) -> bool {
    Op::run(p, &[], &[], &mut []).is_ok()
}

/// An element whose parameters are not valid: NaN, and NumPy's "invalid value" flag
/// raised after the loop (a RuntimeWarning, or FloatingPointError under `np.errstate`),
/// the way `np.sqrt(-1)` reports. The Python functions check parameters before and raise.
fn raise_invalid() {
    let (a, b) = (
        std::hint::black_box(f64::INFINITY),
        std::hint::black_box(f64::INFINITY),
    );
    std::hint::black_box(a - b);
}

unsafe extern "C" fn param_loop<T: Real, Op: WithParams<T>>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
    _: *mut c_void,
) {
    // SAFETY: registered for Op's operands of type T and float64.
    if quietly(|| unsafe { param_run::<T, Op>(args, dims, steps) }) {
        raise_invalid();
    }
}

/// The body of [`param_loop`]: runs with constant, valid parameters (the usual broadcast
/// scalars) go to the kernels; others go element by element, an invalid parameter giving
/// NaN. Returns whether a parameter was invalid.
///
/// # Safety
/// NumPy's arguments to a loop of `Op`'s operands: `INPUTS` of type T, `PARAMS` of type
/// float64, an output of type T.
unsafe fn param_run<T: Real, Op: WithParams<T>>(
    args: *mut *mut c_char,
    dims: *mut npy_intp,
    steps: *mut npy_intp,
) -> bool {
    let (k, p) = (Op::INPUTS, Op::PARAMS);
    // SAFETY: NumPy passes k + p + 1 operand pointers and strides, and one length.
    let (n, operand, step) = unsafe {
        (
            *dims as usize,
            |j: usize| *args.add(j),
            |j: usize| *steps.add(j),
        )
    };
    // SAFETY: element i of parameter j is in bounds for i < n.
    let param = |j: usize, i: usize| unsafe {
        operand(k + j)
            .offset(i as isize * step(k + j))
            .cast::<f64>()
            .read_unaligned()
    };
    let params = |i: usize| [param(0, i), if p > 1 { param(1, i) } else { 0.0 }];
    if n > 0 && (0..p).all(|j| step(k + j) == 0) && valid::<T, Op>(params(0)) {
        let ps = params(0);
        let (out, out_step) = (operand(k + p), step(k + p));
        if k == 1 {
            let (mut args2, mut steps2) = (
                [operand(0), out],
                [step(0) as npy_intp, out_step as npy_intp],
            );
            // SAFETY: NumPy's operands less the constant parameters.
            unsafe {
                unary::<T>(
                    args2.as_mut_ptr(),
                    dims,
                    steps2.as_mut_ptr(),
                    |x, o| done(Op::run(ps, x, x, o)),
                    |d| done(Op::run_inplace(ps, d)),
                )
            };
        } else {
            let (mut args3, mut steps3) = (
                [operand(0), operand(1), out],
                [
                    step(0) as npy_intp,
                    step(1) as npy_intp,
                    out_step as npy_intp,
                ],
            );
            // SAFETY: NumPy's operands less the constant parameters.
            unsafe {
                binary::<T, T, T>(args3.as_mut_ptr(), dims, steps3.as_mut_ptr(), |a, b, o| {
                    done(Op::run(ps, a, b, o))
                })
            };
        }
        return false;
    }
    let mut invalid = false;
    for i in 0..n {
        // SAFETY: element i of each data operand and of the output is in bounds.
        unsafe {
            let read = |j: usize| {
                operand(j)
                    .offset(i as isize * step(j))
                    .cast::<T>()
                    .read_unaligned()
            };
            let a = read(0);
            let b = if k > 1 { read(1) } else { a };
            let ps = params(i);
            let value = if valid::<T, Op>(ps) {
                Op::element(ps, a, b)
            } else {
                invalid = true;
                T::NAN
            };
            operand(k + p)
                .offset(i as isize * step(k + p))
                .cast::<T>()
                .write_unaligned(value);
        }
    }
    invalid
}

/// Checks the parameters of ufunc `name` on `dtype` (each row of `parameters` is one
/// set), raising relukit's `ValueError` for the first invalid one: what the Python
/// functions call before the ufunc, so that a bad parameter is an error, not a NaN.
#[pyfunction]
pub fn _check_parameters(
    name: &str,
    dtype: &Bound<'_, numpy::PyArrayDescr>,
    parameters: Vec<Vec<f64>>,
) -> PyResult<()> {
    fn check<T: Real, Op: WithParams<T>>(rows: &[Vec<f64>]) -> Result<(), relukit::Error> {
        for row in rows {
            let p = [
                row.first().copied().unwrap_or(0.0),
                row.get(1).copied().unwrap_or(0.0),
            ];
            Op::run(p, &[], &[], &mut [])?;
        }
        Ok(())
    }
    fn by_op<T: Real>(name: &str, rows: &[Vec<f64>]) -> PyResult<Result<(), relukit::Error>> {
        Ok(match name {
            "leaky_relu_ufunc" => check::<T, Leaky>(rows),
            "leaky_relu_derivative_ufunc" => check::<T, LeakyDerivative>(rows),
            "leaky_relu_backward_ufunc" => check::<T, LeakyBackward>(rows),
            "clipped_relu_ufunc" => check::<T, Clipped>(rows),
            "clipped_relu_derivative_ufunc" => check::<T, ClippedDerivative>(rows),
            "clipped_relu_backward_ufunc" => check::<T, ClippedBackward>(rows),
            "threshold_ufunc" => check::<T, Threshold>(rows),
            "threshold_derivative_ufunc" => check::<T, ThresholdDerivative>(rows),
            "threshold_backward_ufunc" => check::<T, ThresholdBackward>(rows),
            _ => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "no ufunc with parameters is named {name:?}"
                )));
            }
        })
    }
    use numpy::PyArrayDescrMethods;
    let result = match (dtype.kind(), dtype.itemsize()) {
        (b'f', 2) => by_op::<f16>(name, &parameters)?,
        (_, 2) => by_op::<bf16>(name, &parameters)?,
        (b'f', 4) => by_op::<f32>(name, &parameters)?,
        _ => by_op::<f64>(name, &parameters)?,
    };
    result.map_err(crate::errors::to_py)
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

/// A loop of `Op` with parameters on type `T` (`npy`): its data operands, its float64
/// parameters, then the output.
fn with_params<T: Real, Op: WithParams<T>>(npy: NPY_TYPES) -> Spec {
    let mut operands = vec![(npy, size_of::<T>()); Op::INPUTS];
    operands.extend(std::iter::repeat_n(
        (NPY_DOUBLE, size_of::<f64>()),
        Op::PARAMS,
    ));
    operands.push((npy, size_of::<T>()));
    Spec {
        function: param_loop::<T, Op>,
        operands,
    }
}

/// The three float loops of an operation with parameters.
fn float_params<Op: WithParams<f16> + WithParams<f32> + WithParams<f64>>() -> Vec<Spec> {
    vec![
        with_params::<f16, Op>(NPY_HALF),
        with_params::<f32, Op>(NPY_FLOAT),
        with_params::<f64, Op>(NPY_DOUBLE),
    ]
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

/// Declares the constructors of ufuncs with parameters: name, data operands, doc.
macro_rules! param_ufuncs {
    ($($fn_name:ident, $op:ty, $name:literal, $nin:literal, $doc:literal;)*) => {$(
        pub fn $fn_name(py: Python<'_>) -> PyResult<Py<PyAny>> {
            make_ufunc(py, $name, $doc, $nin, float_params::<$op>())
        }
    )*};
}

param_ufuncs! {
    leaky_relu, Leaky, c"leaky_relu_ufunc", 2,
        c"leaky_relu_ufunc(x, negative_slope, /, out=None, *, where=True, ...)\n\nLeaky ReLU with the slope as an operand (float64, broadcast). A slope that is not finite in the compute type gives NaN and NumPy's invalid-value warning; relukit.leaky_relu raises ValueError instead.";
    leaky_relu_derivative, LeakyDerivative, c"leaky_relu_derivative_ufunc", 2,
        c"leaky_relu_derivative_ufunc(x, negative_slope, /, out=None, *, where=True, ...)\n\n1 for x > 0, the slope for x <= 0, NaN stays NaN. relukit.leaky_relu_derivative checks the slope first.";
    leaky_relu_backward, LeakyBackward, c"leaky_relu_backward_ufunc", 3,
        c"leaky_relu_backward_ufunc(grad_output, x, negative_slope, /, out=None, *, where=True, ...)\n\nLeaky ReLU backward with the slope as an operand. relukit.leaky_relu_backward checks the slope first.";
    clipped_relu, Clipped, c"clipped_relu_ufunc", 2,
        c"clipped_relu_ufunc(x, ceiling, /, out=None, *, where=True, ...)\n\nmin(max(0, x), ceiling), NaN stays NaN. relukit.clipped_relu checks the ceiling first.";
    clipped_relu_derivative, ClippedDerivative, c"clipped_relu_derivative_ufunc", 2,
        c"clipped_relu_derivative_ufunc(x, ceiling, /, out=None, *, where=True, ...)\n\n1 for 0 < x < ceiling, 0 elsewhere, NaN stays NaN.";
    clipped_relu_backward, ClippedBackward, c"clipped_relu_backward_ufunc", 3,
        c"clipped_relu_backward_ufunc(grad_output, x, ceiling, /, out=None, *, where=True, ...)\n\ngrad_output for 0 < x < ceiling, +0 elsewhere (a select), NaN where x is NaN.";
    threshold, Threshold, c"threshold_ufunc", 3,
        c"threshold_ufunc(x, threshold, value, /, out=None, *, where=True, ...)\n\nx where x > threshold (and NaN), value elsewhere. relukit.threshold checks the parameters first.";
    threshold_derivative, ThresholdDerivative, c"threshold_derivative_ufunc", 2,
        c"threshold_derivative_ufunc(x, threshold, /, out=None, *, where=True, ...)\n\n1 where x > threshold, 0 elsewhere, NaN stays NaN.";
    threshold_backward, ThresholdBackward, c"threshold_backward_ufunc", 3,
        c"threshold_backward_ufunc(grad_output, x, threshold, /, out=None, *, where=True, ...)\n\ngrad_output where x > threshold, +0 elsewhere (a select), NaN where x is NaN.";
}

pub fn relu6(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        same::<f16>(relu6_loop::<f16>, NPY_HALF, 2),
        same::<f32>(relu6_loop::<f32>, NPY_FLOAT, 2),
        same::<f64>(relu6_loop::<f64>, NPY_DOUBLE, 2),
    ];
    make_ufunc(py, c"relu6", c"relu6(x, /, out=None, *, where=True, ...)\n\nmin(max(0, x), 6): +0 for x <= 0 (-0.0 too), 6 for x >= 6; NaN stays NaN.", 1, loops)
}

pub fn relu6_derivative(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        same::<f16>(relu6_derivative_loop::<f16>, NPY_HALF, 2),
        same::<f32>(relu6_derivative_loop::<f32>, NPY_FLOAT, 2),
        same::<f64>(relu6_derivative_loop::<f64>, NPY_DOUBLE, 2),
    ];
    make_ufunc(py, c"relu6_derivative", c"relu6_derivative(x, /, out=None, *, where=True, ...)\n\n1 for 0 < x < 6, 0 elsewhere (at both kinks too), NaN stays NaN.", 1, loops)
}

pub fn relu6_backward(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let loops = vec![
        same::<f16>(relu6_backward_loop::<f16>, NPY_HALF, 3),
        same::<f32>(relu6_backward_loop::<f32>, NPY_FLOAT, 3),
        same::<f64>(relu6_backward_loop::<f64>, NPY_DOUBLE, 3),
    ];
    make_ufunc(py, c"relu6_backward", c"relu6_backward(grad_output, x, /, out=None, *, where=True, ...)\n\ngrad_output for 0 < x < 6, +0 elsewhere (a select), NaN where x is NaN.", 2, loops)
}

// ---- bfloat16 (ml_dtypes) ----

/// Registers the bfloat16 loops of every float ufunc for `ml_dtypes.bfloat16`, a user
/// dtype NumPy only knows once ml_dtypes is imported (`relukit/__init__.py` calls this
/// then, when ml_dtypes is installed): bf16 in, bf16 out, the same kernels as the Rust
/// `bf16` slice functions. `ufuncs` maps each ufunc's name to the ufunc object.
/// Registering twice is a no-op.
#[pyfunction]
pub fn _register_bfloat16(ufuncs: &Bound<'_, pyo3::types::PyDict>) -> PyResult<()> {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    if DONE.get().is_some() {
        return Ok(());
    }
    let py = ufuncs.py();
    let bf = {
        use numpy::PyArrayDescrMethods;
        numpy::dtype::<bf16>(py).num()
    };
    let d = NPY_DOUBLE as c_int;
    let loops: Vec<(&str, Loop, Vec<c_int>)> = vec![
        ("relu", relu_loop::<bf16>, vec![bf, bf]),
        ("relu_derivative", derivative_loop::<bf16>, vec![bf, bf]),
        ("relu_backward", backward_loop::<bf16>, vec![bf, bf, bf]),
        ("relu6", relu6_loop::<bf16>, vec![bf, bf]),
        (
            "relu6_derivative",
            relu6_derivative_loop::<bf16>,
            vec![bf, bf],
        ),
        (
            "relu6_backward",
            relu6_backward_loop::<bf16>,
            vec![bf, bf, bf],
        ),
        (
            "leaky_relu_ufunc",
            param_loop::<bf16, Leaky>,
            vec![bf, d, bf],
        ),
        (
            "leaky_relu_derivative_ufunc",
            param_loop::<bf16, LeakyDerivative>,
            vec![bf, d, bf],
        ),
        (
            "leaky_relu_backward_ufunc",
            param_loop::<bf16, LeakyBackward>,
            vec![bf, bf, d, bf],
        ),
        (
            "clipped_relu_ufunc",
            param_loop::<bf16, Clipped>,
            vec![bf, d, bf],
        ),
        (
            "clipped_relu_derivative_ufunc",
            param_loop::<bf16, ClippedDerivative>,
            vec![bf, d, bf],
        ),
        (
            "clipped_relu_backward_ufunc",
            param_loop::<bf16, ClippedBackward>,
            vec![bf, bf, d, bf],
        ),
        (
            "threshold_ufunc",
            param_loop::<bf16, Threshold>,
            vec![bf, d, d, bf],
        ),
        (
            "threshold_derivative_ufunc",
            param_loop::<bf16, ThresholdDerivative>,
            vec![bf, d, bf],
        ),
        (
            "threshold_backward_ufunc",
            param_loop::<bf16, ThresholdBackward>,
            vec![bf, bf, d, bf],
        ),
    ];
    for (name, function, mut types) in loops {
        let ufunc = ufuncs.get_item(name)?.ok_or_else(|| {
            pyo3::exceptions::PyKeyError::new_err(format!("no ufunc named {name:?}"))
        })?;
        // SAFETY: `ufunc` is one of this module's ufuncs (a PyUFuncObject), whose operand
        // count is `types.len()`; NumPy copies `types`; the loop reads and writes its
        // operands as the types listed (bf16 is ml_dtypes' 2-byte layout).
        let status = unsafe {
            PY_UFUNC_API.PyUFunc_RegisterLoopForType(
                py,
                ufunc.as_ptr().cast(),
                bf,
                Some(function),
                types.as_mut_ptr(),
                ptr::null_mut(),
            )
        };
        if status < 0 {
            return Err(PyErr::fetch(py));
        }
    }
    let _ = DONE.set(());
    Ok(())
}
