//! Every element-by-element activation over arrays, through one path: the parameters
//! checked once, then the activation's own kernels on each contiguous piece (see the
//! [module](super) for how arrays are cut). An activation whose formulas read the
//! element's position (RReLU in training) gets position `i` for element `i` in logical
//! (C) order, whatever the memory layout: its arrays go through C-order copies where
//! they are not in C order already.

use ndarray::{Array, ArrayBase, ArrayView, ArrayViewMut, Data, DataMut, Dimension};

use super::layout::{alloc_like, check_shape};
use super::walk::{inplace_lanes, map_lanes, zip_lanes};
use crate::activation::Activation;
use crate::{Error, ErrorKind, Float};

/// [`activation::forward`](crate::activation::forward) of `input` in a new array (in
/// `input`'s memory order).
pub(super) fn forward<Act: Activation, A: Float, S: Data<Elem = A>, D: Dimension>(
    activation: &Act,
    input: &ArrayBase<S, D>,
) -> Result<Array<A, D>, Error> {
    let mut out = alloc_like(input);
    forward_into(activation, input.view(), out.view_mut())?;
    Ok(out)
}

/// The forward pass of `input` into `output`.
pub(super) fn forward_into<Act: Activation, A: Float, D: Dimension>(
    activation: &Act,
    input: ArrayView<'_, A, D>,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let lanes = activation.lanes::<A>()?;
    check_shape("output", output.shape(), "input", input.shape())?;
    if activation.indexed() {
        return in_logical_order(input, output, |x, o| activation.run_forward(lanes, x, o));
    }
    map_lanes(input, output, |x, o| activation.run_forward(lanes, x, o));
    Ok(())
}

/// The forward pass in place.
pub(super) fn forward_inplace<Act: Activation, A: Float, S: DataMut<Elem = A>, D: Dimension>(
    activation: &Act,
    data: &mut ArrayBase<S, D>,
) -> Result<(), Error> {
    let lanes = activation.lanes::<A>()?;
    let mut view = data.view_mut();
    if !activation.indexed() {
        inplace_lanes(view, |d| activation.run_forward_inplace(lanes, d));
        return Ok(());
    }
    if let Some(d) = view.as_slice_mut() {
        activation.run_forward_inplace(lanes, d);
        return Ok(());
    }
    let input = view.to_owned();
    in_logical_order(input.view(), view, |x, o| {
        activation.run_forward(lanes, x, o)
    })
}

/// The derivative of `input` in a new array.
pub(super) fn derivative<Act: Activation, A: Float, S: Data<Elem = A>, D: Dimension>(
    activation: &Act,
    input: &ArrayBase<S, D>,
) -> Result<Array<A, D>, Error> {
    let mut out = alloc_like(input);
    derivative_into(activation, input.view(), out.view_mut())?;
    Ok(out)
}

/// The derivative of `input` into `output`.
pub(super) fn derivative_into<Act: Activation, A: Float, D: Dimension>(
    activation: &Act,
    input: ArrayView<'_, A, D>,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let lanes = activation.lanes::<A>()?;
    check_shape("output", output.shape(), "input", input.shape())?;
    if activation.indexed() {
        return in_logical_order(input, output, |x, o| activation.run_derivative(lanes, x, o));
    }
    map_lanes(input, output, |x, o| activation.run_derivative(lanes, x, o));
    Ok(())
}

/// The backward pass into `grad_input`.
pub(super) fn backward_into<Act: Activation, A: Float, D: Dimension>(
    activation: &Act,
    grad_output: ArrayView<'_, A, D>,
    input: ArrayView<'_, A, D>,
    mut grad_input: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let lanes = activation.lanes::<A>()?;
    check_shape("input", input.shape(), "grad_output", grad_output.shape())?;
    check_shape(
        "grad_input",
        grad_input.shape(),
        "grad_output",
        grad_output.shape(),
    )?;
    if !activation.indexed() {
        zip_lanes(grad_output, input, grad_input, |g, x, o| {
            activation.run_backward(lanes, g, x, o)
        });
        return Ok(());
    }
    let (g, x) = (grad_output.as_standard_layout(), input.as_standard_layout());
    let (g, x) = (
        g.as_slice().unwrap_or_default(),
        x.as_slice().unwrap_or_default(),
    );
    if let Some(gx) = grad_input.as_slice_mut() {
        activation.run_backward(lanes, g, x, gx);
        return Ok(());
    }
    let mut gx = vec![A::ZERO; x.len()];
    activation.run_backward(lanes, g, x, &mut gx);
    assign_logical(grad_input, &gx)
}

/// `f` on `input` and `output` in logical (C) order, so that an element's position in
/// the slice is its logical index: directly when both are in standard layout, else
/// through copies.
fn in_logical_order<A: Float, D: Dimension>(
    input: ArrayView<'_, A, D>,
    mut output: ArrayViewMut<'_, A, D>,
    f: impl Fn(&[A], &mut [A]),
) -> Result<(), Error> {
    let x = input.as_standard_layout();
    let x = x.as_slice().unwrap_or_default();
    if let Some(o) = output.as_slice_mut() {
        f(x, o);
        return Ok(());
    }
    let mut o = vec![A::ZERO; x.len()];
    f(x, &mut o);
    assign_logical(output, &o)
}

/// Writes `values`, in logical (C) order, into `output`.
fn assign_logical<A: Copy, D: Dimension>(
    mut output: ArrayViewMut<'_, A, D>,
    values: &[A],
) -> Result<(), Error> {
    let values = ArrayView::from_shape(output.raw_dim(), values)
        .map_err(|e| Error::new(ErrorKind::ShapeMismatch, e.to_string()))?;
    output.assign(&values);
    Ok(())
}
