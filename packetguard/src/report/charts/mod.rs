//! The report's charts, drawn with `plotters` into SVG strings.
//!
//! Each chart is drawn in a few fixed colours, one per role; [`classify`] then tags every
//! element with its role as a class (`normal`, `anomaly`, `mark`, `threshold`, `axis`,
//! `grid`), so the stylesheet can recolour them for a dark theme and a test can count the
//! points of a chart with a selector. Legends are HTML beside the chart, not drawn in it,
//! so the SVG holds nothing but axes, grid and data.

pub mod scatter;
pub mod scores;
pub mod traffic;

use std::io;

use plotters::chart::MeshStyle;
use plotters::coord::{ranged1d::Ranged, Shift};
use plotters::drawing::DrawingAreaErrorKind;
use plotters::prelude::*;

use super::ReportError;

/// Text and axes (the stylesheet gives them the theme's text colour).
pub const AXIS: RGBColor = RGBColor(0x20, 0x20, 0x20);
/// Grid lines.
pub const GRID: RGBColor = RGBColor(0xD8, 0xD8, 0xD8);
/// Normal verdicts and traffic lines.
pub const NORMAL: RGBColor = RGBColor(0x1F, 0x77, 0xB4);
/// Anomalous verdicts.
pub const ANOMALY: RGBColor = RGBColor(0xD6, 0x27, 0x28);
/// Anomalous windows behind the traffic lines (drawn translucent).
pub const MARK: RGBColor = RGBColor(0xD6, 0x27, 0x29);
/// Threshold lines.
pub const THRESHOLD: RGBColor = RGBColor(0x6A, 0x3D, 0x9A);

const ROLES: [(RGBColor, &str); 6] = [
    (AXIS, "axis"),
    (GRID, "grid"),
    (NORMAL, "normal"),
    (ANOMALY, "anomaly"),
    (MARK, "mark"),
    (THRESHOLD, "threshold"),
];

pub type DrawResult<T> = Result<T, DrawingAreaErrorKind<io::Error>>;
pub type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// The font of labels and axis descriptions.
pub fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&AXIS)
}

/// Label and axis description sizes: about 16 px on screen where the chart is shown at
/// its own size, which each chart's size is chosen for at a laptop's width.
pub const LABEL: u32 = 20;
pub const DESC: u32 = 21;

/// The report's mesh: dark axes, light grid lines at the labelled ticks and none between,
/// the report's fonts. Each chart adds its descriptions and tick formats.
pub fn house_mesh<'m, 'a, 'b, X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>,
) -> &'m mut MeshStyle<'a, 'b, X, Y, DB> {
    mesh.axis_style(AXIS)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .label_style(font(LABEL))
        .axis_desc_style(font(DESC))
}

/// Draws with `f` on an area of `size` (SVG units) and returns the SVG, classified and
/// sized by its `viewBox` only (so CSS sets its width).
pub fn svg(
    chart: &'static str,
    size: (u32, u32),
    f: impl FnOnce(&Area<'_>) -> DrawResult<()>,
) -> Result<String, ReportError> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        f(&root)
            .and_then(|()| root.present())
            .map_err(|source| ReportError::Chart { chart, source })?;
    }
    Ok(classify(&buf, chart))
}

fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// Tags each element drawn in a role colour with that role as a class, and replaces the
/// fixed size of the root element with a class and an accessible name.
pub fn classify(svg: &str, chart: &str) -> String {
    let roles: Vec<(String, &str)> = ROLES.iter().map(|&(c, r)| (hex(c), r)).collect();
    let mut out = String::with_capacity(svg.len() + svg.len() / 8);
    for line in svg.lines() {
        if let Some(rest) = line.strip_prefix("<svg ") {
            let rest = rest
                .split_once("viewBox")
                .map_or(rest, |(_, tail)| tail)
                .trim_start();
            out.push_str(&format!(
                "<svg class=\"chart\" role=\"img\" aria-label=\"{chart} chart\" viewBox{rest}\n"
            ));
            continue;
        }
        let role = roles.iter().find(|(hex, _)| {
            line.contains(&format!("fill=\"{hex}\"")) || line.contains(&format!("stroke=\"{hex}\""))
        });
        match (role, line.split_once(' ')) {
            (Some((_, role)), Some((tag, rest)))
                if tag.starts_with('<') && !tag.starts_with("<text") =>
            {
                out.push_str(&format!("{tag} class=\"{role}\" {rest}\n"));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The unit of a time axis, chosen so that its labels stay short.
#[derive(Clone, Copy, Debug)]
pub struct TimeAxis {
    /// Seconds per unit.
    pub seconds: f64,
    pub name: &'static str,
}

impl TimeAxis {
    /// Seconds for spans up to 5 minutes, minutes up to 5 hours, else hours.
    pub fn for_span(span_s: f64) -> TimeAxis {
        match span_s {
            s if s <= 300.0 => TimeAxis {
                seconds: 1.0,
                name: "s",
            },
            s if s <= 5.0 * 3600.0 => TimeAxis {
                seconds: 60.0,
                name: "min",
            },
            _ => TimeAxis {
                seconds: 3600.0,
                name: "h",
            },
        }
    }

    /// The axis description.
    pub fn desc(&self) -> String {
        format!("time since the start ({})", self.name)
    }
}

/// A tick label of at most two decimals, without trailing zeros: `10`, `2.5`.
pub fn tick(v: &f64) -> String {
    let mut s = format!("{v:.2}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// A tick label with an SI prefix, without a trailing space.
pub fn si_label(v: &f64) -> String {
    super::html::si(*v).replace(' ', "")
}
