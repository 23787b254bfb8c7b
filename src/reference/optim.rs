//! One optimizer step over flat slices, updated in place, with the formulas documented on
//! [`AdamParams`] and [`SgdParams`] evaluated in f64.

use crate::ops::{AdamParams, SgdParams};

/// Applies Adam step `t` (1-based):
/// `m = beta1 m + (1 - beta1) g`, `v = beta2 v + (1 - beta2) g^2`,
/// `w -= lr_t m / (sqrt(v) + epsilon)` with `lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t)`,
/// the formula of [`AdamParams::corrected_learning_rate`] without its final rounding to f32.
///
/// # Shapes
/// - `weights`, `grads`, `m`, `v`: L, the first moment `m` and second moment `v` start at zero
pub fn adam_step(
    p: &AdamParams,
    t: u32,
    weights: &mut [f64],
    grads: &[f64],
    m: &mut [f64],
    v: &mut [f64],
) {
    assert!(t >= 1, "adam_step: step t is 1-based, got 0");
    assert_eq!(
        grads.len(),
        weights.len(),
        "adam_step: grads length vs weights length"
    );
    assert_eq!(
        m.len(),
        weights.len(),
        "adam_step: m length vs weights length"
    );
    assert_eq!(
        v.len(),
        weights.len(),
        "adam_step: v length vs weights length"
    );

    let learning_rate = f64::from(p.learning_rate);
    let beta1 = f64::from(p.beta1);
    let beta2 = f64::from(p.beta2);
    let epsilon = f64::from(p.epsilon);
    let t = f64::from(t);
    let corrected_learning_rate =
        learning_rate * (1.0 - beta2.powf(t)).sqrt() / (1.0 - beta1.powf(t));

    for i in 0..weights.len() {
        let g = grads[i];
        m[i] = beta1 * m[i] + (1.0 - beta1) * g;
        v[i] = beta2 * v[i] + (1.0 - beta2) * g * g;
        weights[i] -= corrected_learning_rate * m[i] / (v[i].sqrt() + epsilon);
    }
}

/// Applies one SGD step with momentum: `velocity = momentum velocity - lr g`,
/// `w += velocity`.
///
/// # Shapes
/// - `weights`, `grads`, `velocity`: L, the velocity starts at zero
pub fn sgd_step(p: &SgdParams, weights: &mut [f64], grads: &[f64], velocity: &mut [f64]) {
    assert_eq!(
        grads.len(),
        weights.len(),
        "sgd_step: grads length vs weights length"
    );
    assert_eq!(
        velocity.len(),
        weights.len(),
        "sgd_step: velocity length vs weights length"
    );

    let learning_rate = f64::from(p.learning_rate);
    let momentum = f64::from(p.momentum);
    for i in 0..weights.len() {
        velocity[i] = momentum * velocity[i] - learning_rate * grads[i];
        weights[i] += velocity[i];
    }
}
