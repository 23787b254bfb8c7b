//! Max pooling with a square window whose stride equals its size.

use crate::ops::MaxPool2dParams;

/// Finds the flat input index of the maximum in the window of output `(n, c, op, oq)`.
/// The first maximum in row-major window order wins a tie.
fn window_argmax(
    p: &MaxPool2dParams,
    input: &[f64],
    n: usize,
    c: usize,
    op: usize,
    oq: usize,
) -> usize {
    let plane_start = (n * p.channels + c) * p.in_height * p.in_width;
    let mut best = plane_start + (op * p.pool_size) * p.in_width + oq * p.pool_size;
    for r in 0..p.pool_size {
        for s in 0..p.pool_size {
            let y = op * p.pool_size + r;
            let x = oq * p.pool_size + s;
            let index = plane_start + y * p.in_width + x;
            if input[index] > input[best] {
                best = index;
            }
        }
    }
    best
}

/// Computes the maximum of each `pool_size x pool_size` window. Trailing rows and columns
/// that do not fill a window are ignored.
///
/// # Shapes
/// - `input`: N x C x H x W
/// - returns: N x C x P x Q with P = H / pool_size and Q = W / pool_size (rounded down)
pub fn maxpool2d_forward(p: &MaxPool2dParams, input: &[f64]) -> Vec<f64> {
    assert!(
        p.pool_size >= 1,
        "maxpool2d: pool_size must be at least 1, got 0"
    );
    assert_eq!(
        input.len(),
        p.input_len(),
        "maxpool2d_forward: input length"
    );

    let (out_h, out_w) = (p.out_height(), p.out_width());
    let mut out = vec![0.0; p.output_len()];
    for n in 0..p.batch {
        for c in 0..p.channels {
            for op in 0..out_h {
                for oq in 0..out_w {
                    let best = window_argmax(p, input, n, c, op, oq);
                    out[((n * p.channels + c) * out_h + op) * out_w + oq] = input[best];
                }
            }
        }
    }
    out
}

/// Computes the gradient with respect to the input of [`maxpool2d_forward`]. Each output
/// gradient goes to the window's maximum only (the first one on a tie). Every other input,
/// including the dropped trailing rows and columns, gets zero.
///
/// # Shapes
/// - `input`: N x C x H x W
/// - `dout`: N x C x P x Q
/// - returns `dinput`: N x C x H x W
pub fn maxpool2d_backward(p: &MaxPool2dParams, input: &[f64], dout: &[f64]) -> Vec<f64> {
    assert!(
        p.pool_size >= 1,
        "maxpool2d: pool_size must be at least 1, got 0"
    );
    assert_eq!(
        input.len(),
        p.input_len(),
        "maxpool2d_backward: input length"
    );
    assert_eq!(
        dout.len(),
        p.output_len(),
        "maxpool2d_backward: dout length"
    );

    let (out_h, out_w) = (p.out_height(), p.out_width());
    let mut dinput = vec![0.0; p.input_len()];
    for n in 0..p.batch {
        for c in 0..p.channels {
            for op in 0..out_h {
                for oq in 0..out_w {
                    let best = window_argmax(p, input, n, c, op, oq);
                    dinput[best] = dout[((n * p.channels + c) * out_h + op) * out_w + oq];
                }
            }
        }
    }
    dinput
}
