//! Finding and loading the models of `packetguard run`.
//!
//! `--model` (or `model` in the config file) names a directory holding `flow.pgm` and/or
//! `host.pgm`, or one model file, whose recorded kind says which detector it is for.
//! Without it the agent looks, in order, in:
//! 1. `/var/lib/packetguard/models` (or `$STATE_DIRECTORY/models` under systemd): models
//!    learned on this host with `--learn`;
//! 2. `<executable's directory>/../share/packetguard/models`: the defaults `cargo xtask
//!    install` puts there;
//! 3. `models/` in the working directory, then in the source tree the binary was built from:
//!    the shipped defaults.
//!
//! The first directory holding any model wins.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use packetguard_forest::Model;

use crate::events::Detector;

/// A model and the file it came from.
pub struct Loaded {
    pub model: Model,
    pub path: PathBuf,
}

/// The models `run` scores with; a detector without a model is off.
#[derive(Default)]
pub struct Models {
    pub flow: Option<Loaded>,
    pub host: Option<Loaded>,
}

/// File name of a detector's model inside a model directory.
pub fn file_name(d: Detector) -> &'static str {
    match d {
        Detector::Flow => "flow.pgm",
        Detector::Host => "host.pgm",
    }
}

/// Where `--learn` writes: the state directory when running under systemd, else the
/// learned-models directory of the search order.
pub fn learned_dir() -> PathBuf {
    match std::env::var_os("STATE_DIRECTORY") {
        // systemd may pass several, colon-separated; the unit declares one.
        Some(dirs) => {
            let first = dirs
                .to_string_lossy()
                .split(':')
                .next()
                .unwrap_or("")
                .to_string();
            PathBuf::from(first).join("models")
        }
        None => PathBuf::from("/var/lib/packetguard/models"),
    }
}

/// The directories searched when no model is named, in order.
pub fn search_path() -> Vec<PathBuf> {
    let mut dirs = vec![learned_dir()];
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(exe_dir.join("../share/packetguard/models"));
    }
    dirs.push(PathBuf::from("models"));
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"));
    dirs
}

fn holds_a_model(dir: &Path) -> bool {
    Detector::ALL
        .iter()
        .any(|d| dir.join(file_name(*d)).is_file())
}

/// The first directory of [`search_path`] that holds a model.
pub fn default_dir() -> Result<PathBuf> {
    let dirs = search_path();
    match dirs.iter().find(|d| holds_a_model(d)) {
        Some(d) => Ok(d.clone()),
        None => bail!(
            "no model found in {}; pass --model, learn one with --learn DURATION, or build the defaults with `cargo xtask models`",
            dirs.iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn load_file(path: &Path) -> Result<Loaded> {
    let model =
        Model::load(path).with_context(|| format!("loading the model {}", path.display()))?;
    Ok(Loaded {
        model,
        path: path.to_path_buf(),
    })
}

/// Loads the models named by `path` (a directory or one file), or found by [`default_dir`].
pub fn load(path: Option<&Path>) -> Result<Models> {
    let path = match path {
        Some(p) => p.to_path_buf(),
        None => default_dir()?,
    };
    let mut models = Models::default();
    if path.is_dir() {
        for d in Detector::ALL {
            let file = path.join(file_name(d));
            if file.is_file() {
                let loaded = load_file(&file)?;
                match d {
                    Detector::Flow => models.flow = Some(loaded),
                    Detector::Host => models.host = Some(loaded),
                }
            }
        }
        if models.flow.is_none() && models.host.is_none() {
            bail!(
                "no model in {}: expected flow.pgm and/or host.pgm there",
                path.display()
            );
        }
        return Ok(models);
    }
    if !path.exists() {
        bail!(
            "no model at {}; pass --model with a model file or a directory holding flow.pgm and host.pgm",
            path.display()
        );
    }
    let loaded = load_file(&path)?;
    match loaded.model.info().kind.as_str() {
        "flow" => models.flow = Some(loaded),
        "host" => models.host = Some(loaded),
        other => bail!(
            "model {} is of kind {other:?}; run scores \"flow\" and \"host\" models",
            path.display()
        ),
    }
    Ok(models)
}
