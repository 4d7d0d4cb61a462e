//! One detector's score distribution: normal and anomalous verdicts side by side in each
//! bin, on a logarithmic count axis (a flood's thousands of anomalies and a baseline's
//! millions of normal flows both stay visible), with the threshold as a dashed line.

use plotters::prelude::*;

use super::{house_mesh, si_label, svg, tick, ANOMALY, NORMAL, THRESHOLD};
use crate::report::scores::{ScoreHistogram, BINS};
use crate::report::ReportError;

const SIZE: (u32, u32) = (600, 340);
/// Where bars start on the log axis: below 1, so a bin of one verdict has a visible bar.
const FLOOR: f64 = 0.5;

/// A drawn score distribution.
pub struct ScoresChart {
    pub svg: String,
    /// Bars drawn: one per non-empty bin and verdict.
    pub bars: usize,
}

pub fn draw(chart_name: &'static str, h: &ScoreHistogram) -> Result<ScoresChart, ReportError> {
    let most = h
        .normal
        .iter()
        .chain(&h.anomaly)
        .copied()
        .max()
        .unwrap_or(0);
    let y_max = (most.max(1) as f64) * 2.0;
    let bin_w = 1.0 / BINS as f64;
    let mut bars = 0;
    let svg = svg(chart_name, SIZE, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(62)
            .y_label_area_size(84)
            .build_cartesian_2d(0.0..1.0, (FLOOR..y_max).log_scale())?;
        house_mesh(&mut chart.configure_mesh())
            .x_desc("score (higher is more anomalous)")
            .y_desc("verdicts (log scale)")
            .x_labels(11)
            .y_labels(6)
            .x_label_formatter(&tick)
            .y_label_formatter(&si_label)
            .draw()?;
        for (side, counts, color) in [(0.0, &h.normal, NORMAL), (0.5, &h.anomaly, ANOMALY)] {
            let rects: Vec<Rectangle<(f64, f64)>> = counts
                .iter()
                .enumerate()
                .filter(|(_, &c)| c > 0)
                .map(|(i, &c)| {
                    let x0 = (i as f64 + side) * bin_w;
                    Rectangle::new([(x0, FLOOR), (x0 + bin_w / 2.0, c as f64)], color.filled())
                })
                .collect();
            bars += rects.len();
            chart.draw_series(rects)?;
        }
        if let Some(t) = h.threshold.filter(|t| (0.0..=1.0).contains(t)) {
            chart.draw_series(DashedLineSeries::new(
                [(t, FLOOR), (t, y_max)],
                8,
                6,
                THRESHOLD.stroke_width(3),
            ))?;
        }
        Ok(())
    })?;
    Ok(ScoresChart { svg, bars })
}
