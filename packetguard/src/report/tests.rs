//! The builder's promises: exact counts and bounded memory over a million verdicts,
//! escaping of everything from data, and a page for empty input.

use std::net::{IpAddr, Ipv4Addr};

use super::html::esc;
use super::*;
use crate::events::{FeatureContribution, Subject};

const S: u64 = 1_000_000_000;
const T0: u64 = 1_767_225_600 * S;

fn flow(i: u32, ts_ns: u64, score: f64, anomaly: bool) -> Verdict {
    Verdict {
        ts_ns,
        detector: Detector::Flow,
        rule: None,
        subject: Subject::Flow {
            src_ip: IpAddr::V4(Ipv4Addr::from(0xC612_0000 + (i & 0xffff))),
            dst_ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 10)),
            src_port: 40_000,
            dst_port: 80,
            protocol: 6,
        },
        score,
        threshold: 0.6,
        anomaly,
        top_features: vec![FeatureContribution {
            name: "syn_count",
            value: 1.0,
            weight: 0.3,
        }],
        values: Vec::new(),
    }
}

#[test]
fn escapes_markup_quotes_and_ampersands() {
    assert_eq!(
        esc(r#"<script>alert("x")</script> & 'y'"#),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
    );
}

#[test]
fn data_from_inputs_rules_and_features_is_escaped_in_the_page() {
    let meta = ReportMeta {
        title: String::new(),
        inputs: vec![Input {
            name: "<img src=x onerror=alert(1)>.pcap".into(),
            format: "pcap\"".into(),
            span_ns: None,
        }],
        models: Vec::new(),
    };
    let mut b = ReportBuilder::new(meta);
    b.traffic(T0, 1, 60);
    let mut v = flow(1, T0, 1200.0, true);
    v.detector = Detector::Threshold;
    v.rule = Some("syn<flood>&\"co\"".into());
    v.threshold = 1000.0;
    b.verdict(&v);
    b.unavailable_features(&["tcp_flags<b>"], "Wireshark's CSV has no <flags>");
    let page = b.render().unwrap();
    for raw in ["<img", "syn<flood>", "<b>", "<flags>", "pcap\"<"] {
        assert!(!page.contains(raw), "{raw} unescaped");
    }
    for escaped in [
        "&lt;img src=x onerror=alert(1)&gt;.pcap",
        "syn&lt;flood&gt;&amp;&quot;co&quot;",
        "<code>tcp_flags&lt;b&gt;</code>: Wireshark&#39;s CSV has no &lt;flags&gt;",
    ] {
        assert!(page.contains(escaped), "missing {escaped}");
    }
    // Only the page's own style; nothing is fetched.
    assert!(!page.contains("<script"));
    // The only address in the page is the SVG namespace, which is a name, not a fetch.
    let svgs = page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count();
    assert_eq!(page.matches("://").count(), svgs);
}

#[test]
fn a_million_verdicts_keep_exact_counts_in_bounded_memory() {
    let mut b = ReportBuilder::new(ReportMeta::default());
    let n: u32 = 1_000_000;
    let mut anomalies = 0u64;
    for i in 0..n {
        // 10 000 flows a second for 100 s; every 97th anomalous.
        let ts = T0 + u64::from(i) * (S / 10_000);
        let anomaly = i % 97 == 0;
        anomalies += u64::from(anomaly);
        let score = if anomaly {
            0.7 + f64::from(i % 300) / 1000.0
        } else {
            0.3
        };
        b.traffic(ts, 2, 120);
        b.verdict(&flow(i, ts, score, anomaly));
    }
    assert_eq!(anomalies, 10_310);
    let c = b.counts(Detector::Flow);
    assert_eq!((c.normal, c.anomaly), (u64::from(n) - anomalies, anomalies));
    assert_eq!(b.counts(Detector::Host), Counts::default());
    let (normal, anomalous) = b.scatter();
    assert_eq!(
        (normal.len(), anomalous.len()),
        (SCATTER_NORMAL, SCATTER_ANOMALY)
    );
    assert_eq!(b.scatter_normal.seen(), u64::from(n) - anomalies);
    assert_eq!(b.top[Detector::Flow.index()].len(), TOP_PER_DETECTOR);
    // The highest score (0.999) comes first, earliest first among equals.
    let top = b.top(Detector::Flow);
    assert_eq!(top[0].score, 0.7 + 299.0 / 1000.0);
    assert!(top.windows(2).all(|w| w[0].score >= w[1].score));
    let h = &b.scores[Detector::Flow.index()];
    assert_eq!(h.total(), u64::from(n));
    assert_eq!(
        h.normal[scores::bin_of(0.3).unwrap()],
        u64::from(n) - anomalies
    );
    let series = b.traffic.series();
    assert_eq!(series.len(), 100);
    assert_eq!(b.traffic.totals(), (2 * u64::from(n), 120 * u64::from(n)));
    assert!(series
        .iter()
        .all(|(_, bk)| bk.packets == 20_000 && bk.verdicts == 10_000));

    let page = b.render().unwrap();
    assert!(page.contains(&format!(
        "data-normal=\"{SCATTER_NORMAL}\" data-anomalous=\"{SCATTER_ANOMALY}\""
    )));
    assert_eq!(
        page.matches("<circle class=\"normal\"").count(),
        SCATTER_NORMAL
    );
    assert_eq!(
        page.matches("<circle class=\"anomaly\"").count(),
        SCATTER_ANOMALY
    );
    assert_eq!(
        page.matches("class=\"anomaly-row\"").count(),
        TOP_PER_DETECTOR
    );
    assert!(page.len() < 2_000_000, "{} bytes", page.len());
}

#[test]
fn empty_input_renders_a_page_that_says_there_was_nothing() {
    let page = ReportBuilder::new(ReportMeta::default()).render().unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
    assert!(page.contains("<p id=\"nothing\" class=\"empty\">Nothing to report"));
    assert!(!page.contains("<svg"));
    assert!(page.contains("No model was named"));
    assert!(page.contains("No input file was named"));
}

#[test]
fn unavailable_features_are_listed_and_bounded() {
    let mut b = ReportBuilder::new(ReportMeta::default());
    for i in 0..100 {
        b.unavailable_features(&["tcp_flags", "ttl"], &format!("reason {i}"));
    }
    assert_eq!(b.unavailable.len(), MAX_UNAVAILABLE);
    let page = b.render().unwrap();
    assert!(page.contains("<li><code>tcp_flags</code>, <code>ttl</code>: reason 0</li>"));
}
