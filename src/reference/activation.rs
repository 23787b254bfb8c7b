//! Elementwise activations. The backward passes take the forward output `y`, not the input,
//! because that is the buffer the GPU keeps.

/// Computes `max(x, 0)` elementwise.
///
/// # Shapes
/// - `x`: any length L
/// - returns: L
pub fn relu_forward(x: &[f64]) -> Vec<f64> {
    x.iter().map(|&v| if v > 0.0 { v } else { 0.0 }).collect()
}

/// Passes `dout` through where the forward output `y` is positive and returns zero elsewhere,
/// so the gradient at exactly zero is zero.
///
/// # Shapes
/// - `y`, `dout`: L
/// - returns `dx`: L
pub fn relu_backward(y: &[f64], dout: &[f64]) -> Vec<f64> {
    assert_eq!(
        y.len(),
        dout.len(),
        "relu_backward: y length vs dout length"
    );
    y.iter()
        .zip(dout)
        .map(|(&y, &d)| if y > 0.0 { d } else { 0.0 })
        .collect()
}

/// Computes `tanh(x)` elementwise.
///
/// # Shapes
/// - `x`: L
/// - returns: L
pub fn tanh_forward(x: &[f64]) -> Vec<f64> {
    x.iter().map(|v| v.tanh()).collect()
}

/// Computes `dx = dout * (1 - y^2)` from the forward output `y = tanh(x)`.
///
/// # Shapes
/// - `y`, `dout`: L
/// - returns `dx`: L
pub fn tanh_backward(y: &[f64], dout: &[f64]) -> Vec<f64> {
    assert_eq!(
        y.len(),
        dout.len(),
        "tanh_backward: y length vs dout length"
    );
    y.iter()
        .zip(dout)
        .map(|(&y, &d)| d * (1.0 - y * y))
        .collect()
}
