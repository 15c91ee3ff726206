//! Charts with plotters, in PNG and SVG, with a font bundled in the binary (no system
//! fonts needed): panels of lines with optional bands, histograms and scatter plots.

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;

/// DejaVu Sans (see `assets/DejaVuSans-LICENSE.txt`).
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
const FAMILY: &str = "sans-serif";

/// Registers the bundled font once for every chart.
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // A font that fails to load leaves plotters without one: charts then fail with
        // a clear error when they draw text, which the callers report.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

/// A palette that stays readable in print.
pub const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// One line: `(x, y)` points and, optionally, a band `(x, low, high)` around it.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
}

/// A panel of a figure.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

/// The axes shared by every panel of a figure.
#[derive(Debug, Clone)]
pub struct Axes {
    pub x_label: String,
    pub y_label: String,
    pub x_range: (f64, f64),
    pub y_range: (f64, f64),
}

fn failed<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> String + '_ {
    move |e| format!("cannot draw {}: {e}", path.display())
}

/// One panel's axes: caption, margins, mesh and labels, shared by every figure kind.
fn panel_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    title: &str,
    axes: &Axes,
    path: &Path,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 16))
        .margin(10)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(
            axes.x_range.0..axes.x_range.1,
            axes.y_range.0..axes.y_range.1,
        )
        .map_err(failed(path))?;
    chart
        .configure_mesh()
        .x_desc(axes.x_label.as_str())
        .y_desc(axes.y_label.as_str())
        .label_style((FAMILY, 12))
        .draw()
        .map_err(failed(path))?;
    Ok(chart)
}

/// The legend of a panel, in one style for every figure.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    position: SeriesLabelPosition,
    path: &Path,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .label_font((FAMILY, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .position(position)
        .draw()
        .map_err(failed(path))
}

/// A figure of line panels in a `rows x columns` grid, as PNG (or SVG if `path` ends in `.svg`).
pub fn line_figure(
    path: &Path,
    title: &str,
    grid: (usize, usize),
    axes: &Axes,
    panels: &[Panel],
) -> Result<(), String> {
    register_font();
    let size = (420 * grid.1 as u32 + 40, 320 * grid.0 as u32 + 60);
    if path.extension().is_some_and(|e| e == "svg") {
        draw_lines(
            SVGBackend::new(path, size).into_drawing_area(),
            path,
            title,
            grid,
            axes,
            panels,
        )
    } else {
        draw_lines(
            BitMapBackend::new(path, size).into_drawing_area(),
            path,
            title,
            grid,
            axes,
            panels,
        )
    }
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    path: &Path,
    title: &str,
    grid: (usize, usize),
    axes: &Axes,
    panels: &[Panel],
) -> Result<(), String> {
    root.fill(&WHITE).map_err(failed(path))?;
    let root = root.titled(title, (FAMILY, 24)).map_err(failed(path))?;
    for (area, panel) in root.split_evenly(grid).iter().zip(panels) {
        let mut chart = panel_chart(area, &panel.title, axes, path)?;
        for series in &panel.series {
            if !series.band.is_empty() {
                let mut outline: Vec<(f64, f64)> =
                    series.band.iter().map(|&(x, _, hi)| (x, hi)).collect();
                outline.extend(series.band.iter().rev().map(|&(x, lo, _)| (x, lo)));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        outline,
                        series.color.mix(0.18),
                    )))
                    .map_err(failed(path))?;
            }
            let color = series.color;
            chart
                .draw_series(LineSeries::new(
                    series.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(failed(path))?
                .label(series.label.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight, path)?;
    }
    root.present().map_err(failed(path))
}

/// One histogram panel: the values, binned on `range` in `bins` bins.
#[derive(Debug, Clone)]
pub struct HistogramPanel {
    pub title: String,
    pub values: Vec<f64>,
}

/// Histograms side by side (PNG), on one shared range.
pub fn histogram_figure(
    path: &Path,
    title: &str,
    x_label: &str,
    range: (f64, f64),
    bins: usize,
    panels: &[HistogramPanel],
) -> Result<(), String> {
    register_font();
    let columns = panels.len().max(1);
    let root = BitMapBackend::new(path, (420 * columns as u32 + 40, 380)).into_drawing_area();
    root.fill(&WHITE).map_err(failed(path))?;
    let root = root.titled(title, (FAMILY, 22)).map_err(failed(path))?;
    let width = (range.1 - range.0) / bins as f64;
    for (area, panel) in root.split_evenly((1, columns)).iter().zip(panels) {
        let mut counts = vec![0u32; bins];
        for &v in &panel.values {
            let bin = ((v - range.0) / width).floor();
            if bin >= 0.0 && (bin as usize) < bins {
                counts[bin as usize] += 1;
            }
        }
        let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
        let axes = Axes {
            x_label: x_label.to_string(),
            y_label: "units".into(),
            x_range: range,
            y_range: (0.0, top),
        };
        let mut chart = panel_chart(area, &panel.title, &axes, path)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                let x0 = range.0 + i as f64 * width;
                Rectangle::new(
                    [(x0, 0.0), (x0 + width, c as f64)],
                    PALETTE[0].mix(0.75).filled(),
                )
            }))
            .map_err(failed(path))?;
    }
    root.present().map_err(failed(path))
}

/// Scatter panels with a diagonal `y = x` (PNG): each group one color.
pub fn scatter_figure(
    path: &Path,
    title: &str,
    axes: &Axes,
    panels: &[Panel],
) -> Result<(), String> {
    register_font();
    let columns = panels.len().max(1);
    let root = BitMapBackend::new(path, (420 * columns as u32 + 40, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(failed(path))?;
    let root = root.titled(title, (FAMILY, 22)).map_err(failed(path))?;
    for (area, panel) in root.split_evenly((1, columns)).iter().zip(panels) {
        let mut chart = panel_chart(area, &panel.title, axes, path)?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.3)))
            .map_err(failed(path))?;
        for series in &panel.series {
            let color = series.color;
            chart
                .draw_series(
                    series
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 4, color.mix(0.7).filled())),
                )
                .map_err(failed(path))?
                .label(series.label.as_str())
                .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, path)?;
    }
    root.present().map_err(failed(path))
}
