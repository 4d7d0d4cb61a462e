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
//! Each detector takes its model from the first directory that holds one, so a flow model
//! learned on the host is used beside the shipped host model when only the flow detector
//! saw enough traffic to learn.

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

fn load_file(path: &Path) -> Result<Loaded> {
    let model =
        Model::load(path).with_context(|| format!("loading the model {}", path.display()))?;
    Ok(Loaded {
        model,
        path: path.to_path_buf(),
    })
}

impl Models {
    /// Makes `loaded` the model of detector `d`.
    pub fn set(&mut self, d: Detector, loaded: Loaded) {
        match d {
            Detector::Flow => self.flow = Some(loaded),
            Detector::Host => self.host = Some(loaded),
        }
    }

    fn is_empty(&self) -> bool {
        self.flow.is_none() && self.host.is_none()
    }
}

/// For each detector, the first model file of `dirs` (in order) that exists.
fn load_first_of(dirs: &[PathBuf]) -> Result<Models> {
    let mut models = Models::default();
    for d in Detector::ALL {
        if let Some(file) = dirs
            .iter()
            .map(|dir| dir.join(file_name(d)))
            .find(|f| f.is_file())
        {
            models.set(d, load_file(&file)?);
        }
    }
    Ok(models)
}

/// Loads the models named by `path` (a directory or one file), or, without one, each
/// detector's model from the first directory of [`search_path`] that holds it.
pub fn load(path: Option<&Path>) -> Result<Models> {
    let Some(path) = path else {
        let dirs = search_path();
        let models = load_first_of(&dirs)?;
        if models.is_empty() {
            bail!(
                "no model found in {}; pass --model, learn one with --learn DURATION, or build the defaults with `cargo xtask models`",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        return Ok(models);
    };
    if path.is_dir() {
        let models = load_first_of(&[path.to_path_buf()])?;
        if models.is_empty() {
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
    let loaded = load_file(path)?;
    let d = match loaded.model.info().kind.as_str() {
        "flow" => Detector::Flow,
        "host" => Detector::Host,
        other => bail!(
            "model {} is of kind {other:?}; run scores \"flow\" and \"host\" models",
            path.display()
        ),
    };
    let mut models = Models::default();
    models.set(d, loaded);
    Ok(models)
}

#[cfg(test)]
mod tests {
    use super::*;
    use packetguard_forest::{ForestParams, Schema, Transform};

    fn save_model(dir: &Path, kind: &str, seed: u64) -> PathBuf {
        let data = ndarray::Array2::from_shape_fn((64, 2), |(i, j)| (i * (j + 1)) as f64);
        let params = ForestParams {
            kind: kind.into(),
            seed,
            trees: 4,
            ..ForestParams::default()
        };
        let model = Model::fit(
            data.view(),
            Schema::uniform(&["a", "b"], Transform::None),
            &params,
        )
        .unwrap();
        let path = dir.join(format!("{kind}.pgm"));
        model.save(&path).unwrap();
        path
    }

    #[test]
    fn each_detector_takes_its_model_from_the_first_directory_holding_one() {
        let root = std::env::temp_dir().join(format!("pg-models-{}", std::process::id()));
        let (learned, shipped) = (root.join("learned"), root.join("shipped"));
        std::fs::create_dir_all(&learned).unwrap();
        std::fs::create_dir_all(&shipped).unwrap();
        let learned_flow = save_model(&learned, "flow", 1);
        save_model(&shipped, "flow", 2);
        let shipped_host = save_model(&shipped, "host", 3);

        let models = load_first_of(&[learned.clone(), shipped.clone()]).unwrap();
        assert_eq!(models.flow.unwrap().path, learned_flow);
        assert_eq!(models.host.unwrap().path, shipped_host);

        let only_learned = load_first_of(&[learned]).unwrap();
        assert!(only_learned.flow.is_some() && only_learned.host.is_none());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
