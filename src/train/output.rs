//! Files written by a training run: `history.csv`, appended and flushed after every epoch,
//! and `summary.json` at the end.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// Metrics of one epoch.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    /// Wall time of the epoch's training steps, validation excluded.
    pub seconds: f64,
    pub images_per_second: f64,
}

pub const HISTORY_HEADER: &str =
    "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_second";

impl EpochRecord {
    pub fn csv_row(&self) -> String {
        let optional = |value: Option<f64>| value.map(|v| format!("{v:.6}")).unwrap_or_default();
        format!(
            "{},{:.6},{:.6},{},{},{:.3},{:.1}",
            self.epoch,
            self.loss,
            self.accuracy,
            optional(self.val_loss),
            optional(self.val_accuracy),
            self.seconds,
            self.images_per_second
        )
    }
}

/// `history.csv`, created with its header and extended one flushed row per epoch, so a
/// run that dies keeps every finished epoch.
pub struct HistoryFile {
    path: PathBuf,
    file: fs::File,
}

impl HistoryFile {
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("history.csv");
        let mut file = fs::File::create(&path)?;
        writeln!(file, "{HISTORY_HEADER}")?;
        Ok(Self { path, file })
    }

    pub fn append(&mut self, record: &EpochRecord) -> std::io::Result<()> {
        writeln!(self.file, "{}", record.csv_row())?;
        self.file.sync_data()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Adapter identity recorded in the summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
}

/// Contents of `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    pub dataset: String,
    pub classes: usize,
    pub model: String,
    pub parameters: usize,
    pub train_images: usize,
    pub val_images: usize,
    pub test_images: usize,
    pub epochs: usize,
    pub batch_size: usize,
    pub optimizer: String,
    pub learning_rate: f32,
    pub seed: u32,
    pub adapter: AdapterSummary,
    pub final_loss: f64,
    pub final_accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_accuracy: Option<f64>,
    pub test_top5_accuracy: Option<f64>,
    /// Wall time of all training steps, validation and testing excluded.
    pub train_seconds: f64,
    pub train_images_per_second: f64,
    /// Wall time of the whole run, loading included.
    pub total_seconds: f64,
    pub gpu_buffer_bytes: u64,
}

pub fn write_summary(dir: &Path, summary: &Summary) -> std::io::Result<PathBuf> {
    let path = dir.join("summary.json");
    let mut json = serde_json::to_string_pretty(summary).expect("summary serializes");
    json.push('\n');
    crate::checkpoint::write_atomically(&path, json.as_bytes())
        .map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(path)
}
