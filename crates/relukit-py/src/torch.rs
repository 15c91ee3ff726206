//! The CPU path of `relukit.torch` for dense tensors: their data pointers, handed over by
//! the Python layer, straight to relukit's slice functions. No NumPy view is built and
//! no argument is converted, so a call on a small tensor costs little more than
//! PyTorch's own allocation of the output; strided tensors take the NumPy path instead.
//!
//! The work runs with the interpreter lock released, on a pool of PyTorch's intra-op
//! thread count (passed in by the caller) above relukit's threshold.

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use relukit::{ChannelLayout, Error, Float, RreluMode, bf16, f16};

use crate::errors::to_py;
use crate::monitor::Monitor;
use crate::ufunc::FamilyUfunc;
use crate::{family, openmp, pool};

/// An operation on dense memory and its parameters.
#[derive(Clone, Copy)]
enum Op {
    Relu,
    ReluBackward,
    /// A form of an activation of the registry (`family.rs`), with its parameters.
    Family(&'static FamilyUfunc, [f64; 2]),
    Rrelu(f64, f64, RreluMode),
    RreluBackward(f64, f64, RreluMode),
    Prelu(ChannelLayout, usize),
    PreluBackward(ChannelLayout, usize),
}

impl Op {
    fn parse(
        name: &str,
        params: (f64, f64),
        seed: Option<u64>,
        layout: Option<(usize, usize, usize)>,
        weight_len: usize,
    ) -> PyResult<(Op, usize)> {
        let (a, b) = params;
        let mode = match seed {
            Some(seed) => RreluMode::Training { seed },
            None => RreluMode::Evaluation,
        };
        let layout = || {
            layout
                .map(|(outer, channels, inner)| ChannelLayout::new(outer, channels, inner))
                .ok_or_else(|| {
                    PyValueError::new_err(format!("relukit.torch: {name} needs a layout"))
                })
        };
        Ok(match name {
            "relu" => (Op::Relu, 2),
            "relu_backward" => (Op::ReluBackward, 3),
            "rrelu" => (Op::Rrelu(a, b, mode), 2),
            "rrelu_backward" => (Op::RreluBackward(a, b, mode), 3),
            "prelu" => (Op::Prelu(layout()?, weight_len), 3),
            "prelu_backward" => (Op::PreluBackward(layout()?, weight_len), 5),
            _ => {
                let form = family::ufuncs()
                    .iter()
                    .find(|u| u.function == name && !u.function.ends_with("_derivative"))
                    .ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "relukit.torch: no CPU operation named {name:?}"
                        ))
                    })?;
                (Op::Family(form, [a, b]), form.inputs + 1)
            }
        })
    }
}

/// Runs `operation` on dense CPU memory of `len` elements of `dtype_name` (`float32`,
/// `float64`, `float16` or `bfloat16`), with `threads` threads at most.
///
/// `pointers` are, in order: unary operations: input, output (the same address: in
/// place); `*_backward`: grad_output, input, grad_input; `prelu`: input, weight, output
/// (in place allowed); `prelu_backward`: grad_output, input, weight, grad_input,
/// grad_weight. `params` are Leaky ReLU's slope, threshold's threshold and value, or
/// RReLU's lower and upper; `seed` RReLU's in training (None: evaluation); `layout` is
/// PReLU's `(outer, channels, inner)` over the memory and `weight_len` its slopes.
///
/// # Safety (for the Python caller, which `relukit.torch` is)
/// Every pointer is the data of a live CPU tensor of `dtype_name` holding the elements
/// stated, every element exactly once (dense), not written by anyone else during the
/// call; outputs do not overlap inputs except where stated (in place).
#[pyfunction]
#[pyo3(signature = (operation, dtype_name, pointers, len, threads, params=(0.0, 0.0), seed=None, layout=None, weight_len=0))]
#[allow(clippy::too_many_arguments)]
pub fn _torch_cpu(
    py: Python<'_>,
    operation: &str,
    dtype_name: &str,
    pointers: Vec<usize>,
    len: usize,
    threads: usize,
    params: (f64, f64),
    seed: Option<u64>,
    layout: Option<(usize, usize, usize)>,
    weight_len: usize,
) -> PyResult<()> {
    let (op, expected) = Op::parse(operation, params, seed, layout, weight_len)?;
    if pointers.len() != expected {
        return Err(PyValueError::new_err(format!(
            "relukit.torch: {operation} takes {expected} pointers, got {}",
            pointers.len()
        )));
    }
    match dtype_name {
        "float16" => py.detach(|| run::<f16>(op, 0, &pointers, len, threads)),
        "bfloat16" => py.detach(|| run::<bf16>(op, 1, &pointers, len, threads)),
        "float32" => py.detach(|| run::<f32>(op, 2, &pointers, len, threads)),
        "float64" => py.detach(|| run::<f64>(op, 3, &pointers, len, threads)),
        _ => Err(PyValueError::new_err(format!(
            "relukit.torch: no CPU kernels for dtype {dtype_name}"
        ))),
    }
}

/// Adds a batch of dense CPU memory to `monitor` (the `DeadUnitTracker`'s path): `len`
/// pre-activations of `dtype_name` at `pre` under `layout` `(outer, units, inner)`,
/// with the layer's outputs at `outputs` (0: the magnitudes are `relu(pre)`). From
/// PyTorch's grain up the rows are split over PyTorch's OpenMP team (`threads` of them),
/// which is awake after the layer's own op; the counts and sums have the bits of one call.
///
/// # Safety (for the Python caller)
/// As [`_torch_cpu`]: each pointer is the data of a live, dense CPU tensor of
/// `dtype_name` holding `len` elements, which nothing writes during the call.
#[pyfunction]
#[pyo3(signature = (monitor, dtype_name, pre, outputs, len, layout, threads))]
#[allow(clippy::too_many_arguments)]
pub fn _torch_observe(
    py: Python<'_>,
    monitor: &Bound<'_, Monitor>,
    dtype_name: &str,
    pre: usize,
    outputs: usize,
    len: usize,
    layout: (usize, usize, usize),
    threads: usize,
) -> PyResult<()> {
    let monitor = monitor.get();
    let layout = ChannelLayout::new(layout.0, layout.1, layout.2);
    match dtype_name {
        "float16" => py.detach(|| observe::<f16>(monitor, pre, outputs, len, layout, threads)),
        "bfloat16" => py.detach(|| observe::<bf16>(monitor, pre, outputs, len, layout, threads)),
        "float32" => py.detach(|| observe::<f32>(monitor, pre, outputs, len, layout, threads)),
        "float64" => py.detach(|| observe::<f64>(monitor, pre, outputs, len, layout, threads)),
        _ => Err(PyValueError::new_err(format!(
            "relukit.torch: no monitor kernels for dtype {dtype_name}"
        ))),
    }
}

fn observe<T: Float>(
    monitor: &Monitor,
    pre: usize,
    outputs: usize,
    len: usize,
    layout: ChannelLayout,
    threads: usize,
) -> PyResult<()> {
    let slice = |address: usize| {
        let address = if len == 0 {
            std::ptr::NonNull::<T>::dangling().as_ptr()
        } else {
            address as *const T
        };
        // SAFETY: the caller guarantees the address is the data of a live tensor of `T`
        // holding `len` elements, which nothing writes during the call (a dangling,
        // aligned pointer stands in for an empty tensor's, which may be null).
        unsafe { std::slice::from_raw_parts(address, len) }
    };
    let x = slice(pre);
    let h = (outputs != 0).then(|| slice(outputs));
    let mut monitor = monitor.lock();
    let on_team = threads > 1 && len >= GRAIN && openmp::attached();
    let result = if on_team {
        monitor.observe_split(x, h, layout, &|rows, align, part| {
            let ran = openmp::split(threads, rows, align, &|first, last| {
                part(first, last);
                Ok(())
            });
            if ran.is_none() {
                part(0, rows);
            }
        })
    } else {
        match h {
            Some(h) => monitor.observe_outputs_slice(x, h, layout),
            None => monitor.observe_slice(x, layout),
        }
    };
    result.map_err(to_py)
}

/// An out-of-place elementwise slice function and its in-place form.
type Unary<'a, T> = &'a dyn Fn(&[T], &mut [T]) -> Result<(), Error>;
type InPlace<'a, T> = &'a dyn Fn(&mut [T]) -> Result<(), Error>;
/// A backward slice function: grad_output, input, grad_input.
type Backward<'a, T> = &'a dyn Fn(&[T], &[T], &mut [T]) -> Result<(), Error>;

/// PyTorch's grain: calls of fewer elements run on one thread, as its own ops do.
const GRAIN: usize = 32768;

/// SplitMix64's increment (`relukit::reference::rrelu_slope`): RReLU's slope of element
/// `start + i` with `seed` is that of element `i` with `seed + start * GOLDEN`, so a
/// range of a call draws exactly the slopes of the whole call.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// `mode` for the range of a call that starts at element `start`.
fn shifted(mode: RreluMode, start: usize) -> RreluMode {
    match mode {
        RreluMode::Training { seed } => RreluMode::Training {
            seed: seed.wrapping_add((start as u64).wrapping_mul(GOLDEN)),
        },
        RreluMode::Evaluation => RreluMode::Evaluation,
    }
}

/// Runs `part` over `0..len` (units of work covering `elements` elements): on
/// PyTorch's OpenMP team (`threads` of them) from PyTorch's grain up, else on relukit's
/// own pool above its threshold, else here.
fn parallel<T>(
    threads: usize,
    len: usize,
    elements: usize,
    align: usize,
    part: &(dyn Fn(usize, usize) -> Result<(), Error> + Sync),
) -> PyResult<()> {
    if threads > 1
        && len > 1
        && elements >= GRAIN
        && let Some(result) = openmp::split(threads, len, align, part)
    {
        return result.map_err(|failure| match failure {
            openmp::Failure::Error(error) => to_py(error),
            openmp::Failure::Panicked => PyRuntimeError::new_err(
                "relukit.torch: a relukit kernel panicked on an OpenMP thread (a bug: please report it)",
            ),
        });
    }
    pool::run_threads::<T, _>(threads, elements, || part(0, len)).map_err(to_py)
}

/// `dtype` is `T`'s index in [`FamilyUfunc::cpu`]: float16, bfloat16, float32, float64.
fn run<T: Float>(op: Op, dtype: usize, p: &[usize], len: usize, threads: usize) -> PyResult<()> {
    // An empty range's pointer may be null, which no slice may hold: a dangling, aligned
    // one stands in for it. A tensor's data is aligned to its element type.
    let address = |i: usize, start: usize, n: usize| {
        if n == 0 {
            std::ptr::NonNull::<T>::dangling().as_ptr()
        } else {
            (p[i] as *mut T).wrapping_add(start)
        }
    };
    let input = |i: usize, start: usize, n: usize| {
        // SAFETY: the caller guarantees pointer `i` is the data of a live tensor of `T`
        // holding `start + n` elements or more, which nothing writes during the call.
        unsafe { std::slice::from_raw_parts(address(i, start, n), n) }
    };
    let output = |i: usize, start: usize, n: usize| {
        // SAFETY: as for `input`; an output is made `&mut` only where its address is not
        // an input's (the in-place forms take the one slice instead), and the ranges of
        // a split call are disjoint, so it aliases nothing.
        unsafe { std::slice::from_raw_parts_mut(address(i, start, n), n) }
    };
    match op {
        Op::Prelu(layout, weights) => {
            // Split along the outer axis: each range is whole rows of channels.
            let row = layout.channels() * layout.inner();
            let outer = len.checked_div(row).unwrap_or(0);
            let w = input(1, 0, weights);
            let part = |first: usize, last: usize| {
                let (start, n) = (first * row, (last - first) * row);
                let layout = ChannelLayout::new(last - first, layout.channels(), layout.inner());
                if p[0] == p[2] {
                    relukit::prelu_inplace(output(2, start, n), w, layout)
                } else {
                    relukit::prelu(input(0, start, n), w, layout, output(2, start, n))
                }
            };
            if row == 0 || outer * row != len {
                // Nothing to split (no elements), or a layout that does not describe
                // the data: one call, which reports it.
                return part(0, if row == 0 { 0 } else { outer }).map_err(to_py);
            }
            parallel::<T>(threads, outer, len, 1, &part)
        }
        // The weight gradient's order is relukit's own (the same bits on any thread
        // count): it runs on relukit's pool.
        Op::PreluBackward(layout, weights) => pool::run_threads::<T, _>(threads, len, || {
            relukit::prelu_backward(
                input(0, 0, len),
                input(1, 0, len),
                input(2, 0, weights),
                layout,
                output(3, 0, len),
                output(4, 0, weights),
            )
        })
        .map_err(to_py),
        _ => {
            let part = |start: usize, end: usize| {
                let n = end - start;
                let unary = |f: Unary<'_, T>, g: InPlace<'_, T>| {
                    if p[0] == p[1] {
                        g(output(1, start, n))
                    } else {
                        f(input(0, start, n), output(1, start, n))
                    }
                };
                let binary = |f: Backward<'_, T>| {
                    f(input(0, start, n), input(1, start, n), output(2, start, n))
                };
                match op {
                    Op::Relu => unary(&|x, y| relukit::relu(x, y), &|d| {
                        relukit::relu_inplace(d);
                        Ok(())
                    }),
                    Op::ReluBackward => binary(&|g, x, o| relukit::relu_backward(g, x, o)),
                    // SAFETY: the pointers are as `_torch_cpu`'s contract states, for
                    // the form's operands, and the range is within them.
                    Op::Family(form, params) => unsafe { (form.cpu[dtype])(params, p, start, n) },
                    Op::Rrelu(l, u, mode) => {
                        let mode = shifted(mode, start);
                        unary(&|x, y| relukit::rrelu(x, l, u, mode, y), &|d| {
                            relukit::rrelu_inplace(d, l, u, mode)
                        })
                    }
                    Op::RreluBackward(l, u, mode) => {
                        let mode = shifted(mode, start);
                        binary(&|g, x, o| relukit::rrelu_backward(g, x, l, u, mode, o))
                    }
                    Op::Prelu(..) | Op::PreluBackward(..) => unreachable!("handled above"),
                }
            };
            // Ranges of whole cache lines, so that their starts keep the alignment.
            parallel::<T>(threads, len, len, 64 / size_of::<T>().max(1), &part)
        }
    }
}

/// Runs relukit.torch's elementwise calls on the OpenMP team of the runtime at `path`
/// (PyTorch's, already loaded) from now on; whether it could be attached (else they run
/// on relukit's own pool).
#[pyfunction]
pub fn _torch_openmp(path: &str) -> bool {
    openmp::attach(path)
}
