//! The dead-unit monitor on arrays: `relu_observed` (ReLU and counting in one pass) and
//! `observe`, for any shape and memory layout.

use ndarray::{Array, ArrayBase, ArrayViewMut, Axis, Data, Dimension};

use super::layout::{alloc_like, check_axis, check_shape, logical_layout, memory_layout};
use super::relu_into;
use crate::{DeadUnitMonitor, Error, Float};

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
/// contiguous `input`, this takes two passes (ReLU, then the count).
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
/// [`ErrorKind::AxisOutOfRange`](crate::ErrorKind::AxisOutOfRange), [`ErrorKind::UnitMismatch`](crate::ErrorKind::UnitMismatch); the monitor is unchanged then.
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
}
