//! relukit for [`ndarray`] arrays of any dimension (feature `ndarray`, on by default).
//!
//! ```
//! use ndarray::{array, Array2, Axis};
//! use relukit::ndarray::{ReluExt, prelu_backward, relu_backward};
//!
//! let x = array![[-2.0f32, -1.0, 0.0], [1.0, 2.0, -3.0]];
//! assert_eq!(x.relu(), array![[0.0, 0.0, 0.0], [1.0, 2.0, 0.0]]);
//! assert_eq!(x.leaky_relu(0.5)?, array![[-1.0, -0.5, 0.0], [1.0, 2.0, -1.5]]);
//!
//! // PReLU with one slope per column (the channel axis is axis 1 here).
//! let weight = array![0.1f32, 0.2, 0.3];
//! let y = x.prelu(&weight, Axis(1))?;
//! assert_eq!(y, array![[-0.2, -0.2, 0.0], [1.0, 2.0, -0.90000004]]);
//!
//! let ones = Array2::<f32>::ones((2, 3));
//! let grad = relu_backward(&ones, &x)?;
//! assert_eq!(grad, array![[0.0, 0.0, 0.0], [1.0, 1.0, 0.0]]);
//! let (grad_x, grad_weight) = prelu_backward(&ones, &x, &weight, Axis(1))?;
//! assert_eq!(grad_weight, array![-2.0, -1.0, -3.0]);
//! # let _ = grad_x;
//! # Ok::<(), relukit::Error>(())
//! ```
//!
//! The results are the slice API's, bit for bit: element by element for every function,
//! and for PReLU's weight gradient, the slice API's on the data in logical (C) order,
//! `[product of the axes before axis, shape[axis], product of the axes after]`. So
//! `grad_weight` has the same bits for C order, F order, permuted axes, strided views
//! and any thread count (inputs in another layout than C order are copied into it
//! first, one pass). Arrays that are contiguous in any
//! memory order (C, Fortran, reversed or permuted axes) go to the slice kernels in one
//! call, and new arrays keep the input's memory order (F in, F out). Other views are
//! walked lane by lane along their smallest stride, in blocks: contiguous lanes go to
//! the kernels directly, strided lanes are gathered into a small buffer first. Read-only
//! inputs may be broadcast views (stride 0). The `_into` functions write into a view
//! you own, so a training loop allocates nothing.

use ndarray::{
    Array, Array1, ArrayBase, ArrayView, ArrayView1, ArrayViewMut, ArrayViewMut1, Axis, Data,
    DataMut, Dimension, Ix1, RawData, ShapeBuilder, Zip, s,
};

use crate::parallel::{self, Exec};
use crate::prelu::{self as prelu_slices, Plan};
use crate::{ChannelLayout, DeadUnitMonitor, Element, Error, ErrorKind, Float, lanes};

/// Elements per block when a strided lane is gathered or scattered.
const LANE_BLOCK: usize = 1024;

/// ReLU-family methods on arrays and views of any dimension.
pub trait ReluExt<A, S: RawData<Elem = A>, D: Dimension> {
    /// ReLU of every element, in a new array with the same memory order.
    fn relu(&self) -> Array<A, D>
    where
        A: Element,
        S: Data;
    /// ReLU in place.
    fn relu_inplace(&mut self)
    where
        A: Element,
        S: DataMut;
    /// The derivative of ReLU at every element (1, 0, or the NaN itself).
    fn relu_derivative(&self) -> Array<A, D>
    where
        A: Float,
        S: Data;
    /// Leaky ReLU with `negative_slope`.
    ///
    /// # Errors
    /// [`ErrorKind::NonFiniteSlope`] for a slope that is NaN or infinite in the compute type.
    fn leaky_relu(&self, negative_slope: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// Leaky ReLU in place.
    ///
    /// # Errors
    /// As [`ReluExt::leaky_relu`]; the array is unchanged then.
    fn leaky_relu_inplace(&mut self, negative_slope: f64) -> Result<(), Error>
    where
        A: Float,
        S: DataMut;
    /// PReLU with one slope per index along `axis` (or one shared slope).
    ///
    /// # Errors
    /// [`ErrorKind::AxisOutOfRange`] for an axis the array does not have;
    /// [`ErrorKind::WeightMismatch`] if `weight` has neither 1 nor `shape[axis]` elements.
    fn prelu<S2: Data<Elem = A>>(
        &self,
        weight: &ArrayBase<S2, Ix1>,
        axis: Axis,
    ) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// PReLU in place.
    ///
    /// # Errors
    /// As [`ReluExt::prelu`]; the array is unchanged then.
    fn prelu_inplace<S2: Data<Elem = A>>(
        &mut self,
        weight: &ArrayBase<S2, Ix1>,
        axis: Axis,
    ) -> Result<(), Error>
    where
        A: Float,
        S: DataMut;
}

impl<A, S, D> ReluExt<A, S, D> for ArrayBase<S, D>
where
    S: RawData<Elem = A>,
    D: Dimension,
{
    fn relu(&self) -> Array<A, D>
    where
        A: Element,
        S: Data,
    {
        let mut out = alloc_like(self);
        map_lanes(self.view(), out.view_mut(), |x, o| {
            parallel::map(&Exec::current(), x, o, A::relu)
        });
        out
    }

    fn relu_inplace(&mut self)
    where
        A: Element,
        S: DataMut,
    {
        inplace_lanes(self.view_mut(), |d| {
            parallel::map_inplace(&Exec::current(), d, A::relu)
        });
    }

    fn relu_derivative(&self) -> Array<A, D>
    where
        A: Float,
        S: Data,
    {
        let mut out = alloc_like(self);
        map_lanes(self.view(), out.view_mut(), |x, o| {
            parallel::map(&Exec::current(), x, o, lanes::relu_derivative)
        });
        out
    }

    fn leaky_relu(&self, negative_slope: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        let mut out = alloc_like(self);
        leaky_relu_into(self, negative_slope, out.view_mut())?;
        Ok(out)
    }

    fn leaky_relu_inplace(&mut self, negative_slope: f64) -> Result<(), Error>
    where
        A: Float,
        S: DataMut,
    {
        let plan = Plan::Shared(Error::check_slope::<A>("negative_slope", negative_slope)?);
        inplace_lanes(self.view_mut(), |d| {
            prelu_slices::forward_inplace(&Exec::current(), &plan, d)
        });
        Ok(())
    }

    fn prelu<S2: Data<Elem = A>>(
        &self,
        weight: &ArrayBase<S2, Ix1>,
        axis: Axis,
    ) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        let mut out = alloc_like(self);
        prelu_into(self, weight, axis, out.view_mut())?;
        Ok(out)
    }

    fn prelu_inplace<S2: Data<Elem = A>>(
        &mut self,
        weight: &ArrayBase<S2, Ix1>,
        axis: Axis,
    ) -> Result<(), Error>
    where
        A: Float,
        S: DataMut,
    {
        let weight = check_prelu(self.shape(), weight, axis)?;
        let exec = Exec::current();
        // (The unique view first: making shared data unique may move it.)
        let mut view = self.view_mut();
        if let Some((layout, reversed)) = memory_layout(view.view(), axis) {
            let data = view.as_slice_memory_order_mut().unwrap_or_default();
            return prelu_slices::prelu_inplace_with(
                &exec,
                data,
                &in_memory_order(weight, reversed),
                layout,
            );
        }
        let input = view.to_owned();
        for_each_channel(input.view(), view, &weight, axis, |_, view, plan| {
            inplace_lanes(view, |d| prelu_slices::forward_inplace(&exec, plan, d))
        });
        Ok(())
    }
}

/// ReLU of `input` into `output`.
///
/// # Errors
/// [`ErrorKind::ShapeMismatch`] if the shapes differ; nothing is written then.
pub fn relu_into<A: Element, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    check_shape("output", output.shape(), "input", input.shape())?;
    map_lanes(input.view(), output, |x, o| {
        parallel::map(&Exec::current(), x, o, A::relu)
    });
    Ok(())
}

/// The derivative of ReLU of `input` into `output`.
///
/// # Errors
/// [`ErrorKind::ShapeMismatch`] if the shapes differ.
pub fn relu_derivative_into<A: Float, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    check_shape("output", output.shape(), "input", input.shape())?;
    map_lanes(input.view(), output, |x, o| {
        parallel::map(&Exec::current(), x, o, lanes::relu_derivative)
    });
    Ok(())
}

/// Leaky ReLU of `input` into `output`.
///
/// # Errors
/// [`ErrorKind::NonFiniteSlope`], [`ErrorKind::ShapeMismatch`].
pub fn leaky_relu_into<A: Float, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    negative_slope: f64,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let plan = Plan::Shared(Error::check_slope::<A>("negative_slope", negative_slope)?);
    check_shape("output", output.shape(), "input", input.shape())?;
    map_lanes(input.view(), output, |x, o| {
        prelu_slices::forward(&Exec::current(), &plan, x, o)
    });
    Ok(())
}

/// PReLU of `input` into `output`, one slope per index along `axis`.
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::WeightMismatch`],
/// [`ErrorKind::ShapeMismatch`].
pub fn prelu_into<A: Float, S: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    weight: &ArrayBase<S2, Ix1>,
    axis: Axis,
    mut output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let weight = check_prelu(input.shape(), weight, axis)?;
    check_shape("output", output.shape(), "input", input.shape())?;
    let exec = Exec::current();
    if input.strides() == output.strides()
        && let (Some((layout, reversed)), Some(x)) = (
            memory_layout(input.view(), axis),
            input.as_slice_memory_order(),
        )
        && let Some(out) = output.as_slice_memory_order_mut()
    {
        return prelu_slices::prelu_with(&exec, x, &in_memory_order(weight, reversed), layout, out);
    }
    for_each_channel(input.view(), output, &weight, axis, |x, out, plan| {
        map_lanes(x, out, |x, o| prelu_slices::forward(&exec, plan, x, o))
    });
    Ok(())
}

/// ReLU backward: the gradient with respect to `input`, in a new array with the memory
/// order of `input`.
///
/// # Errors
/// [`ErrorKind::ShapeMismatch`] if the shapes differ.
pub fn relu_backward<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
) -> Result<Array<A, D>, Error> {
    let mut out = alloc_like(input);
    relu_backward_into(grad_output, input, out.view_mut())?;
    Ok(out)
}

/// ReLU backward into `grad_input`.
///
/// # Errors
/// [`ErrorKind::ShapeMismatch`] if the shapes differ.
pub fn relu_backward_into<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    grad_input: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    check_shape("input", input.shape(), "grad_output", grad_output.shape())?;
    check_shape(
        "grad_input",
        grad_input.shape(),
        "grad_output",
        grad_output.shape(),
    )?;
    zip_lanes(grad_output.view(), input.view(), grad_input, |g, x, o| {
        parallel::zip(&Exec::current(), g, x, o, lanes::relu_backward);
    });
    Ok(())
}

/// Leaky ReLU backward: the gradient with respect to `input`.
///
/// # Errors
/// [`ErrorKind::NonFiniteSlope`], [`ErrorKind::ShapeMismatch`].
pub fn leaky_relu_backward<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    negative_slope: f64,
) -> Result<Array<A, D>, Error> {
    let mut out = alloc_like(input);
    leaky_relu_backward_into(grad_output, input, negative_slope, out.view_mut())?;
    Ok(out)
}

/// Leaky ReLU backward into `grad_input`.
///
/// # Errors
/// [`ErrorKind::NonFiniteSlope`], [`ErrorKind::ShapeMismatch`].
pub fn leaky_relu_backward_into<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    negative_slope: f64,
    grad_input: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let slope = Error::check_slope::<A>("negative_slope", negative_slope)?;
    check_shape("input", input.shape(), "grad_output", grad_output.shape())?;
    check_shape(
        "grad_input",
        grad_input.shape(),
        "grad_output",
        grad_output.shape(),
    )?;
    zip_lanes(grad_output.view(), input.view(), grad_input, |g, x, o| {
        parallel::zip(&Exec::current(), g, x, o, move |g, x| {
            lanes::leaky_relu_backward(g, x, slope)
        });
    });
    Ok(())
}

/// PReLU backward: `(grad_input, grad_weight)`, as the slice
/// [`prelu_backward`](crate::prelu_backward) with the channels along `axis`.
///
/// `grad_weight` is the slice API's result on the data in logical (C) order, whatever
/// the memory layout of the arguments: the same bits for C order, F order, views and
/// any thread count.
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::WeightMismatch`],
/// [`ErrorKind::ShapeMismatch`].
pub fn prelu_backward<A, S1, S2, S3, D>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    weight: &ArrayBase<S3, Ix1>,
    axis: Axis,
) -> Result<(Array<A, D>, Array1<A>), Error>
where
    A: Float,
    S1: Data<Elem = A>,
    S2: Data<Elem = A>,
    S3: Data<Elem = A>,
    D: Dimension,
{
    let mut grad_input = alloc_like(input);
    let mut grad_weight = Array1::from_elem(weight.len(), A::ZERO);
    prelu_backward_into(
        grad_output,
        input,
        weight,
        axis,
        grad_input.view_mut(),
        grad_weight.view_mut(),
    )?;
    Ok((grad_input, grad_weight))
}

/// PReLU backward into `grad_input` and `grad_weight` (overwritten).
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::WeightMismatch`] (also for a
/// `grad_weight` of another length than `weight`), [`ErrorKind::ShapeMismatch`].
pub fn prelu_backward_into<A, S1, S2, S3, D>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    weight: &ArrayBase<S3, Ix1>,
    axis: Axis,
    mut grad_input: ArrayViewMut<'_, A, D>,
    mut grad_weight: ArrayViewMut1<'_, A>,
) -> Result<(), Error>
where
    A: Float,
    S1: Data<Elem = A>,
    S2: Data<Elem = A>,
    S3: Data<Elem = A>,
    D: Dimension,
{
    let weight = check_prelu(input.shape(), weight, axis)?;
    check_shape("grad_output", grad_output.shape(), "input", input.shape())?;
    check_shape("grad_input", grad_input.shape(), "input", input.shape())?;
    if grad_weight.len() != weight.len() {
        return Err(Error::new(
            ErrorKind::WeightMismatch,
            format!(
                "`grad_weight` has {} elements, expected {} (the length of `weight`)",
                grad_weight.len(),
                weight.len()
            ),
        ));
    }
    // The weight gradient is the slice API's on the data in logical (C) order, so its
    // bits depend on the logical shape alone: inputs in another layout are copied into
    // that order first (one pass; C-order inputs are borrowed).
    let layout = logical_layout(input.shape(), axis);
    let (g, x) = (grad_output.as_standard_layout(), input.as_standard_layout());
    let (g, x) = (
        g.as_slice().unwrap_or_default(),
        x.as_slice().unwrap_or_default(),
    );
    let mut sums = vec![A::ZERO; weight.len()];
    let exec = Exec::current();
    match grad_input.as_slice_mut() {
        Some(gx) => prelu_slices::prelu_backward_with(&exec, g, x, &weight, layout, gx, &mut sums)?,
        None => {
            let mut gx = vec![A::ZERO; x.len()];
            prelu_slices::prelu_backward_with(&exec, g, x, &weight, layout, &mut gx, &mut sums)?;
            let gx = ArrayView::from_shape(grad_input.raw_dim(), &gx)
                .map_err(|e| Error::new(ErrorKind::ShapeMismatch, e.to_string()))?;
            grad_input.assign(&gx);
        }
    }
    grad_weight.iter_mut().zip(sums).for_each(|(gw, s)| *gw = s);
    Ok(())
}

/// ReLU of `input` while `monitor` observes it as a batch of pre-activations with the
/// units along `unit_axis`, in one pass over memory.
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::UnitMismatch`]; the monitor is unchanged then.
///
/// ```
/// use ndarray::{array, Axis};
/// use relukit::{DeadUnitMonitor, ndarray::relu_observed};
/// let pre = array![[-1.0f32, 2.0], [-3.0, 4.0]]; // [batch, units]
/// let mut monitor = DeadUnitMonitor::new(2);
/// let y = relu_observed(&pre, &mut monitor, Axis(1))?;
/// assert_eq!(y, array![[0.0, 2.0], [0.0, 4.0]]);
/// assert_eq!(monitor.dead_units(), vec![0]);
/// # Ok::<(), relukit::Error>(())
/// ```
pub fn relu_observed<A: Float, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    monitor: &mut DeadUnitMonitor,
    unit_axis: Axis,
) -> Result<Array<A, D>, Error> {
    let mut out = alloc_like(input);
    relu_observed_into(input, out.view_mut(), monitor, unit_axis)?;
    Ok(out)
}

/// [`relu_observed`] into `output`. When `output` does not share the memory layout of a
/// contiguous `input`, this takes two passes (ReLU, then the count).
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::UnitMismatch`], [`ErrorKind::ShapeMismatch`].
pub fn relu_observed_into<A: Float, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    mut output: ArrayViewMut<'_, A, D>,
    monitor: &mut DeadUnitMonitor,
    unit_axis: Axis,
) -> Result<(), Error> {
    check_axis(unit_axis, input.shape(), "unit_axis")?;
    monitor.check_units(input.len_of(unit_axis))?;
    check_shape("output", output.shape(), "input", input.shape())?;
    monitor.check_samples(logical_layout(input.shape(), unit_axis))?;
    if input.strides() == output.strides()
        && let (Some((layout, reversed)), Some(x)) = (
            memory_layout(input.view(), unit_axis),
            input.as_slice_memory_order(),
        )
        && let Some(out) = output.as_slice_memory_order_mut()
    {
        return monitor.relu_observed_slices(x, out, layout, reversed);
    }
    relu_into(input, output)?;
    observe(monitor, input, unit_axis)
}

/// `monitor.observe(..)` for arrays: adds a batch of pre-activations with the units along
/// `unit_axis` (any shape, any memory layout).
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::UnitMismatch`]; the monitor is unchanged then.
pub fn observe<A: Float, S: Data<Elem = A>, D: Dimension>(
    monitor: &mut DeadUnitMonitor,
    pre_activations: &ArrayBase<S, D>,
    unit_axis: Axis,
) -> Result<(), Error> {
    check_axis(unit_axis, pre_activations.shape(), "unit_axis")?;
    monitor.check_units(pre_activations.len_of(unit_axis))?;
    if let (Some((layout, reversed)), Some(data)) = (
        memory_layout(pre_activations.view(), unit_axis),
        pre_activations.as_slice_memory_order(),
    ) {
        monitor.observe_layout(data, layout, reversed)
    } else {
        // A strided view: counted from a copy in C order.
        let layout = logical_layout(pre_activations.shape(), unit_axis);
        let standard = pre_activations.as_standard_layout();
        monitor.observe_layout(standard.as_slice().unwrap_or_default(), layout, false)
    }
}

impl DeadUnitMonitor {
    /// Adds one batch of pre-activations with the units along `unit_axis`.
    ///
    /// # Errors
    /// [`ErrorKind::AxisOutOfRange`], [`ErrorKind::UnitMismatch`]; the monitor is unchanged then.
    ///
    /// ```
    /// use ndarray::{Array4, Axis};
    /// let conv_output = Array4::<f32>::from_elem((8, 16, 5, 5), -1.0); // NCHW
    /// let mut monitor = relukit::DeadUnitMonitor::new(16);
    /// monitor.observe(&conv_output, Axis(1))?;
    /// assert_eq!(monitor.samples(), 8 * 5 * 5);
    /// assert_eq!(monitor.dead_fraction(), 1.0);
    /// # Ok::<(), relukit::Error>(())
    /// ```
    pub fn observe<A: Float, S: Data<Elem = A>, D: Dimension>(
        &mut self,
        pre_activations: &ArrayBase<S, D>,
        unit_axis: Axis,
    ) -> Result<(), Error> {
        observe(self, pre_activations, unit_axis)
    }
}

// ---- shapes, layouts and lanes ----

fn check_shape(
    name: &str,
    actual: &[usize],
    reference_name: &str,
    expected: &[usize],
) -> Result<(), Error> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::ShapeMismatch,
            format!(
                "`{name}` has shape {actual:?}, expected {expected:?} (the shape of `{reference_name}`)"
            ),
        ))
    }
}

fn check_axis(axis: Axis, shape: &[usize], name: &str) -> Result<(), Error> {
    if axis.index() < shape.len() {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::AxisOutOfRange,
            format!(
                "`{name}` is axis {}, but the array (shape {shape:?}) has {} axes",
                axis.index(),
                shape.len()
            ),
        ))
    }
}

/// Checks the axis and the weight of a PReLU call; returns the weight as a vector.
fn check_prelu<A: Float, S: Data<Elem = A>>(
    shape: &[usize],
    weight: &ArrayBase<S, Ix1>,
    axis: Axis,
) -> Result<Vec<A>, Error> {
    check_axis(axis, shape, "axis")?;
    let channels = shape[axis.index()];
    if weight.len() != 1 && weight.len() != channels {
        return Err(Error::new(
            ErrorKind::WeightMismatch,
            format!(
                "`weight` has {} elements, expected 1 (a shared slope) or {channels} (the length of axis {} of `input`, shape {shape:?})",
                weight.len(),
                axis.index()
            ),
        ));
    }
    Ok(weight.to_vec())
}

/// `[product of the axes before axis, shape[axis], product of the axes after]`: the
/// layout of the array's data in logical (C) order.
fn logical_layout(shape: &[usize], axis: Axis) -> ChannelLayout {
    let k = axis.index();
    ChannelLayout::new(
        shape[..k].iter().product(),
        shape[k],
        shape[k + 1..].iter().product(),
    )
}

/// `values` in memory order: reversed when the axis runs backwards in memory.
fn in_memory_order<A>(mut values: Vec<A>, reversed: bool) -> Vec<A> {
    if reversed {
        values.reverse();
    }
    values
}

/// For an array contiguous in some memory order: `[outer, channels, inner]` around
/// `axis` in that order, and whether `axis` runs backwards in memory.
fn memory_layout<A, D: Dimension>(
    view: ArrayView<'_, A, D>,
    axis: Axis,
) -> Option<(ChannelLayout, bool)> {
    view.as_slice_memory_order()?;
    let (shape, strides) = (view.shape(), view.strides());
    let k = axis.index();
    let stride_k = strides[k].unsigned_abs();
    // Axes of length 1 have no place in memory; the others are ordered by stride.
    let (mut outer, mut inner) = (1usize, 1usize);
    for (i, (&len, &stride)) in shape.iter().zip(strides).enumerate() {
        if i == k || len == 1 {
            continue;
        }
        if stride.unsigned_abs() > stride_k || (stride.unsigned_abs() == stride_k && i < k) {
            outer *= len;
        } else {
            inner *= len;
        }
    }
    if shape[k] <= 1 {
        // The channel axis has no stride of its own: everything is outer.
        return Some((ChannelLayout::new(outer * inner, shape[k], 1), false));
    }
    Some((ChannelLayout::new(outer, shape[k], inner), strides[k] < 0))
}

/// A new array of `like`'s shape in `like`'s memory order when `like` is contiguous
/// (same strides, so the two share one slice order), else in C order.
fn alloc_like<A: Element, B, S: Data<Elem = B>, D: Dimension>(
    like: &ArrayBase<S, D>,
) -> Array<A, D> {
    let len = like.len();
    if len > 0 && like.as_slice_memory_order().is_some() {
        let mut strides = like.raw_dim();
        for (a, &s) in strides.slice_mut().iter_mut().zip(like.strides()) {
            *a = s.unsigned_abs();
        }
        if let Ok(mut out) =
            Array::from_shape_vec(like.raw_dim().strides(strides), vec![A::ZERO; len])
        {
            for (i, &s) in like.strides().iter().enumerate() {
                if s < 0 {
                    out.invert_axis(Axis(i));
                }
            }
            return out;
        }
    }
    Array::from_elem(like.raw_dim(), A::ZERO)
}

/// The axis to walk lanes along: the smallest nonzero stride of `out` among axes longer
/// than 1 (the last axis if none).
fn lane_axis<A, D: Dimension>(out: &ArrayViewMut<'_, A, D>) -> Axis {
    let candidates = out
        .shape()
        .iter()
        .zip(out.strides())
        .enumerate()
        .filter(|(_, (len, _))| **len > 1);
    let best = candidates.min_by_key(|(i, (_, stride))| (stride.unsigned_abs(), usize::MAX - i));
    Axis(best.map_or(out.ndim().saturating_sub(1), |(i, _)| i))
}

/// Appends the elements of a lane piece to `buffer` (a copy if contiguous, else a
/// strided gather).
fn append<A: Copy>(piece: ArrayView1<'_, A>, buffer: &mut Vec<A>) {
    if let Some(slice) = contiguous(&piece) {
        return buffer.extend_from_slice(slice);
    }
    let (len, stride, base) = (piece.len(), piece.strides()[0], piece.as_ptr());
    // Small constant strides compile to wide loads and shuffles.
    match stride {
        2 => gather::<2, A>(base, len, buffer),
        3 => gather::<3, A>(base, len, buffer),
        4 => gather::<4, A>(base, len, buffer),
        // SAFETY: element i of the view is at base + i * stride for i < len, all valid
        // for reads while `piece` lives (a stride of 0 reads the same element again).
        _ => buffer.extend((0..len).map(|i| unsafe { *base.offset(i as isize * stride) })),
    }
}

/// Appends `len` elements `base[0], base[K], base[2K], ...` to `buffer`.
fn gather<const K: usize, A: Copy>(base: *const A, len: usize, buffer: &mut Vec<A>) {
    let start = buffer.len();
    buffer.reserve(len);
    for (i, slot) in buffer.spare_capacity_mut()[..len].iter_mut().enumerate() {
        // SAFETY: the caller's view has `len` elements at stride K from `base`, all valid
        // for reads.
        slot.write(unsafe { *base.add(i * K) });
    }
    // SAFETY: the loop above initialised the `len` spare slots.
    unsafe { buffer.set_len(start + len) };
}

/// Writes `values` into a strided lane piece.
fn scatter<A: Copy>(mut piece: ArrayViewMut1<'_, A>, values: &[A]) {
    if let Some(slice) = piece.as_slice_mut() {
        return slice.copy_from_slice(&values[..slice.len()]);
    }
    let (len, stride, base) = (
        piece.len().min(values.len()),
        piece.strides()[0],
        piece.as_mut_ptr(),
    );
    for (i, &v) in values[..len].iter().enumerate() {
        // SAFETY: element i of the mutable view is at base + i * stride for i < len,
        // valid and uniquely borrowed for writes (a mutable view never has stride 0
        // along an axis longer than 1).
        unsafe { *base.offset(i as isize * stride) = v };
    }
}

/// Calls `kernel(input, output)` over matching contiguous pieces covering `out`: this
/// is [`zip_lanes`] with a second input of `()`, which is zero-sized, so gathering it
/// costs nothing.
fn map_lanes<A: Copy, B: Copy, D: Dimension>(
    input: ArrayView<'_, A, D>,
    out: ArrayViewMut<'_, B, D>,
    mut kernel: impl FnMut(&[A], &mut [B]),
) {
    let mut out = out;
    if input.strides() == out.strides()
        && let (Some(x), Some(o)) = (
            input.as_slice_memory_order(),
            out.as_slice_memory_order_mut(),
        )
    {
        return kernel(x, o);
    }
    let units = ndarray::arr0(());
    let Some(units) = units.broadcast(out.raw_dim()) else {
        return;
    };
    zip_lanes(input, units, out, |a, _, o| kernel(a, o))
}

/// The contiguous slice of a lane piece; for a zero-sized type, any piece is one.
fn contiguous<'a, A>(piece: &ArrayView1<'a, A>) -> Option<&'a [A]> {
    if size_of::<A>() == 0 {
        // SAFETY: a slice of a zero-sized type reads no memory; a dangling, aligned,
        // non-null pointer is valid for any length of it.
        return Some(unsafe {
            std::slice::from_raw_parts(std::ptr::NonNull::<A>::dangling().as_ptr(), piece.len())
        });
    }
    piece.to_slice()
}

/// Strided pieces waiting for one kernel call: their inputs gathered end to end, and
/// the output pieces to scatter the results back to.
struct Batch<'o, A, B, C> {
    a: Vec<A>,
    b: Vec<B>,
    out: Vec<C>,
    pending: Vec<ArrayViewMut1<'o, C>>,
}

impl<'o, A: Copy, B: Copy, C: Copy> Batch<'o, A, B, C> {
    fn flush(&mut self, kernel: &mut impl FnMut(&[A], &[B], &mut [C])) {
        if let Some(first) = self.pending.first() {
            let len = self.a.len();
            if self.out.len() < len {
                self.out.resize(len, first[0]);
            }
            kernel(&self.a, &self.b, &mut self.out[..len]);
            let mut offset = 0;
            for piece in self.pending.drain(..) {
                let len = piece.len();
                scatter(piece, &self.out[offset..offset + len]);
                offset += len;
            }
            self.a.clear();
            self.b.clear();
        }
    }
}

/// Calls `kernel(a, b, output)` over matching contiguous pieces covering `out`. One call
/// when all three share one contiguous layout; otherwise lanes along `out`'s smallest
/// stride, cut into blocks: contiguous blocks go to the kernel directly, strided ones
/// are gathered, several lanes to one kernel call, and scattered back.
fn zip_lanes<A: Copy, B: Copy, C: Copy, D: Dimension>(
    a: ArrayView<'_, A, D>,
    b: ArrayView<'_, B, D>,
    mut out: ArrayViewMut<'_, C, D>,
    mut kernel: impl FnMut(&[A], &[B], &mut [C]),
) {
    if a.strides() == out.strides()
        && b.strides() == out.strides()
        && let (Some(a), Some(b), Some(o)) = (
            a.as_slice_memory_order(),
            b.as_slice_memory_order(),
            out.as_slice_memory_order_mut(),
        )
    {
        return kernel(a, b, o);
    }
    if out.is_empty() {
        return;
    }
    if out.ndim() > 0
        && let Some(o) = out.as_slice_mut()
    {
        return into_standard_layout(a, b, o, kernel);
    }
    let axis = lane_axis(&out);
    let mut batch = Batch {
        a: Vec::new(),
        b: Vec::new(),
        out: Vec::new(),
        pending: Vec::new(),
    };
    Zip::from(out.lanes_mut(axis))
        .and(a.lanes(axis))
        .and(b.lanes(axis))
        .for_each(|mut o, a, b| {
            let mut start = 0;
            while start < a.len() {
                let end = (start + LANE_BLOCK).min(a.len());
                let (piece, rest) = o.split_at(Axis(0), end - start);
                o = rest;
                let (a, b) = (a.slice(s![start..end]), b.slice(s![start..end]));
                match (contiguous(&a), contiguous(&b), piece.is_standard_layout()) {
                    (Some(a), Some(b), true) if end - start == LANE_BLOCK => {
                        let mut piece = piece;
                        kernel(a, b, piece.as_slice_mut().unwrap_or_default());
                    }
                    _ => {
                        append(a, &mut batch.a);
                        append(b, &mut batch.b);
                        batch.pending.push(piece);
                        if batch.a.len() >= LANE_BLOCK {
                            batch.flush(&mut kernel);
                        }
                    }
                }
                start = end;
            }
        });
    batch.flush(&mut kernel);
}

/// [`zip_lanes`] into an output in standard (C) layout, whose memory order is the
/// logical order: the inputs are gathered lane by lane in that order and the kernel
/// writes straight into the output, a block at a time, with nothing to scatter.
fn into_standard_layout<A: Copy, B: Copy, C: Copy, D: Dimension>(
    a: ArrayView<'_, A, D>,
    b: ArrayView<'_, B, D>,
    out: &mut [C],
    mut kernel: impl FnMut(&[A], &[B], &mut [C]),
) {
    let axis = Axis(a.ndim() - 1);
    let (mut a_block, mut b_block) = (
        Vec::with_capacity(2 * LANE_BLOCK),
        Vec::with_capacity(2 * LANE_BLOCK),
    );
    let mut written = 0;
    for (a, b) in a.lanes(axis).into_iter().zip(b.lanes(axis)) {
        for start in (0..a.len()).step_by(LANE_BLOCK) {
            let end = (start + LANE_BLOCK).min(a.len());
            append(a.slice(s![start..end]), &mut a_block);
            append(b.slice(s![start..end]), &mut b_block);
            if a_block.len() >= LANE_BLOCK {
                let n = a_block.len();
                kernel(&a_block, &b_block, &mut out[written..written + n]);
                written += n;
                a_block.clear();
                b_block.clear();
            }
        }
    }
    if !a_block.is_empty() {
        let n = a_block.len();
        kernel(&a_block, &b_block, &mut out[written..written + n]);
    }
}

/// Calls `kernel(data)` over contiguous pieces covering `data`, batching strided lanes
/// as [`zip_lanes`] does.
fn inplace_lanes<A: Copy, D: Dimension>(
    mut data: ArrayViewMut<'_, A, D>,
    mut kernel: impl FnMut(&mut [A]),
) {
    if let Some(d) = data.as_slice_memory_order_mut() {
        return kernel(d);
    }
    if data.is_empty() {
        return;
    }
    let axis = lane_axis(&data);
    let mut buffer = Vec::new();
    let mut pending: Vec<ArrayViewMut1<'_, A>> = Vec::new();
    for mut lane in data.lanes_mut(axis) {
        while !lane.is_empty() {
            let take = lane.len().min(LANE_BLOCK);
            let (mut piece, rest) = lane.split_at(Axis(0), take);
            lane = rest;
            if take == LANE_BLOCK && piece.is_standard_layout() {
                kernel(piece.as_slice_mut().unwrap_or_default());
                continue;
            }
            append(piece.view(), &mut buffer);
            pending.push(piece);
            if buffer.len() >= LANE_BLOCK {
                flush_inplace(&mut kernel, &mut buffer, &mut pending);
            }
        }
    }
    flush_inplace(&mut kernel, &mut buffer, &mut pending);
}

/// Runs `kernel` on the gathered `buffer` and scatters it back to the `pending` pieces.
fn flush_inplace<A: Copy>(
    kernel: &mut impl FnMut(&mut [A]),
    buffer: &mut Vec<A>,
    pending: &mut Vec<ArrayViewMut1<'_, A>>,
) {
    if pending.is_empty() {
        return;
    }
    kernel(buffer);
    let mut offset = 0;
    for piece in pending.drain(..) {
        let len = piece.len();
        scatter(piece, &buffer[offset..offset + len]);
        offset += len;
    }
    buffer.clear();
}

/// Calls `f(input, output, plan)` for each channel's sub-views along `axis` with its
/// one-slope plan, or once for the whole arrays with a shared slope.
fn for_each_channel<A: Float, D: Dimension>(
    input: ArrayView<'_, A, D>,
    mut output: ArrayViewMut<'_, A, D>,
    weight: &[A],
    axis: Axis,
    mut f: impl FnMut(ArrayView<'_, A, D>, ArrayViewMut<'_, A, D>, &Plan<A::Compute>),
) {
    if weight.len() == 1 {
        return f(input, output, &Plan::Shared(weight[0].widen()));
    }
    for (c, w) in weight.iter().enumerate() {
        let (mut x, mut out) = (input.view(), output.view_mut());
        x.collapse_axis(axis, c);
        out.collapse_axis(axis, c);
        f(x, out, &Plan::Shared(w.widen()));
    }
}
