//! `relukit plot`: the functions and their derivatives, computed by relukit itself.

use std::path::Path;

use crate::charts::{self, Axes, PALETTE, Panel, Series, Ticks};

/// Writes `activations.png` and `activations.svg` in `dir`: ReLU, Leaky ReLU (0.01),
/// PReLU with slopes 0.1, 0.25 and 0.5, and ReLU6, and their derivatives, on shared axes.
pub fn plot(dir: &Path) -> Result<Vec<&'static str>, String> {
    let x: Vec<f32> = (0..=1000).map(|i| -3.0 + i as f32 / 100.0).collect();
    let mut y = vec![0.0f32; x.len()];
    let mut functions = Vec::new();
    let mut derivatives = Vec::new();
    /// How a curve is computed: a leaky slope (`None`: ReLU) or ReLU6.
    enum Curve {
        Leaky(Option<f64>),
        Relu6,
    }
    let curves: [(&str, Curve); 6] = [
        ("ReLU", Curve::Leaky(None)),
        ("Leaky ReLU (0.01)", Curve::Leaky(Some(0.01))),
        ("PReLU a = 0.1", Curve::Leaky(Some(0.1))),
        ("PReLU a = 0.25", Curve::Leaky(Some(0.25))),
        ("PReLU a = 0.5", Curve::Leaky(Some(0.5))),
        ("ReLU6", Curve::Relu6),
    ];
    let error = |e: relukit::Error| e.to_string();
    for (i, (label, curve)) in curves.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = |y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(&a, &b)| (a as f64, b as f64))
                .collect::<Vec<_>>()
        };
        match curve {
            Curve::Leaky(None) => relukit::relu(&x, &mut y).map_err(error)?,
            Curve::Leaky(Some(a)) => relukit::leaky_relu(&x, a, &mut y).map_err(error)?,
            Curve::Relu6 => relukit::relu6(&x, &mut y).map_err(error)?,
        }
        functions.push(Series {
            label: label.into(),
            color,
            points: points(&y),
            band: Vec::new(),
        });
        match curve {
            Curve::Leaky(None) => relukit::relu_derivative(&x, &mut y).map_err(error)?,
            Curve::Leaky(Some(a)) => {
                relukit::leaky_relu_derivative(&x, a, &mut y).map_err(error)?
            }
            Curve::Relu6 => relukit::relu6_derivative(&x, &mut y).map_err(error)?,
        }
        derivatives.push(Series {
            label: label.into(),
            color,
            points: points(&y),
            band: Vec::new(),
        });
    }
    let panels = [
        Panel {
            title: "f(x)".into(),
            series: functions,
        },
        Panel {
            title: "f'(x)  (the gradient at 0 is taken as 0, as in PyTorch)".into(),
            series: derivatives,
        },
    ];
    let axes = Axes {
        x_label: "x".into(),
        y_label: "".into(),
        x_range: (-3.0, 7.0),
        y_range: (-1.6, 7.1),
        x_ticks: Ticks::Plain,
        reference: None,
    };
    // activations.png and activations.svg.
    charts::line_figure(
        &dir.join("activations.png"),
        "The ReLU family",
        (1, 2),
        &axes,
        &panels,
    )?;
    Ok(vec!["activations.png", "activations.svg"])
}
