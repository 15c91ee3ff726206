//! relukit for Python: the `relukit._relukit` extension module.
//!
//! Thin bindings. The ufuncs (`ufunc.rs`) are NumPy's own machinery over relukit's
//! kernels. `prelu`, `prelu_backward`, `relu_observed` and `DeadUnitMonitor` convert
//! their arguments (`arrays.rs`) and pass NumPy arrays as views to `relukit::ndarray`,
//! which handles shapes, strides, layouts and weights; errors become Python exceptions
//! in one place (`errors.rs`). Large calls run with the interpreter lock released, on a
//! fork-safe pool (`pool.rs`).

mod arrays;
mod cuda;
mod errors;
mod family;
mod monitor;
mod openmp;
mod pool;
mod prelu;
mod rrelu;
mod torch;
mod ufunc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Sets the threads large calls run on (the default: one per core).
///
/// Parameters
/// ----------
/// threads : int
///     Between 1 and 8 per core.
///
/// Raises
/// ------
/// TypeError, ValueError
///     A non-integer or out-of-range count.
///
/// Examples
/// --------
/// >>> import relukit
/// >>> before = relukit.get_num_threads()
/// >>> relukit.set_num_threads(1); relukit.get_num_threads()
/// 1
/// >>> relukit.set_num_threads(before)
#[pyfunction]
fn set_num_threads(threads: &Bound<'_, PyAny>) -> PyResult<()> {
    let requested: i128 = threads
        .call_method0("__index__")
        .and_then(|t| t.extract())
        .map_err(|_| errors::type_error("set_num_threads", "threads", "must be an integer"))?;
    let checked = match usize::try_from(requested) {
        Ok(threads) => relukit::threads::check_threads(threads).map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "the number of threads must be between 1 and {}, got {requested}",
            relukit::threads::max_threads()
        )),
    }
    .map_err(|message| PyValueError::new_err(format!("set_num_threads: {message}")))?;
    pool::set_num_threads(checked);
    Ok(())
}

/// The number of threads large calls run on.
///
/// Examples
/// --------
/// >>> import relukit
/// >>> relukit.get_num_threads() >= 1
/// True
#[pyfunction]
fn get_num_threads() -> usize {
    pool::num_threads()
}

/// The instruction set the kernels use (`avx512`, `avx2` or `scalar`), chosen once per
/// process from the CPU (`RELUKIT_ISA` can lower it).
///
/// Examples
/// --------
/// >>> import relukit
/// >>> relukit.active_isa() in ("avx512", "avx2", "scalar")
/// True
#[pyfunction]
fn active_isa() -> &'static str {
    relukit::active_isa().name()
}

#[pymodule]
fn _relukit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("relu", ufunc::relu(py)?)?;
    for ufunc in family::ufuncs() {
        m.add(ufunc.name.as_str(), ufunc.build(py)?)?;
    }
    m.add_function(wrap_pyfunction!(family::_activations, m)?)?;
    m.add_function(wrap_pyfunction!(ufunc::_loop_item_sizes, m)?)?;
    m.add_function(wrap_pyfunction!(ufunc::_check_parameters, m)?)?;
    m.add_function(wrap_pyfunction!(ufunc::_register_bfloat16, m)?)?;
    m.add_function(wrap_pyfunction!(prelu::prelu, m)?)?;
    m.add_function(wrap_pyfunction!(prelu::prelu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(prelu::prelu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu::rrelu, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu::rrelu_derivative, m)?)?;
    m.add_function(wrap_pyfunction!(rrelu::rrelu_backward, m)?)?;
    m.add_function(wrap_pyfunction!(monitor::relu_observed, m)?)?;
    m.add_class::<monitor::Monitor>()?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(active_isa, m)?)?;
    m.add_function(wrap_pyfunction!(torch::_torch_cpu, m)?)?;
    m.add_function(wrap_pyfunction!(torch::_torch_observe, m)?)?;
    m.add_function(wrap_pyfunction!(torch::_torch_openmp, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::_cuda, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::_cuda_operations, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::_dtypes, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::_cuda_wait, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::_cuda_device_of, m)?)?;
    m.add_function(wrap_pyfunction!(cuda::_dlpack, m)?)?;
    Ok(())
}
