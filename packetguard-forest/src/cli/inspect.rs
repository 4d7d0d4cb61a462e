//! `model inspect`: what a model file holds.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::ModelKind;
use crate::{Model, FORMAT_VERSION};

/// Arguments of `model inspect`.
#[derive(Debug, Clone, clap::Args)]
pub struct InspectArgs {
    /// Model file.
    pub file: PathBuf,
}

/// The report `model inspect` prints: metadata, schema and size figures.
pub fn inspect_report(model: &Model, path: &Path) -> String {
    let i = model.info();
    let file_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let (mean_depth, max_depth) = model.leaf_depths();
    let mut s = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(s, "{k:<14}{v}");
    };
    line("file", path.display().to_string());
    line("id", model.id());
    line(
        "format",
        format!(
            "version {FORMAT_VERSION}, {file_bytes} bytes, crc32 {:08x}",
            model.checksum()
        ),
    );
    line(
        "kind",
        match ModelKind::from_recorded(&i.kind) {
            Some(k) => format!("{} ({})", i.kind, k.describe()),
            None => i.kind.clone(),
        },
    );
    line(
        "trained",
        format!(
            "{} (unix {})",
            utc_date_time(i.trained_unix),
            i.trained_unix
        ),
    );
    line("rows", i.rows.to_string());
    line("trees", i.trees.to_string());
    line(
        "sample size",
        format!("{} (height limit {})", i.sample_size, model.height_limit()),
    );
    line("seed", i.seed.to_string());
    line("contamination", i.contamination.to_string());
    line(
        "threshold",
        format!("{} (score > threshold is an anomaly)", i.threshold),
    );
    line(
        "nodes",
        format!(
            "{} ({:.1} KiB; scoring layout {:.1} KiB)",
            model.node_count(),
            model.node_bytes() as f64 / 1024.0,
            model.scoring_bytes() as f64 / 1024.0
        ),
    );
    line(
        "leaf depth",
        format!("mean {mean_depth:.2}, max {max_depth}"),
    );
    line("features", model.n_features().to_string());
    for (n, f) in model.schema().features().iter().enumerate() {
        let _ = writeln!(s, "  {n:>3}  {:<28}{}", f.name, f.transform);
    }
    s
}

/// `model inspect` for the command line.
pub fn run_inspect(args: &InspectArgs) -> anyhow::Result<()> {
    let model = Model::load(&args.file)?;
    print!("{}", inspect_report(&model, &args.file));
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (civil-from-days, proleptic Gregorian).
fn utc_date_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_date_time;

    #[test]
    fn dates() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_date_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }
}
