//! The ndarray adapter and the dead-unit monitor against the slice reference, on random
//! shapes of 0 to 5 dimensions in every memory layout a user can hand over.

#![cfg(feature = "ndarray")]

use ndarray::{Array1, ArrayD, ArrayViewD, Axis, Dimension, IxDyn, ShapeBuilder, Slice, array};
use relukit::ndarray::{
    ReluExt, leaky_relu_backward, prelu_backward, prelu_backward_into, relu_backward,
    relu_backward_into, relu_into, relu_observed, relu_observed_into,
};
use relukit::{DeadUnitMonitor, ErrorKind, bf16, reference};

/// The tests' generator, with the values these tests need.
struct Rng(relukit::testing::Rng);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(relukit::testing::Rng::new(seed))
    }
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: usize) -> usize {
        self.0.below(n)
    }
    /// Uniform in [-1, 1), with all the bits of an f32.
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u32 << 23) as f32 - 1.0
    }
    fn value(&mut self) -> f32 {
        match self.below(16) {
            0 => f32::NAN,
            1 => -0.0,
            2 => 0.0,
            3 => f32::NEG_INFINITY,
            _ => (self.below(2001) as f32 - 1000.0) / 250.0,
        }
    }
}

fn random_shape(rng: &mut Rng) -> Vec<usize> {
    let ndim = rng.below(6);
    (0..ndim)
        .map(|_| {
            if rng.below(8) == 0 {
                0
            } else if rng.below(5) == 0 {
                17
            } else {
                1 + rng.below(4)
            }
        })
        .collect()
}

fn random_c(rng: &mut Rng, shape: &[usize]) -> ArrayD<f32> {
    let len = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..len).map(|_| rng.value()).collect()).unwrap()
}

/// The same kind of data in each layout: C, F, a reversed axis, permuted axes, and a
/// view taking every other element along one axis.
fn layouts(rng: &mut Rng, shape: &[usize]) -> Vec<(&'static str, ArrayD<f32>)> {
    let mut all = vec![("C", random_c(rng, shape))];
    let mut f = ArrayD::zeros(IxDyn(shape).f());
    f.assign(&random_c(rng, shape));
    all.push(("F", f));
    if !shape.is_empty() {
        let mut reversed = random_c(rng, shape);
        reversed.invert_axis(Axis(rng.below(shape.len())));
        all.push(("reversed", reversed));
        let mut order: Vec<usize> = (0..shape.len()).collect();
        order.reverse();
        order.rotate_left(rng.below(shape.len()));
        all.push((
            "permuted",
            random_c(rng, shape).permuted_axes(IxDyn(&order)),
        ));
        let k = rng.below(shape.len());
        let mut wide = shape.to_vec();
        wide[k] = wide[k] * 2 + 1;
        let mut stepped = random_c(rng, &wide);
        stepped.slice_axis_inplace(Axis(k), Slice::new(1, None, 2));
        all.push(("stepped", stepped));
    }
    all
}

fn bits(a: &ArrayViewD<'_, f32>) -> Vec<u32> {
    a.iter().map(|v| v.to_bits()).collect()
}

#[track_caller]
fn assert_same_layout_if_contiguous(input: &ArrayD<f32>, output: &ArrayD<f32>, what: &str) {
    if input.as_slice_memory_order().is_some() && !input.is_empty() {
        assert_eq!(
            input.strides(),
            output.strides(),
            "{what}: the output should keep the input's memory order"
        );
    }
}

/// The rest of the family on arrays of every layout: element by element the reference;
/// RReLU's slope keyed by the element's logical (C-order) index.
#[test]
fn the_family_matches_the_reference_in_every_layout() {
    use relukit::RreluMode;
    use relukit::ndarray::{
        clipped_relu_backward, relu6_backward, rrelu_backward, threshold_backward,
    };
    let mut rng = Rng::new(11);
    let expect = |got: &ArrayD<f32>, x: &ArrayD<f32>, f: &dyn Fn(usize, f32) -> f32| -> Vec<u32> {
        assert_eq!(got.shape(), x.shape());
        // Logical order: ArrayBase::iter walks the logical (C) order of any view.
        x.iter()
            .enumerate()
            .map(|(i, &v)| f(i, v).to_bits())
            .collect()
    };
    for _ in 0..200 {
        let shape = random_shape(&mut rng);
        for (name, x) in layouts(&mut rng, &shape) {
            let what = format!("{name} {:?} strides {:?}", x.shape(), x.strides());
            let g = random_c(&mut rng, x.shape());
            let gs: Vec<f32> = g.iter().copied().collect();
            type Expected<'a> = Box<dyn Fn(usize, f32) -> f32 + 'a>;
            let cases: Vec<(&str, ArrayD<f32>, Expected<'_>)> = vec![
                (
                    "relu6",
                    x.relu6(),
                    Box::new(|_, v| reference::clipped_relu(v, 6.0)),
                ),
                (
                    "relu6_derivative",
                    x.relu6_derivative(),
                    Box::new(|_, v| reference::clipped_relu_derivative(v, 6.0)),
                ),
                (
                    "clipped_relu",
                    x.clipped_relu(1.5).unwrap(),
                    Box::new(|_, v| reference::clipped_relu(v, 1.5)),
                ),
                (
                    "clipped_relu_derivative",
                    x.clipped_relu_derivative(1.5).unwrap(),
                    Box::new(|_, v| reference::clipped_relu_derivative(v, 1.5)),
                ),
                (
                    "threshold",
                    x.threshold(0.5, -2.0).unwrap(),
                    Box::new(|_, v| reference::threshold(v, 0.5, -2.0)),
                ),
                (
                    "threshold_derivative",
                    x.threshold_derivative(0.5).unwrap(),
                    Box::new(|_, v| reference::threshold_derivative(v, 0.5)),
                ),
                (
                    "leaky_relu_derivative",
                    x.leaky_relu_derivative(0.2).unwrap(),
                    Box::new(|_, v| reference::leaky_relu_derivative(v, 0.2)),
                ),
                (
                    "rrelu",
                    x.rrelu(0.1, 0.4, RreluMode::Training { seed: 5 }).unwrap(),
                    Box::new(|i, v| {
                        reference::rrelu(v, 0.1, 0.4, RreluMode::Training { seed: 5 }, i as u64)
                    }),
                ),
                (
                    "rrelu_derivative",
                    x.rrelu_derivative(0.1, 0.4, RreluMode::Training { seed: 5 })
                        .unwrap(),
                    Box::new(|i, v| {
                        reference::rrelu_derivative(
                            v,
                            0.1,
                            0.4,
                            RreluMode::Training { seed: 5 },
                            i as u64,
                        )
                    }),
                ),
                (
                    "rrelu eval",
                    x.rrelu(0.1, 0.4, RreluMode::Evaluation).unwrap(),
                    Box::new(|_, v| reference::leaky_relu(v, 0.25)),
                ),
                (
                    "relu6_backward",
                    relu6_backward(&g, &x).unwrap(),
                    Box::new(|i, v| reference::clipped_relu_backward(gs[i], v, 6.0)),
                ),
                (
                    "clipped_relu_backward",
                    clipped_relu_backward(&g, &x, 2.0).unwrap(),
                    Box::new(|i, v| reference::clipped_relu_backward(gs[i], v, 2.0)),
                ),
                (
                    "threshold_backward",
                    threshold_backward(&g, &x, -0.5).unwrap(),
                    Box::new(|i, v| reference::threshold_backward(gs[i], v, -0.5)),
                ),
                (
                    "rrelu_backward",
                    rrelu_backward(&g, &x, 0.1, 0.4, RreluMode::Training { seed: 5 }).unwrap(),
                    Box::new(|i, v| {
                        reference::rrelu_backward(
                            gs[i],
                            v,
                            0.1,
                            0.4,
                            RreluMode::Training { seed: 5 },
                            i as u64,
                        )
                    }),
                ),
            ];
            for (op, got, f) in cases {
                assert_eq!(bits(&got.view()), expect(&got, &x, &*f), "{op} {what}");
            }
            let mut z = x.clone();
            z.rrelu_inplace(0.1, 0.4, RreluMode::Training { seed: 5 })
                .unwrap();
            assert_eq!(
                bits(&z.view()),
                bits(
                    &x.rrelu(0.1, 0.4, RreluMode::Training { seed: 5 })
                        .unwrap()
                        .view()
                ),
                "rrelu_inplace {what}"
            );
            let mut z = x.clone();
            z.relu6_inplace();
            assert_eq!(
                bits(&z.view()),
                bits(&x.relu6().view()),
                "relu6_inplace {what}"
            );
            let mut z = x.clone();
            z.threshold_inplace(0.5, -2.0).unwrap();
            assert_eq!(
                bits(&z.view()),
                bits(&x.threshold(0.5, -2.0).unwrap().view()),
                "threshold_inplace {what}"
            );
            if let Some(k) = (0..x.ndim()).find(|&k| x.shape()[k] > 0) {
                let channels = x.shape()[k];
                let weight: Array1<f32> = (0..channels).map(|_| rng.value()).collect();
                let d = x.prelu_derivative(&weight, Axis(k)).unwrap();
                let expected: Vec<u32> = x
                    .indexed_iter()
                    .map(|(index, &v)| {
                        reference::prelu_derivative(
                            &[v],
                            &[weight[index[k]]],
                            relukit::ChannelLayout::new(1, 1, 1),
                        )[0]
                        .to_bits()
                    })
                    .collect();
                assert_eq!(
                    bits(&d.view()),
                    expected,
                    "prelu_derivative axis {k} {what}"
                );
            }
        }
    }
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    assert_eq!(
        x.clipped_relu(-1.0).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    assert_eq!(
        x.threshold(f64::NAN, 0.0).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
    assert_eq!(
        x.rrelu(0.5, 0.1, RreluMode::Evaluation).unwrap_err().kind(),
        ErrorKind::OutOfRange
    );
}

#[test]
fn elementwise_functions_match_the_reference_in_every_layout() {
    let mut rng = Rng::new(1);
    for _ in 0..300 {
        let shape = random_shape(&mut rng);
        for (name, x) in layouts(&mut rng, &shape) {
            let what = format!("{name} {:?} strides {:?}", x.shape(), x.strides());
            let y = x.relu();
            assert_eq!(
                bits(&y.view()),
                x.iter()
                    .map(|&v| reference::relu(v).to_bits())
                    .collect::<Vec<_>>(),
                "relu {what}"
            );
            assert_same_layout_if_contiguous(&x, &y, &what);
            let mut z = x.clone();
            z.relu_inplace();
            assert_eq!(bits(&z.view()), bits(&y.view()), "relu_inplace {what}");
            let d = x.relu_derivative();
            let expected: Vec<u32> = x
                .iter()
                .map(|&v| reference::relu_derivative(v).to_bits())
                .collect();
            assert_eq!(bits(&d.view()), expected, "relu_derivative {what}");
            let l = x.leaky_relu(0.1).unwrap();
            let expected: Vec<u32> = x
                .iter()
                .map(|&v| reference::leaky_relu(v, 0.1).to_bits())
                .collect();
            assert_eq!(bits(&l.view()), expected, "leaky_relu {what}");
            let mut z = x.clone();
            z.leaky_relu_inplace(0.1).unwrap();
            assert_eq!(bits(&z.view()), expected, "leaky_relu_inplace {what}");

            // Backward, with a gradient in another layout (C order) and as a broadcast view.
            let g = random_c(&mut rng, x.shape());
            let gx = relu_backward(&g, &x).unwrap();
            let expected: Vec<u32> = g
                .iter()
                .zip(x.iter())
                .map(|(&g, &x)| reference::relu_backward(g, x).to_bits())
                .collect();
            assert_eq!(bits(&gx.view()), expected, "relu_backward {what}");
            assert_same_layout_if_contiguous(&x, &gx, &what);
            let lg = leaky_relu_backward(&g, &x, 0.25).unwrap();
            let expected: Vec<u32> = g
                .iter()
                .zip(x.iter())
                .map(|(&g, &x)| reference::leaky_relu_backward(g, x, 0.25).to_bits())
                .collect();
            assert_eq!(bits(&lg.view()), expected, "leaky_relu_backward {what}");
            let one = ArrayD::from_elem(IxDyn(&vec![1; x.ndim()]), 3.0f32);
            let broadcast = one.broadcast(x.raw_dim()).unwrap();
            let gb = relu_backward(&broadcast, &x).unwrap();
            let expected: Vec<u32> = x
                .iter()
                .map(|&x| reference::relu_backward(3.0, x).to_bits())
                .collect();
            assert_eq!(
                bits(&gb.view()),
                expected,
                "relu_backward with a broadcast gradient {what}"
            );

            // Into a strided output view.
            let mut wide =
                ArrayD::<f32>::zeros(IxDyn(&x.shape().iter().map(|&n| n * 2).collect::<Vec<_>>()));
            let mut out = wide.slice_each_axis_mut(|ax| {
                Slice::new(0, Some(ax.len as isize / 2 * 2), 2).step_by(1)
            });
            relu_into(&x, out.view_mut()).unwrap();
            assert_eq!(
                bits(&out.view()),
                bits(&y.view()),
                "relu_into a stepped view {what}"
            );
            let mut into = ArrayD::<f32>::zeros(x.raw_dim());
            relu_backward_into(&g, &x, into.view_mut()).unwrap();
            assert_eq!(
                bits(&into.view()),
                bits(&gx.view()),
                "relu_backward_into {what}"
            );
        }
    }
}

#[test]
fn integer_and_half_arrays_work() {
    let x = array![[-3i8, 4], [i8::MIN, i8::MAX]];
    assert_eq!(x.relu(), array![[0i8, 4], [0, i8::MAX]]);
    let h = array![bf16::from_f32(-1.0), bf16::from_f32(2.0)].into_dyn();
    let y = h.leaky_relu(0.5).unwrap();
    assert_eq!(
        y.iter().map(|v| v.to_f32()).collect::<Vec<_>>(),
        vec![-0.5, 2.0]
    );
}

#[test]
fn zero_size_and_zero_dimensional_arrays() {
    let scalar = ndarray::arr0(-2.5f32);
    assert_eq!(scalar.relu(), ndarray::arr0(0.0));
    assert_eq!(scalar.leaky_relu(0.5).unwrap(), ndarray::arr0(-1.25));
    let empty = ArrayD::<f32>::zeros(IxDyn(&[3, 0, 2]));
    assert_eq!(empty.relu().shape(), &[3, 0, 2]);
    let (gx, gw) = prelu_backward(&empty, &empty, &Array1::from_elem(1, 0.5f32), Axis(1)).unwrap();
    assert_eq!((gx.shape(), gw.to_vec()), (&[3, 0, 2][..], vec![0.0]));
    let err = scalar.prelu(&array![0.5f32], Axis(0)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AxisOutOfRange);
}

#[test]
fn prelu_matches_the_reference_along_every_axis() {
    let mut rng = Rng::new(2);
    for _ in 0..200 {
        let shape = random_shape(&mut rng);
        if shape.is_empty() {
            continue;
        }
        for (name, x) in layouts(&mut rng, &shape) {
            for k in 0..x.ndim() {
                let channels = x.shape()[k];
                for shared in [false, true] {
                    let weights = if shared { 1 } else { channels };
                    let weight: Array1<f32> = (0..weights).map(|_| rng.value()).collect();
                    let channel_of = |index: &[usize]| if shared { 0 } else { index[k] };
                    let what = format!(
                        "{name} {:?} strides {:?} axis {k} weights {weights}",
                        x.shape(),
                        x.strides()
                    );
                    let y = x.prelu(&weight, Axis(k)).unwrap();
                    let expected: Vec<u32> = x
                        .indexed_iter()
                        .map(|(i, &v)| {
                            let w = weight[channel_of(i.slice())];
                            reference::prelu(&[v], &[w], relukit::ChannelLayout::new(1, 1, 1))[0]
                                .to_bits()
                        })
                        .collect();
                    assert_eq!(bits(&y.view()), expected, "prelu {what}");
                    let mut z = x.clone();
                    z.prelu_inplace(&weight, Axis(k)).unwrap();
                    assert_eq!(bits(&z.view()), expected, "prelu_inplace {what}");

                    let g = random_c(&mut rng, x.shape());
                    let (gx, gw) = prelu_backward(&g, &x, &weight, Axis(k)).unwrap();
                    let mut sums = vec![0.0f64; weights];
                    let mut scale = vec![0.0f64; weights];
                    let expected: Vec<u32> = x
                        .indexed_iter()
                        .zip(g.iter())
                        .map(|((i, &v), &g)| {
                            let c = channel_of(i.slice());
                            if v <= 0.0 || v.is_nan() {
                                sums[c] += g as f64 * v as f64;
                                scale[c] += (g as f64 * v as f64).abs();
                            }
                            let layout = relukit::ChannelLayout::new(1, 1, 1);
                            reference::prelu_backward(&[g], &[v], &[weight[c]], layout).0[0]
                                .to_bits()
                        })
                        .collect();
                    assert_eq!(
                        bits(&gx.view()),
                        expected,
                        "prelu_backward grad_input {what}"
                    );
                    for c in 0..weights {
                        let (got, want) = (gw[c] as f64, sums[c]);
                        if want.is_nan() || !scale[c].is_finite() {
                            assert!(
                                got.is_nan() || !scale[c].is_finite(),
                                "grad_weight[{c}] {what}: {got} vs NaN"
                            );
                        } else {
                            let tolerance =
                                1e-5 * scale[c] + 2.0 * f32::EPSILON as f64 * want.abs() + 1e-30;
                            assert!(
                                (got - want).abs() <= tolerance,
                                "grad_weight[{c}] {what}: {got} vs {want}"
                            );
                        }
                    }
                    // The reduction order is a function of the logical shape only: every
                    // layout gives the bits of the same data in C order.
                    let standard = (g.as_standard_layout(), x.as_standard_layout());
                    let (_, gw_c) =
                        prelu_backward(&standard.0, &standard.1, &weight, Axis(k)).unwrap();
                    assert_eq!(
                        gw.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        gw_c.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                        "grad_weight {what} differs from the C-order copy's"
                    );
                    let mut into_gx = ArrayD::<f32>::zeros(x.raw_dim().f());
                    let mut into_gw = Array1::<f32>::zeros(weights);
                    prelu_backward_into(
                        &g,
                        &x,
                        &weight,
                        Axis(k),
                        into_gx.view_mut(),
                        into_gw.view_mut(),
                    )
                    .unwrap();
                    assert_eq!(
                        bits(&into_gx.view()),
                        expected,
                        "prelu_backward_into {what}"
                    );
                }
            }
        }
    }
}

/// Views such as `x.slice(s![..;2, ..])` of a (2000, 3) array, F-order and permuted
/// arrays give the grad_weight of the same data made contiguous, bit for bit, on any
/// thread count.
#[test]
fn prelu_weight_gradient_does_not_depend_on_the_memory_layout() {
    use ndarray::{Array2, ArrayView2, s};
    let mut rng = Rng::new(77);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let weight = array![0.25f32, -0.5, 0.125];
    let bits = |a: &Array1<f32>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for case in 0..3000 {
        let rows = 1 + rng.below(4000);
        let x = Array2::from_shape_simple_fn((rows, 3), || rng.uniform() * 3.7 + 0.01);
        let g = Array2::from_shape_simple_fn((rows, 3), || rng.uniform() * 1.3 - 0.2);
        // The same logical values as F-order arrays (transposes of C-order ones).
        let (xt, gt) = (
            x.t().as_standard_layout().into_owned(),
            g.t().as_standard_layout().into_owned(),
        );
        let (step, start) = (1 + rng.below(3), rng.below(2).min(rows - 1));
        let views: [(&str, ArrayView2<'_, f32>, ArrayView2<'_, f32>); 3] = [
            (
                "stepped",
                x.slice(s![start..;step, ..]),
                g.slice(s![start..;step, ..]),
            ),
            ("F order", xt.t(), gt.t()),
            ("reversed", x.slice(s![..;-1, ..]), g.slice(s![..;-1, ..])),
        ];
        for (name, xv, gv) in views {
            let contiguous = (
                gv.as_standard_layout().into_owned(),
                xv.as_standard_layout().into_owned(),
            );
            let (_, expected) =
                prelu_backward(&contiguous.0, &contiguous.1, &weight, Axis(1)).unwrap();
            let (_, got) = prelu_backward(&gv, &xv, &weight, Axis(1)).unwrap();
            let (_, threaded) = pool
                .install(|| prelu_backward(&gv, &xv, &weight, Axis(1)))
                .unwrap();
            assert_eq!(
                bits(&got),
                bits(&expected),
                "case {case} {name}: {:?} strides {:?}",
                xv.shape(),
                xv.strides()
            );
            assert_eq!(
                bits(&threaded),
                bits(&expected),
                "case {case} {name} on 2 threads"
            );
        }
    }
}

#[test]
fn shape_axis_and_weight_errors_name_both_sides() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    let g = ArrayD::<f32>::zeros(IxDyn(&[3, 2]));
    let err = relu_backward(&g, &x).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ShapeMismatch);
    assert!(
        err.to_string().contains("[2, 3]") && err.to_string().contains("[3, 2]"),
        "{err}"
    );
    let mut out = ArrayD::<f32>::from_elem(IxDyn(&[2, 2]), 9.0);
    let err = relu_into(&x, out.view_mut()).unwrap_err();
    assert!(
        err.to_string()
            .contains("`output` has shape [2, 2], expected [2, 3]"),
        "{err}"
    );
    assert!(out.iter().all(|&v| v == 9.0), "nothing is written on error");
    let err = x.prelu(&array![0.1f32, 0.2], Axis(1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WeightMismatch);
    assert!(
        err.to_string().contains("2 elements") && err.to_string().contains("[2, 3]"),
        "{err}"
    );
    let err = x.prelu(&array![0.1f32], Axis(2)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AxisOutOfRange);
    assert!(
        err.to_string().contains("axis 2") && err.to_string().contains("2 axes"),
        "{err}"
    );
    let err = x.leaky_relu(f64::NAN).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NonFiniteSlope);
    let mut gw = Array1::<f32>::zeros(2);
    let mut gx = ArrayD::<f32>::zeros(IxDyn(&[2, 3]));
    let err = prelu_backward_into(
        &x,
        &x,
        &array![0.1f32, 0.2, 0.3],
        Axis(1),
        gx.view_mut(),
        gw.view_mut(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WeightMismatch);
}

/// Per unit along `axis`: (active, NaN) counted directly.
fn direct_counts(x: &ArrayD<f32>, axis: usize, units: usize) -> (Vec<u64>, Vec<u64>) {
    let (mut active, mut nan) = (vec![0u64; units], vec![0u64; units]);
    for (i, &v) in x.indexed_iter() {
        active[i[axis]] += (v > 0.0) as u64;
        nan[i[axis]] += v.is_nan() as u64;
    }
    (active, nan)
}

#[test]
fn monitor_counts_are_exact_in_every_layout() {
    let mut rng = Rng::new(3);
    for _ in 0..300 {
        let shape = random_shape(&mut rng);
        if shape.is_empty() {
            continue;
        }
        for (name, x) in layouts(&mut rng, &shape) {
            let axis = rng.below(x.ndim());
            let units = x.shape()[axis];
            let mut monitor = DeadUnitMonitor::new(units);
            monitor.observe(&x, Axis(axis)).unwrap();
            let (active, nan) = direct_counts(&x, axis, units);
            let what = format!(
                "{name} {:?} strides {:?} axis {axis}",
                x.shape(),
                x.strides()
            );
            assert_eq!(monitor.active_counts(), &active[..], "active {what}");
            assert_eq!(monitor.nan_counts(), &nan[..], "nan {what}");
            // Samples per unit: the product of the other axes.
            let samples: u64 = x
                .shape()
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != axis)
                .map(|(_, &n)| n as u64)
                .product();
            assert_eq!(monitor.samples(), samples, "samples {what}");
            let dead: Vec<usize> = if samples == 0 {
                vec![]
            } else {
                (0..units).filter(|&u| active[u] == 0).collect()
            };
            assert_eq!(monitor.dead_units(), dead, "dead {what}");
            if !x.is_empty() {
                let zeros = x.iter().filter(|v| **v <= 0.0).count() as f64;
                assert_eq!(
                    monitor.batch_zero_fraction(),
                    Some(zeros / x.len() as f64),
                    "zero fraction {what}"
                );
            }

            // The fused forward computes ReLU and the same counts.
            let mut fused = DeadUnitMonitor::new(units);
            let y = relu_observed(&x, &mut fused, Axis(axis)).unwrap();
            assert_eq!(
                bits(&y.view()),
                bits(&x.relu().view()),
                "relu_observed {what}"
            );
            assert_eq!(fused, monitor, "relu_observed counts {what}");
            let mut out = ArrayD::<f32>::zeros(x.raw_dim());
            let mut into = DeadUnitMonitor::new(units);
            relu_observed_into(&x, out.view_mut(), &mut into, Axis(axis)).unwrap();
            assert_eq!(into, monitor, "relu_observed_into counts {what}");

            // The magnitude sums have the bits of the reference on the data in logical
            // order, whatever the memory layout; with outputs given, of |h|.
            let standard = x.as_standard_layout();
            let (logical, _) = logical_split(x.shape(), axis);
            let data = standard.as_slice().unwrap();
            let expected = reference::magnitude_sums(data, None, logical);
            let sum_bits = |m: &DeadUnitMonitor| -> Vec<u64> {
                m.magnitude_sums()
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect()
            };
            let expected_bits: Vec<u64> = expected.iter().map(|v| v.to_bits()).collect();
            assert_eq!(sum_bits(&monitor), expected_bits, "sums {what}");
            let h = x.mapv(|v| reference::leaky_relu(v, 0.5));
            let h_standard = h.as_standard_layout();
            let leaky = reference::magnitude_sums(data, h_standard.as_slice(), logical);
            let mut outputs = DeadUnitMonitor::new(units);
            outputs.observe_outputs(&x, &h, Axis(axis)).unwrap();
            let leaky_bits: Vec<u64> = leaky.iter().map(|v| v.to_bits()).collect();
            assert_eq!(sum_bits(&outputs), leaky_bits, "leaky sums {what}");
            assert_eq!(
                outputs.active_counts(),
                &active[..],
                "outputs' counts {what}"
            );
        }
    }
}

/// `[outer, units, inner]` of a shape around `axis`, in logical order.
fn logical_split(shape: &[usize], axis: usize) -> (relukit::ChannelLayout, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (
        relukit::ChannelLayout::new(outer, shape[axis], inner),
        inner,
    )
}

#[test]
fn observe_outputs_refuses_outputs_of_another_shape() {
    let x = array![[1.0f32, -1.0], [2.0, -3.0]];
    let mut monitor = DeadUnitMonitor::new(2);
    let err = monitor
        .observe_outputs(&x, &array![[1.0f32, -1.0]], Axis(1))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ShapeMismatch, "{err}");
    assert_eq!(monitor, DeadUnitMonitor::new(2), "the monitor changed");
}

#[test]
fn merge_equals_observing_the_concatenated_batches() {
    let mut rng = Rng::new(4);
    let a = random_c(&mut rng, &[7, 5, 3]);
    let b = random_c(&mut rng, &[4, 5, 3]);
    let mut first = DeadUnitMonitor::new(5);
    let mut second = DeadUnitMonitor::new(5);
    first.observe(&a, Axis(1)).unwrap();
    second.observe(&b, Axis(1)).unwrap();
    first.merge(&second).unwrap();
    let both = ndarray::concatenate(Axis(0), &[a.view(), b.view()]).unwrap();
    let mut together = DeadUnitMonitor::new(5);
    together.observe(&both, Axis(1)).unwrap();
    assert_eq!(first.active_counts(), together.active_counts());
    assert_eq!(first.nan_counts(), together.nan_counts());
    assert_eq!(first.samples(), together.samples());
    assert_eq!(first.batch_zero_fraction(), together.batch_zero_fraction());
    assert_eq!(
        first.merge(&DeadUnitMonitor::new(4)).unwrap_err().kind(),
        ErrorKind::UnitMismatch
    );
}

#[test]
fn nan_counts_as_inactive_and_windows_reset() {
    let x = array![[f32::NAN, 1.0], [f32::NAN, -1.0]];
    let mut monitor = DeadUnitMonitor::new(2);
    monitor.observe(&x, Axis(1)).unwrap();
    assert_eq!(monitor.dead_units(), vec![0]);
    assert_eq!(monitor.nan_count(), 2);
    assert_eq!(monitor.activation_rate(), vec![0.0, 0.5]);
    // NaN outputs are not zeros: one zero (the -1.0) out of four.
    assert_eq!(monitor.batch_zero_fraction(), Some(0.25));
    let wrong = DeadUnitMonitor::new(3).observe(&x, Axis(1)).unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::UnitMismatch);
    assert!(
        wrong.to_string().contains("2 units") && wrong.to_string().contains("made for 3"),
        "{wrong}"
    );
    assert_eq!(
        DeadUnitMonitor::new(2)
            .observe(&x, Axis(2))
            .unwrap_err()
            .kind(),
        ErrorKind::AxisOutOfRange
    );
    monitor.reset();
    assert_eq!(
        (
            monitor.samples(),
            monitor.dead_units(),
            monitor.batch_zero_fraction()
        ),
        (0, vec![], None)
    );
}

#[test]
fn large_batches_are_counted_the_same_on_any_thread_count() {
    let mut rng = Rng::new(5);
    let x = random_c(&mut rng, &[4096, 300]);
    let direct = direct_counts(&x, 1, 300);
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let monitor = pool.install(|| {
            let mut monitor = DeadUnitMonitor::new(300);
            let y = relu_observed(&x, &mut monitor, Axis(1)).unwrap();
            assert_eq!(bits(&y.view()), bits(&x.relu().view()));
            monitor
        });
        assert_eq!(
            (
                monitor.active_counts().to_vec(),
                monitor.nan_counts().to_vec()
            ),
            direct,
            "{threads} threads"
        );
    }
}
