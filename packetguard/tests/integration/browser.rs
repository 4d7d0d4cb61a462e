//! Headless Chromium for the page tests (the live page, the offline report): one launch
//! with the flags that keep it quiet on the network, console errors and exceptions
//! collected as DevTools events.
//!
//! Call [`open`] inside a lab namespace (`lab::in_ns`), so whatever Chromium might try to
//! reach stays there.

use std::{
    ffi::OsStr,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Duration,
};

use headless_chrome::{protocol::cdp::types::Event, Browser, LaunchOptions, Tab};

/// Debian's Chromium.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Chromium on a page; console errors, error log entries and exceptions are collected in
/// `errors`.
pub struct Page {
    _browser: Browser,
    pub tab: Arc<Tab>,
    pub errors: Arc<Mutex<Vec<String>>>,
}

/// Opens `url` in a new Chromium with the profile directory `profile` and a window of
/// `window` (width, height) pixels.
pub fn open(profile: &Path, url: &str, window: (u32, u32)) -> Page {
    let args: Vec<&OsStr> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        // Chromium would otherwise look for cast devices (mDNS, SSDP) and resolve names
        // from the lab namespace: traffic of its own that an agent there would watch.
        "--disable-features=TranslateUI,BlinkGenPropertyTrees,MediaRouter,DialMediaRouteProvider,OptimizationHints,Translate",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--no-pings",
        "--disable-domain-reliability",
        "--disable-client-side-phishing-detection",
    ]
    .iter()
    .map(OsStr::new)
    .collect();
    let options = LaunchOptions::default_builder()
        .path(Some(PathBuf::from(CHROMIUM)))
        .headless(true)
        .sandbox(false)
        .user_data_dir(Some(profile.to_path_buf()))
        .window_size(Some(window))
        .idle_browser_timeout(Duration::from_secs(300))
        .args(args)
        .ignore_default_args(vec![OsStr::new(
            "--disable-features=TranslateUI,BlinkGenPropertyTrees",
        )])
        .build()
        .expect("launch options");
    let browser = Browser::new(options).expect("starting chromium");
    let tab = browser.new_tab().expect("a tab");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let sink = errors.clone();
    tab.enable_log().expect("Log.enable");
    tab.enable_runtime().expect("Runtime.enable");
    tab.add_event_listener(Arc::new(move |event: &Event| {
        if let Some(error) = page_error(event) {
            sink.lock().unwrap().push(error);
        }
    }))
    .expect("event listener");
    tab.navigate_to(url).expect("navigate");
    tab.wait_until_navigated().expect("the page loads");
    Page {
        _browser: browser,
        tab,
        errors,
    }
}

/// The error an event reports, if it is one.
fn page_error(event: &Event) -> Option<String> {
    match event {
        Event::LogEntryAdded(e) => {
            let entry = &e.params.entry;
            format!("{:?}", entry.level)
                .eq_ignore_ascii_case("error")
                .then(|| format!("log: {} ({:?})", entry.text, entry.url))
        }
        Event::RuntimeConsoleAPICalled(e) => {
            let kind = format!("{:?}", e.params.Type);
            (kind.eq_ignore_ascii_case("error") || kind.eq_ignore_ascii_case("assert"))
                .then(|| format!("console.{kind}: {:?}", e.params.args))
        }
        Event::RuntimeExceptionThrown(e) => {
            Some(format!("exception: {:?}", e.params.exception_details))
        }
        _ => None,
    }
}
