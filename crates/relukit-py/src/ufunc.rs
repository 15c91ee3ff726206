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
use relukit::activation;
use relukit::{Element, Float};

use crate::family::{self, Exposed};

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

/// The slice functions' results are `Ok` here: the loops' lengths always match.
fn done(_: Result<(), relukit::Error>) {}

unary_loop!(relu_loop<T: Element>, |x, o| done(relukit::relu(x, o)), relukit::relu_inplace);

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
    /// Parameter operands: 0, 1 or 2.
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

/// The forward pass of an activation as a ufunc.
pub struct Forward<A>(std::marker::PhantomData<A>);
/// Its derivative.
pub struct Derivative<A>(std::marker::PhantomData<A>);
/// Its backward pass.
pub struct Backward<A>(std::marker::PhantomData<A>);

impl<T: Real, A: Exposed> WithParams<T> for Forward<A> {
    const INPUTS: usize = 1;
    const PARAMS: usize = A::PARAMETERS.len();
    fn run(p: [f64; 2], a: &[T], _: &[T], out: &mut [T]) -> Result<(), relukit::Error> {
        activation::forward(&A::from_parameters(p), a, out)
    }
    fn run_inplace(p: [f64; 2], data: &mut [T]) -> Result<(), relukit::Error> {
        activation::forward_inplace(&A::from_parameters(p), data)
    }
    fn element(p: [f64; 2], a: T, _: T) -> T {
        A::from_parameters(p).reference(a, 0)
    }
}

impl<T: Real, A: Exposed> WithParams<T> for Derivative<A> {
    const INPUTS: usize = 1;
    const PARAMS: usize = A::GRADIENT_PARAMETERS;
    fn run(p: [f64; 2], a: &[T], _: &[T], out: &mut [T]) -> Result<(), relukit::Error> {
        activation::derivative(&A::from_parameters(p), a, out)
    }
    fn element(p: [f64; 2], a: T, _: T) -> T {
        A::from_parameters(p).reference_derivative(a, 0)
    }
}

impl<T: Real, A: Exposed> WithParams<T> for Backward<A> {
    const INPUTS: usize = 2;
    const PARAMS: usize = A::GRADIENT_PARAMETERS;
    fn run(p: [f64; 2], a: &[T], b: &[T], out: &mut [T]) -> Result<(), relukit::Error> {
        activation::backward(&A::from_parameters(p), a, b, out)
    }
    fn element(p: [f64; 2], a: T, b: T) -> T {
        A::from_parameters(p).reference_backward(a, b, 0)
    }
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
    let params = |i: usize| {
        [
            if p > 0 { param(0, i) } else { 0.0 },
            if p > 1 { param(1, i) } else { 0.0 },
        ]
    };
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
    let ufunc = family::ufuncs()
        .iter()
        .find(|u| u.name == name && u.params > 0)
        .ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!(
                "no ufunc with parameters is named {name:?}"
            ))
        })?;
    use numpy::PyArrayDescrMethods;
    let dtype = match (dtype.kind(), dtype.itemsize()) {
        (b'f', 2) => 0,
        (_, 2) => 1,
        (b'f', 4) => 2,
        _ => 3,
    };
    (ufunc.check[dtype])(&parameters).map_err(crate::errors::to_py)
}

/// Runs `Op`'s parameter check on each row (missing trailing values are 0).
fn check_rows<T: Real, Op: WithParams<T>>(rows: &[Vec<f64>]) -> Result<(), relukit::Error> {
    for row in rows {
        let p = [
            row.first().copied().unwrap_or(0.0),
            row.get(1).copied().unwrap_or(0.0),
        ];
        Op::run(p, &[], &[], &mut [])?;
    }
    Ok(())
}

/// A parameter check over rows of values.
type Check = fn(&[Vec<f64>]) -> Result<(), relukit::Error>;

/// A form over elements `start..start + n` of dense memory, for relukit.torch's CPU path
/// (`torch.rs`): pointers input, output (the same address: in place) for a forward pass;
/// grad_output, input, grad_input for a backward pass.
///
/// # Safety
/// As `_torch_cpu`'s: every pointer is the data of a live allocation of the form's
/// element type holding `start + n` elements or more, that nothing else touches during
/// the call; the output overlaps no input unless it is the input (in place).
pub type Cpu = unsafe fn([f64; 2], &[usize], usize, usize) -> Result<(), relukit::Error>;

/// [`Cpu`] for operation `Op` on `T`.
///
/// # Safety
/// As [`Cpu`].
unsafe fn cpu_form<T: Real, Op: WithParams<T>>(
    p: [f64; 2],
    pointers: &[usize],
    start: usize,
    n: usize,
) -> Result<(), relukit::Error> {
    // An empty range's pointer may be null, which no slice may hold: a dangling, aligned
    // one stands in for it.
    let address = |i: usize| {
        if n == 0 {
            ptr::NonNull::<T>::dangling().as_ptr()
        } else {
            (pointers[i] as *mut T).wrapping_add(start)
        }
    };
    // SAFETY: by the contract, pointer `i` holds elements `start..start + n` of `T`; an
    // output is made `&mut` only where it is no input's address (in place takes the one
    // slice instead).
    unsafe {
        let input = |i: usize| std::slice::from_raw_parts(address(i), n);
        let output = |i: usize| std::slice::from_raw_parts_mut(address(i), n);
        if Op::INPUTS == 1 {
            if pointers[0] == pointers[1] {
                Op::run_inplace(p, output(1))
            } else {
                Op::run(p, input(0), input(0), output(1))
            }
        } else {
            Op::run(p, input(0), input(1), output(2))
        }
    }
}

/// One ufunc of the family: a form (forward, derivative or backward) of one activation,
/// with its loops for every float type and its parameter check per type.
pub struct FamilyUfunc {
    /// The function's name (`hardtanh_backward`): relukit.torch's operation.
    pub function: String,
    /// The ufunc's name: the function's, `_ufunc` added where it has parameters.
    pub name: String,
    doc: String,
    /// Data operands (1, or 2 for a backward pass) and float64 parameter operands.
    pub inputs: usize,
    pub params: usize,
    loops: Vec<Spec>,
    bf16: Loop,
    /// The check for float16, bfloat16, float32 and float64 data.
    check: [Check; 4],
    /// The dense-memory form for float16, bfloat16, float32 and float64 data.
    pub cpu: [Cpu; 4],
}

/// The ufunc of operation `Op`, the form of function `function`, named `name`.
pub fn family_ufunc<Op>(function: String, name: String, doc: String) -> FamilyUfunc
where
    Op: WithParams<f16> + WithParams<bf16> + WithParams<f32> + WithParams<f64>,
{
    FamilyUfunc {
        function,
        name,
        doc,
        inputs: <Op as WithParams<f32>>::INPUTS,
        params: <Op as WithParams<f32>>::PARAMS,
        loops: float_params::<Op>(),
        bf16: param_loop::<bf16, Op>,
        check: [
            check_rows::<f16, Op>,
            check_rows::<bf16, Op>,
            check_rows::<f32, Op>,
            check_rows::<f64, Op>,
        ],
        cpu: [
            cpu_form::<f16, Op>,
            cpu_form::<bf16, Op>,
            cpu_form::<f32, Op>,
            cpu_form::<f64, Op>,
        ],
    }
}

impl FamilyUfunc {
    /// The NumPy ufunc object.
    pub fn build(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let leak = |text: String| -> &'static CStr {
            Box::leak(
                std::ffi::CString::new(text)
                    .unwrap_or_default()
                    .into_boxed_c_str(),
            )
        };
        let nin = (self.inputs + self.params) as c_int;
        let (name, doc) = (leak(self.name.clone()), leak(self.doc.clone()));
        make_ufunc(py, name, doc, nin, self.loops.clone())
    }
}

// ---- building the ufuncs ----

/// One inner loop: the function and, per operand, NumPy's type number and the size of
/// the Rust type the function reads or writes there.
#[derive(Clone)]
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
    let mut loops: Vec<(String, Loop, Vec<c_int>)> =
        vec![("relu".into(), relu_loop::<bf16>, vec![bf, bf])];
    for ufunc in family::ufuncs() {
        let mut types = vec![bf; ufunc.inputs];
        types.extend(std::iter::repeat_n(d, ufunc.params));
        types.push(bf);
        loops.push((ufunc.name.clone(), ufunc.bf16, types));
    }
    for (name, function, mut types) in loops {
        let ufunc = ufuncs.get_item(&name)?.ok_or_else(|| {
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
