//! Charts with plotters, in SVG and PNG, with a font bundled in the binary (no system
//! fonts needed): panels of lines with optional bands, histograms and scatter plots.
//!
//! Each chart is drawn once, as SVG; the PNG is that SVG rendered by resvg at the
//! resolution set by [`set_dpi`] (plotters' own bitmap text placed each glyph without its
//! side bearing: "f( x)", "0. 01").

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once, OnceLock};

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

/// Okabe and Ito's palette, told apart by readers with any common colour-vision
/// deficiency and in greyscale print, in an order that keeps neighbours distinct: blue,
/// vermillion, bluish green, orange, reddish purple, sky blue, black, yellow (eight
/// series, enough for every chart).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0x56, 0xb4, 0xe9),
    RGBColor(0x00, 0x00, 0x00),
    RGBColor(0xf0, 0xe4, 0x42),
];

/// A tick label: integers without a decimal point ("5", not "5.0"), others as short as
/// they print.
fn tick(value: &f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// One line: `(x, y)` points and, optionally, a band `(x, low, high)` around it.
#[derive(Debug, Clone)]
pub struct Series {
    pub label: String,
    pub color: RGBColor,
    /// The line; a point with a NaN `y` breaks it (a jump is drawn as two pieces).
    pub points: Vec<(f64, f64)>,
    pub band: Vec<(f64, f64, f64)>,
    /// Dots at the ends of pieces: `(x, y, closed)`, a filled dot where the function
    /// takes the value, an open one where it does not (a derivative's jump at a kink).
    pub ends: Vec<(f64, f64, bool)>,
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
    /// How x ticks read.
    pub x_ticks: Ticks,
    /// A dashed horizontal reference line (1.0 on ratio charts).
    pub reference: Option<f64>,
}

/// How the ticks of an axis read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ticks {
    /// Numbers (integers without a decimal point).
    Plain,
    /// Whole numbers only (epochs, depths): no tick between two integers.
    Integer,
    /// The axis is log2 of a size in bytes: "4 KiB", "1 MiB", ...
    Log2Bytes,
}

/// A tick of a whole-number axis: blank between integers.
fn integer_tick(value: &f64) -> String {
    if value.fract() == 0.0 {
        tick(value)
    } else {
        String::new()
    }
}

/// `2^log2` bytes in words.
fn bytes_tick(log2: &f64) -> String {
    if log2.fract() != 0.0 || *log2 < 0.0 || *log2 > 60.0 {
        return String::new();
    }
    let bytes = 1u64 << (*log2 as u32);
    match bytes {
        b if b >= 1 << 30 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
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
    // No minor grid: it hid the data and made PNGs of a megabyte.
    chart
        .configure_mesh()
        .x_desc(axes.x_label.as_str())
        .y_desc(axes.y_label.as_str())
        .label_style((FAMILY, 12))
        .max_light_lines(0)
        .x_labels(match axes.x_ticks {
            // As many ticks as integers in a short range, so that none is skipped.
            Ticks::Integer if axes.x_range.1 - axes.x_range.0 <= 10.0 => {
                (axes.x_range.1 - axes.x_range.0) as usize + 1
            }
            _ => 10,
        })
        .x_label_formatter(match axes.x_ticks {
            Ticks::Plain => &tick,
            Ticks::Integer => &integer_tick,
            Ticks::Log2Bytes => &bytes_tick,
        })
        .y_label_formatter(&tick)
        .draw()
        .map_err(failed(path))?;
    if let Some(y) = axes.reference {
        chart
            .draw_series(DashedLineSeries::new(
                [(axes.x_range.0, y), (axes.x_range.1, y)],
                6,
                4,
                BLACK.mix(0.6).stroke_width(1),
            ))
            .map_err(failed(path))?;
    }
    Ok(chart)
}

/// Height of the strip under a figure that holds its legend (two rows of entries).
const LEGEND_STRIP: u32 = 48;
/// Series with at most this many points get a marker on each.
const MARKED_POINTS: usize = 12;
/// Height of one row of legend entries.
const LEGEND_ROW: i32 = 22;

/// How a legend entry marks its series.
#[derive(Clone, Copy)]
enum Mark {
    Line,
    Dot,
}

/// One legend for the whole figure, in a strip under the panels, so that it never
/// hides data: one entry per series of the first panel (every panel of a figure has
/// the same series).
fn shared_legend<DB: DrawingBackend>(
    strip: &DrawingArea<DB, Shift>,
    series: &[Series],
    mark: Mark,
    path: &Path,
) -> Result<(), String> {
    let font = TextStyle::from((FAMILY, 14).into_font());
    let right = strip.dim_in_pixel().0 as i32 - 12;
    let mut x = 24i32;
    let mut y = LEGEND_ROW / 2 + 2;
    for s in series {
        let (width, _) = strip
            .estimate_text_size(&s.label, &font)
            .map_err(failed(path))?;
        if x > 24 && x + 32 + width as i32 > right {
            // The next row.
            x = 24;
            y += LEGEND_ROW;
        }
        match mark {
            Mark::Line => strip
                .draw(&PathElement::new(
                    vec![(x, y), (x + 26, y)],
                    s.color.stroke_width(3),
                ))
                .map_err(failed(path))?,
            Mark::Dot => strip
                .draw(&Circle::new((x + 13, y), 5, s.color.filled()))
                .map_err(failed(path))?,
        }
        strip
            .draw(&Text::new(s.label.clone(), (x + 32, y - 8), font.clone()))
            .map_err(failed(path))?;
        x += 32 + width as i32 + 28;
    }
    Ok(())
}

/// Draws a figure once, with `draw` on an SVG drawing area of `size`, and writes it as
/// SVG beside `path` and as PNG at `path`.
fn png_and_svg(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<(), String> {
    let mut svg = String::new();
    // The backend writes the document when its drawing area is dropped, inside `draw`.
    draw(SVGBackend::with_string(&mut svg, size).into_drawing_area())?;
    write_svg_and_png(path, &svg)
}

/// The resolution of PNGs, in dots per inch: charts are laid out in CSS pixels (96 per
/// inch), so 96 gives one PNG pixel per layout pixel.
pub const DEFAULT_DPI: u32 = 96;

static DPI: AtomicU32 = AtomicU32::new(DEFAULT_DPI);

/// Sets the resolution of the PNGs written from now on (`--dpi`; SVGs are resolution-free).
pub fn set_dpi(dpi: u32) {
    DPI.store(dpi, Ordering::Relaxed);
}

/// The font database resvg lays text out with: the bundled font, as the generic family.
fn fonts() -> Arc<resvg::usvg::fontdb::Database> {
    static FONTS: OnceLock<Arc<resvg::usvg::fontdb::Database>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = resvg::usvg::fontdb::Database::new();
            db.load_font_data(FONT.to_vec());
            db.set_sans_serif_family("DejaVu Sans");
            Arc::new(db)
        })
        .clone()
}

/// Writes `svg` beside `path` (as `.svg`) and its rendering at the current DPI at `path`.
fn write_svg_and_png(path: &Path, svg: &str) -> Result<(), String> {
    use resvg::{tiny_skia, usvg};
    let svg_path = path.with_extension("svg");
    std::fs::write(&svg_path, svg)
        .map_err(|e| format!("cannot write {}: {e}", svg_path.display()))?;
    let options = usvg::Options {
        fontdb: fonts(),
        ..usvg::Options::default()
    };
    let tree = usvg::Tree::from_str(svg, &options)
        .map_err(|e| format!("cannot render {}: {e}", svg_path.display()))?;
    let scale = DPI.load(Ordering::Relaxed) as f32 / DEFAULT_DPI as f32;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or_else(|| format!("{}: a {scale}x rendering is too large", path.display()))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
        format!(
            "{}: cannot allocate a {}x{} image",
            path.display(),
            size.width(),
            size.height()
        )
    })?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .save_png(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Draws a figure's title at the top of `root` and returns the area below it. The whole
/// title is always shown: at `size` pixels if it fits the width, else smaller (down to
/// 14), else on two lines, broken at the space nearest the middle.
fn titled<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    size: u32,
    path: &Path,
) -> Result<DrawingArea<DB, Shift>, String> {
    let width = root.dim_in_pixel().0 as i32;
    let room = width - 24;
    let fits = |size: u32, text: &str| -> Result<bool, String> {
        let font = TextStyle::from((FAMILY, size).into_font());
        let (w, _) = root.estimate_text_size(text, &font).map_err(failed(path))?;
        Ok(w as i32 <= room)
    };
    let mut lines = vec![title.to_string()];
    let mut chosen = None;
    for s in (14..=size).rev().step_by(2) {
        if fits(s, title)? {
            chosen = Some(s);
            break;
        }
    }
    let size = match chosen {
        Some(s) => s,
        None => {
            let middle = title.len() / 2;
            let split = title
                .match_indices(' ')
                .map(|(i, _)| i)
                .min_by_key(|&i| i.abs_diff(middle));
            if let Some(i) = split {
                lines = vec![title[..i].to_string(), title[i + 1..].to_string()];
            }
            let mut s = 14;
            while s > 10
                && !lines
                    .iter()
                    .map(|l| fits(s, l))
                    .collect::<Result<Vec<_>, _>>()?
                    .iter()
                    .all(|&f| f)
            {
                s -= 1;
            }
            s
        }
    };
    let font =
        TextStyle::from((FAMILY, size).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
    let line_height = size as i32 + 6;
    for (k, line) in lines.iter().enumerate() {
        root.draw(&Text::new(
            line.clone(),
            (width / 2, 8 + k as i32 * line_height),
            font.clone(),
        ))
        .map_err(failed(path))?;
    }
    let used = 8 + lines.len() as i32 * line_height + 4;
    Ok(root.split_vertically(used).1)
}

/// A figure of line panels in a `rows x columns` grid, as PNG at `path` and SVG beside it.
pub fn line_figure(
    path: &Path,
    title: &str,
    grid: (usize, usize),
    axes: &Axes,
    panels: &[Panel],
) -> Result<(), String> {
    register_font();
    let width = 420 * grid.1 as u32 + 40;
    let strip = legend_panel(panels).map_or(LEGEND_STRIP, |p| legend_height(&p.series, width));
    let size = (width, 320 * grid.0 as u32 + 60 + strip);
    png_and_svg(path, size, |root| {
        draw_lines(root, path, title, grid, axes, panels, strip)
    })
}

/// The panel whose series the legend lists: the first with the most (a panel may leave
/// out a reference line that would repeat its own).
fn legend_panel(panels: &[Panel]) -> Option<&Panel> {
    let most = panels.iter().map(|p| p.series.len()).max()?;
    panels.iter().find(|p| p.series.len() == most)
}

/// The height of a legend strip for `series` in a figure `width` wide: room for as many
/// rows as the entries need, at least [`LEGEND_STRIP`]. Labels are measured at a generous
/// 9 px per character of the 14 px font, so that an entry never falls below the strip.
fn legend_height(series: &[Series], width: u32) -> u32 {
    let right = width as i32 - 12;
    let (mut x, mut rows) = (24i32, 1u32);
    for s in series {
        let label = 9 * s.label.chars().count() as i32;
        if x > 24 && x + 32 + label > right {
            x = 24;
            rows += 1;
        }
        x += 32 + label + 28;
    }
    LEGEND_STRIP.max(rows * LEGEND_ROW as u32 + 6)
}

fn draw_lines<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    path: &Path,
    title: &str,
    grid: (usize, usize),
    axes: &Axes,
    panels: &[Panel],
    legend: u32,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(failed(path))?;
    let root = titled(root, title, 24, path)?;
    let height = root.dim_in_pixel().1;
    let (root, strip) = root.split_vertically(height.saturating_sub(legend));
    if let Some(panel) = legend_panel(panels) {
        shared_legend(&strip, &panel.series, Mark::Line, path)?;
    }
    for (area, panel) in root.split_evenly(grid).iter().zip(panels) {
        let mut chart = panel_chart(area, &panel.title, axes, path)?;
        // The first series is drawn last, on top (ReLU over the curves that share its line).
        for series in panel.series.iter().rev() {
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
            for piece in series.points.split(|p| p.1.is_nan()) {
                chart
                    .draw_series(LineSeries::new(
                        piece.iter().copied(),
                        series.color.stroke_width(2),
                    ))
                    .map_err(failed(path))?;
            }
            for &(x, y, closed) in &series.ends {
                let fill = if closed {
                    series.color.filled()
                } else {
                    WHITE.filled()
                };
                chart
                    .draw_series([
                        Circle::new((x, y), 4, fill),
                        Circle::new((x, y), 4, series.color.stroke_width(2)),
                    ])
                    .map_err(failed(path))?;
            }
            if series.points.len() <= MARKED_POINTS {
                // Few measured points (born-dead's depths, bench's sizes): mark each.
                chart
                    .draw_series(
                        series
                            .points
                            .iter()
                            .map(|&p| Circle::new(p, 3, series.color.filled())),
                    )
                    .map_err(failed(path))?;
            }
        }
    }
    strip.present().map_err(failed(path))
}

/// One histogram panel: the values, binned on `range` in `bins` bins.
#[derive(Debug, Clone)]
pub struct HistogramPanel {
    pub title: String,
    pub values: Vec<f64>,
}

/// Histograms side by side on one shared range, as PNG at `path` and SVG beside it.
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
    let size = (420 * columns as u32 + 40, 380);
    png_and_svg(path, size, |root| {
        draw_histograms(root, path, title, x_label, range, bins, panels)
    })
}

fn draw_histograms<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    path: &Path,
    title: &str,
    x_label: &str,
    range: (f64, f64),
    bins: usize,
    panels: &[HistogramPanel],
) -> Result<(), String> {
    let columns = panels.len().max(1);
    root.fill(&WHITE).map_err(failed(path))?;
    let root = titled(root, title, 22, path)?;
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
            x_ticks: Ticks::Plain,
            reference: None,
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

/// Scatter panels with a diagonal `y = x`, each group one colour, as PNG at `path` and
/// SVG beside it.
pub fn scatter_figure(
    path: &Path,
    title: &str,
    axes: &Axes,
    panels: &[Panel],
) -> Result<(), String> {
    register_font();
    let columns = panels.len().max(1);
    let size = (420 * columns as u32 + 40, 400 + LEGEND_STRIP);
    png_and_svg(path, size, |root| {
        draw_scatter(root, path, title, axes, panels)
    })
}

fn draw_scatter<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    path: &Path,
    title: &str,
    axes: &Axes,
    panels: &[Panel],
) -> Result<(), String> {
    let columns = panels.len().max(1);
    root.fill(&WHITE).map_err(failed(path))?;
    let root = titled(root, title, 22, path)?;
    let height = root.dim_in_pixel().1;
    let (root, strip) = root.split_vertically(height.saturating_sub(LEGEND_STRIP));
    if let Some(first) = panels.first() {
        shared_legend(&strip, &first.series, Mark::Dot, path)?;
    }
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
                .map_err(failed(path))?;
        }
    }
    strip.present().map_err(failed(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pixel's luma (Rec. 709 weights, as the image crate's `to_luma8`).
    fn luma(pixel: resvg::tiny_skia::PremultipliedColorU8) -> u8 {
        let c = pixel.demultiply();
        let y = 2126 * u32::from(c.red()) + 7152 * u32::from(c.green()) + 722 * u32::from(c.blue());
        (y / 10000) as u8
    }

    /// Runs of blank columns between the first and the last inked column of an image.
    fn inner_gaps(path: &Path) -> Vec<usize> {
        // Decoded by tiny-skia, which wrote it (RGBA, premultiplied; the charts are opaque).
        let image = resvg::tiny_skia::Pixmap::load_png(path).unwrap();
        let inked: Vec<bool> = (0..image.width())
            .map(|x| (0..image.height()).any(|y| luma(image.pixel(x, y).unwrap()) < 160))
            .collect();
        let first = inked.iter().position(|&i| i).unwrap();
        let last = inked.iter().rposition(|&i| i).unwrap();
        let mut gaps = Vec::new();
        let mut run = 0;
        for &i in &inked[first..=last] {
            if i {
                if run > 0 {
                    gaps.push(run);
                }
                run = 0;
            } else {
                run += 1;
            }
        }
        gaps
    }

    /// The PNG's text is laid out like the SVG's: glyphs at their advance with their
    /// side bearings. plotters' bitmap text dropped the bearing and drew "f( x)", "0. 01".
    #[test]
    fn png_text_keeps_the_glyphs_spacing() {
        let dir = std::env::temp_dir().join(format!("relukit-chart-text-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for text in ["f(x)", "(x)"] {
            let path = dir.join("text.png");
            let svg = format!(
                r#"<svg width="200" height="60" xmlns="http://www.w3.org/2000/svg"><rect width="200" height="60" fill="white"/><text x="10" y="40" font-family="sans-serif" font-size="32">{text}</text></svg>"#
            );
            write_svg_and_png(&path, &svg).unwrap();
            let gaps = inner_gaps(&path);
            // One gap between neighbouring glyphs, of a few pixels at most.
            assert!(
                gaps.len() == text.len() - 1 && gaps.iter().all(|&g| g <= 4),
                "{text}: blank runs {gaps:?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
