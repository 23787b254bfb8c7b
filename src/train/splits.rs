//! The training, validation and test images of a run. They derive only from the dataset,
//! the seed and the limits, so evaluation can rebuild exactly the validation split of
//! training.

use crate::data::{shuffled_indices, stratified_split, Dataset};

/// Epoch numbers passed to [`shuffled_indices`] for the fixed orders below; training
/// epochs count from 0 upwards and never reach them.
const TRAIN_ORDER_EPOCH: u32 = u32::MAX;
const TEST_ORDER_EPOCH: u32 = u32::MAX - 1;

/// Image indices of each split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Splits {
    /// Indices into the dataset's training images.
    pub train: Vec<usize>,
    /// Indices into the dataset's training images, disjoint from `train`.
    pub validation: Vec<usize>,
    /// Indices into the dataset's test images.
    pub test: Vec<usize>,
}

/// Splits the training images into training and validation sets, stratified by class,
/// then applies the limits.
///
/// With `train_limit` N, training uses the first N images of the training split in a
/// seeded random order (so every class is represented), and validation is cut in the same
/// proportion to at most `ceil(N * val_split / (1 - val_split))` images. With
/// `test_limit` M, testing uses the first M test images in a fixed seeded order.
pub fn split(
    dataset: &Dataset,
    val_split: f64,
    seed: u32,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
) -> Splits {
    let classes = dataset.classes.len();
    let (train_sorted, validation_sorted) =
        stratified_split(&dataset.train.labels, classes, val_split, seed);
    let train = in_seeded_order(&train_sorted, seed, TRAIN_ORDER_EPOCH, train_limit);
    let validation_limit = train_limit.map(|limit| {
        if val_split >= 1.0 {
            limit
        } else {
            (limit as f64 * val_split / (1.0 - val_split)).ceil() as usize
        }
    });
    let validation = in_seeded_order(
        &validation_sorted,
        seed,
        TRAIN_ORDER_EPOCH,
        validation_limit,
    );
    let test = test_indices(dataset.test.len(), seed, test_limit);
    Splits {
        train,
        validation,
        test,
    }
}

/// Indices of the test images used with `test_limit`: all of them, or the first
/// `test_limit` in a fixed seeded order, the same for training and evaluation.
pub fn test_indices(test_len: usize, seed: u32, test_limit: Option<usize>) -> Vec<usize> {
    let all: Vec<usize> = (0..test_len).collect();
    in_seeded_order(&all, seed, TEST_ORDER_EPOCH, test_limit)
}

/// `indices` permuted by a seeded shuffle and cut to `limit`, or all of them in their
/// own order when there is no limit.
fn in_seeded_order(indices: &[usize], seed: u32, order: u32, limit: Option<usize>) -> Vec<usize> {
    match limit {
        Some(limit) if limit < indices.len() => {
            let order = shuffled_indices(indices.len(), seed, order);
            let mut chosen: Vec<usize> = order[..limit].iter().map(|&i| indices[i]).collect();
            chosen.sort_unstable();
            chosen
        }
        _ => indices.to_vec(),
    }
}
