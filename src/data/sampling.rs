//! Deterministic index permutations: the train/validation split and the per-epoch shuffle.
//!
//! Both draw from `crate::ops::rng`, so a seed reproduces the same indices on every machine.

use crate::ops::rng::{hash_u32, random_u32};

/// Random stream of the train/validation split.
const SPLIT_STREAM: u32 = 0x5b11_0000;
/// Random stream of the per-epoch shuffle. Each epoch hashes into its own sub-stream.
const SHUFFLE_STREAM: u32 = 0x5f1e_0000;

/// Splits sample indices into `(train, validation)`, keeping each class's share.
///
/// For every class with `count` samples, `round(count * val_fraction)` of them, chosen at
/// random from `seed`, go to validation and the rest to train. Both returned lists are
/// sorted ascending, are disjoint and together cover `0..labels.len()`.
///
/// # Panics
///
/// Panics if a label is `>= classes` or `val_fraction` is not in `[0, 1]`.
pub fn stratified_split(
    labels: &[u32],
    classes: usize,
    val_fraction: f64,
    seed: u32,
) -> (Vec<usize>, Vec<usize>) {
    assert!(
        (0.0..=1.0).contains(&val_fraction),
        "validation fraction {val_fraction} is outside [0, 1]"
    );

    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (index, &label) in labels.iter().enumerate() {
        let members = by_class.get_mut(label as usize).unwrap_or_else(|| {
            panic!("label {label} of sample {index} is out of range for {classes} classes")
        });
        members.push(index);
    }

    let mut train = Vec::with_capacity(labels.len());
    let mut validation = Vec::new();
    for (class, mut members) in by_class.into_iter().enumerate() {
        let stream = SPLIT_STREAM ^ hash_u32(class as u32);
        shuffle(&mut members, |counter| random_u32(seed, stream, counter));
        let val_count = (members.len() as f64 * val_fraction).round() as usize;
        validation.extend_from_slice(&members[..val_count]);
        train.extend_from_slice(&members[val_count..]);
    }
    train.sort_unstable();
    validation.sort_unstable();
    (train, validation)
}

/// Returns a permutation of `0..len` for one epoch, a pure function of `(seed, epoch)`.
///
/// # Panics
///
/// Panics if `len` exceeds `u32::MAX`, the range of the random counter.
pub fn shuffled_indices(len: usize, seed: u32, epoch: u32) -> Vec<usize> {
    let stream = SHUFFLE_STREAM ^ hash_u32(epoch);
    let mut indices: Vec<usize> = (0..len).collect();
    shuffle(&mut indices, |counter| random_u32(seed, stream, counter));
    indices
}

/// Shuffles `items` in place with the Fisher-Yates algorithm. Step `k` (counting from 0)
/// draws the word `random(k)` and maps it to a position in `0..=i` by multiply-shift, whose
/// bias is at most `items.len() / 2^32`.
fn shuffle<T>(items: &mut [T], random: impl Fn(u32) -> u32) {
    assert!(
        u32::try_from(items.len()).is_ok(),
        "cannot shuffle {} items: at most u32::MAX are supported",
        items.len()
    );
    for (counter, i) in (1..items.len()).rev().enumerate() {
        let word = random(counter as u32);
        let j = ((u64::from(word) * (i as u64 + 1)) >> 32) as usize;
        items.swap(i, j);
    }
}
