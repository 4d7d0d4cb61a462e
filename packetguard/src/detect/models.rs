//! Finding and loading the models of `packetguard run`.
//!
//! `--model` (or `model` in the config file) names a directory holding any of `flow.pgm`,
//! `host.pgm` and `source.pgm`, or one model file, whose recorded kind says which detector
//! it is for (`flow`, `host` or `source`). A file in a directory must record the kind its
//! name says.
//! Without it the agent looks, in order, in:
//! 1. `/var/lib/packetguard/models` (or `$STATE_DIRECTORY/models` under systemd): models
//!    learned on this host with `--learn`;
//! 2. `<executable's directory>/../share/packetguard/models`: the defaults `cargo xtask
//!    install` puts there;
//! 3. `models/` in the working directory, then in the source tree the binary was built from:
//!    the shipped defaults.
//!
//! Each detector takes its model from the first directory that holds one, so a flow model
//! learned on the host is used beside the shipped host and source models when only the
//! flow detector saw enough traffic to learn.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use packetguard_forest::{cli::ModelKind, Model};

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
    pub source: Option<Loaded>,
}

/// The detectors that score with a model, in label order: all but the threshold rules.
pub const MODEL_DETECTORS: [Detector; 3] = [Detector::Flow, Detector::Host, Detector::Source];

/// File name of a detector's model inside a model directory; threshold rules have none.
pub fn file_name(d: Detector) -> Option<&'static str> {
    match d {
        Detector::Flow => Some("flow.pgm"),
        Detector::Host => Some("host.pgm"),
        Detector::Source => Some("source.pgm"),
        Detector::Threshold => None,
    }
}

/// The detector that scores models of a kind.
pub fn detector_of(kind: ModelKind) -> Detector {
    match kind {
        ModelKind::Flow => Detector::Flow,
        ModelKind::Host => Detector::Host,
        ModelKind::Source => Detector::Source,
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
    /// Makes `loaded` the model of `kind`'s detector.
    pub fn set(&mut self, kind: ModelKind, loaded: Loaded) {
        let slot = match kind {
            ModelKind::Flow => &mut self.flow,
            ModelKind::Host => &mut self.host,
            ModelKind::Source => &mut self.source,
        };
        *slot = Some(loaded);
    }

    /// Each model's feature names, in its order, per detector that has a model.
    pub fn feature_names(&self) -> Vec<(Detector, Vec<String>)> {
        MODEL_DETECTORS
            .into_iter()
            .filter_map(|d| {
                let l = self.get(d)?;
                Some((d, l.model.schema().names().map(str::to_owned).collect()))
            })
            .collect()
    }

    /// The model of detector `d`, if it has one.
    pub fn get(&self, d: Detector) -> Option<&Loaded> {
        match d {
            Detector::Flow => self.flow.as_ref(),
            Detector::Host => self.host.as_ref(),
            Detector::Source => self.source.as_ref(),
            Detector::Threshold => None,
        }
    }

    fn is_empty(&self) -> bool {
        MODEL_DETECTORS.iter().all(|&d| self.get(d).is_none())
    }
}

/// For each kind, the first model file of `dirs` (in order) that exists; it must record
/// that kind, so a model copied under the wrong name fails here rather than scoring the
/// wrong rows.
fn load_first_of(dirs: &[PathBuf]) -> Result<Models> {
    let mut models = Models::default();
    for kind in ModelKind::ALL {
        let Some(name) = file_name(detector_of(kind)) else {
            continue;
        };
        let Some(file) = dirs.iter().map(|dir| dir.join(name)).find(|f| f.is_file()) else {
            continue;
        };
        let loaded = load_file(&file)?;
        let recorded = &loaded.model.info().kind;
        if recorded != kind.as_str() {
            bail!(
                "model {} is of kind {recorded:?}; a file named {name} must be a {:?} model",
                file.display(),
                kind.as_str()
            );
        }
        models.set(kind, loaded);
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
                "no model in {}: expected flow.pgm, host.pgm and/or source.pgm there",
                path.display()
            );
        }
        return Ok(models);
    }
    if !path.exists() {
        bail!(
            "no model at {}; pass --model with a model file or a directory holding flow.pgm, host.pgm or source.pgm",
            path.display()
        );
    }
    let loaded = load_file(path)?;
    let Some(kind) = ModelKind::from_recorded(&loaded.model.info().kind) else {
        bail!(
            "model {} is of kind {:?}; run scores \"flow\", \"host\" and \"source\" models",
            path.display(),
            loaded.model.info().kind
        );
    };
    let mut models = Models::default();
    models.set(kind, loaded);
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

    #[test]
    fn a_source_model_is_found_beside_the_others_and_picked_by_its_kind_as_a_file() {
        let root = std::env::temp_dir().join(format!("pg-models-src-{}", std::process::id()));
        let (learned, shipped) = (root.join("learned"), root.join("shipped"));
        std::fs::create_dir_all(&learned).unwrap();
        std::fs::create_dir_all(&shipped).unwrap();
        save_model(&shipped, "host", 3);
        let learned_source = save_model(&learned, "source", 4);

        let models = load_first_of(&[learned.clone(), shipped.clone()]).unwrap();
        assert_eq!(models.source.as_ref().unwrap().path, learned_source);
        assert!(models.flow.is_none() && models.host.is_some());
        assert!(models.get(Detector::Threshold).is_none());

        // One file: its recorded kind picks the detector, whatever the file is called.
        let renamed = root.join("mine.pgm");
        std::fs::copy(&learned_source, &renamed).unwrap();
        let one = load(Some(renamed.as_path())).unwrap();
        assert!(one.source.is_some() && one.flow.is_none() && one.host.is_none());
        assert_eq!(one.get(Detector::Source).unwrap().path, renamed);

        // In a directory, the name must match the kind.
        std::fs::copy(&learned_source, shipped.join("host.pgm")).unwrap();
        let err = format!("{:#}", load_first_of(&[shipped]).err().unwrap());
        assert!(
            err.contains("is of kind \"source\"; a file named host.pgm must be a \"host\" model"),
            "{err}"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn every_model_detector_has_a_file_and_threshold_rules_have_none() {
        let names: Vec<_> = MODEL_DETECTORS.iter().map(|&d| file_name(d)).collect();
        assert_eq!(
            names,
            [Some("flow.pgm"), Some("host.pgm"), Some("source.pgm")]
        );
        assert_eq!(file_name(Detector::Threshold), None);
        for kind in ModelKind::ALL {
            assert_eq!(detector_of(kind).as_str(), kind.as_str());
        }
    }
}
