//! Ground truth: which attack ran, between whom, and when.
//!
//! Two formats are read. `packetguard simulate` writes one row per injected attack:
//!
//! ```text
//! attack,attacker,victim,start,end,packets,bytes,spoofed
//! syn-flood,203.0.113.66,192.0.2.10,1700000030.000123000,1700000039.999871000,20000,1080000,false
//! ```
//!
//! (`attacker` is the forged block, `198.18.0.0/15`, when `spoofed`; `victim` a /24 for a
//! horizontal scan; times are seconds since the epoch). The evaluation captures' file has
//! `file,attack_type,victim,attack_bpf,window_unix_start,window_unix_end[,...]`, where the
//! victim field starts with an address or block and a `src host X` in the filter names
//! the attacker.

use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::net::IpNet;

/// The header `simulate` writes.
pub const HEADER: &str = "attack,attacker,victim,start,end,packets,bytes,spoofed";
const CAPTURES_REQUIRED: [&str; 6] = [
    "file",
    "attack_type",
    "victim",
    "attack_bpf",
    "window_unix_start",
    "window_unix_end",
];

/// One attack's ground truth.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttackLabel {
    /// The capture file it belongs to, when the labels file covers several.
    pub file: Option<String>,
    /// The attack's kind as the labels name it (`syn-flood`, or free text).
    pub attack: String,
    /// Who sent it, when known.
    pub attacker: Option<IpNet>,
    pub victim: IpNet,
    /// First and last packet, nanoseconds since the epoch.
    pub start_ns: u64,
    pub end_ns: u64,
    pub packets: Option<u64>,
    pub bytes: Option<u64>,
    /// Forged sources: windows of the attacker say nothing, the victim's do.
    pub spoofed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LabelsError {
    #[error("cannot read labels {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("labels {path}: wrong header '{found}' (expected '{HEADER}' or one with {})", CAPTURES_REQUIRED.join(","))]
    Header { path: PathBuf, found: String },
    #[error("labels {path} line {line}: {what}")]
    Row {
        path: PathBuf,
        line: usize,
        what: String,
    },
    #[error("labels {0} name no attack")]
    NoAttack(PathBuf),
    #[error("labels {path} name no attack in {capture}")]
    NoAttackIn { path: PathBuf, capture: String },
}

/// The labels of `capture`: those whose `file` has its file name, or every label when none
/// names a file (`simulate`'s labels are of one capture). `path` names the labels file.
pub fn labels_of(
    labels: Vec<AttackLabel>,
    capture: &Path,
    path: &Path,
) -> Result<Vec<AttackLabel>, LabelsError> {
    if labels.iter().all(|l| l.file.is_none()) {
        return Ok(labels);
    }
    let name = capture.file_name();
    let mine: Vec<AttackLabel> = labels
        .into_iter()
        .filter(|l| l.file.as_deref().map(|f| Path::new(f).file_name()) == Some(name))
        .collect();
    if mine.is_empty() {
        return Err(LabelsError::NoAttackIn {
            path: path.to_path_buf(),
            capture: capture.display().to_string(),
        });
    }
    Ok(mine)
}

/// Reads a labels file of either format; a file with a header and no rows is an error.
pub fn read_labels(path: &Path) -> Result<Vec<AttackLabel>, LabelsError> {
    let io_err = |source| LabelsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    parse_labels(io::BufReader::new(file), path)
}

/// Reads labels from `input`; `path` only names it in errors.
pub fn parse_labels(input: impl BufRead, path: &Path) -> Result<Vec<AttackLabel>, LabelsError> {
    let mut lines = input.lines().enumerate();
    let header = match lines.next() {
        Some((_, l)) => l.map_err(|source| LabelsError::Io {
            path: path.to_path_buf(),
            source,
        })?,
        None => return Err(LabelsError::NoAttack(path.to_path_buf())),
    };
    let columns = split_csv(header.trim_end_matches('\r'));
    let ours =
        columns.len() >= 5 && columns[..5] == ["attack", "attacker", "victim", "start", "end"];
    let index = |name: &str| columns.iter().position(|c| c == name);
    if !ours && CAPTURES_REQUIRED.iter().any(|c| index(c).is_none()) {
        return Err(LabelsError::Header {
            path: path.to_path_buf(),
            found: header.clone(),
        });
    }
    let mut labels = Vec::new();
    for (n, line) in lines {
        let line = line.map_err(|source| LabelsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv(line);
        let row_err = |what: String| LabelsError::Row {
            path: path.to_path_buf(),
            line: n + 1,
            what,
        };
        let field = |name: &str| -> Option<&str> {
            index(name).and_then(|i| fields.get(i)).map(String::as_str)
        };
        let need = |name: &str| {
            field(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| row_err(format!("no {name}")))
        };
        let net = |name: &str, v: &str| {
            v.parse::<IpNet>()
                .map_err(|e| row_err(format!("{name}: {e}")))
        };
        let time = |name: &str| {
            let v = need(name)?;
            parse_epoch(v)
                .ok_or_else(|| row_err(format!("{name} '{v}' is not seconds since the epoch")))
        };
        let count = |name: &str| -> Result<Option<u64>, LabelsError> {
            match field(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| row_err(format!("{name} '{v}' is not a count"))),
            }
        };
        let label = if ours {
            let attacker = match field("attacker").unwrap_or("") {
                "" => None,
                a => Some(net("attacker", a)?),
            };
            AttackLabel {
                file: None,
                attack: need("attack")?.to_string(),
                attacker,
                victim: net("victim", need("victim")?)?,
                start_ns: time("start")?,
                end_ns: time("end")?,
                packets: count("packets")?,
                bytes: count("bytes")?,
                spoofed: field("spoofed") == Some("true"),
            }
        } else {
            let victim_text = need("victim")?;
            let first = victim_text.split_whitespace().next().unwrap_or("");
            let attack = need("attack_type")?.to_string();
            let bpf = field("attack_bpf").unwrap_or("");
            AttackLabel {
                file: Some(need("file")?.to_string()),
                spoofed: attack.to_ascii_lowercase().contains("spoofed"),
                attack,
                attacker: source_host(bpf),
                victim: net("victim", first)?,
                start_ns: time("window_unix_start")?,
                end_ns: time("window_unix_end")?,
                packets: count("packets")?,
                bytes: None,
            }
        };
        if label.end_ns < label.start_ns {
            return Err(row_err("the window ends before it starts".into()));
        }
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(LabelsError::NoAttack(path.to_path_buf()));
    }
    Ok(labels)
}

/// Writes labels in `simulate`'s format.
pub fn write_labels(out: &mut impl Write, labels: &[AttackLabel]) -> io::Result<()> {
    writeln!(out, "{HEADER}")?;
    for l in labels {
        let attacker = l.attacker.map(|a| a.to_string()).unwrap_or_default();
        let count = |c: Option<u64>| c.map(|c| c.to_string()).unwrap_or_default();
        writeln!(
            out,
            "{},{},{},{},{},{},{},{}",
            l.attack,
            attacker,
            l.victim,
            format_epoch(l.start_ns),
            format_epoch(l.end_ns),
            count(l.packets),
            count(l.bytes),
            l.spoofed
        )?;
    }
    Ok(())
}

/// Nanoseconds since the epoch as seconds with nine decimals.
pub fn format_epoch(ns: u64) -> String {
    format!("{}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

/// Seconds since the epoch with up to nine decimals, exactly, as nanoseconds.
pub fn parse_epoch(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: u64 = whole.parse().ok()?;
    let frac_ns: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32)
    };
    secs.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

/// The address after `src host` in a tcpdump filter, when there is exactly that.
fn source_host(bpf: &str) -> Option<IpNet> {
    let words: Vec<&str> = bpf.split_whitespace().collect();
    words
        .windows(3)
        .find(|w| w[0] == "src" && w[1] == "host")
        .and_then(|w| w[2].trim_end_matches(')').parse().ok())
}

/// Splits one CSV line, honouring double quotes (`""` inside quotes is a quote).
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                fields.last_mut().unwrap().push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(String::new()),
            (c, _) => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
#[path = "labels_tests.rs"]
mod tests;
