//! What a report says about where its verdicts came from: the inputs read and the models
//! that scored them. The caller knows both before the first verdict, so they are given to
//! [`ReportBuilder::new`](super::ReportBuilder::new) and shown as given.

use std::path::Path;

use packetguard_forest::Model;

use crate::detect::models::{Models, MODEL_DETECTORS};
use crate::events::Detector;

/// One input of the analysis: a capture or a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    /// The file's name as the user gave it.
    pub name: String,
    /// What it was read as, for example `pcap`, `pcapng`, `flow CSV` or `Wireshark CSV`.
    pub format: String,
    /// Timestamp of its first and last packet or row, in nanoseconds since the Unix epoch,
    /// when the reader knows them.
    pub span_ns: Option<(u64, u64)>,
}

/// A model that scored the verdicts, as loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelUsed {
    pub detector: Detector,
    /// The model's stable id (`<kind>-<crc32>`), as written in events.
    pub id: String,
    /// The kind the file records (`flow`, `host`, `source`).
    pub kind: String,
    /// Where it was loaded from.
    pub path: String,
    pub trees: u32,
    /// Rows of the training data.
    pub trained_rows: u64,
    /// Training time, seconds since the Unix epoch.
    pub trained_unix: u64,
    /// Scores above this are anomalies.
    pub threshold: f64,
    /// The features it scores, in schema order.
    pub features: Vec<String>,
}

impl ModelUsed {
    /// What the report shows of `model`, the model of `detector` loaded from `path`.
    pub fn from_model(detector: Detector, model: &Model, path: &Path) -> ModelUsed {
        let info = model.info();
        ModelUsed {
            detector,
            id: model.id(),
            kind: info.kind.clone(),
            path: path.display().to_string(),
            trees: info.trees,
            trained_rows: info.rows,
            trained_unix: info.trained_unix,
            threshold: model.threshold(),
            features: model.schema().names().map(str::to_owned).collect(),
        }
    }
}

/// The inputs and models of one report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReportMeta {
    /// The page's title; the input names when empty.
    pub title: String,
    pub inputs: Vec<Input>,
    pub models: Vec<ModelUsed>,
}

impl ReportMeta {
    /// Adds the models `analyze` loaded, in detector order.
    pub fn with_models(mut self, models: &Models) -> ReportMeta {
        for d in MODEL_DETECTORS {
            if let Some(loaded) = models.get(d) {
                self.models
                    .push(ModelUsed::from_model(d, &loaded.model, &loaded.path));
            }
        }
        self
    }

    /// The title to show: the given one, else the input names.
    pub fn display_title(&self) -> String {
        if !self.title.is_empty() {
            return self.title.clone();
        }
        match self.inputs.len() {
            0 => "PacketGuard report".to_owned(),
            _ => {
                let names: Vec<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
                format!("PacketGuard report: {}", names.join(", "))
            }
        }
    }
}
