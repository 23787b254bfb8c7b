//! Inverted dropout with the counter-based mask shared with the GPU kernel.

use crate::ops::rng::dropout_keep;
use crate::ops::DropoutParams;

/// Applies the mask of element `index` at step `step` to `value`: returns `value / (1 - rate)`
/// where the element is kept and exactly zero where it is dropped.
///
/// The kept scale is computed in f32 and then widened, so it equals exactly the factor of a
/// GPU kernel that computes it in f32.
fn apply_mask(p: &DropoutParams, step: u32, index: usize, value: f64) -> f64 {
    let index = u32::try_from(index).expect("dropout: element index must fit in u32");
    if dropout_keep(p.seed, step, p.layer, index, p.rate) {
        value * f64::from(1.0f32 / (1.0 - p.rate))
    } else {
        0.0
    }
}

/// Zeroes each element that [`dropout_keep`] drops at this step and scales the kept elements
/// by `1 / (1 - rate)`.
///
/// # Shapes
/// - `x`: L = `p.len`
/// - returns: L
pub fn dropout_forward(p: &DropoutParams, step: u32, x: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), p.len, "dropout_forward: x length vs p.len");
    x.iter()
        .enumerate()
        .map(|(i, &v)| apply_mask(p, step, i, v))
        .collect()
}

/// Applies the same mask and scale as [`dropout_forward`] with the same `p` and `step` to the
/// output gradient.
///
/// # Shapes
/// - `dout`: L = `p.len`
/// - returns `dx`: L
pub fn dropout_backward(p: &DropoutParams, step: u32, dout: &[f64]) -> Vec<f64> {
    assert_eq!(dout.len(), p.len, "dropout_backward: dout length vs p.len");
    dout.iter()
        .enumerate()
        .map(|(i, &d)| apply_mask(p, step, i, d))
        .collect()
}
