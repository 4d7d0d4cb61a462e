//! Reading the agent's events: which address an event names, when it was written, the
//! quiet-phase check and the report lines.

use std::time::SystemTime;

use serde_json::Value;

/// An address an event must name: `field` is `"host"` or `"source"`.
#[derive(Clone, Debug)]
pub struct Named {
    pub field: &'static str,
    pub addr: String,
}

/// The victim, named by a destination-side detector.
pub fn victim(addr: impl ToString) -> Named {
    Named {
        field: "host",
        addr: addr.to_string(),
    }
}

/// The attacker, named by a source-side detector.
pub fn attacker(addr: impl ToString) -> Named {
    Named {
        field: "source",
        addr: addr.to_string(),
    }
}

impl Named {
    pub fn matches(&self, e: &Value) -> bool {
        e["summary"].is_null() && e[self.field].as_str() == Some(self.addr.as_str())
    }
}

pub fn event_time(e: &Value) -> SystemTime {
    let time = e["time"].as_str().unwrap_or_else(|| panic!("no time: {e}"));
    humantime::parse_rfc3339(time).unwrap_or_else(|err| panic!("time {time:?}: {err}"))
}

/// Seconds from `origin` to `t`, negative before it.
pub fn offset(t: SystemTime, origin: SystemTime) -> f64 {
    match t.duration_since(origin) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// One line per event: time relative to `origin`, detector, what it names, score and top
/// features. The address is whichever of `host`, `source`, the flow's endpoints and a
/// threshold rule's name the event has.
pub fn describe(events: &[Value], origin: SystemTime) -> String {
    if events.is_empty() {
        return "  (none)".into();
    }
    let field = |e: &Value, k: &str| e[k].as_str().map(|v| format!("{k} {v}"));
    events
        .iter()
        .map(|e| {
            let mut names: Vec<String> = ["host", "source", "rule"]
                .iter()
                .filter_map(|k| field(e, k))
                .collect();
            if let (Some(s), Some(d)) = (e["src_ip"].as_str(), e["dst_ip"].as_str()) {
                names.push(format!(
                    "flow {s}:{} -> {d}:{} {}",
                    e["src_port"],
                    e["dst_port"],
                    e["protocol"].as_str().unwrap_or("?")
                ));
            }
            let features: Vec<String> = e["top_features"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    let value = f["value"].as_f64().unwrap_or(f64::NAN);
                    format!("{}={value:.3}", f["name"].as_str().unwrap_or("?"))
                })
                .collect();
            format!(
                "  {:+.3}s {} [{}] {} {} {}{}",
                offset(event_time(e), origin),
                e["detector"].as_str().unwrap_or("?"),
                e["time"].as_str().unwrap_or("?"),
                names.join(" "),
                e["score"]
                    .as_f64()
                    .map_or(String::new(), |s| format!("score {s:.4}")),
                features.join(" "),
                if e["summary"] == true {
                    " (summary)"
                } else {
                    ""
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails unless no event at all (any detector, any address) was written before `until`:
/// the limiter always writes a host's first event, so none written means none raised.
pub fn assert_no_events_before(
    events: &[Value],
    until: SystemTime,
    what: &str,
) -> Result<(), String> {
    let early: Vec<Value> = events
        .iter()
        .filter(|e| event_time(e) < until)
        .cloned()
        .collect();
    if early.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{what} raised {} event(s):\n{}",
            early.len(),
            describe(&early, until)
        ))
    }
}

/// The first event at or after `start` naming one of `names`.
pub fn first_detection<'e>(
    events: &'e [Value],
    start: SystemTime,
    names: &[Named],
) -> Option<&'e Value> {
    events
        .iter()
        .filter(|e| event_time(e) >= start && names.iter().any(|n| n.matches(e)))
        .min_by_key(|e| event_time(e))
}
