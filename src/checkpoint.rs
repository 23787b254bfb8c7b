//! Checkpoints: the weights as safetensors plus `model.json` with everything needed to
//! use them: the architecture, the input normalization, the class names and the training
//! configuration.
//!
//! Evaluation and prediction take the normalization from here, never from flags, so a
//! model always receives its inputs scaled exactly as in training. Files are written to a
//! temporary name, synced and renamed into place, so a crash mid-write leaves the
//! previous checkpoint whole.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::LabelMode;
use crate::model::network::Normalization;
use crate::model::{Architecture, ParamLayout};
use crate::ops::Augment;

pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const METADATA_FILE: &str = "model.json";
const FORMAT: &str = "cifar-gpu-checkpoint";
const VERSION: u32 = 1;

/// Training configuration of the checkpointed model, enough to rebuild its validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingConfig {
    pub seed: u32,
    pub val_split: f64,
    pub train_limit: Option<usize>,
    pub label_mode: LabelMode,
    pub batch_size: usize,
    pub optimizer: String,
    pub learning_rate: f32,
    pub augment: Augment,
    pub epochs: usize,
    pub epochs_completed: usize,
}

/// Contents of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    pub format: String,
    pub version: u32,
    pub dataset: String,
    pub classes: Vec<String>,
    pub architecture: Architecture,
    pub normalization: Normalization,
    pub training: TrainingConfig,
    /// Parameter count, checked against the weights file on load.
    pub parameters: usize,
}

impl Metadata {
    pub fn new(
        dataset: &str,
        classes: Vec<String>,
        architecture: Architecture,
        normalization: Normalization,
        training: TrainingConfig,
        parameters: usize,
    ) -> Self {
        Self {
            format: FORMAT.into(),
            version: VERSION,
            dataset: dataset.into(),
            classes,
            architecture,
            normalization,
            training,
            parameters,
        }
    }
}

/// Errors reading or writing checkpoints; each names the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to read {path}: {source}; is this a cifar-gpu checkpoint directory written by `train --out`?")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid checkpoint metadata: {message}")]
    BadMetadata { path: PathBuf, message: String },
    #[error("{path} is not a valid safetensors file: {message}")]
    BadWeights { path: PathBuf, message: String },
    #[error("{path}: tensor {name:?} {problem}")]
    TensorMismatch {
        path: PathBuf,
        name: String,
        problem: String,
    },
    #[error(
        "the checkpoint's model has {checkpoint} classes but the dataset has {dataset}; \
         evaluate it on the dataset (and --label-mode) it was trained on"
    )]
    ClassCount { checkpoint: usize, dataset: usize },
}

/// A loaded checkpoint whose weights match its architecture.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    pub metadata: Metadata,
    /// Tensors by name, each `(shape, values)`.
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Checkpoint {
    /// Packs the tensors into a flat parameter vector laid out as `layout`.
    pub fn flat_parameters(&self, layout: &ParamLayout) -> Vec<f32> {
        let mut flat = vec![0.0; layout.total];
        for (spec, offset) in &layout.entries {
            let (_, values) = &self.tensors[&spec.name];
            flat[*offset..*offset + values.len()].copy_from_slice(values);
        }
        flat
    }

    /// Fails unless the model predicts `classes` classes.
    pub fn check_classes(&self, classes: usize) -> Result<(), CheckpointError> {
        let checkpoint = self.metadata.classes.len();
        if checkpoint != classes {
            return Err(CheckpointError::ClassCount {
                checkpoint,
                dataset: classes,
            });
        }
        Ok(())
    }
}

/// Writes `data` to `path` through a temporary file in the same directory, synced, then
/// renamed over `path`.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<(), CheckpointError> {
    let error = |source| CheckpointError::Write {
        path: path.to_path_buf(),
        source,
    };
    let temporary = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let mut file = fs::File::create(&temporary).map_err(error)?;
    file.write_all(data).map_err(error)?;
    file.sync_all().map_err(error)?;
    drop(file);
    fs::rename(&temporary, path).map_err(error)
}

/// Saves the flat parameters `flat` (laid out as `layout`) and `metadata` into `dir`.
pub fn save(
    dir: &Path,
    flat: &[f32],
    layout: &ParamLayout,
    metadata: &Metadata,
) -> Result<(), CheckpointError> {
    fs::create_dir_all(dir).map_err(|source| CheckpointError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let mut views = Vec::with_capacity(layout.entries.len());
    for (spec, offset) in &layout.entries {
        let bytes: &[u8] = bytemuck::cast_slice(&flat[*offset..*offset + spec.len()]);
        let view = safetensors::tensor::TensorView::new(
            safetensors::Dtype::F32,
            spec.shape.clone(),
            bytes,
        )
        .map_err(|error| CheckpointError::BadWeights {
            path: weights_path.clone(),
            message: error.to_string(),
        })?;
        views.push((spec.name.clone(), view));
    }
    let info = HashMap::from([("format".to_string(), FORMAT.to_string())]);
    let bytes =
        safetensors::serialize(views, Some(info)).map_err(|error| CheckpointError::BadWeights {
            path: weights_path.clone(),
            message: error.to_string(),
        })?;
    let mut json = serde_json::to_string_pretty(metadata).expect("metadata serializes");
    json.push('\n');
    // The weights go first: a crash between the two renames leaves new weights with old
    // metadata of the same architecture, which still loads.
    write_atomically(&weights_path, &bytes)?;
    write_atomically(&dir.join(METADATA_FILE), json.as_bytes())
}

/// Loads a checkpoint directory and checks its weights against its architecture.
pub fn load(dir: &Path) -> Result<Checkpoint, CheckpointError> {
    let metadata_path = dir.join(METADATA_FILE);
    let text = fs::read_to_string(&metadata_path).map_err(|source| CheckpointError::Read {
        path: metadata_path.clone(),
        source,
    })?;
    let bad_metadata = |message: String| CheckpointError::BadMetadata {
        path: metadata_path.clone(),
        message,
    };
    let metadata: Metadata =
        serde_json::from_str(&text).map_err(|error| bad_metadata(error.to_string()))?;
    if metadata.format != FORMAT || metadata.version != VERSION {
        return Err(bad_metadata(format!(
            "format {:?} version {}, expected {FORMAT:?} version {VERSION}",
            metadata.format, metadata.version
        )));
    }
    metadata
        .architecture
        .validate(metadata.classes.len())
        .map_err(|error| bad_metadata(error.to_string()))?;
    let normalization = &metadata.normalization;
    let channels = match metadata.architecture.input {
        crate::model::Shape::Image { channels, .. } => channels,
        crate::model::Shape::Flat { .. } => 0,
    };
    if normalization.mean.len() != channels || normalization.std.len() != channels {
        return Err(bad_metadata(format!(
            "normalization has {} means and {} stds for {channels} input channels",
            normalization.mean.len(),
            normalization.std.len()
        )));
    }
    let expected_scale = 1.0f32 / 255.0;
    if (normalization.scale - expected_scale).abs() > 1e-9 {
        return Err(bad_metadata(format!(
            "normalization scale is {}, but the input stage always divides pixels by 255 \
             (scale {expected_scale})",
            normalization.scale
        )));
    }
    if let Some(mean) = normalization
        .mean
        .iter()
        .find(|m| !(m.is_finite() && m.abs() <= 1.0))
    {
        return Err(bad_metadata(format!(
            "normalization mean {mean} is outside [-1, 1], the range of pixels / 255"
        )));
    }
    if let Some(std) = normalization
        .std
        .iter()
        .find(|s| !(s.is_finite() && **s >= 1e-3 && **s <= 1e3))
    {
        return Err(bad_metadata(format!(
            "normalization std {std} is outside [0.001, 1000]; training never writes such a value"
        )));
    }
    let mut seen = std::collections::HashMap::new();
    for (index, name) in metadata.classes.iter().enumerate() {
        if let Some(first) = seen.insert(name.as_str(), index) {
            return Err(bad_metadata(format!(
                "class name {name:?} appears twice, as classes {first} and {index}"
            )));
        }
    }

    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes = fs::read(&weights_path).map_err(|source| CheckpointError::Read {
        path: weights_path.clone(),
        source,
    })?;
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|error| {
        CheckpointError::BadWeights {
            path: weights_path.clone(),
            message: error.to_string(),
        }
    })?;
    let specs = metadata
        .architecture
        .parameters()
        .map_err(|error| bad_metadata(error.to_string()))?;
    let mismatch = |name: &str, problem: String| CheckpointError::TensorMismatch {
        path: weights_path.clone(),
        name: name.to_string(),
        problem,
    };
    let mut tensors = HashMap::new();
    for spec in &specs {
        let view = file
            .tensor(&spec.name)
            .map_err(|_| mismatch(&spec.name, "is missing from the weights file".into()))?;
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(mismatch(
                &spec.name,
                format!("has dtype {:?}, expected F32", view.dtype()),
            ));
        }
        if view.shape() != spec.shape.as_slice() {
            return Err(mismatch(
                &spec.name,
                format!(
                    "has shape {:?}, but the architecture needs {:?}",
                    view.shape(),
                    spec.shape
                ),
            ));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|chunk| f32::from_le_bytes(chunk.try_into().expect("4-byte chunk")))
            .collect();
        if let Some(position) = values.iter().position(|value| !value.is_finite()) {
            return Err(mismatch(
                &spec.name,
                format!("holds a non-finite value at element {position}"),
            ));
        }
        tensors.insert(spec.name.clone(), (spec.shape.clone(), values));
    }
    let extra: Vec<&str> = file
        .names()
        .into_iter()
        .filter(|name| !tensors.contains_key(*name))
        .collect();
    if let Some(name) = extra.first() {
        return Err(mismatch(
            name,
            "is not a parameter of the architecture in model.json".into(),
        ));
    }
    let count: usize = specs.iter().map(|spec| spec.len()).sum();
    if count != metadata.parameters {
        return Err(bad_metadata(format!(
            "it declares {} parameters, but its architecture has {count}",
            metadata.parameters
        )));
    }
    Ok(Checkpoint { metadata, tensors })
}
