//! The ndarray adapter on arrays of 0 to 4 dimensions in every layout a user can make
//! (C, F, reversed, permuted, stepped views, broadcast inputs): element by element the
//! reference, and PReLU's weight gradient with the bits of the same data in C order.

#![no_main]

mod common;

use arbitrary::Arbitrary;
use common::run;
use libfuzzer_sys::fuzz_target;
use ndarray::{Array1, ArrayD, ArrayViewD, Axis, IxDyn, Slice};
use relukit::ndarray::{ReluExt, prelu_backward, relu_backward};
use relukit::reference;

#[derive(Debug, Arbitrary)]
struct Case {
    config: u8,
    shape: Vec<u8>,
    permutation: u8,
    reversed: u8,
    step: (u8, u8),
    axis: u8,
    shared_weight: bool,
    slope: f32,
    data: Vec<u32>,
}

fuzz_target!(|case: Case| {
    let shape: Vec<usize> = case.shape.iter().take(4).map(|&n| n as usize % 6).collect();
    let ndim = shape.len();
    let value = |i: usize, salt: u32| {
        let raw = case.data.get(i % case.data.len().max(1)).copied().unwrap_or(0);
        f32::from_bits(raw.rotate_left(salt) ^ salt)
    };
    // A larger array, then a view of it: stepped along one axis, axes reversed, permuted.
    let mut wide = shape.clone();
    let (step_axis, step) = (case.step.0 as usize, 1 + case.step.1 as usize % 3);
    if ndim > 0 {
        wide[step_axis % ndim] *= step;
    }
    let len: usize = wide.iter().product();
    let base = ArrayD::from_shape_vec(IxDyn(&wide), (0..len).map(|i| value(i, 0)).collect()).unwrap();
    let grads = ArrayD::from_shape_vec(IxDyn(&wide), (0..len).map(|i| value(i, 7)).collect()).unwrap();
    let view = |a| layout_view(a, &case, step_axis, step);
    let (x, g) = (view(&base), view(&grads));

    let y = run(case.config, || x.relu());
    for (got, &v) in y.iter().zip(x.iter()) {
        assert_eq!(got.to_bits(), reference::relu(v).to_bits(), "relu");
    }
    let gx = run(case.config, || relu_backward(&g, &x)).unwrap();
    for ((got, &gv), &v) in gx.iter().zip(g.iter()).zip(x.iter()) {
        assert_eq!(got.to_bits(), reference::relu_backward(gv, v).to_bits(), "relu_backward");
    }
    let slope = case.slope as f64;
    if slope.is_finite() {
        let y = run(case.config, || x.leaky_relu(slope)).unwrap();
        for (got, &v) in y.iter().zip(x.iter()) {
            assert_eq!(got.to_bits(), reference::leaky_relu(v, slope).to_bits(), "leaky_relu");
        }
    }
    if ndim == 0 {
        return;
    }
    let axis = Axis(case.axis as usize % ndim);
    let channels = x.len_of(axis);
    let weights = if case.shared_weight || channels == 0 { 1 } else { channels };
    let w: Array1<f32> = (0..weights).map(|i| value(i, 3)).collect();
    let y = run(case.config, || x.prelu(&w, axis)).unwrap();
    for ((index, &v), got) in x.indexed_iter().zip(y.iter()) {
        let c = if weights == 1 { 0 } else { index[axis.index()] };
        let want = reference::prelu(&[v], &[w[c]], relukit::ChannelLayout::new(1, 1, 1))[0];
        assert_eq!(got.to_bits(), want.to_bits(), "prelu");
    }
    let (_, gw) = run(case.config, || prelu_backward(&g, &x, &w, axis)).unwrap();
    let (gc, xc) = (g.as_standard_layout().into_owned(), x.as_standard_layout().into_owned());
    let (_, gw_c) = run(case.config, || prelu_backward(&gc, &xc, &w, axis)).unwrap();
    let bits = |a: &Array1<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&gw), bits(&gw_c), "grad_weight differs from the C-order copy's");
});

/// The view of `a` the case describes: stepped along one axis, axes reversed, permuted.
fn layout_view<'a>(a: &'a ArrayD<f32>, case: &Case, step_axis: usize, step: usize) -> ArrayViewD<'a, f32> {
    let mut v = a.view();
    let ndim = v.ndim();
    if ndim > 0 {
        v.slice_axis_inplace(Axis(step_axis % ndim), Slice::new(0, None, step as isize));
        for k in 0..ndim {
            if case.reversed >> k & 1 == 1 {
                v.invert_axis(Axis(k));
            }
        }
        let mut order: Vec<usize> = (0..ndim).collect();
        order.rotate_left(case.permutation as usize % ndim);
        v = v.permuted_axes(IxDyn(&order));
    }
    v
}
