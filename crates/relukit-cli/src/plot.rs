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
    impl Curve {
        /// Where the derivative jumps.
        fn kinks(&self) -> &'static [f32] {
            match self {
                Curve::Leaky(_) => &[0.0],
                Curve::Relu6 => &[0.0, 6.0],
            }
        }
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
            ends: Vec::new(),
        });
        match curve {
            Curve::Leaky(None) => relukit::relu_derivative(&x, &mut y).map_err(error)?,
            Curve::Leaky(Some(a)) => {
                relukit::leaky_relu_derivative(&x, a, &mut y).map_err(error)?
            }
            Curve::Relu6 => relukit::relu6_derivative(&x, &mut y).map_err(error)?,
        }
        let (points, ends) = steps(&x, &y, curve.kinks());
        derivatives.push(Series {
            label: label.into(),
            color,
            points,
            band: Vec::new(),
            ends,
        });
    }
    let panels = [
        Panel {
            title: "f(x)".into(),
            series: functions,
        },
        Panel {
            title: "f'(x): filled dots, the value taken at a kink (as in PyTorch)".into(),
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

/// A dot at the end of a piece: `(x, y, closed)`.
type End = (f64, f64, bool);

/// A derivative sampled at `x` (which holds each kink exactly) as steps: the line is
/// broken at each kink (a NaN point), each piece runs to the kink with its one-sided
/// limit, and the kink gets a filled dot at the value the function takes there and an
/// open one at the limit it does not take.
fn steps(x: &[f32], y: &[f32], kinks: &[f32]) -> (Vec<(f64, f64)>, Vec<End>) {
    let mut points = Vec::with_capacity(x.len() + 3 * kinks.len());
    let mut ends = Vec::new();
    for (i, (&a, &b)) in x.iter().zip(y).enumerate() {
        if !kinks.contains(&a) {
            points.push((a as f64, b as f64));
            continue;
        }
        let left = if i > 0 { y[i - 1] } else { b };
        let right = y.get(i + 1).copied().unwrap_or(b);
        let k = a as f64;
        points.extend([(k, left as f64), (k, f64::NAN), (k, right as f64)]);
        for limit in [left, right] {
            if limit != b {
                ends.push((k, limit as f64, false));
            }
        }
        ends.push((k, b as f64, true));
    }
    (points, ends)
}

#[cfg(test)]
mod tests {
    use super::steps;

    #[test]
    fn a_jump_is_two_pieces_with_a_filled_and_an_open_end() {
        let x = [-1.0, 0.0, 1.0];
        let y = [0.0, 0.0, 1.0]; // ReLU's derivative, 0 at 0
        let (points, ends) = steps(&x, &y, &[0.0]);
        let pieces: Vec<_> = points.split(|p| p.1.is_nan()).collect();
        assert_eq!(
            pieces,
            [
                &[(-1.0, 0.0), (0.0, 0.0)][..],
                &[(0.0, 1.0), (1.0, 1.0)][..]
            ]
        );
        assert_eq!(ends, [(0.0, 1.0, false), (0.0, 0.0, true)]);
    }
}
