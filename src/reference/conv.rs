//! Stride-1 2-D convolution with a square, odd kernel and one bias per output channel. It is
//! computed as a cross-correlation, so the kernel is not flipped.

use crate::ops::Conv2dParams;

/// Panics unless the params describe a convolution these loops support.
fn check_params(p: &Conv2dParams) {
    assert!(
        p.kernel_size % 2 == 1,
        "conv2d: kernel_size must be odd, got {}",
        p.kernel_size
    );
    assert!(
        p.in_height + 2 * p.pad() >= p.kernel_size && p.in_width + 2 * p.pad() >= p.kernel_size,
        "conv2d: padded input {}x{} is smaller than the {}x{} kernel",
        p.in_height + 2 * p.pad(),
        p.in_width + 2 * p.pad(),
        p.kernel_size,
        p.kernel_size
    );
}

/// Maps output position `o` and kernel offset `r` to the input coordinate they read, or
/// `None` where that falls in the zero padding.
fn input_coordinate(o: usize, r: usize, pad: usize, extent: usize) -> Option<usize> {
    let i = (o + r).checked_sub(pad)?;
    (i < extent).then_some(i)
}

/// Computes `out[n, k, p, q] = bias[k] + sum_{c, r, s} input[n, c, p + r - pad, q + s - pad]
/// * weight[k, c, r, s]`, reading zero outside the input.
///
/// # Shapes
/// - `input`: N x C x H x W
/// - `weight`: K x C x R x R
/// - `bias`: K
/// - returns: N x K x P x Q
pub fn conv2d_forward(p: &Conv2dParams, input: &[f64], weight: &[f64], bias: &[f64]) -> Vec<f64> {
    check_params(p);
    assert_eq!(input.len(), p.input_len(), "conv2d_forward: input length");
    assert_eq!(
        weight.len(),
        p.weight_len(),
        "conv2d_forward: weight length"
    );
    assert_eq!(bias.len(), p.out_channels, "conv2d_forward: bias length");

    let (c_count, h, w, r_size) = (p.in_channels, p.in_height, p.in_width, p.kernel_size);
    let (out_h, out_w, pad) = (p.out_height(), p.out_width(), p.pad());
    let mut out = vec![0.0; p.output_len()];
    for n in 0..p.batch {
        for k in 0..p.out_channels {
            for op in 0..out_h {
                for oq in 0..out_w {
                    let mut sum = bias[k];
                    for c in 0..c_count {
                        for r in 0..r_size {
                            let Some(y) = input_coordinate(op, r, pad, h) else {
                                continue;
                            };
                            for s in 0..r_size {
                                let Some(x) = input_coordinate(oq, s, pad, w) else {
                                    continue;
                                };
                                let input_index = ((n * c_count + c) * h + y) * w + x;
                                let weight_index = ((k * c_count + c) * r_size + r) * r_size + s;
                                sum += input[input_index] * weight[weight_index];
                            }
                        }
                    }
                    out[((n * p.out_channels + k) * out_h + op) * out_w + oq] = sum;
                }
            }
        }
    }
    out
}

/// Computes the gradient of the loss with respect to the input of [`conv2d_forward`]:
/// every output gradient is scattered back through the kernel window that produced it.
///
/// # Shapes
/// - `dout`: N x K x P x Q
/// - `weight`: K x C x R x R
/// - returns `dinput`: N x C x H x W
pub fn conv2d_backward_input(p: &Conv2dParams, dout: &[f64], weight: &[f64]) -> Vec<f64> {
    check_params(p);
    assert_eq!(
        dout.len(),
        p.output_len(),
        "conv2d_backward_input: dout length"
    );
    assert_eq!(
        weight.len(),
        p.weight_len(),
        "conv2d_backward_input: weight length"
    );

    let (c_count, h, w, r_size) = (p.in_channels, p.in_height, p.in_width, p.kernel_size);
    let (out_h, out_w, pad) = (p.out_height(), p.out_width(), p.pad());
    let mut dinput = vec![0.0; p.input_len()];
    for n in 0..p.batch {
        for k in 0..p.out_channels {
            for op in 0..out_h {
                for oq in 0..out_w {
                    let d = dout[((n * p.out_channels + k) * out_h + op) * out_w + oq];
                    for c in 0..c_count {
                        for r in 0..r_size {
                            let Some(y) = input_coordinate(op, r, pad, h) else {
                                continue;
                            };
                            for s in 0..r_size {
                                let Some(x) = input_coordinate(oq, s, pad, w) else {
                                    continue;
                                };
                                let input_index = ((n * c_count + c) * h + y) * w + x;
                                let weight_index = ((k * c_count + c) * r_size + r) * r_size + s;
                                dinput[input_index] += d * weight[weight_index];
                            }
                        }
                    }
                }
            }
        }
    }
    dinput
}

/// Computes the gradient of the loss with respect to the weight of [`conv2d_forward`],
/// summed over the batch and every output position.
///
/// # Shapes
/// - `input`: N x C x H x W
/// - `dout`: N x K x P x Q
/// - returns `dweight`: K x C x R x R
pub fn conv2d_backward_weight(p: &Conv2dParams, input: &[f64], dout: &[f64]) -> Vec<f64> {
    check_params(p);
    assert_eq!(
        input.len(),
        p.input_len(),
        "conv2d_backward_weight: input length"
    );
    assert_eq!(
        dout.len(),
        p.output_len(),
        "conv2d_backward_weight: dout length"
    );

    let (c_count, h, w, r_size) = (p.in_channels, p.in_height, p.in_width, p.kernel_size);
    let (out_h, out_w, pad) = (p.out_height(), p.out_width(), p.pad());
    let mut dweight = vec![0.0; p.weight_len()];
    for k in 0..p.out_channels {
        for c in 0..c_count {
            for r in 0..r_size {
                for s in 0..r_size {
                    let mut sum = 0.0;
                    for n in 0..p.batch {
                        for op in 0..out_h {
                            let Some(y) = input_coordinate(op, r, pad, h) else {
                                continue;
                            };
                            for oq in 0..out_w {
                                let Some(x) = input_coordinate(oq, s, pad, w) else {
                                    continue;
                                };
                                let input_index = ((n * c_count + c) * h + y) * w + x;
                                let dout_index =
                                    ((n * p.out_channels + k) * out_h + op) * out_w + oq;
                                sum += input[input_index] * dout[dout_index];
                            }
                        }
                    }
                    dweight[((k * c_count + c) * r_size + r) * r_size + s] = sum;
                }
            }
        }
    }
    dweight
}

/// Computes the gradient of the loss with respect to the bias of [`conv2d_forward`]: the sum
/// of `dout` over the batch and every output position of each channel.
///
/// # Shapes
/// - `dout`: N x K x P x Q
/// - returns `dbias`: K
pub fn conv2d_backward_bias(p: &Conv2dParams, dout: &[f64]) -> Vec<f64> {
    check_params(p);
    assert_eq!(
        dout.len(),
        p.output_len(),
        "conv2d_backward_bias: dout length"
    );

    let plane = p.out_height() * p.out_width();
    let mut dbias = vec![0.0; p.out_channels];
    for n in 0..p.batch {
        for (k, db) in dbias.iter_mut().enumerate() {
            let start = (n * p.out_channels + k) * plane;
            *db += dout[start..start + plane].iter().sum::<f64>();
        }
    }
    dbias
}
