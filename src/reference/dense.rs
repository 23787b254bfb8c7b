//! Dense (fully connected) layer `y = x W + b` with W stored D x M row-major.

use crate::ops::DenseParams;

/// Computes `y[n, m] = bias[m] + sum_d x[n, d] * weight[d, m]`.
///
/// # Shapes
/// - `x`: N x D
/// - `weight`: D x M
/// - `bias`: M
/// - returns: N x M
pub fn dense_forward(p: &DenseParams, x: &[f64], weight: &[f64], bias: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), p.input_len(), "dense_forward: x length");
    assert_eq!(weight.len(), p.weight_len(), "dense_forward: weight length");
    assert_eq!(bias.len(), p.out_features, "dense_forward: bias length");

    let (d_count, m_count) = (p.in_features, p.out_features);
    let mut y = vec![0.0; p.output_len()];
    for n in 0..p.batch {
        for m in 0..m_count {
            let mut sum = bias[m];
            for d in 0..d_count {
                sum += x[n * d_count + d] * weight[d * m_count + m];
            }
            y[n * m_count + m] = sum;
        }
    }
    y
}

/// Computes `dx = dout W^T`, the gradient with respect to the input of [`dense_forward`].
///
/// # Shapes
/// - `dout`: N x M
/// - `weight`: D x M
/// - returns `dx`: N x D
pub fn dense_backward_input(p: &DenseParams, dout: &[f64], weight: &[f64]) -> Vec<f64> {
    assert_eq!(
        dout.len(),
        p.output_len(),
        "dense_backward_input: dout length"
    );
    assert_eq!(
        weight.len(),
        p.weight_len(),
        "dense_backward_input: weight length"
    );

    let (d_count, m_count) = (p.in_features, p.out_features);
    let mut dx = vec![0.0; p.input_len()];
    for n in 0..p.batch {
        for d in 0..d_count {
            let mut sum = 0.0;
            for m in 0..m_count {
                sum += dout[n * m_count + m] * weight[d * m_count + m];
            }
            dx[n * d_count + d] = sum;
        }
    }
    dx
}

/// Computes `dweight = x^T dout`, summed over the batch.
///
/// # Shapes
/// - `x`: N x D
/// - `dout`: N x M
/// - returns `dweight`: D x M
pub fn dense_backward_weight(p: &DenseParams, x: &[f64], dout: &[f64]) -> Vec<f64> {
    assert_eq!(x.len(), p.input_len(), "dense_backward_weight: x length");
    assert_eq!(
        dout.len(),
        p.output_len(),
        "dense_backward_weight: dout length"
    );

    let (d_count, m_count) = (p.in_features, p.out_features);
    let mut dweight = vec![0.0; p.weight_len()];
    for d in 0..d_count {
        for m in 0..m_count {
            let mut sum = 0.0;
            for n in 0..p.batch {
                sum += x[n * d_count + d] * dout[n * m_count + m];
            }
            dweight[d * m_count + m] = sum;
        }
    }
    dweight
}

/// Computes `dbias[m] = sum_n dout[n, m]`.
///
/// # Shapes
/// - `dout`: N x M
/// - returns `dbias`: M
pub fn dense_backward_bias(p: &DenseParams, dout: &[f64]) -> Vec<f64> {
    assert_eq!(
        dout.len(),
        p.output_len(),
        "dense_backward_bias: dout length"
    );

    let m_count = p.out_features;
    let mut dbias = vec![0.0; m_count];
    for n in 0..p.batch {
        for m in 0..m_count {
            dbias[m] += dout[n * m_count + m];
        }
    }
    dbias
}
