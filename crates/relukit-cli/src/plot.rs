//! `relukit plot`: the functions and their derivatives, computed by relukit itself.

use std::path::Path;

use crate::charts::{self, Axes, PALETTE, Panel, Series};

/// Writes `activations.png` and `activations.svg` in `dir`: ReLU, Leaky ReLU (0.01)
/// and PReLU with slopes 0.1, 0.25 and 0.5, and their derivatives, on shared axes.
pub fn plot(dir: &Path) -> Result<Vec<&'static str>, String> {
    let x: Vec<f32> = (0..=600).map(|i| -3.0 + i as f32 / 100.0).collect();
    let ones = vec![1.0f32; x.len()];
    let mut y = vec![0.0f32; x.len()];
    let mut functions = Vec::new();
    let mut derivatives = Vec::new();
    let curves: [(&str, Option<f64>); 5] = [
        ("ReLU", None),
        ("Leaky ReLU (0.01)", Some(0.01)),
        ("PReLU a = 0.1", Some(0.1)),
        ("PReLU a = 0.25", Some(0.25)),
        ("PReLU a = 0.5", Some(0.5)),
    ];
    let error = |e: relukit::Error| e.to_string();
    for (i, (label, slope)) in curves.into_iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = |y: &[f32]| {
            x.iter()
                .zip(y)
                .map(|(&a, &b)| (a as f64, b as f64))
                .collect::<Vec<_>>()
        };
        match slope {
            None => relukit::relu(&x, &mut y).map_err(error)?,
            Some(a) => relukit::leaky_relu(&x, a, &mut y).map_err(error)?,
        }
        functions.push(Series {
            label: label.into(),
            color,
            points: points(&y),
            band: Vec::new(),
        });
        match slope {
            None => relukit::relu_derivative(&x, &mut y).map_err(error)?,
            Some(a) => relukit::leaky_relu_backward(&ones, &x, a, &mut y).map_err(error)?,
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
        x_range: (-3.0, 3.0),
        y_range: (-1.6, 3.1),
    };
    let files = ["activations.png", "activations.svg"];
    for name in files {
        charts::line_figure(&dir.join(name), "The ReLU family", (1, 2), &axes, &panels)?;
    }
    Ok(files.to_vec())
}
