//! The flows scatter, as the old dashboards drew it: each sampled flow verdict a dot at
//! its time and score, normal in blue and anomalous in red (drawn last, on top), with the
//! flow detector's threshold as a dashed line.

use plotters::prelude::*;

use super::{house_mesh, svg, tick, TimeAxis, ANOMALY, NORMAL, THRESHOLD};
use crate::report::sample::Point;
use crate::report::ReportError;

const SIZE: (u32, u32) = (1200, 480);

/// Draws `normal` and `anomalous` points; time is counted from `origin_ns`.
pub fn draw(
    normal: &[Point],
    anomalous: &[Point],
    origin_ns: u64,
    span_ns: u64,
    threshold: Option<f64>,
) -> Result<String, ReportError> {
    let axis = TimeAxis::for_span(span_ns as f64 / 1e9);
    let x = |p: &Point| p.ts_ns.saturating_sub(origin_ns) as f64 / 1e9 / axis.seconds;
    let x_max = (span_ns as f64 / 1e9 / axis.seconds).max(1.0 / axis.seconds) * 1.02;
    svg("flow scatter", SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(62)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..x_max, 0.0..1.0)?;
        house_mesh(&mut chart.configure_mesh())
            .x_desc(axis.desc())
            .y_desc("flow score")
            .x_labels(10)
            .y_labels(11)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()?;
        if let Some(t) = threshold.filter(|t| (0.0..=1.0).contains(t)) {
            chart.draw_series(DashedLineSeries::new(
                [(0.0, t), (x_max, t)],
                8,
                6,
                THRESHOLD.stroke_width(3),
            ))?;
        }
        for (points, color) in [(normal, NORMAL), (anomalous, ANOMALY)] {
            chart.draw_series(points.iter().map(|p| {
                Circle::new((x(p), p.score.clamp(0.0, 1.0)), 3, color.mix(0.75).filled())
            }))?;
        }
        Ok(())
    })
}
