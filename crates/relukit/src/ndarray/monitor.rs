//! The dead-unit monitor on arrays: `relu_observed` (ReLU and counting in one pass),
//! `observe` and `observe_outputs`, for any shape and memory layout.

use ndarray::{Array, ArrayBase, ArrayView, ArrayViewMut, Axis, Data, Dimension};

use super::layout::{alloc_like, check_axis, check_shape, logical_layout, memory_layout};
use super::relu_into;
use crate::{ChannelLayout, DeadUnitMonitor, Error, Float};

/// ReLU of `input` while `monitor` observes it as a batch of pre-activations with the
/// units along `unit_axis`, in one pass over memory.
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`](crate::ErrorKind::AxisOutOfRange), [`ErrorKind::UnitMismatch`](crate::ErrorKind::UnitMismatch); the monitor is unchanged then.
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
/// contiguous `input` (or, for a monitor that sums magnitudes, when `input`'s samples
/// are not in logical order in memory, as in channels-last data), this takes two passes
/// (ReLU, then the count).
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`](crate::ErrorKind::AxisOutOfRange), [`ErrorKind::UnitMismatch`](crate::ErrorKind::UnitMismatch), [`ErrorKind::ShapeMismatch`](crate::ErrorKind::ShapeMismatch).
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
        && let Some((x, layout, reversed)) = batch_of(monitor, input.view(), unit_axis)
        && let Some(out) = output.as_slice_memory_order_mut()
    {
        return monitor.relu_observed_slices(x, out, layout, reversed);
    }
    relu_into(input, output)?;
    observe(monitor, input, unit_axis)
}

/// `monitor.observe(..)` for arrays: adds a batch of pre-activations with the units along
/// `unit_axis` (any shape, any memory layout; magnitudes `|relu(x)|`).
///
/// # Errors
/// [`ErrorKind::AxisOutOfRange`](crate::ErrorKind::AxisOutOfRange), [`ErrorKind::UnitMismatch`](crate::ErrorKind::UnitMismatch); the monitor is unchanged then.
pub fn observe<A: Float, S: Data<Elem = A>, D: Dimension>(
    monitor: &mut DeadUnitMonitor,
    pre_activations: &ArrayBase<S, D>,
    unit_axis: Axis,
) -> Result<(), Error> {
    check_axis(unit_axis, pre_activations.shape(), "unit_axis")?;
    monitor.check_units(pre_activations.len_of(unit_axis))?;
    if let Some((data, layout, reversed)) = batch_of(monitor, pre_activations.view(), unit_axis) {
        monitor.observe_layout(data, None, layout, reversed)
    } else {
        // A strided view (or one out of logical order): counted from a copy in C order.
        let layout = logical_layout(pre_activations.shape(), unit_axis);
        let standard = pre_activations.as_standard_layout();
        monitor.observe_layout(standard.as_slice().unwrap_or_default(), None, layout, false)
    }
}

/// `monitor.observe_outputs(..)` for arrays: a batch of pre-activations and the layer's
/// outputs `h` of the same shape (Leaky ReLU, PReLU, RReLU...): active is `x > 0`, the
/// magnitudes `|h|`.
///
/// # Errors
/// As [`observe`], and [`ErrorKind::ShapeMismatch`](crate::ErrorKind::ShapeMismatch) if
/// the shapes differ.
pub fn observe_outputs<A, S, T, D>(
    monitor: &mut DeadUnitMonitor,
    pre_activations: &ArrayBase<S, D>,
    outputs: &ArrayBase<T, D>,
    unit_axis: Axis,
) -> Result<(), Error>
where
    A: Float,
    S: Data<Elem = A>,
    T: Data<Elem = A>,
    D: Dimension,
{
    check_axis(unit_axis, pre_activations.shape(), "unit_axis")?;
    monitor.check_units(pre_activations.len_of(unit_axis))?;
    check_shape(
        "outputs",
        outputs.shape(),
        "pre_activations",
        pre_activations.shape(),
    )?;
    if pre_activations.strides() == outputs.strides()
        && let Some((x, layout, reversed)) = batch_of(monitor, pre_activations.view(), unit_axis)
        && let Some(h) = outputs.as_slice_memory_order()
    {
        return monitor.observe_layout(x, Some(h), layout, reversed);
    }
    let layout = logical_layout(pre_activations.shape(), unit_axis);
    let (x, h) = (
        pre_activations.as_standard_layout(),
        outputs.as_standard_layout(),
    );
    let (x, h) = (
        x.as_slice().unwrap_or_default(),
        h.as_slice().unwrap_or_default(),
    );
    monitor.observe_layout(x, Some(h), layout, false)
}

/// `view`'s data as `monitor` takes it without a copy: in memory order, with its
/// `[outer, units, inner]` in that order and whether the units run backwards. A monitor
/// that sums magnitudes takes only data whose samples lie in memory in logical (C)
/// order, the order its sums follow (the units' own stride may be negative); one that
/// counts takes any contiguous array.
fn batch_of<'a, A, D: Dimension>(
    monitor: &DeadUnitMonitor,
    view: ArrayView<'a, A, D>,
    axis: Axis,
) -> Option<(&'a [A], ChannelLayout, bool)> {
    if !monitor.has_magnitudes() {
        let (layout, reversed) = memory_layout(view.view(), axis)?;
        return Some((view.to_slice_memory_order()?, layout, reversed));
    }
    let (shape, strides, k) = (view.shape(), view.strides(), axis.index());
    let stride_k = strides[k].unsigned_abs();
    let mut previous = isize::MAX;
    for (i, (&len, &stride)) in shape.iter().zip(strides).enumerate() {
        if len <= 1 {
            continue;
        }
        if i == k {
            // The units sit between the axes before them and those after.
            if stride_k as isize >= previous {
                return None;
            }
            previous = stride_k as isize;
            continue;
        }
        if stride <= 0 || stride >= previous {
            return None;
        }
        previous = stride;
    }
    let reversed = shape[k] > 1 && strides[k] < 0;
    Some((
        view.to_slice_memory_order()?,
        logical_layout(shape, axis),
        reversed,
    ))
}

impl DeadUnitMonitor {
    /// Adds one batch of pre-activations with the units along `unit_axis`.
    ///
    /// # Errors
    /// [`ErrorKind::AxisOutOfRange`](crate::ErrorKind::AxisOutOfRange), [`ErrorKind::UnitMismatch`](crate::ErrorKind::UnitMismatch); the monitor is unchanged then.
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

    /// Adds one batch of pre-activations and the layer's outputs (same shape), units
    /// along `unit_axis`: [`observe_outputs`](crate::ndarray::observe_outputs).
    ///
    /// # Errors
    /// As [`observe_outputs`](crate::ndarray::observe_outputs).
    ///
    /// ```
    /// use ndarray::{array, Axis};
    /// let x = array![[-2.0f32, 1.0], [-4.0, 3.0]];
    /// let h = x.mapv(|v| if v > 0.0 { v } else { 0.25 * v }); // Leaky ReLU
    /// let mut monitor = relukit::DeadUnitMonitor::new(2);
    /// monitor.observe_outputs(&x, &h, Axis(1))?;
    /// assert_eq!(monitor.magnitude_sums(), Some(&[1.5, 4.0][..]));
    /// # Ok::<(), relukit::Error>(())
    /// ```
    pub fn observe_outputs<A, S, T, D>(
        &mut self,
        pre_activations: &ArrayBase<S, D>,
        outputs: &ArrayBase<T, D>,
        unit_axis: Axis,
    ) -> Result<(), Error>
    where
        A: Float,
        S: Data<Elem = A>,
        T: Data<Elem = A>,
        D: Dimension,
    {
        observe_outputs(self, pre_activations, outputs, unit_axis)
    }
}
