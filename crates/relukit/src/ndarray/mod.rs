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

mod family;
mod layout;
mod monitor;
mod walk;

use ndarray::{
    Array, Array1, ArrayBase, ArrayView, ArrayViewMut, ArrayViewMut1, Axis, Data, DataMut,
    Dimension, Ix1, RawData,
};

pub use monitor::{observe, observe_outputs, relu_observed, relu_observed_into};

use crate::activation::{Activation, ClippedRelu, LeakyRelu, Relu, Relu6, Rrelu, Threshold};
use crate::exec::Exec;
use crate::kernel::{Unary, UnaryInPlace};
use crate::ops::prelu;
use crate::{ChannelLayout, Element, Error, ErrorKind, Float, RreluMode};
use layout::{
    alloc_like, check_prelu, check_shape, in_memory_order, logical_layout, memory_layout,
};
use walk::{for_each_channel, inplace_lanes, map_lanes};

/// ReLU-family methods on arrays and views of any dimension.
///
/// The `activation` methods take any element-by-element member of the family as an
/// [`Activation`] value; the named ones are the same with its parameters as arguments.
pub trait ReluExt<A, S: RawData<Elem = A>, D: Dimension> {
    /// `activation` of every element, in a new array with the same memory order.
    ///
    /// ```
    /// use ndarray::array;
    /// use relukit::activation::Hardtanh;
    /// use relukit::ndarray::ReluExt;
    ///
    /// let x = array![[-2.0f32, 0.5], [3.0, -0.25]];
    /// let y = x.activation(&Hardtanh { min_val: -1.0, max_val: 1.0 })?;
    /// assert_eq!(y, array![[-1.0, 0.5], [1.0, -0.25]]);
    /// # Ok::<(), relukit::Error>(())
    /// ```
    ///
    /// # Errors
    /// The activation's parameter errors.
    fn activation<Act: Activation>(&self, activation: &Act) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// `activation` in place.
    ///
    /// # Errors
    /// As [`ReluExt::activation`]; the array is unchanged then.
    fn activation_inplace<Act: Activation>(&mut self, activation: &Act) -> Result<(), Error>
    where
        A: Float,
        S: DataMut;
    /// The derivative of `activation` at every element.
    ///
    /// # Errors
    /// As [`ReluExt::activation`].
    fn activation_derivative<Act: Activation>(
        &self,
        activation: &Act,
    ) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
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
    /// ReLU6, `min(max(0, x), 6)` (see [`relu6`](crate::relu6)).
    fn relu6(&self) -> Array<A, D>
    where
        A: Float,
        S: Data;
    /// ReLU6 in place.
    fn relu6_inplace(&mut self)
    where
        A: Float,
        S: DataMut;
    /// Clipped ReLU, `min(max(0, x), ceiling)` (see [`clipped_relu`](crate::clipped_relu)).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] for a NaN or negative ceiling.
    fn clipped_relu(&self, ceiling: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// Clipped ReLU in place.
    ///
    /// # Errors
    /// As [`ReluExt::clipped_relu`]; the array is unchanged then.
    fn clipped_relu_inplace(&mut self, ceiling: f64) -> Result<(), Error>
    where
        A: Float,
        S: DataMut;
    /// PyTorch's `threshold`: `x` above `threshold`, `value` elsewhere (see
    /// [`threshold`](crate::threshold)).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] for a NaN parameter.
    fn threshold(&self, threshold: f64, value: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// `threshold` in place.
    ///
    /// # Errors
    /// As [`ReluExt::threshold`]; the array is unchanged then.
    fn threshold_inplace(&mut self, threshold: f64, value: f64) -> Result<(), Error>
    where
        A: Float,
        S: DataMut;
    /// RReLU (see [`rrelu`](crate::rrelu)); in training, element `i` in logical (C)
    /// order gets the slope of index `i`, whatever the memory layout.
    ///
    /// # Errors
    /// As [`rrelu`](crate::rrelu).
    fn rrelu(&self, lower: f64, upper: f64, mode: RreluMode) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// RReLU in place.
    ///
    /// # Errors
    /// As [`ReluExt::rrelu`]; the array is unchanged then.
    fn rrelu_inplace(&mut self, lower: f64, upper: f64, mode: RreluMode) -> Result<(), Error>
    where
        A: Float,
        S: DataMut;
    /// The derivative of Leaky ReLU (1, the slope, or the NaN itself).
    ///
    /// # Errors
    /// As [`ReluExt::leaky_relu`].
    fn leaky_relu_derivative(&self, negative_slope: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// The derivative of PReLU with respect to the input (1, `weight[c]`, or the NaN).
    ///
    /// # Errors
    /// As [`ReluExt::prelu`].
    fn prelu_derivative<S2: Data<Elem = A>>(
        &self,
        weight: &ArrayBase<S2, Ix1>,
        axis: Axis,
    ) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// The derivative of ReLU6 (1 inside `(0, 6)`, 0 outside, or the NaN).
    fn relu6_derivative(&self) -> Array<A, D>
    where
        A: Float,
        S: Data;
    /// The derivative of clipped ReLU.
    ///
    /// # Errors
    /// As [`ReluExt::clipped_relu`].
    fn clipped_relu_derivative(&self, ceiling: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// The derivative of `threshold` with respect to `x`.
    ///
    /// # Errors
    /// As [`ReluExt::threshold`].
    fn threshold_derivative(&self, threshold: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
    /// The derivative of RReLU (element `i` in logical order has the slope of index `i`).
    ///
    /// # Errors
    /// As [`ReluExt::rrelu`].
    fn rrelu_derivative(
        &self,
        lower: f64,
        upper: f64,
        mode: RreluMode,
    ) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data;
}

impl<A, S, D> ReluExt<A, S, D> for ArrayBase<S, D>
where
    S: RawData<Elem = A>,
    D: Dimension,
{
    fn activation<Act: Activation>(&self, activation: &Act) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::forward(activation, self)
    }

    fn activation_inplace<Act: Activation>(&mut self, activation: &Act) -> Result<(), Error>
    where
        A: Float,
        S: DataMut,
    {
        family::forward_inplace(activation, self)
    }

    fn activation_derivative<Act: Activation>(&self, activation: &Act) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::derivative(activation, self)
    }

    fn relu(&self) -> Array<A, D>
    where
        A: Element,
        S: Data,
    {
        let mut out = alloc_like(self);
        map_lanes(self.view(), out.view_mut(), |x, o| {
            Exec::current().write(Unary { x, f: A::relu }, o)
        });
        out
    }

    fn relu_inplace(&mut self)
    where
        A: Element,
        S: DataMut,
    {
        inplace_lanes(self.view_mut(), |d| {
            Exec::current().update(UnaryInPlace { f: A::relu }, d)
        });
    }

    fn relu_derivative(&self) -> Array<A, D>
    where
        A: Float,
        S: Data,
    {
        family::derivative(&Relu, self).expect("no parameters to refuse")
    }

    fn leaky_relu(&self, negative_slope: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::forward(&LeakyRelu { negative_slope }, self)
    }

    fn leaky_relu_inplace(&mut self, negative_slope: f64) -> Result<(), Error>
    where
        A: Float,
        S: DataMut,
    {
        family::forward_inplace(&LeakyRelu { negative_slope }, self)
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
            return crate::prelu_inplace(data, &in_memory_order(weight, reversed), layout);
        }
        let input = view.to_owned();
        for_each_channel(input.view(), view, &weight, axis, |_, view, w| {
            let plan = prelu::Plan::Shared(w.widen());
            inplace_lanes(view, |d| prelu::forward_inplace(&exec, &plan, d))
        });
        Ok(())
    }

    fn relu6(&self) -> Array<A, D>
    where
        A: Float,
        S: Data,
    {
        family::forward(&Relu6, self).expect("no parameters to refuse")
    }

    fn relu6_inplace(&mut self)
    where
        A: Float,
        S: DataMut,
    {
        let _ = family::forward_inplace(&Relu6, self);
    }

    fn clipped_relu(&self, ceiling: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::forward(&ClippedRelu { ceiling }, self)
    }

    fn clipped_relu_inplace(&mut self, ceiling: f64) -> Result<(), Error>
    where
        A: Float,
        S: DataMut,
    {
        family::forward_inplace(&ClippedRelu { ceiling }, self)
    }

    fn threshold(&self, threshold: f64, value: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::forward(&Threshold { threshold, value }, self)
    }

    fn threshold_inplace(&mut self, threshold: f64, value: f64) -> Result<(), Error>
    where
        A: Float,
        S: DataMut,
    {
        family::forward_inplace(&Threshold { threshold, value }, self)
    }

    fn rrelu(&self, lower: f64, upper: f64, mode: RreluMode) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::forward(&Rrelu { lower, upper, mode }, self)
    }

    fn rrelu_inplace(&mut self, lower: f64, upper: f64, mode: RreluMode) -> Result<(), Error>
    where
        A: Float,
        S: DataMut,
    {
        family::forward_inplace(&Rrelu { lower, upper, mode }, self)
    }

    fn leaky_relu_derivative(&self, negative_slope: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::derivative(&LeakyRelu { negative_slope }, self)
    }

    fn prelu_derivative<S2: Data<Elem = A>>(
        &self,
        weight: &ArrayBase<S2, Ix1>,
        axis: Axis,
    ) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        let weight = check_prelu(self.shape(), weight, axis)?;
        let mut out = alloc_like(self);
        if let (Some((layout, reversed)), Some(x)) = (
            memory_layout(self.view(), axis),
            self.as_slice_memory_order(),
        ) && let Some(o) = out.as_slice_memory_order_mut()
        {
            crate::prelu_derivative(x, &in_memory_order(weight, reversed), layout, o)?;
            return Ok(out);
        }
        let mut result = Ok(());
        for_each_channel(
            self.view(),
            out.view_mut(),
            &weight,
            axis,
            |x, out, slope| {
                map_lanes(x, out, |x, o| {
                    if result.is_ok() {
                        result = crate::prelu_derivative(
                            x,
                            &[slope],
                            ChannelLayout::new(1, 1, x.len()),
                            o,
                        );
                    }
                })
            },
        );
        result.map(|_| out)
    }

    fn relu6_derivative(&self) -> Array<A, D>
    where
        A: Float,
        S: Data,
    {
        family::derivative(&Relu6, self).expect("no parameters to refuse")
    }

    fn clipped_relu_derivative(&self, ceiling: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::derivative(&ClippedRelu { ceiling }, self)
    }

    fn threshold_derivative(&self, threshold: f64) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        let t = Threshold {
            threshold,
            value: 0.0,
        };
        family::derivative(&t, self)
    }

    fn rrelu_derivative(
        &self,
        lower: f64,
        upper: f64,
        mode: RreluMode,
    ) -> Result<Array<A, D>, Error>
    where
        A: Float,
        S: Data,
    {
        family::derivative(&Rrelu { lower, upper, mode }, self)
    }
}

/// `activation` of `input` into `output`.
///
/// # Errors
/// The activation's parameter errors; [`ErrorKind::ShapeMismatch`] if the shapes differ.
/// Nothing is written then.
pub fn activation_into<Act: Activation, A: Float, S: Data<Elem = A>, D: Dimension>(
    activation: &Act,
    input: &ArrayBase<S, D>,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    family::forward_into(activation, input.view(), output)
}

/// The derivative of `activation` at `input` into `output`.
///
/// # Errors
/// As [`activation_into`].
pub fn activation_derivative_into<Act: Activation, A: Float, S: Data<Elem = A>, D: Dimension>(
    activation: &Act,
    input: &ArrayBase<S, D>,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    family::derivative_into(activation, input.view(), output)
}

/// The backward pass of `activation`: the gradient with respect to `input`, in a new
/// array with the memory order of `input` (see [`activation::backward`](crate::activation::backward)).
///
/// # Errors
/// The activation's parameter errors; [`ErrorKind::ShapeMismatch`] if the shapes differ.
pub fn activation_backward<Act, A, S1, S2, D>(
    activation: &Act,
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
) -> Result<Array<A, D>, Error>
where
    Act: Activation,
    A: Float,
    S1: Data<Elem = A>,
    S2: Data<Elem = A>,
    D: Dimension,
{
    let mut out = alloc_like(input);
    activation_backward_into(activation, grad_output, input, out.view_mut())?;
    Ok(out)
}

/// The backward pass of `activation` into `grad_input`.
///
/// # Errors
/// As [`activation_backward`]; nothing is written then.
pub fn activation_backward_into<Act, A, S1, S2, D>(
    activation: &Act,
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    grad_input: ArrayViewMut<'_, A, D>,
) -> Result<(), Error>
where
    Act: Activation,
    A: Float,
    S1: Data<Elem = A>,
    S2: Data<Elem = A>,
    D: Dimension,
{
    family::backward_into(activation, grad_output.view(), input.view(), grad_input)
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
        Exec::current().write(Unary { x, f: A::relu }, o)
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
    family::derivative_into(&Relu, input.view(), output)
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
    family::forward_into(&LeakyRelu { negative_slope }, input.view(), output)
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
        return crate::prelu(x, &in_memory_order(weight, reversed), layout, out);
    }
    for_each_channel(input.view(), output, &weight, axis, |x, out, w| {
        let plan = prelu::Plan::Shared(w.widen());
        map_lanes(x, out, |x, o| prelu::forward(&exec, &plan, x, o))
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
    activation_backward(&Relu, grad_output, input)
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
    activation_backward_into(&Relu, grad_output, input, grad_input)
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
    activation_backward(&LeakyRelu { negative_slope }, grad_output, input)
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
    let leaky = LeakyRelu { negative_slope };
    activation_backward_into(&leaky, grad_output, input, grad_input)
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
    Error::check_grad_weight(grad_weight.len(), weight.len())?;
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
    match grad_input.as_slice_mut() {
        Some(gx) => crate::prelu_backward(g, x, &weight, layout, gx, &mut sums)?,
        None => {
            let mut gx = vec![A::ZERO; x.len()];
            crate::prelu_backward(g, x, &weight, layout, &mut gx, &mut sums)?;
            let gx = ArrayView::from_shape(grad_input.raw_dim(), &gx)
                .map_err(|e| Error::new(ErrorKind::ShapeMismatch, e.to_string()))?;
            grad_input.assign(&gx);
        }
    }
    grad_weight.iter_mut().zip(sums).for_each(|(gw, s)| *gw = s);
    Ok(())
}

/// Clipped ReLU of `input` into `output`.
///
/// # Errors
/// [`ErrorKind::OutOfRange`], [`ErrorKind::ShapeMismatch`].
pub fn clipped_relu_into<A: Float, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    ceiling: f64,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    family::forward_into(&ClippedRelu { ceiling }, input.view(), output)
}

/// `threshold` of `input` into `output`.
///
/// # Errors
/// [`ErrorKind::OutOfRange`], [`ErrorKind::ShapeMismatch`].
pub fn threshold_into<A: Float, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    threshold: f64,
    value: f64,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let t = Threshold { threshold, value };
    family::forward_into(&t, input.view(), output)
}

/// RReLU of `input` into `output`; in training, element `i` in logical (C) order gets the
/// slope of index `i`, whatever the memory layouts.
///
/// # Errors
/// As [`rrelu`](crate::rrelu), and [`ErrorKind::ShapeMismatch`].
pub fn rrelu_into<A: Float, S: Data<Elem = A>, D: Dimension>(
    input: &ArrayBase<S, D>,
    lower: f64,
    upper: f64,
    mode: RreluMode,
    output: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let rrelu = Rrelu { lower, upper, mode };
    family::forward_into(&rrelu, input.view(), output)
}

/// ReLU6 backward: the gradient with respect to `input`.
///
/// # Errors
/// [`ErrorKind::ShapeMismatch`].
pub fn relu6_backward<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
) -> Result<Array<A, D>, Error> {
    activation_backward(&Relu6, grad_output, input)
}

/// Clipped ReLU backward: the gradient with respect to `input`.
///
/// # Errors
/// [`ErrorKind::OutOfRange`], [`ErrorKind::ShapeMismatch`].
pub fn clipped_relu_backward<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    ceiling: f64,
) -> Result<Array<A, D>, Error> {
    activation_backward(&ClippedRelu { ceiling }, grad_output, input)
}

/// Clipped ReLU backward into `grad_input`.
///
/// # Errors
/// [`ErrorKind::OutOfRange`], [`ErrorKind::ShapeMismatch`].
pub fn clipped_relu_backward_into<
    A: Float,
    S1: Data<Elem = A>,
    S2: Data<Elem = A>,
    D: Dimension,
>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    ceiling: f64,
    grad_input: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let clipped = ClippedRelu { ceiling };
    activation_backward_into(&clipped, grad_output, input, grad_input)
}

/// `threshold` backward: the gradient with respect to `input`.
///
/// # Errors
/// [`ErrorKind::OutOfRange`], [`ErrorKind::ShapeMismatch`].
pub fn threshold_backward<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    threshold: f64,
) -> Result<Array<A, D>, Error> {
    let t = Threshold {
        threshold,
        value: 0.0,
    };
    activation_backward(&t, grad_output, input)
}

/// `threshold` backward into `grad_input`.
///
/// # Errors
/// [`ErrorKind::OutOfRange`], [`ErrorKind::ShapeMismatch`].
pub fn threshold_backward_into<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    threshold: f64,
    grad_input: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let t = Threshold {
        threshold,
        value: 0.0,
    };
    activation_backward_into(&t, grad_output, input, grad_input)
}

/// RReLU backward: the gradient with respect to `input` (slopes drawn again from the
/// seed, element `i` in logical order with index `i`).
///
/// # Errors
/// As [`rrelu`](crate::rrelu), and [`ErrorKind::ShapeMismatch`].
pub fn rrelu_backward<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    lower: f64,
    upper: f64,
    mode: RreluMode,
) -> Result<Array<A, D>, Error> {
    activation_backward(&Rrelu { lower, upper, mode }, grad_output, input)
}

/// RReLU backward into `grad_input`.
///
/// # Errors
/// As [`rrelu_backward`].
pub fn rrelu_backward_into<A: Float, S1: Data<Elem = A>, S2: Data<Elem = A>, D: Dimension>(
    grad_output: &ArrayBase<S1, D>,
    input: &ArrayBase<S2, D>,
    lower: f64,
    upper: f64,
    mode: RreluMode,
    grad_input: ArrayViewMut<'_, A, D>,
) -> Result<(), Error> {
    let rrelu = Rrelu { lower, upper, mode };
    activation_backward_into(&rrelu, grad_output, input, grad_input)
}
