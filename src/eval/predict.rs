//! The `predict` command: top-k classes of image files under a checkpoint's model.

use std::path::PathBuf;

use serde::Serialize;

use super::command::{inference_network, EvalError};
use super::evaluate;
use crate::checkpoint;
use crate::gpu::Gpu;
use crate::model::Shape;
use crate::ops::input::ImageStore;

/// Filter used to resize images that are not the model's input size: bilinear
/// interpolation (the `image` crate's triangle filter).
pub const RESIZE_FILTER: image::imageops::FilterType = image::imageops::FilterType::Triangle;

/// Most images run in one batch.
const MAX_BATCH: usize = 64;

/// Options of [`run_prediction`].
#[derive(Clone, Debug)]
pub struct PredictOptions {
    pub checkpoint: PathBuf,
    pub images: Vec<PathBuf>,
    pub top_k: usize,
    pub adapter: Option<String>,
}

/// One class and its probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassProbability {
    pub class: usize,
    pub name: String,
    pub probability: f32,
}

/// The prediction for one image file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Prediction {
    pub path: PathBuf,
    /// `(width, height)` of the file when it was resized to the model's input.
    pub resized_from: Option<(u32, u32)>,
    /// The `top_k` most probable classes, most probable first.
    pub top: Vec<ClassProbability>,
}

/// An image file decoded into the model's input layout.
struct DecodedImage {
    /// C planes of H x W bytes.
    planes: Vec<u8>,
    /// `(width, height)` of the file when it was resized.
    resized_from: Option<(u32, u32)>,
}

/// Decodes `path` into C planes of H x W bytes, resizing when needed.
fn load_image(
    path: &PathBuf,
    channels: usize,
    height: usize,
    width: usize,
) -> Result<DecodedImage, EvalError> {
    let decoded = image::open(path).map_err(|error| EvalError::Image {
        path: path.clone(),
        message: error.to_string(),
    })?;
    let (file_width, file_height) = (decoded.width(), decoded.height());
    let resized_from = if (file_width as usize, file_height as usize) != (width, height) {
        Some((file_width, file_height))
    } else {
        None
    };
    let image = if resized_from.is_some() {
        decoded.resize_exact(width as u32, height as u32, RESIZE_FILTER)
    } else {
        decoded
    };
    let plane = height * width;
    let mut planes = vec![0u8; channels * plane];
    match channels {
        1 => planes.copy_from_slice(image.to_luma8().as_raw()),
        3 => {
            for (pixel, rgb) in image.to_rgb8().as_raw().chunks_exact(3).enumerate() {
                for c in 0..3 {
                    planes[c * plane + pixel] = rgb[c];
                }
            }
        }
        other => {
            return Err(EvalError::InvalidOption(format!(
                "predict supports models of 1 or 3 input channels, this one has {other}"
            )))
        }
    }
    Ok(DecodedImage {
        planes,
        resized_from,
    })
}

/// Predicts the `top_k` classes of every image in `options.images`.
pub fn run_prediction(options: &PredictOptions) -> Result<Vec<Prediction>, EvalError> {
    if options.images.is_empty() {
        return Err(EvalError::InvalidOption(
            "give at least one image file".into(),
        ));
    }
    if options.top_k == 0 {
        return Err(EvalError::InvalidOption(
            "--top-k must be at least 1".into(),
        ));
    }
    let checkpoint = checkpoint::load(&options.checkpoint)?;
    let metadata = &checkpoint.metadata;
    let Shape::Image {
        channels,
        height,
        width,
    } = metadata.architecture.input
    else {
        return Err(EvalError::InvalidOption(
            "the checkpoint's model does not take images".into(),
        ));
    };
    let mut pixels = Vec::with_capacity(options.images.len() * channels * height * width);
    let mut resized = Vec::with_capacity(options.images.len());
    for path in &options.images {
        let DecodedImage {
            planes,
            resized_from,
        } = load_image(path, channels, height, width)?;
        if let Some((w, h)) = resized_from {
            log::info!(
                "{}: resized from {w}x{h} to {width}x{height} with a bilinear filter",
                path.display()
            );
        }
        pixels.extend_from_slice(&planes);
        resized.push(resized_from);
    }

    let gpu = Gpu::open(options.adapter.as_deref())?;
    let batch = options.images.len().min(MAX_BATCH);
    let network = inference_network(&gpu, &checkpoint, batch, metadata.normalization.clone())?;
    let store = ImageStore::upload(&gpu, "predict", &pixels, channels * height * width, None)?;
    let input = network.bind_input(&gpu, &store, false);
    let indices: Vec<usize> = (0..options.images.len()).collect();
    // Labels are unknown; the loss computed against these placeholders is discarded.
    let placeholder_labels = vec![0u32; indices.len()];
    let result = evaluate(
        &gpu,
        &network,
        &input,
        &indices,
        &placeholder_labels,
        |_| {},
    )?;

    let classes = result.classes;
    let top_k = options.top_k.min(classes);
    let predictions = options
        .images
        .iter()
        .zip(resized)
        .enumerate()
        .map(|(index, (path, resized_from))| {
            let row = &result.probabilities[index * classes..(index + 1) * classes];
            let mut order: Vec<usize> = (0..classes).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            let top = order[..top_k]
                .iter()
                .map(|&class| ClassProbability {
                    class,
                    name: metadata.classes[class].clone(),
                    probability: row[class],
                })
                .collect();
            Prediction {
                path: path.clone(),
                resized_from,
                top,
            }
        })
        .collect();
    Ok(predictions)
}

/// Formats predictions as plain text, one block per image.
pub fn format_predictions(predictions: &[Prediction]) -> String {
    let mut text = String::new();
    for prediction in predictions {
        text.push_str(&format!("{}\n", prediction.path.display()));
        for entry in &prediction.top {
            text.push_str(&format!(
                "  {:>6.2}%  {} ({})\n",
                100.0 * entry.probability,
                entry.name,
                entry.class
            ));
        }
    }
    text
}
