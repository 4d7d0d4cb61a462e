//! The offline report in a real browser: a report built from a realistic verdict set
//! (normal flows and windows, then a SYN flood from spoofed sources on 198.51.100.10 that
//! the flow, destination and threshold detectors call anomalous) is opened as a file in
//! headless Chromium. The page must log no console error or exception and load nothing
//! besides itself; each chart must hold exactly the points the verdicts give; the anomaly
//! table must name the victim; at a phone's width nothing may stick out of the page. The
//! screenshots (light, dark, phone) are kept under the target's test directory
//! (`report-page/`).
//!
//! Chromium runs inside a lab namespace, so whatever it might try to reach stays there.

use std::{
    net::{IpAddr, Ipv4Addr},
    path::Path,
};

use headless_chrome::{
    protocol::cdp::{
        Emulation::{MediaFeature, SetDeviceMetricsOverride, SetEmulatedMedia},
        Page::CaptureScreenshotFormatOption,
    },
    Tab,
};
use packetguard::{
    detect::models::{self, Models},
    events::{Detector, FeatureContribution, Subject},
    report::{Input, ReportBuilder, ReportMeta, SCATTER_NORMAL},
    verdict::Verdict,
};
use serde_json::Value;

use crate::browser::{open, CHROMIUM};
use crate::lab::{in_ns, Lab};
use crate::prometheus_scrape::require;

const S: u64 = 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const T0: u64 = 1_767_225_600 * S;
const VICTIM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The capture's seconds, and the flood's.
const SECONDS: u64 = 60;
const FLOOD: std::ops::Range<u64> = 30..41;
const NORMAL_FLOWS: u64 = 3000;
const FLOOD_FLOWS: u64 = 440;
/// The scores used: five normal bins of the flow detector, two anomalous ones.
const NORMAL_SCORES: [f64; 5] = [0.30, 0.34, 0.38, 0.42, 0.46];
const ANOMALY_SCORES: [f64; 2] = [0.72, 0.76];

fn feature(name: &'static str, value: f64, weight: f64) -> FeatureContribution {
    FeatureContribution {
        name,
        value,
        weight,
    }
}

/// The shipped models: the report names them, and the verdicts carry their thresholds.
fn shipped_models() -> Models {
    // Relative to the package directory, where tests run: the page shows the path as given.
    models::load(Some(Path::new("../models"))).expect("the shipped models")
}

fn threshold(models: &Models, d: Detector) -> f64 {
    models.get(d).expect("a shipped model").model.threshold()
}

/// The builder, giving each model verdict its model's threshold.
struct Feed<'a> {
    b: ReportBuilder,
    models: &'a Models,
}

impl Feed<'_> {
    fn traffic(&mut self, ts_ns: u64, packets: u64, bytes: u64) {
        self.b.traffic(ts_ns, packets, bytes);
    }

    fn verdict(&mut self, v: &Verdict) {
        let mut v = v.clone();
        if v.detector != Detector::Threshold {
            v.threshold = threshold(self.models, v.detector);
        }
        self.b.verdict(&v);
    }
}

fn flow(ts_ns: u64, src: Ipv4Addr, dst: Ipv4Addr, port: u16, score: f64, anomaly: bool) -> Verdict {
    Verdict {
        ts_ns,
        detector: Detector::Flow,
        rule: None,
        subject: Subject::Flow {
            src_ip: IpAddr::V4(src),
            dst_ip: IpAddr::V4(dst),
            src_port: 40_000 + port,
            dst_port: if anomaly { 80 } else { 443 },
            protocol: 6,
        },
        score,
        threshold: 0.0,
        anomaly,
        top_features: match anomaly {
            true => vec![
                feature("syn_count", 1.0, 0.41),
                feature("fwd_bytes", 60.0, 0.22),
            ],
            false => Vec::new(),
        },
        values: Vec::new(),
    }
}

fn window(ts_ns: u64, detector: Detector, addr: Ipv4Addr, score: f64, anomaly: bool) -> Verdict {
    let subject = match detector {
        Detector::Host => Subject::Host(IpAddr::V4(addr)),
        _ => Subject::Source(IpAddr::V4(addr)),
    };
    Verdict {
        ts_ns,
        detector,
        rule: None,
        subject,
        score,
        threshold: 0.0,
        anomaly,
        top_features: match anomaly {
            true => vec![
                feature("syn_per_s", 2000.0, 0.52),
                feature("distinct_sources", 2000.0, 0.31),
            ],
            false => Vec::new(),
        },
        values: Vec::new(),
    }
}

/// The report of a minute of traffic with a SYN flood from second 30 to 40, scored (in
/// this story) by `models`.
fn build(models: &Models) -> ReportBuilder {
    for (d, normal, anomalous) in [
        (Detector::Flow, NORMAL_SCORES[4], ANOMALY_SCORES[0]),
        (Detector::Host, 0.40, 0.85),
        (Detector::Source, 0.45, 1.0),
    ] {
        let t = threshold(models, d);
        assert!(normal < t && t < anomalous, "{d} threshold {t}");
    }
    let meta = ReportMeta {
        title: String::new(),
        inputs: vec![Input {
            name: "lab-syn-flood.pcap".into(),
            format: "pcap".into(),
            span_ns: Some((T0, T0 + SECONDS * S - 1)),
        }],
        models: Vec::new(),
    }
    .with_models(models);
    let mut b = Feed {
        b: ReportBuilder::new(meta),
        models,
    };
    let servers = [
        Ipv4Addr::new(198, 51, 100, 2),
        Ipv4Addr::new(198, 51, 100, 3),
    ];
    for sec in 0..SECONDS {
        for p in 0..200 {
            b.traffic(T0 + sec * S + p * (S / 200), 1, 600);
        }
        if FLOOD.contains(&sec) {
            for p in 0..2000 {
                b.traffic(T0 + sec * S + p * (S / 2000), 1, 60);
            }
        }
        let ts = T0 + sec * S + S - 1;
        for (i, &host) in servers.iter().enumerate() {
            b.verdict(&window(ts, Detector::Host, host, 0.40, false));
            b.verdict(&window(
                ts,
                Detector::Source,
                Ipv4Addr::new(192, 0, 2, 2 + i as u8),
                0.45,
                false,
            ));
        }
        let flooded = FLOOD.contains(&sec);
        b.verdict(&window(
            ts,
            Detector::Host,
            VICTIM,
            if flooded { 0.85 } else { 0.40 },
            flooded,
        ));
        if flooded {
            b.verdict(&Verdict {
                ts_ns: ts,
                detector: Detector::Threshold,
                rule: Some("syn_flood".into()),
                subject: Subject::Host(IpAddr::V4(VICTIM)),
                score: 2000.0,
                threshold: 1000.0,
                anomaly: true,
                top_features: vec![feature("syn_per_s", 2000.0, 1.0)],
                values: Vec::new(),
            });
        }
    }
    for i in 0..NORMAL_FLOWS {
        let ts = T0 + i * (SECONDS * S / NORMAL_FLOWS);
        let src = Ipv4Addr::new(192, 0, 2, 10 + (i % 50) as u8);
        let score = NORMAL_SCORES[i as usize % NORMAL_SCORES.len()];
        b.verdict(&flow(
            ts,
            src,
            servers[i as usize % 2],
            i as u16,
            score,
            false,
        ));
    }
    for i in 0..FLOOD_FLOWS {
        let span = (FLOOD.end - FLOOD.start) * S;
        let ts = T0 + FLOOD.start * S + i * (span / FLOOD_FLOWS);
        let src = Ipv4Addr::from(0xC612_0000 + i as u32 + 1);
        let score = ANOMALY_SCORES[i as usize % ANOMALY_SCORES.len()];
        b.verdict(&flow(ts, src, VICTIM, i as u16, score, true));
    }
    b.b
}

/// The window a report is opened in.
pub const WINDOW: (u32, u32) = (1400, 1000);

/// What a report page holds, counted in its DOM: see the keys below.
pub fn counted(tab: &Tab) -> Value {
    let js = r##"JSON.stringify((() => {
        const q = (s) => document.querySelectorAll(s).length;
        const line = (id) => {
            const p = document.querySelector(`#${id} svg polyline.normal`);
            return p ? p.getAttribute("points").trim().split(/\s+/).length : 0;
        };
        const data = (id, key) => Number(document.getElementById(id).dataset[key]);
        return {
            scatter_normal: q("#scatter svg circle.normal"),
            scatter_anomalous: q("#scatter svg circle.anomaly"),
            scatter_data: [data("scatter", "normal"), data("scatter", "anomalous")],
            packets_points: line("traffic-packets"),
            packets_marks: q("#traffic-packets svg rect.mark"),
            packets_data: [data("traffic-packets", "points"), data("traffic-packets", "marks")],
            bytes_points: line("traffic-bytes"),
            bytes_marks: q("#traffic-bytes svg rect.mark"),
            bars: ["flow", "host", "source"].map((d) =>
                [q(`#scores-${d} svg rect.normal, #scores-${d} svg rect.anomaly`), data(`scores-${d}`, "bars")]),
            thresholds: ["scatter", "scores-flow", "scores-host", "scores-source"]
                .filter((id) => document.querySelector(`#${id} svg .threshold`)).length,
            rows: [...document.querySelectorAll("#anomalies tr.anomaly-row")]
                .map((r) => [r.dataset.detector, r.dataset.address]),
            first_row: document.querySelector("#anomalies tr.anomaly-row").innerText,
            counts: [...document.querySelectorAll("#counts tbody tr")]
                .map((r) => [r.dataset.detector, Number(r.dataset.normal), Number(r.dataset.anomaly)]),
            models: [...document.querySelectorAll("#models tbody tr td:nth-child(2)")]
                .map((td) => td.innerText),
            resources: performance.getEntriesByType("resource").length,
            overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
        };
    })())"##;
    let obj = tab.evaluate(js, false).expect("evaluating the counts");
    let text = obj
        .value
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// A screenshot of the whole page: the viewport is made as tall as the page first.
pub fn screenshot(tab: &Tab, path: &Path, width: u32, mobile: bool, scheme: &str) {
    let height = tab
        .evaluate("document.documentElement.scrollHeight", false)
        .expect("page height")
        .value
        .and_then(|v| v.as_u64())
        .unwrap_or(1000);
    emulate(tab, width, height.clamp(100, 16_000) as u32, mobile, scheme);
    let png = tab
        .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
        .expect("screenshot");
    std::fs::write(path, png).unwrap();
    eprintln!("[report_page] screenshot: {}", path.display());
}

/// Sets the viewport and the preferred colour scheme (`light` or `dark`).
pub fn emulate(tab: &Tab, width: u32, height: u32, mobile: bool, scheme: &str) {
    tab.call_method(SetDeviceMetricsOverride {
        width,
        height,
        device_scale_factor: 1.0,
        mobile,
        scale: None,
        screen_width: None,
        screen_height: None,
        position_x: None,
        position_y: None,
        dont_set_visible_size: None,
        screen_orientation: None,
        viewport: None,
        display_feature: None,
        device_posture: None,
    })
    .expect("device metrics");
    tab.call_method(SetEmulatedMedia {
        media: None,
        features: Some(vec![MediaFeature {
            name: "prefers-color-scheme".into(),
            value: scheme.into(),
        }]),
    })
    .expect("emulated media");
}

#[test]
fn report_page_shows_a_syn_flood_with_every_point_in_chromium() {
    require(CHROMIUM);
    let lab = Lab::new();
    let artefacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-page");
    std::fs::create_dir_all(&artefacts).unwrap();
    let file = artefacts.join("report.html");
    let models = shipped_models();
    build(&models)
        .write_file(&file)
        .expect("writing the report");
    let url = format!("file://{}", file.display());
    let profile = lab.dir.join("chromium-profile");
    let page = in_ns(&lab.server, || open(&profile, &url, WINDOW));
    emulate(&page.tab, 1400, 1000, false, "light");
    let c = counted(&page.tab);

    let flood_s = FLOOD.end - FLOOD.start;
    assert_eq!(c["resources"], 0, "the page loaded something: {c}");
    let ids: Vec<String> = [Detector::Flow, Detector::Host, Detector::Source]
        .iter()
        .map(|&d| models.get(d).unwrap().model.id())
        .collect();
    assert_eq!(c["models"], serde_json::json!(ids), "{c}");
    assert_eq!(c["scatter_normal"], SCATTER_NORMAL, "{c}");
    assert_eq!(c["scatter_anomalous"], FLOOD_FLOWS, "{c}");
    assert_eq!(
        c["scatter_data"],
        serde_json::json!([SCATTER_NORMAL, FLOOD_FLOWS])
    );
    assert_eq!(c["packets_points"], SECONDS, "{c}");
    assert_eq!(c["bytes_points"], SECONDS, "{c}");
    assert_eq!(c["packets_marks"], flood_s, "{c}");
    assert_eq!(c["bytes_marks"], flood_s, "{c}");
    assert_eq!(c["packets_data"], serde_json::json!([SECONDS, flood_s]));
    // Flow: five normal bins and two anomalous; host: one of each; source: one normal.
    assert_eq!(
        c["bars"],
        serde_json::json!([[7, 7], [2, 2], [1, 1]]),
        "{c}"
    );
    // A threshold line in the scatter and in each score chart.
    assert_eq!(c["thresholds"], 4, "{c}");
    let windows = SECONDS * 2;
    assert_eq!(
        c["counts"],
        serde_json::json!([
            ["flow", NORMAL_FLOWS, FLOOD_FLOWS],
            ["host", windows + SECONDS - flood_s, flood_s],
            ["source", windows, 0],
            ["threshold", 0, flood_s],
        ]),
        "{c}"
    );
    let rows = c["rows"].as_array().unwrap();
    let victim = VICTIM.to_string();
    assert_eq!(rows[0], serde_json::json!(["host", victim]), "{c}");
    assert!(rows.iter().all(|r| r[1] == victim.as_str()), "{c}");
    let first = c["first_row"].as_str().unwrap();
    assert!(first.contains(&format!("destination {victim}")), "{first}");
    // Values are grouped by threes with narrow no-break spaces.
    assert!(first.contains("syn_per_s = 2\u{202f}000"), "{first}");
    assert_eq!(c["overflow"], 0, "wider than the window: {c}");
    screenshot(
        &page.tab,
        &artefacts.join("report.png"),
        1400,
        false,
        "light",
    );
    screenshot(
        &page.tab,
        &artefacts.join("report-dark.png"),
        1400,
        false,
        "dark",
    );
    emulate(&page.tab, 390, 844, true, "light");
    let phone = counted(&page.tab);
    assert_eq!(phone["overflow"], 0, "wider than a phone: {phone}");
    screenshot(
        &page.tab,
        &artefacts.join("report-phone.png"),
        390,
        true,
        "light",
    );

    let errors = page.errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "the page logged errors: {errors:#?}");
}
