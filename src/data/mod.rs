//! Dataset loading: finds which on-disk layout a folder contains, parses it into byte images
//! and integer labels, and provides the deterministic splits, shuffles and pixel statistics
//! that training needs. Everything here runs on the CPU.
//!
//! Every image is stored as C planes of H x W bytes, each plane row-major, which is the
//! record order of the CIFAR binary files. Images are concatenated in split order.

mod cifar10;
mod cifar100;
mod error;
mod files;
mod idx;
mod image_folder;
mod sampling;
mod stats;

use std::path::Path;

pub use error::DataError;
pub use sampling::{shuffled_indices, stratified_split};
pub use stats::channel_stats;

/// A dataset with its train and test splits.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Layout the dataset was read from: "cifar10", "cifar100", "fashion-mnist" or
    /// "image-folder".
    pub name: String,
    /// Class names, indexed by label.
    pub classes: Vec<String>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub train: Split,
    pub test: Split,
}

impl Dataset {
    /// Bytes per image: channels x height x width.
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// The images and labels of one split.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Concatenated images, each as C planes of H x W bytes.
    pub images: Vec<u8>,
    /// One label per image, each below the dataset's class count.
    pub labels: Vec<u32>,
}

impl Split {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Returns the bytes of image `i`, where each image is `image_len` bytes.
    ///
    /// # Panics
    ///
    /// Panics if image `i` lies past the end of the buffer.
    pub fn image(&self, i: usize, image_len: usize) -> &[u8] {
        &self.images[i * image_len..(i + 1) * image_len]
    }

    /// Copies the images and labels at `indices`, in that order, into a new split.
    ///
    /// # Panics
    ///
    /// Panics if an index is `>= self.len()`.
    pub fn subset(&self, indices: &[usize], image_len: usize) -> Split {
        let mut subset = Split {
            images: Vec::with_capacity(indices.len() * image_len),
            labels: Vec::with_capacity(indices.len()),
        };
        for &index in indices {
            subset.labels.push(self.labels[index]);
            subset
                .images
                .extend_from_slice(self.image(index, image_len));
        }
        subset
    }
}

/// The CIFAR-100 label used as the class. Other layouts have one label and ignore it.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LabelMode {
    /// The 100 fine classes.
    #[default]
    Fine,
    /// The 20 coarse superclasses.
    Coarse,
}

/// Options of [`load`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Label kept for CIFAR-100.
    pub label_mode: LabelMode,
    /// `(height, width)` required of every image-folder image; `None` takes the size of
    /// the first training image. The binary layouts have fixed sizes and ignore it.
    pub expected_size: Option<(usize, usize)>,
}

/// Loads the dataset in `dir`, detecting its layout.
///
/// Layouts are tried in this order, and the first whose files are present is loaded:
/// CIFAR-10 binary, CIFAR-100 binary, Fashion-MNIST IDX, image folder. A layout counts as
/// present when any one of its files is, so a partial copy fails with an error naming the
/// missing file instead of falling through to the next layout.
pub fn load(dir: &Path, options: &LoadOptions) -> Result<Dataset, DataError> {
    if !dir.is_dir() {
        return Err(DataError::DirNotFound {
            dir: dir.to_path_buf(),
        });
    }

    if let Some(root) = cifar10::detect(dir) {
        return cifar10::load(&root);
    }
    if let Some(root) = cifar100::detect(dir) {
        return cifar100::load(&root, options.label_mode);
    }
    if let Some(root) = idx::detect(dir) {
        return idx::load(&root);
    }
    if let Some(root) = image_folder::detect(dir) {
        return image_folder::load(&root, options.expected_size);
    }

    let layouts = [
        (cifar10::LAYOUT, cifar10::LAYOUT_FILES),
        (cifar100::LAYOUT, cifar100::LAYOUT_FILES),
        (idx::LAYOUT, idx::LAYOUT_FILES),
        (image_folder::LAYOUT, image_folder::LAYOUT_FILES),
    ];
    Err(DataError::NoLayout {
        dir: dir.to_path_buf(),
        layouts: layouts
            .iter()
            .map(|(layout, files)| format!("  {layout}: {files}"))
            .collect(),
    })
}
