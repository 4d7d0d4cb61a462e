//! The page: a header with the totals, then sections in the order an operator reads them
//! (what was anomalous, when, how scores fell, what scored them, from what). Each chart is
//! a `<figure>` with a stable id and its counts as `data-` attributes, and an HTML legend.

use std::fmt::Write;

use super::charts::{scatter, scores, traffic};
use super::html::{count, esc, si, span, utc};
use super::tables::{self, detector_name};
use super::{ReportBuilder, ReportError};
use crate::events::Detector;

const CSS: &str = include_str!("report.css");

fn swatch(class: &str) -> String {
    format!("<span class=\"swatch {class}\" aria-hidden=\"true\"></span>")
}

/// Sections that have data to show: the charts and the anomaly table.
fn body(
    out: &mut String,
    b: &ReportBuilder,
    origin_ns: u64,
    span_ns: u64,
) -> Result<(), ReportError> {
    let series = b.traffic.series();
    let width = b.traffic.width_s();
    out.push_str("<section><h2>Traffic over time</h2>\n<div class=\"grid\">\n");
    for (id, rate, what) in [
        (
            "traffic-packets",
            traffic::Rate::Packets,
            "packets per second",
        ),
        ("traffic-bytes", traffic::Rate::Bytes, "bytes per second"),
    ] {
        let c = traffic::draw(&series, width, rate)?;
        let bucket = match width {
            1 => "each second".to_owned(),
            w => format!("averaged over {w} s buckets (the capture is long)"),
        };
        let _ = writeln!(
            out,
            "<figure id=\"{id}\" data-points=\"{}\" data-marks=\"{}\">{}<figcaption>{} {what}, {bucket}; \
             {} shaded: a bucket with at least one anomalous verdict ({} of {}).</figcaption></figure>",
            c.points,
            c.marks,
            c.svg,
            swatch("normal line"),
            swatch("mark"),
            count(c.marks as u64),
            count(c.points as u64),
        );
    }
    out.push_str("</div></section>\n");

    let (normal, anomalous) = b.scatter();
    let flow = b.counts(Detector::Flow);
    let flow_threshold = b.scores[Detector::Flow.index()].threshold;
    out.push_str("<section><h2>Flows: score over time</h2>\n");
    if flow.normal + flow.anomaly == 0 {
        out.push_str("<p id=\"scatter\" class=\"note\" data-normal=\"0\" data-anomalous=\"0\">No flow was scored.</p>\n");
    } else {
        let svg = scatter::draw(normal, anomalous, origin_ns, span_ns, flow_threshold)?;
        let sampled = |shown: usize, all: u64| match shown as u64 == all {
            true => format!("all {}", count(all)),
            false => format!(
                "a uniform sample of {} of {}",
                count(shown as u64),
                count(all)
            ),
        };
        let _ = writeln!(
            out,
            "<figure id=\"scatter\" data-normal=\"{}\" data-anomalous=\"{}\">{svg}<figcaption>\
             {} normal flows: {}. {} anomalous flows: {}. {} threshold {}.</figcaption></figure>",
            normal.len(),
            anomalous.len(),
            swatch("normal"),
            sampled(normal.len(), flow.normal),
            swatch("anomaly"),
            sampled(anomalous.len(), flow.anomaly),
            swatch("threshold"),
            flow_threshold.map_or("not known".to_owned(), |t| format!("{t:.3}")),
        );
    }
    out.push_str("</section>\n");

    out.push_str("<section><h2>Score distribution per detector</h2>\n<div class=\"grid\">\n");
    for (d, chart) in [
        (Detector::Flow, "flow scores"),
        (Detector::Host, "destination scores"),
        (Detector::Source, "source scores"),
    ] {
        let h = &b.scores[d.index()];
        let id = format!("scores-{}", d.as_str());
        if h.total() == 0 {
            let _ = writeln!(
                out,
                "<p id=\"{id}\" class=\"note\" data-bars=\"0\">The {} detector made no verdict.</p>",
                detector_name(d)
            );
            continue;
        }
        let c = scores::draw(chart, h)?;
        let mut note = String::new();
        if h.out_of_range > 0 {
            let _ = write!(
                note,
                " {} scores outside [0, 1] are not drawn.",
                count(h.out_of_range)
            );
        }
        if h.thresholds_differ {
            note.push_str(" The threshold changed during the input; the latest is drawn.");
        }
        let _ = writeln!(
            out,
            "<figure id=\"{id}\" data-bars=\"{}\"><h3>{} detector</h3>{}<figcaption>{} normal, {} anomalous \
             verdicts per score bin of 0.02; {} threshold {}.{note}</figcaption></figure>",
            c.bars,
            detector_name(d),
            c.svg,
            swatch("normal"),
            swatch("anomaly"),
            swatch("threshold"),
            h.threshold.map_or("not known".to_owned(), |t| format!("{t:.3}")),
        );
    }
    out.push_str("</div></section>\n");

    out.push_str("<section><h2>Top anomalies</h2>\n");
    tables::anomalies(out, b, origin_ns);
    out.push_str("</section>\n");
    Ok(())
}

/// The whole page.
pub fn render(b: &ReportBuilder) -> Result<String, ReportError> {
    let mut out = String::with_capacity(256 * 1024);
    let title = esc(&b.meta.display_title());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"color-scheme\" content=\"light dark\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n\
         <title>{title}</title>\n<style>\n{CSS}</style></head>\n<body><main>\n<header><h1>{title}</h1>\n"
    );
    let (packets, bytes) = b.traffic.totals();
    let verdicts: u64 = Detector::ALL
        .iter()
        .map(|&d| b.counts(d).normal + b.counts(d).anomaly)
        .sum();
    let anomalies: u64 = Detector::ALL.iter().map(|&d| b.counts(d).anomaly).sum();
    match b.span_ns {
        None => {
            out.push_str(
                "</header>\n<p id=\"nothing\" class=\"empty\">Nothing to report: the inputs held no \
                 packets and no verdict was made.</p>\n",
            );
        }
        Some((first, last)) => {
            let _ = writeln!(
                out,
                "<p class=\"span\">{} to {} ({})</p>\n<dl class=\"totals\">\
                 <div><dt>packets</dt><dd id=\"total-packets\">{}</dd></div>\
                 <div><dt>bytes</dt><dd id=\"total-bytes\">{}B</dd></div>\
                 <div><dt>verdicts</dt><dd id=\"total-verdicts\">{}</dd></div>\
                 <div><dt>anomalous</dt><dd id=\"total-anomalies\">{}</dd></div></dl></header>",
                esc(&utc(first)),
                esc(&utc(last)),
                span(last - first),
                count(packets),
                si(bytes as f64),
                count(verdicts),
                count(anomalies),
            );
            out.push_str("<section><h2>Verdicts per detector</h2>\n");
            tables::counts(&mut out, b);
            out.push_str("</section>\n");
            // Charts and table count time from the start of the first traffic bucket, so
            // the traffic, the scatter and the table's offsets line up.
            let origin = b
                .traffic
                .series()
                .first()
                .map_or(first, |(s, _)| s * 1_000_000_000);
            body(&mut out, b, origin, last - origin)?;
        }
    }
    out.push_str("<section><h2>Models</h2>\n");
    tables::models(&mut out, b);
    out.push_str("</section>\n<section><h2>Inputs</h2>\n");
    tables::inputs(&mut out, b);
    out.push_str("<h3>Features not available</h3>\n");
    tables::unavailable(&mut out, b);
    let _ = writeln!(
        out,
        "</section>\n<footer>PacketGuard {}</footer>\n</main></body></html>",
        env!("CARGO_PKG_VERSION")
    );
    Ok(out)
}
