//! The registry of the element-by-element activations the Python package exposes: one
//! row per activation, from which the ufuncs (their loops for every float type,
//! bfloat16's, their parameter checks, their names and docs), the module's attributes
//! and the Python functions (`relukit._family`, through [`_activations`]) are derived.
//!
//! A row is an [`Exposed`] implementation: the activation's parameters as the ufuncs and
//! Python functions take them (PyTorch's names and defaults), and one line of doc per
//! form. Everything else comes from its `relukit::activation::Activation`.

use std::sync::OnceLock;

use pyo3::prelude::*;
use relukit::activation::{Activation, ClippedRelu, Hardtanh, LeakyRelu, Relu, Relu6, Threshold};

use crate::ufunc::{Backward, Derivative, FamilyUfunc, Forward, family_ufunc};

/// An activation as the Python package exposes it.
pub trait Exposed: Activation + 'static {
    /// The parameters, in the order the ufuncs and functions take them, with PyTorch's
    /// defaults (`None`: required). At most two.
    const PARAMETERS: &'static [(&'static str, Option<f64>)];
    /// How many of them (the first ones) the derivative and backward pass take:
    /// `threshold`'s `value` enters only the forward pass.
    const GRADIENT_PARAMETERS: usize = Self::PARAMETERS.len();
    /// Whether the forward ufunc is built here (ReLU's also has integer loops, built by
    /// hand).
    const FORWARD_UFUNC: bool = true;
    /// One line each for the forward, derivative and backward ufuncs' docs.
    const DOCS: [&'static str; 3];
    /// For activations with parameters, whose Python functions `relukit._family` builds:
    /// one doctest example per form (`>>> ` lines and their output, with `np` and
    /// `relukit` imported), run by the Python tests.
    const EXAMPLES: [&'static str; 3] = ["", "", ""];
    /// The activation with parameter values `p` (in [`PARAMETERS`](Self::PARAMETERS)'
    /// order; unused ones are 0).
    fn from_parameters(p: [f64; 2]) -> Self;
}

impl Exposed for Relu {
    const PARAMETERS: &'static [(&'static str, Option<f64>)] = &[];
    const FORWARD_UFUNC: bool = false;
    const DOCS: [&'static str; 3] = [
        "ReLU, max(0, x): x for x > 0, +0 otherwise (also for -0.0 and -inf); NaN stays NaN, bits unchanged.",
        "1 for x > 0, 0 for x <= 0 (the gradient at 0 is 0), NaN stays NaN.",
        "grad_output where x > 0, +0 where x <= 0 (a select: inf or NaN gradients there give 0), NaN where x is NaN.",
    ];
    fn from_parameters(_: [f64; 2]) -> Self {
        Relu
    }
}

impl Exposed for Relu6 {
    const PARAMETERS: &'static [(&'static str, Option<f64>)] = &[];
    const DOCS: [&'static str; 3] = [
        "min(max(0, x), 6): +0 for x <= 0 (-0.0 too), 6 for x >= 6; NaN stays NaN.",
        "1 for 0 < x < 6, 0 elsewhere (at both kinks too), NaN stays NaN.",
        "grad_output for 0 < x < 6, +0 elsewhere (a select), NaN where x is NaN.",
    ];
    fn from_parameters(_: [f64; 2]) -> Self {
        Relu6
    }
}

impl Exposed for LeakyRelu {
    const PARAMETERS: &'static [(&'static str, Option<f64>)] = &[("negative_slope", Some(0.01))];
    const DOCS: [&'static str; 3] = [
        "Leaky ReLU: x for x > 0, negative_slope * x otherwise (in the compute type, rounded once); NaN stays NaN.",
        "1 for x > 0, the slope for x <= 0, NaN stays NaN.",
        "grad_output for x > 0, negative_slope * grad_output for x <= 0, NaN where x is NaN.",
    ];
    const EXAMPLES: [&'static str; 3] = [
        ">>> relukit.leaky_relu(np.array([-2.0, 0.0, 3.0]), 0.1)\narray([-0.2,  0. ,  3. ])",
        ">>> relukit.leaky_relu_derivative(np.array([-2.0, 0.0, 3.0]), 0.1)\narray([0.1, 0.1, 1. ])",
        ">>> relukit.leaky_relu_backward(np.ones(3), np.array([-2.0, 0.0, 3.0]), 0.1)\narray([0.1, 0.1, 1. ])",
    ];
    fn from_parameters(p: [f64; 2]) -> Self {
        LeakyRelu {
            negative_slope: p[0],
        }
    }
}

impl Exposed for ClippedRelu {
    const PARAMETERS: &'static [(&'static str, Option<f64>)] = &[("ceiling", Some(6.0))];
    const DOCS: [&'static str; 3] = [
        "min(max(0, x), ceiling), NaN stays NaN.",
        "1 for 0 < x < ceiling, 0 elsewhere, NaN stays NaN.",
        "grad_output for 0 < x < ceiling, +0 elsewhere (a select), NaN where x is NaN.",
    ];
    const EXAMPLES: [&'static str; 3] = [
        ">>> relukit.clipped_relu(np.array([-1.0, 2.0, 9.0]), 3.0)\narray([0., 2., 3.])",
        ">>> relukit.clipped_relu_derivative(np.array([0.0, 2.0, 3.0]), 3.0)\narray([0., 1., 0.])",
        ">>> relukit.clipped_relu_backward(np.full(3, 5.0), np.array([0.0, 2.0, 3.0]), 3.0)\narray([0., 5., 0.])",
    ];
    fn from_parameters(p: [f64; 2]) -> Self {
        ClippedRelu { ceiling: p[0] }
    }
}

impl Exposed for Threshold {
    const PARAMETERS: &'static [(&'static str, Option<f64>)] =
        &[("threshold", None), ("value", None)];
    const GRADIENT_PARAMETERS: usize = 1;
    const DOCS: [&'static str; 3] = [
        "x where x > threshold (and NaN), value elsewhere.",
        "1 where x > threshold, 0 elsewhere, NaN stays NaN.",
        "grad_output where x > threshold, +0 elsewhere (a select), NaN where x is NaN.",
    ];
    const EXAMPLES: [&'static str; 3] = [
        ">>> relukit.threshold(np.array([-1.0, 0.5, 2.0]), 1.0, 20.0)\narray([20., 20.,  2.])",
        ">>> relukit.threshold_derivative(np.array([-1.0, 0.5, 2.0]), 1.0)\narray([0., 0., 1.])",
        ">>> relukit.threshold_backward(np.full(3, 4.0), np.array([-1.0, 0.5, 2.0]), 1.0)\narray([0., 0., 4.])",
    ];
    fn from_parameters(p: [f64; 2]) -> Self {
        Threshold {
            threshold: p[0],
            value: p[1],
        }
    }
}

impl Exposed for Hardtanh {
    const PARAMETERS: &'static [(&'static str, Option<f64>)] =
        &[("min_val", Some(-1.0)), ("max_val", Some(1.0))];
    const DOCS: [&'static str; 3] = [
        "x clamped to [min_val, max_val]: max_val for x >= max_val, min_val for x <= min_val; NaN stays NaN.",
        "1 for min_val < x < max_val, 0 elsewhere (both kinks included), NaN stays NaN.",
        "grad_output for min_val < x < max_val, +0 elsewhere (a select), NaN where x is NaN.",
    ];
    const EXAMPLES: [&'static str; 3] = [
        ">>> relukit.hardtanh(np.array([-3.0, 0.5, 2.0]))\narray([-1. ,  0.5,  1. ])",
        ">>> relukit.hardtanh_derivative(np.array([-1.0, 0.5, 1.0]), -1.0, 1.0)\narray([0., 1., 0.])",
        ">>> relukit.hardtanh_backward(np.full(3, 2.0), np.array([-3.0, 0.5, 2.0]), 0.0, 1.0)\narray([0., 2., 0.])",
    ];
    fn from_parameters(p: [f64; 2]) -> Self {
        Hardtanh {
            min_val: p[0],
            max_val: p[1],
        }
    }
}

/// A form's function and ufunc names (`hardtanh_backward`, `hardtanh_backward_ufunc`):
/// the ufunc's is the function's, `_ufunc` added where parameters are operands.
fn names(activation: &str, form: &str, params: usize) -> (String, String) {
    let function = format!("{activation}{form}");
    let suffix = if params > 0 { "_ufunc" } else { "" };
    (function.clone(), format!("{function}{suffix}"))
}

/// A ufunc's doc: its signature as NumPy prints it, then the line.
fn ufunc_doc(name: &str, data: &[&str], params: &[&str], line: &str) -> String {
    let operands = data
        .iter()
        .chain(params)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    let mut doc = format!("{name}({operands}, /, out=None, *, where=True, ...)\n\n{line}");
    if !params.is_empty() {
        doc.push_str(
            " The parameters are float64 operands (broadcast); one the activation refuses gives \
NaN and NumPy's invalid-value warning, where the relukit function of the same name raises \
ValueError first.",
        );
    }
    doc
}

/// The three ufuncs of one activation.
fn forms<A: Exposed>() -> Vec<FamilyUfunc> {
    let params: Vec<&str> = A::PARAMETERS.iter().map(|(name, _)| *name).collect();
    let gradient = &params[..A::GRADIENT_PARAMETERS];
    let (forward, derivative, backward) = (
        names(A::NAME, "", params.len()),
        names(A::NAME, "_derivative", gradient.len()),
        names(A::NAME, "_backward", gradient.len()),
    );
    let mut ufuncs = Vec::new();
    if A::FORWARD_UFUNC {
        let doc = ufunc_doc(&forward.1, &["x"], &params, A::DOCS[0]);
        ufuncs.push(family_ufunc::<Forward<A>>(forward.0, forward.1, doc));
    }
    let doc = ufunc_doc(&derivative.1, &["x"], gradient, A::DOCS[1]);
    ufuncs.push(family_ufunc::<Derivative<A>>(
        derivative.0,
        derivative.1,
        doc,
    ));
    let doc = ufunc_doc(&backward.1, &["grad_output", "x"], gradient, A::DOCS[2]);
    ufuncs.push(family_ufunc::<Backward<A>>(backward.0, backward.1, doc));
    ufuncs
}

/// One row of [`_activations`]: name, parameters, gradient parameters, docs, examples.
type Row = (
    &'static str,
    Vec<(&'static str, Option<f64>)>,
    usize,
    [&'static str; 3],
    [&'static str; 3],
);

/// The registry: every exposed activation's row, and its ufuncs.
fn registry() -> &'static (Vec<Row>, Vec<FamilyUfunc>) {
    static REGISTRY: OnceLock<(Vec<Row>, Vec<FamilyUfunc>)> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let (mut rows, mut ufuncs) = (Vec::new(), Vec::new());
        fn add<A: Exposed>(rows: &mut Vec<Row>, ufuncs: &mut Vec<FamilyUfunc>) {
            rows.push((
                A::NAME,
                A::PARAMETERS.to_vec(),
                A::GRADIENT_PARAMETERS,
                A::DOCS,
                A::EXAMPLES,
            ));
            ufuncs.extend(forms::<A>());
        }
        add::<Relu>(&mut rows, &mut ufuncs);
        add::<Relu6>(&mut rows, &mut ufuncs);
        add::<LeakyRelu>(&mut rows, &mut ufuncs);
        add::<ClippedRelu>(&mut rows, &mut ufuncs);
        add::<Threshold>(&mut rows, &mut ufuncs);
        add::<Hardtanh>(&mut rows, &mut ufuncs);
        (rows, ufuncs)
    })
}

/// Every ufunc of the registry.
pub fn ufuncs() -> &'static [FamilyUfunc] {
    &registry().1
}

/// The registry as the Python package reads it: per activation its name, its parameters
/// with PyTorch's defaults (`None`: required), how many of them the derivative and
/// backward pass take, the forms' one-line docs and their examples.
#[pyfunction]
pub fn _activations() -> Vec<Row> {
    registry().0.clone()
}
