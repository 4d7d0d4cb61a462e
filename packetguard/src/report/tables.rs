//! The page's tables: verdict counts, top anomalies, models, inputs and the features an
//! input lacked. Every string from data is escaped here.

use std::fmt::Write;

use super::html::{count, esc, subject, utc, utc_seconds, value};
use super::{ReportBuilder, TOP_PER_DETECTOR};
use crate::events::Detector;
use crate::verdict::Verdict;

/// A detector's name as the page says it.
pub fn detector_name(d: Detector) -> &'static str {
    match d {
        Detector::Flow => "flow",
        Detector::Host => "destination (host)",
        Detector::Source => "source",
        Detector::Threshold => "threshold rules",
    }
}

/// Normal and anomalous verdicts per detector.
pub fn counts(out: &mut String, b: &ReportBuilder) {
    out.push_str(
        "<div class=\"scroll\"><table id=\"counts\"><thead><tr><th>detector</th>\
         <th class=\"num\">normal</th><th class=\"num\">anomalous</th>\
         <th class=\"num\">anomalous share</th></tr></thead><tbody>\n",
    );
    for d in Detector::ALL {
        let c = b.counts(d);
        let all = c.normal + c.anomaly;
        let share = match all {
            0 => "–".to_owned(),
            _ => format!("{:.2} %", c.anomaly as f64 * 100.0 / all as f64),
        };
        let _ = writeln!(
            out,
            "<tr data-detector=\"{}\" data-normal=\"{}\" data-anomaly=\"{}\"><td>{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{share}</td></tr>",
            d.as_str(),
            c.normal,
            c.anomaly,
            detector_name(d),
            count(c.normal),
            count(c.anomaly),
        );
    }
    out.push_str("</tbody></table></div>\n");
}

fn score_cell(v: &Verdict) -> String {
    match v.detector {
        Detector::Threshold => {
            format!("value {} over limit {}", value(v.score), value(v.threshold))
        }
        _ => format!(
            "{:.3} <span class=\"dim\">(threshold {:.3})</span>",
            v.score, v.threshold
        ),
    }
}

fn features_cell(v: &Verdict) -> String {
    if v.top_features.is_empty() {
        return "<span class=\"dim\">none recorded</span>".to_owned();
    }
    let mut out = String::from("<ul class=\"features\">");
    for f in &v.top_features {
        let _ = write!(
            out,
            "<li><code>{}</code> = {} <span class=\"dim\">(weight {:.2})</span></li>",
            esc(f.name),
            value(f.value),
            f.weight
        );
    }
    out.push_str("</ul>");
    out
}

/// The most anomalous verdicts, one table body per detector that had any.
pub fn anomalies(out: &mut String, b: &ReportBuilder, origin_ns: u64) {
    let any = Detector::ALL.iter().any(|&d| b.counts(d).anomaly > 0);
    if !any {
        out.push_str("<p id=\"no-anomalies\" class=\"note\">No verdict was anomalous.</p>\n");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table id=\"anomalies\"><thead><tr>\
         <th>time (UTC)</th><th>subject</th><th>score</th><th>rule</th>\
         <th>top features (value, weight)</th></tr></thead>\n",
    );
    for d in [
        Detector::Host,
        Detector::Source,
        Detector::Threshold,
        Detector::Flow,
    ] {
        let rows = b.top(d);
        if rows.is_empty() {
            continue;
        }
        let total = b.counts(d).anomaly;
        let _ = writeln!(
            out,
            "<tbody data-detector=\"{}\"><tr class=\"group\"><th colspan=\"5\">{}: {}</th></tr>",
            d.as_str(),
            detector_name(d),
            match total as usize > TOP_PER_DETECTOR {
                true => format!(
                    "the {} most anomalous of {} anomalies",
                    rows.len(),
                    count(total)
                ),
                false => format!(
                    "{} anomal{}",
                    rows.len(),
                    if rows.len() == 1 { "y" } else { "ies" }
                ),
            }
        );
        for v in rows {
            let subject = subject(&v.subject);
            let _ = writeln!(
                out,
                "<tr class=\"anomaly-row\" data-detector=\"{}\" data-address=\"{}\" data-score=\"{}\">\
                 <td>{}<br><span class=\"dim\">+{:.3} s</span></td><td>{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td></tr>",
                d.as_str(),
                esc(&v.subject.host().to_string()),
                v.score,
                esc(&utc(v.ts_ns)),
                v.ts_ns.saturating_sub(origin_ns) as f64 / 1e9,
                esc(&subject),
                score_cell(v),
                v.rule.as_deref().map_or("–".to_owned(), esc),
                features_cell(v),
            );
        }
        out.push_str("</tbody>\n");
    }
    out.push_str("</table></div>\n");
}

/// The models that scored the verdicts.
pub fn models(out: &mut String, b: &ReportBuilder) {
    if b.meta.models.is_empty() {
        out.push_str("<p id=\"models\" class=\"note\">No model was named for this report.</p>\n");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table id=\"models\"><thead><tr><th>detector</th><th>id</th>\
         <th>file</th><th class=\"num\">trees</th><th class=\"num\">training rows</th>\
         <th>trained (UTC)</th><th class=\"num\">threshold</th><th>features</th></tr></thead><tbody>\n",
    );
    for m in &b.meta.models {
        let features: Vec<String> = m.features.iter().map(|f| esc(f)).collect();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td><code>{}</code></td><td class=\"path\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td>\
             <td class=\"num\">{:.4}</td><td class=\"feature-list\">{}</td></tr>",
            detector_name(m.detector),
            esc(&m.id),
            esc(&m.path),
            count(u64::from(m.trees)),
            count(m.trained_rows),
            esc(&utc_seconds(m.trained_unix)),
            m.threshold,
            features.join(", "),
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// The files read.
pub fn inputs(out: &mut String, b: &ReportBuilder) {
    if b.meta.inputs.is_empty() {
        out.push_str("<p id=\"inputs\" class=\"note\">No input file was named.</p>\n");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table id=\"inputs\"><thead><tr><th>file</th><th>format</th>\
         <th>first packet (UTC)</th><th>last packet (UTC)</th></tr></thead><tbody>\n",
    );
    for i in &b.meta.inputs {
        let (first, last) = match i.span_ns {
            Some((a, z)) => (esc(&utc(a)), esc(&utc(z))),
            None => ("–".to_owned(), "–".to_owned()),
        };
        let _ = writeln!(
            out,
            "<tr><td class=\"path\">{}</td><td>{}</td><td>{first}</td><td>{last}</td></tr>",
            esc(&i.name),
            esc(&i.format)
        );
    }
    out.push_str("</tbody></table></div>\n");
}

/// The features the inputs could not provide.
pub fn unavailable(out: &mut String, b: &ReportBuilder) {
    if b.unavailable.is_empty() {
        out.push_str(
            "<p id=\"unavailable\" class=\"note\">Every feature the models use was available.</p>\n",
        );
        return;
    }
    out.push_str("<ul id=\"unavailable\">\n");
    for u in &b.unavailable {
        let names: Vec<String> = u
            .features
            .iter()
            .map(|f| format!("<code>{}</code>", esc(f)))
            .collect();
        let _ = writeln!(out, "<li>{}: {}</li>", names.join(", "), esc(&u.why));
    }
    out.push_str("</ul>\n");
}
