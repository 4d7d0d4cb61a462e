//! Traffic over time: packets per second and bytes per second, one chart each, with the
//! buckets that held an anomalous verdict shaded behind the line.

use plotters::prelude::*;

use super::{house_mesh, si_label, svg, tick, TimeAxis, MARK, NORMAL};
use crate::report::traffic::Bucket;
use crate::report::ReportError;

const SIZE: (u32, u32) = (600, 320);

/// One drawn traffic chart.
pub struct TrafficChart {
    pub svg: String,
    /// Points of the line: one per bucket.
    pub points: usize,
    /// Shaded buckets: those with an anomalous verdict.
    pub marks: usize,
}

/// Which rate a chart shows.
#[derive(Clone, Copy)]
pub enum Rate {
    Packets,
    Bytes,
}

impl Rate {
    fn of(self, b: &Bucket) -> u64 {
        match self {
            Rate::Packets => b.packets,
            Rate::Bytes => b.bytes,
        }
    }

    fn desc(self) -> &'static str {
        match self {
            Rate::Packets => "packets per second",
            Rate::Bytes => "bytes per second",
        }
    }

    fn chart(self) -> &'static str {
        match self {
            Rate::Packets => "packets per second",
            Rate::Bytes => "bytes per second",
        }
    }
}

/// Draws `series` (buckets of `width_s` seconds, from [`Traffic::series`]) as `rate`.
///
/// [`Traffic::series`]: crate::report::traffic::Traffic::series
pub fn draw(
    series: &[(u64, Bucket)],
    width_s: u64,
    rate: Rate,
) -> Result<TrafficChart, ReportError> {
    let origin = series.first().map_or(0, |(s, _)| *s);
    let span_s = (series.len() as u64 * width_s) as f64;
    let axis = TimeAxis::for_span(span_s);
    let x = |start: u64| (start - origin) as f64 / axis.seconds;
    let w = width_s as f64;
    let rates: Vec<(f64, f64)> = series
        .iter()
        .map(|(start, b)| (x(*start), rate.of(b) as f64 / w))
        .collect();
    let y_max = rates.iter().map(|&(_, r)| r).fold(0.0, f64::max).max(1.0) * 1.1;
    let x_max = (span_s / axis.seconds).max(1.0 / axis.seconds);
    let marked: Vec<f64> = series
        .iter()
        .filter(|(_, b)| b.anomalies > 0)
        .map(|(start, _)| x(*start))
        .collect();
    let bucket_w = w / axis.seconds;
    let svg = svg(rate.chart(), SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(62)
            .y_label_area_size(84)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
        house_mesh(&mut chart.configure_mesh())
            .x_desc(axis.desc())
            .y_desc(rate.desc())
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&tick)
            .y_label_formatter(&si_label)
            .draw()?;
        chart.draw_series(marked.iter().map(|&x0| {
            Rectangle::new([(x0, 0.0), (x0 + bucket_w, y_max)], MARK.mix(0.22).filled())
        }))?;
        chart.draw_series(LineSeries::new(
            rates.iter().copied(),
            NORMAL.stroke_width(2),
        ))?;
        Ok(())
    })?;
    Ok(TrafficChart {
        svg,
        points: rates.len(),
        marks: marked.len(),
    })
}
