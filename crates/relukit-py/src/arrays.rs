//! Python objects to NumPy arrays the kernels take, with NumPy's rules.
//!
//! Inputs: anything `numpy.asarray` accepts; float16/32/64 arrays keep their type (a
//! non-native byte order is converted to the native one, as the ufuncs do), and so do
//! `ml_dtypes.bfloat16` arrays (the dtype registered under the name `bfloat16`); bool and
//! integer arrays compute in float64; object, string, complex and other dtypes are a
//! `TypeError`, as for the ufuncs. Masked arrays are refused rather than losing their
//! mask. Outputs (`out=`) follow the ufunc casting rule, `same_kind`.

use numpy::{PyArrayDescr, PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::errors::{type_error, value_error};

/// The float types relukit computes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F16,
    BF16,
    F32,
    F64,
}

impl Dtype {
    /// The type of a native-endian float array converted by [`float_array`].
    pub fn of(array: &Bound<'_, PyUntypedArray>) -> Dtype {
        let dtype = array.dtype();
        match dtype.itemsize() {
            2 if is_bfloat16(&dtype) => Dtype::BF16,
            2 => Dtype::F16,
            4 => Dtype::F32,
            _ => Dtype::F64,
        }
    }
}

/// Whether `dtype` is `ml_dtypes.bfloat16` (a user dtype of 2 bytes whose scalar type
/// is named `bfloat16`, the name `numpy.dtype("bfloat16")` finds and `half::bf16`'s
/// `numpy::Element` looks up).
pub fn is_bfloat16(dtype: &Bound<'_, PyArrayDescr>) -> bool {
    dtype.kind() != b'f'
        && dtype.itemsize() == 2
        && dtype.typeobj().name().is_ok_and(|name| name == "bfloat16")
}

fn numpy(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    py.import("numpy")
}

/// Refuses masked arrays: their mask would be lost.
fn refuse_masked(function: &str, argument: &str, object: &Bound<'_, PyAny>) -> PyResult<()> {
    let masked = numpy(object.py())?.getattr("ma")?.getattr("MaskedArray")?;
    if object.is_instance(&masked)? {
        return Err(type_error(
            function,
            argument,
            "is a masked array, whose mask this function would lose: pass `np.ma.getdata(x)` or `x.filled(value)`, or use the ufuncs, which keep the mask",
        ));
    }
    Ok(())
}

/// `numpy.asarray(object)`, a `TypeError` if it is not of a real-number kind
/// (bool, integer or float).
fn real_array<'py>(
    function: &str,
    argument: &str,
    object: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    refuse_masked(function, argument, object)?;
    if object.is_none() {
        return Err(type_error(
            function,
            argument,
            "must be an array of real numbers, got None",
        ));
    }
    let array = numpy(object.py())?.call_method1("asarray", (object,))?;
    let array = array.cast_into::<PyUntypedArray>()?;
    let dtype = array.dtype();
    let real = matches!(dtype.kind(), b'b' | b'i' | b'u')
        || (dtype.kind() == b'f' && matches!(dtype.itemsize(), 2 | 4 | 8))
        || is_bfloat16(&dtype);
    if !real {
        return Err(type_error(
            function,
            argument,
            format_args!(
                "has dtype {}, not one of float16, bfloat16 (ml_dtypes), float32, float64, an integer type or bool",
                dtype.str()?
            ),
        ));
    }
    Ok(array)
}

/// The array of an input: float16/32/64 in native byte order or bfloat16 (other real
/// types become float64).
pub fn float_array<'py>(
    function: &str,
    argument: &str,
    object: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let array = real_array(function, argument, object)?;
    let dtype = array.dtype();
    let target = if is_bfloat16(&dtype) {
        return Ok(array);
    } else if dtype.kind() != b'f' {
        PyArrayDescr::of::<f64>(array.py())
    } else if dtype.is_native_byteorder() == Some(false) {
        dtype.call_method1("newbyteorder", ("=",))?.cast_into()?
    } else {
        return Ok(array);
    };
    array
        .call_method1("astype", (target,))?
        .cast_into::<PyUntypedArray>()
        .map_err(Into::into)
}

/// An argument converted to `dtype` (the input's), refusing complex, object and
/// string values and casts NumPy would not make under `same_kind`.
pub fn real_array_as<'py>(
    function: &str,
    argument: &str,
    object: &Bound<'py, PyAny>,
    dtype: &Bound<'py, PyArrayDescr>,
) -> PyResult<Bound<'py, PyUntypedArray>> {
    let array = real_array(function, argument, object)?;
    if array.dtype().is(dtype) || array.dtype().is_equiv_to(dtype) {
        return Ok(array);
    }
    let kwargs = [("casting", "same_kind")].into_py_dict(array.py())?;
    array
        .call_method("astype", (dtype,), Some(&kwargs))?
        .cast_into::<PyUntypedArray>()
        .map_err(Into::into)
}

/// Checks an `out=` array: an ndarray (not masked) of `shape`, writeable, to which
/// values of `dtype` cast under `same_kind`. Returns whether it has exactly `dtype`
/// (then it is written directly; otherwise through a temporary and a cast).
pub fn check_out(
    function: &str,
    argument: &str,
    out: &Bound<'_, PyAny>,
    shape: &[usize],
    dtype: &Bound<'_, PyArrayDescr>,
) -> PyResult<bool> {
    refuse_masked(function, argument, out)?;
    let Ok(array) = out.cast::<PyUntypedArray>() else {
        return Err(type_error(
            function,
            argument,
            format_args!("must be a numpy.ndarray, got {}", out.get_type().name()?),
        ));
    };
    if array.shape() != shape {
        return Err(value_error(
            function,
            format_args!(
                "`{argument}` has shape {:?}, expected {shape:?}",
                array.shape()
            ),
        ));
    }
    let np = numpy(out.py())?;
    let castable: bool = np
        .call_method1("can_cast", (dtype, array.dtype(), "same_kind"))?
        .extract()?;
    if !castable {
        return Err(type_error(
            function,
            argument,
            format_args!(
                "has dtype {}: cannot cast the {} result to it with casting rule 'same_kind'",
                array.dtype().str()?,
                dtype.str()?
            ),
        ));
    }
    let writeable: bool = array.getattr("flags")?.getattr("writeable")?.extract()?;
    if !writeable {
        return Err(value_error(
            function,
            format_args!("`{argument}` is read-only"),
        ));
    }
    Ok(array.dtype().is_equiv_to(dtype) && array.dtype().is_native_byteorder() != Some(false))
}

/// `numpy.empty_like(like)` (same shape, dtype and memory order).
pub fn empty_like<'py>(like: &Bound<'py, PyUntypedArray>) -> PyResult<Bound<'py, PyUntypedArray>> {
    numpy(like.py())?
        .call_method1("empty_like", (like,))?
        .cast_into::<PyUntypedArray>()
        .map_err(Into::into)
}

/// `numpy.copyto(dst, src, casting="same_kind")`.
pub fn copy_into(dst: &Bound<'_, PyAny>, src: &Bound<'_, PyAny>) -> PyResult<()> {
    let kwargs = [("casting", "same_kind")].into_py_dict(dst.py())?;
    numpy(dst.py())?.call_method("copyto", (dst, src), Some(&kwargs))?;
    Ok(())
}

/// Whether two arrays may share memory (`numpy.may_share_memory`, a bounds check).
pub fn may_share(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<bool> {
    numpy(a.py())?
        .call_method1("may_share_memory", (a, b))?
        .extract()
}

/// A copy of `array` (so that an output overlapping it can be written).
pub fn copy<'py>(array: &Bound<'py, PyUntypedArray>) -> PyResult<Bound<'py, PyUntypedArray>> {
    array
        .call_method0("copy")?
        .cast_into::<PyUntypedArray>()
        .map_err(Into::into)
}

/// What a function returns for a result array: a NumPy scalar when the input was a
/// scalar (not an array), as the ufuncs do, else the array.
pub fn result<'py>(
    input: &Bound<'py, PyAny>,
    array: Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if input.is_instance_of::<PyUntypedArray>() || array.cast::<PyUntypedArray>()?.ndim() != 0 {
        Ok(array)
    } else {
        array.get_item(PyTuple::empty(array.py()))
    }
}

/// Where an element-by-element function writes: the target array, and whether it is
/// the input itself (an in-place call).
pub struct Target<'py> {
    pub array: Bound<'py, PyUntypedArray>,
    pub inplace: bool,
}

/// Runs an element-by-element function of `x` (already converted by [`float_array`],
/// from the Python object `input`) with NumPy's output rules: a new array in `x`'s
/// memory order (a scalar for a scalar input), or `out`, written directly when it has
/// the result's dtype and through a `same_kind` cast otherwise. An `out` that is `x`
/// itself is an in-place call (if `inplace_ok`); one that overlaps it otherwise gets a
/// copy of `x`. `compute(x, target)` does the work.
pub fn with_output<'py>(
    function: &str,
    input: &Bound<'py, PyAny>,
    mut x: Bound<'py, PyUntypedArray>,
    out: Option<&Bound<'py, PyAny>>,
    inplace_ok: bool,
    compute: impl FnOnce(&Bound<'py, PyUntypedArray>, Target<'py>) -> PyResult<()>,
) -> PyResult<Bound<'py, PyAny>> {
    let out = out.filter(|o| !o.is_none());
    let direct = match out {
        Some(o) => check_out(function, "out", o, x.shape(), &x.dtype())?,
        None => false,
    };
    let array = match out {
        Some(o) if direct => o.cast::<PyUntypedArray>()?.clone(),
        _ => empty_like(&x)?,
    };
    let mut inplace = false;
    if may_share(&x, &array)? {
        if inplace_ok && same_view(&x, &array)? {
            inplace = true;
        } else {
            x = copy(&x)?;
        }
    }
    compute(
        &x,
        Target {
            array: array.clone(),
            inplace,
        },
    )?;
    match out {
        Some(o) if !direct => {
            copy_into(o, &array)?;
            Ok(o.clone())
        }
        Some(o) => Ok(o.clone()),
        None => result(input, array.into_any()),
    }
}

/// Whether two arrays are the same view of the same memory (an in-place call).
fn same_view(a: &Bound<'_, PyUntypedArray>, b: &Bound<'_, PyUntypedArray>) -> PyResult<bool> {
    let address = |array: &Bound<'_, PyUntypedArray>| -> PyResult<usize> {
        array
            .getattr("__array_interface__")?
            .get_item("data")?
            .get_item(0)?
            .extract()
    };
    Ok(address(a)? == address(b)?
        && a.shape() == b.shape()
        && a.strides() == b.strides()
        && a.dtype().is_equiv_to(&b.dtype()))
}

/// `array.reshape(shape)`.
pub fn reshape<'py>(array: &Bound<'py, PyAny>, shape: &[usize]) -> PyResult<Bound<'py, PyAny>> {
    array.call_method1("reshape", (PyTuple::new(array.py(), shape)?,))
}

use pyo3::types::IntoPyDict;
