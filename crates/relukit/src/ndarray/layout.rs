//! Shapes and memory layouts: argument checks, the `[outer, channels, inner]` layout of
//! an array around an axis (logical, or in memory order), and new arrays that keep an
//! input's memory order.

use ndarray::{Array, ArrayBase, ArrayView, Axis, Data, Dimension, Ix1, ShapeBuilder};

use crate::{ChannelLayout, Element, Error, ErrorKind, Float};

pub(super) fn check_shape(
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

pub(super) fn check_axis(axis: Axis, shape: &[usize], name: &str) -> Result<(), Error> {
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
pub(super) fn check_prelu<A: Float, S: Data<Elem = A>>(
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
pub(super) fn logical_layout(shape: &[usize], axis: Axis) -> ChannelLayout {
    let k = axis.index();
    ChannelLayout::new(
        shape[..k].iter().product(),
        shape[k],
        shape[k + 1..].iter().product(),
    )
}

/// `values` in memory order: reversed when the axis runs backwards in memory.
pub(super) fn in_memory_order<A>(mut values: Vec<A>, reversed: bool) -> Vec<A> {
    if reversed {
        values.reverse();
    }
    values
}

/// For an array contiguous in some memory order: `[outer, channels, inner]` around
/// `axis` in that order, and whether `axis` runs backwards in memory.
pub(super) fn memory_layout<A, D: Dimension>(
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
pub(super) fn alloc_like<A: Element, B, S: Data<Elem = B>, D: Dimension>(
    like: &ArrayBase<S, D>,
) -> Array<A, D> {
    let len = like.len();
    if len > 0 && like.as_slice_memory_order().is_some() {
        let mut strides = like.raw_dim();
        for (a, &s) in strides.slice_mut().iter_mut().zip(like.strides()) {
            *a = s.unsigned_abs();
        }
        if let Ok(mut out) = Array::from_shape_vec(like.raw_dim().strides(strides), zeroed(len)) {
            for (i, &s) in like.strides().iter().enumerate() {
                if s < 0 {
                    out.invert_axis(Axis(i));
                }
            }
            return out;
        }
    }
    Array::from_shape_vec(like.raw_dim(), zeroed(len))
        .unwrap_or_else(|_| Array::from_elem(like.raw_dim(), A::ZERO))
}

/// `len` zeros for an output, in transparent huge pages where it is large (see
/// [`exec::advise_huge_pages`](crate::exec::advise_huge_pages)).
fn zeroed<A: Element>(len: usize) -> Vec<A> {
    let out = vec![A::ZERO; len];
    crate::exec::advise_huge_pages(&out);
    out
}
