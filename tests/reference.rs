//! Checks of the f64 CPU reference in `cifar_gpu::reference`: tiny cases worked by hand,
//! every backward pass against central finite differences of its forward pass, and the
//! optimizer, dropout and input stages against their formulas written out independently.

use cifar_gpu::ops::rng::augment_draw;
use cifar_gpu::ops::{
    AdamParams, Augment, Conv2dParams, DenseParams, DropoutParams, InputParams, MaxPool2dParams,
    Padding, SgdParams, SoftmaxCrossEntropyParams,
};
use cifar_gpu::reference::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// The SplitMix64 generator, used to fill test tensors reproducibly.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 bits of resolution.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[low, high)`.
    fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    /// `len` values uniform in `[-1, 1)`.
    fn values(&mut self, len: usize) -> Vec<f64> {
        (0..len).map(|_| self.uniform(-1.0, 1.0)).collect()
    }

    /// `len` values with magnitude in `[0.01, 1)` and random sign, so no value sits near the
    /// kink of ReLU at zero.
    fn values_away_from_zero(&mut self, len: usize) -> Vec<f64> {
        (0..len)
            .map(|_| {
                let magnitude = self.uniform(0.01, 1.0);
                if self.next_u64() & 1 == 1 {
                    magnitude
                } else {
                    -magnitude
                }
            })
            .collect()
    }

    /// `len` distinct values spaced 0.01 apart in random order, so a perturbation of 1e-6
    /// cannot change which element of a pooling window is the maximum.
    fn distinct_values(&mut self, len: usize) -> Vec<f64> {
        let mut values: Vec<f64> = (0..len)
            .map(|k| k as f64 * 0.01 - 0.005 * len as f64)
            .collect();
        for i in (1..len).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            values.swap(i, j);
        }
        values
    }
}

/// Step of the central differences.
const FD_STEP: f64 = 1e-6;
/// Relative tolerance between analytic and finite-difference gradients in f64.
const FD_RELATIVE_TOLERANCE: f64 = 1e-6;
/// Absolute tolerance, which covers gradients near zero.
const FD_ABSOLUTE_TOLERANCE: f64 = 1e-8;
/// Maximum number of elements of one tensor checked by finite differences. Larger tensors are
/// checked at evenly spaced indices, always including the first and last.
const FD_MAX_CHECKED: usize = 256;

fn checked_indices(len: usize) -> Vec<usize> {
    if len <= FD_MAX_CHECKED {
        return (0..len).collect();
    }
    let mut indices: Vec<usize> = (0..FD_MAX_CHECKED - 1)
        .map(|k| k * (len - 1) / (FD_MAX_CHECKED - 1))
        .collect();
    indices.push(len - 1);
    indices
}

/// Compares `analytic`, the gradient of `L(x) = sum(forward(x) * g)` at `x`, with central
/// finite differences of `L`, and panics listing the first ten mismatches.
///
/// The differences are taken output by output, `sum((f(x + h) - f(x - h)) * g) / 2h`, which is
/// the same quantity but loses no precision to the outputs that do not depend on `x[i]`.
fn check_gradient(
    op: &str,
    stage: &str,
    analytic: &[f64],
    x: &[f64],
    g: &[f64],
    forward: impl Fn(&[f64]) -> Vec<f64>,
) {
    assert_eq!(
        analytic.len(),
        x.len(),
        "{op} {stage}: gradient length vs input length"
    );
    assert_eq!(
        forward(x).len(),
        g.len(),
        "{op} {stage}: output length vs g length"
    );

    let mut mismatches = Vec::new();
    let mut max_abs_diff = 0.0f64;
    let indices = checked_indices(x.len());
    for &i in &indices {
        let mut plus = x.to_vec();
        plus[i] += FD_STEP;
        let mut minus = x.to_vec();
        minus[i] -= FD_STEP;
        let (y_plus, y_minus) = (forward(&plus), forward(&minus));
        let difference: f64 = y_plus
            .iter()
            .zip(&y_minus)
            .zip(g)
            .map(|((a, b), g)| (a - b) * g)
            .sum();
        let numeric = difference / (2.0 * FD_STEP);

        let abs_diff = (analytic[i] - numeric).abs();
        max_abs_diff = max_abs_diff.max(abs_diff);
        let bound =
            FD_RELATIVE_TOLERANCE * analytic[i].abs().max(numeric.abs()) + FD_ABSOLUTE_TOLERANCE;
        // A NaN on either side counts as a mismatch.
        if abs_diff.is_nan() || abs_diff > bound {
            mismatches.push(format!(
                "  index {i}: analytic {:.12e}, finite difference {numeric:.12e}",
                analytic[i]
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{op} {stage}: {} of {} checked gradients differ from finite differences \
         (max abs diff {max_abs_diff:.3e}); first ones:\n{}",
        mismatches.len(),
        indices.len(),
        mismatches
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Panics unless `actual` equals `expected` elementwise within `tolerance`, naming the case.
fn assert_all_close(case: &str, actual: &[f64], expected: &[f64], tolerance: f64) {
    assert_eq!(actual.len(), expected.len(), "{case}: length");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tolerance,
            "{case}: index {i}: got {a}, expected {e} (tolerance {tolerance})"
        );
    }
}

fn conv_params(
    batch: usize,
    in_channels: usize,
    (in_height, in_width): (usize, usize),
    out_channels: usize,
    kernel_size: usize,
    padding: Padding,
) -> Conv2dParams {
    Conv2dParams {
        batch,
        in_channels,
        in_height,
        in_width,
        out_channels,
        kernel_size,
        padding,
    }
}

// ---------------------------------------------------------------------------------------------
// Convolution

/// The 3x3 image with pixels 1..=9 in row-major order.
const IMAGE_1_TO_9: [f64; 9] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
/// A 3x3 plus-shaped kernel: centre and its four neighbours are 1.
const PLUS_KERNEL: [f64; 9] = [0.0, 1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0];
/// A 3x3 kernel that is 1 at its top-left tap only.
const TOP_LEFT_KERNEL: [f64; 9] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];

#[test]
fn conv2d_forward_same_plus_kernel() {
    // Input      Each output is its pixel plus the four neighbours inside the image, plus 0.5:
    // 1 2 3      (0,0) 1+2+4 = 7      (0,1) 2+1+3+5 = 11    (0,2) 3+2+6 = 11
    // 4 5 6      (1,0) 4+1+7+5 = 17   (1,1) 5+2+8+4+6 = 25  (1,2) 6+3+9+5 = 23
    // 7 8 9      (2,0) 7+4+8 = 19     (2,1) 8+5+7+9 = 29    (2,2) 9+6+8 = 23
    let p = conv_params(1, 1, (3, 3), 1, 3, Padding::Same);
    let out = conv2d_forward(&p, &IMAGE_1_TO_9, &PLUS_KERNEL, &[0.5]);
    let expected = [7.0, 11.0, 11.0, 17.0, 25.0, 23.0, 19.0, 29.0, 23.0].map(|v| v + 0.5);
    assert_eq!(out, expected);
}

#[test]
fn conv2d_forward_valid_plus_kernel() {
    // One output: 5 + 2 + 8 + 4 + 6 = 25, plus the bias 0.5.
    let p = conv_params(1, 1, (3, 3), 1, 3, Padding::Valid);
    let out = conv2d_forward(&p, &IMAGE_1_TO_9, &PLUS_KERNEL, &[0.5]);
    assert_eq!(out, [25.5]);
}

#[test]
fn conv2d_forward_is_cross_correlation() {
    // Weight tap (r, s) multiplies input (p + r - pad, q + s - pad) without flipping the
    // kernel, so the top-left tap with pad 1 gives out(p, q) = in(p - 1, q - 1):
    // 0 0 0
    // 0 1 2
    // 0 4 5
    let same = conv_params(1, 1, (3, 3), 1, 3, Padding::Same);
    let out = conv2d_forward(&same, &IMAGE_1_TO_9, &TOP_LEFT_KERNEL, &[0.0]);
    assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 4.0, 5.0]);

    // Without padding the single output reads in(0, 0) = 1.
    let valid = conv_params(1, 1, (3, 3), 1, 3, Padding::Valid);
    let out = conv2d_forward(&valid, &IMAGE_1_TO_9, &TOP_LEFT_KERNEL, &[0.0]);
    assert_eq!(out, [1.0]);
}

#[test]
fn conv2d_forward_channel_layout() {
    // A 1x1 kernel mixes channels: out[k] = sum_c weight[k, c] in[c] + bias[k].
    // Input channel 0 is 1 2, channel 1 is 3 4 (a 1x2 image, batch 1).
    // Weight K x C = [[1, 10], [-1, 0.5]], bias [0, 100].
    // out[0] = 1*[1 2] + 10*[3 4] = [31 42]
    // out[1] = -1*[1 2] + 0.5*[3 4] + 100 = [100.5 100]
    let p = conv_params(1, 2, (1, 2), 2, 1, Padding::Valid);
    let out = conv2d_forward(
        &p,
        &[1.0, 2.0, 3.0, 4.0],
        &[1.0, 10.0, -1.0, 0.5],
        &[0.0, 100.0],
    );
    assert_eq!(out, [31.0, 42.0, 100.5, 100.0]);
}

#[test]
fn conv2d_backward_hand_checked() {
    // With the top-left kernel and same padding, out(p, q) = in(p - 1, q - 1), so a dout of
    // ones reaches each input that some output reads: rows 0-1 and columns 0-1.
    let p = conv_params(1, 1, (3, 3), 1, 3, Padding::Same);
    let dout = [1.0; 9];
    let dinput = conv2d_backward_input(&p, &dout, &TOP_LEFT_KERNEL);
    assert_eq!(dinput, [1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);

    // dweight(r, s) sums the inputs tap (r, s) read over all outputs. Tap (1, 1) reads every
    // pixel: 45. Tap (0, 0) reads in(p - 1, q - 1): 1 + 2 + 4 + 5 = 12.
    let dweight = conv2d_backward_weight(&p, &IMAGE_1_TO_9, &dout);
    assert_eq!(dweight[4], 45.0);
    assert_eq!(dweight[0], 12.0);

    // dbias sums dout over the plane: 9.
    assert_eq!(conv2d_backward_bias(&p, &dout), [9.0]);
}

#[test]
fn conv2d_gradients_match_finite_differences() {
    // (N, C, (H, W), K, R, padding)
    let shapes = [
        (1, 1, (1, 1), 1, 1, Padding::Same),
        (1, 1, (1, 1), 3, 5, Padding::Same),
        (1, 1, (3, 3), 1, 3, Padding::Valid),
        (3, 3, (5, 5), 2, 3, Padding::Same),
        (3, 3, (5, 5), 4, 3, Padding::Valid),
        (1, 17, (7, 9), 3, 5, Padding::Same),
        (3, 17, (7, 9), 2, 5, Padding::Valid),
        (2, 3, (7, 9), 5, 1, Padding::Valid),
        (3, 1, (7, 9), 17, 3, Padding::Same),
    ];
    let mut rng = SplitMix64(1);
    for (batch, channels, spatial, out_channels, kernel, padding) in shapes {
        let p = conv_params(batch, channels, spatial, out_channels, kernel, padding);
        let op = format!("conv2d {p:?}");
        let input = rng.values(p.input_len());
        let weight = rng.values(p.weight_len());
        let bias = rng.values(p.out_channels);
        let g = rng.values(p.output_len());

        let dinput = conv2d_backward_input(&p, &g, &weight);
        check_gradient(&op, "dinput", &dinput, &input, &g, |x| {
            conv2d_forward(&p, x, &weight, &bias)
        });

        let dweight = conv2d_backward_weight(&p, &input, &g);
        check_gradient(&op, "dweight", &dweight, &weight, &g, |w| {
            conv2d_forward(&p, &input, w, &bias)
        });

        let dbias = conv2d_backward_bias(&p, &g);
        check_gradient(&op, "dbias", &dbias, &bias, &g, |b| {
            conv2d_forward(&p, &input, &weight, b)
        });
    }
}

#[test]
#[should_panic(expected = "kernel_size must be odd")]
fn conv2d_rejects_even_kernel() {
    let p = conv_params(1, 1, (4, 4), 1, 2, Padding::Same);
    conv2d_forward(&p, &[0.0; 16], &[0.0; 4], &[0.0]);
}

// ---------------------------------------------------------------------------------------------
// Max pooling

#[test]
fn maxpool2d_tie_goes_to_first_maximum() {
    // Window 3 3 / 1 3 has maximum 3 three times, and the first in row-major order (index 0)
    // takes the whole gradient.
    let p = MaxPool2dParams {
        batch: 1,
        channels: 1,
        in_height: 2,
        in_width: 2,
        pool_size: 2,
    };
    let input = [3.0, 3.0, 1.0, 3.0];
    assert_eq!(maxpool2d_forward(&p, &input), [3.0]);
    assert_eq!(maxpool2d_backward(&p, &input, &[2.5]), [2.5, 0.0, 0.0, 0.0]);
}

#[test]
fn maxpool2d_drops_trailing_rows_and_columns() {
    // A 3x5 input with pool 2 has two windows over rows 0-1, columns 0-1 and 2-3. Row 2 and
    // column 4 (which contain the largest values) belong to no window.
    //  1  9  2  0 | 50
    //  3  4  8  7 | 60
    // -----------------
    // 70 80 90 95   99
    let p = MaxPool2dParams {
        batch: 1,
        channels: 1,
        in_height: 3,
        in_width: 5,
        pool_size: 2,
    };
    let input = [
        1.0, 9.0, 2.0, 0.0, 50.0, //
        3.0, 4.0, 8.0, 7.0, 60.0, //
        70.0, 80.0, 90.0, 95.0, 99.0,
    ];
    assert_eq!(maxpool2d_forward(&p, &input), [9.0, 8.0]);
    let dinput = maxpool2d_backward(&p, &input, &[1.0, -2.0]);
    let expected = [
        0.0, 1.0, 0.0, 0.0, 0.0, //
        0.0, 0.0, -2.0, 0.0, 0.0, //
        0.0, 0.0, 0.0, 0.0, 0.0,
    ];
    assert_eq!(dinput, expected);
}

#[test]
fn maxpool2d_gradient_matches_finite_differences() {
    // (N, C, H, W, pool_size)
    let shapes = [
        (1, 1, 1, 1, 1),
        (1, 1, 2, 2, 2),
        (3, 3, 5, 5, 2),
        (1, 17, 7, 9, 3),
        (2, 1, 7, 9, 2),
        (3, 3, 4, 4, 4),
        (1, 3, 5, 5, 5),
    ];
    let mut rng = SplitMix64(2);
    for (batch, channels, in_height, in_width, pool_size) in shapes {
        let p = MaxPool2dParams {
            batch,
            channels,
            in_height,
            in_width,
            pool_size,
        };
        let input = rng.distinct_values(p.input_len());
        let g = rng.values(p.output_len());
        let dinput = maxpool2d_backward(&p, &input, &g);
        check_gradient(
            &format!("maxpool2d {p:?}"),
            "dinput",
            &dinput,
            &input,
            &g,
            |x| maxpool2d_forward(&p, x),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Activations

#[test]
fn relu_hand_checked() {
    assert_eq!(relu_forward(&[-1.0, 0.0, 2.0]), [0.0, 0.0, 2.0]);
    // The gradient passes only where the output is positive, so not at y = 0.
    assert_eq!(
        relu_backward(&[0.0, 0.0, 2.0], &[5.0, 6.0, 7.0]),
        [0.0, 0.0, 7.0]
    );
}

#[test]
fn tanh_hand_checked() {
    assert_eq!(tanh_forward(&[0.0]), [0.0]);
    // y = 0.5: 1 - 0.25 = 0.75, times dout 2 = 1.5.
    assert_eq!(tanh_backward(&[0.5], &[2.0]), [1.5]);
}

#[test]
fn activation_gradients_match_finite_differences() {
    let mut rng = SplitMix64(3);
    for len in [1, 17, 300] {
        let x = rng.values_away_from_zero(len);
        let g = rng.values(len);

        let y = relu_forward(&x);
        let dx = relu_backward(&y, &g);
        check_gradient(&format!("relu len {len}"), "dx", &dx, &x, &g, relu_forward);

        // Spread tanh inputs over [-3, 3] to cover its flat tails too.
        let x: Vec<f64> = x.iter().map(|v| 3.0 * v).collect();
        let y = tanh_forward(&x);
        let dx = tanh_backward(&y, &g);
        check_gradient(&format!("tanh len {len}"), "dx", &dx, &x, &g, tanh_forward);
    }
}

// ---------------------------------------------------------------------------------------------
// Dropout

fn dropout_params(len: usize, rate: f32, seed: u32, layer: u32) -> DropoutParams {
    DropoutParams {
        len,
        rate,
        seed,
        layer,
    }
}

/// Reads which elements dropout keeps from the forward pass over ones.
fn kept_mask(p: &DropoutParams, step: u32) -> Vec<bool> {
    dropout_forward(p, step, &vec![1.0; p.len])
        .iter()
        .map(|&v| v != 0.0)
        .collect()
}

#[test]
fn dropout_kept_fraction_near_one_minus_rate() {
    // With 100 000 elements the standard deviation of the kept fraction is at most 0.0016,
    // so 0.01 is more than six standard deviations.
    for rate in [0.1f32, 0.5, 0.8] {
        let p = dropout_params(100_000, rate, 7, 0);
        let kept = kept_mask(&p, 3).iter().filter(|&&k| k).count();
        let fraction = kept as f64 / p.len as f64;
        let expected = 1.0 - f64::from(rate);
        assert!(
            (fraction - expected).abs() < 0.01,
            "dropout rate {rate}: kept fraction {fraction}, expected about {expected}"
        );
    }
}

#[test]
fn dropout_scale_is_widened_f32() {
    // 1 / (1 - 0.3) rounds differently in f32 and f64, and the reference must match the GPU,
    // which computes the scale in f32.
    let rate = 0.3f32;
    let p = dropout_params(64, rate, 11, 2);
    let x: Vec<f64> = (0..p.len).map(|i| 1.0 + i as f64).collect();
    let y = dropout_forward(&p, 5, &x);
    let scale = f64::from(1.0f32 / (1.0 - rate));
    assert_ne!(scale, 1.0 / (1.0 - f64::from(rate)));
    let mut kept = 0;
    for (i, (&out, &input)) in y.iter().zip(&x).enumerate() {
        if out != 0.0 {
            assert_eq!(out, input * scale, "dropout kept element {i}");
            kept += 1;
        }
    }
    assert!(
        kept > 0,
        "dropout rate {rate} kept none of {} elements",
        p.len
    );
}

#[test]
fn dropout_masks_depend_on_seed_layer_and_step() {
    let len = 10_000;
    let base = dropout_params(len, 0.5, 1, 0);
    let base_mask = kept_mask(&base, 0);
    let variants = [
        ("seed", dropout_params(len, 0.5, 2, 0), 0),
        ("layer", dropout_params(len, 0.5, 1, 1), 0),
        ("step", dropout_params(len, 0.5, 1, 0), 1),
    ];
    for (changed, p, step) in variants {
        // Independent masks at rate 0.5 differ in about half of the positions.
        let mask = kept_mask(&p, step);
        let differing = mask.iter().zip(&base_mask).filter(|(a, b)| a != b).count();
        let fraction = differing as f64 / len as f64;
        assert!(
            (0.45..0.55).contains(&fraction),
            "dropout mask after changing the {changed} differs in {fraction} of positions, \
             expected about 0.5"
        );
    }
}

#[test]
fn dropout_same_inputs_give_same_mask() {
    let p = dropout_params(1000, 0.4, 9, 3);
    let x = SplitMix64(4).values(p.len);
    assert_eq!(dropout_forward(&p, 12, &x), dropout_forward(&p, 12, &x));
}

#[test]
fn dropout_rate_zero_is_identity() {
    let p = dropout_params(500, 0.0, 5, 0);
    let x = SplitMix64(5).values(p.len);
    assert_eq!(dropout_forward(&p, 0, &x), x);
    assert_eq!(dropout_backward(&p, 0, &x), x);
}

#[test]
fn dropout_backward_uses_forward_mask() {
    let p = dropout_params(1000, 0.5, 6, 1);
    let step = 4;
    let mut rng = SplitMix64(6);
    let x = rng.values_away_from_zero(p.len);
    let dout = rng.values_away_from_zero(p.len);
    let y = dropout_forward(&p, step, &x);
    let dx = dropout_backward(&p, step, &dout);
    for i in 0..p.len {
        // Nonzero inputs make a zero output mean a dropped element, and a kept element has
        // the same scale in both directions.
        assert_eq!(
            y[i] == 0.0,
            dx[i] == 0.0,
            "dropout element {i}: y {}, dx {}",
            y[i],
            dx[i]
        );
        if y[i] != 0.0 {
            assert_eq!(y[i] / x[i], dx[i] / dout[i], "dropout scale at element {i}");
        }
    }
}

#[test]
fn dropout_gradient_matches_finite_differences() {
    // (len, rate, step)
    let cases = [
        (1, 0.5f32, 0),
        (17, 0.3, 1),
        (300, 0.5, 2),
        (300, 0.0, 3),
        (300, 0.9, 4),
    ];
    let mut rng = SplitMix64(7);
    for (layer, (len, rate, step)) in cases.into_iter().enumerate() {
        let p = dropout_params(len, rate, 42, layer as u32);
        let x = rng.values(len);
        let g = rng.values(len);
        let dx = dropout_backward(&p, step, &g);
        check_gradient(
            &format!("dropout {p:?} step {step}"),
            "dx",
            &dx,
            &x,
            &g,
            |x| dropout_forward(&p, step, x),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Dense

#[test]
fn dense_hand_checked() {
    // x (N=2, D=2) = [[1, 2], [3, 4]], W (D=2, M=3) = [[1, 0, -1], [2, 1, 0]], b = [0.5, 0, -0.5]
    // y row 0 = [1*1 + 2*2, 1*0 + 2*1, 1*-1 + 2*0] + b = [5.5, 2, -1.5]
    // y row 1 = [3*1 + 4*2, 3*0 + 4*1, 3*-1 + 4*0] + b = [11.5, 4, -3.5]
    let p = DenseParams {
        batch: 2,
        in_features: 2,
        out_features: 3,
    };
    let x = [1.0, 2.0, 3.0, 4.0];
    let weight = [1.0, 0.0, -1.0, 2.0, 1.0, 0.0];
    let y = dense_forward(&p, &x, &weight, &[0.5, 0.0, -0.5]);
    assert_eq!(y, [5.5, 2.0, -1.5, 11.5, 4.0, -3.5]);

    // dout = [[1, 0, 0], [0, 0, 1]]
    // dx = dout W^T: row 0 = W[:, 0] = [1, 2], row 1 = W[:, 2] = [-1, 0]
    // dW = x^T dout: column 0 = x row 0 = [1, 2], column 2 = x row 1 = [3, 4], column 1 = 0
    // db = column sums of dout = [1, 0, 1]
    let dout = [1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    assert_eq!(
        dense_backward_input(&p, &dout, &weight),
        [1.0, 2.0, -1.0, 0.0]
    );
    assert_eq!(
        dense_backward_weight(&p, &x, &dout),
        [1.0, 0.0, 3.0, 2.0, 0.0, 4.0]
    );
    assert_eq!(dense_backward_bias(&p, &dout), [1.0, 0.0, 1.0]);
}

#[test]
#[should_panic(expected = "dense_forward: x length")]
fn dense_rejects_wrong_input_length() {
    let p = DenseParams {
        batch: 2,
        in_features: 3,
        out_features: 1,
    };
    dense_forward(&p, &[0.0; 5], &[0.0; 3], &[0.0]);
}

#[test]
fn dense_gradients_match_finite_differences() {
    // (N, D, M)
    let shapes = [(1, 1, 1), (3, 17, 5), (1, 5, 17), (3, 7, 9), (2, 1, 3)];
    let mut rng = SplitMix64(8);
    for (batch, in_features, out_features) in shapes {
        let p = DenseParams {
            batch,
            in_features,
            out_features,
        };
        let op = format!("dense {p:?}");
        let x = rng.values(p.input_len());
        let weight = rng.values(p.weight_len());
        let bias = rng.values(out_features);
        let g = rng.values(p.output_len());

        let dx = dense_backward_input(&p, &g, &weight);
        check_gradient(&op, "dx", &dx, &x, &g, |x| {
            dense_forward(&p, x, &weight, &bias)
        });

        let dweight = dense_backward_weight(&p, &x, &g);
        check_gradient(&op, "dweight", &dweight, &weight, &g, |w| {
            dense_forward(&p, &x, w, &bias)
        });

        let dbias = dense_backward_bias(&p, &g);
        check_gradient(&op, "dbias", &dbias, &bias, &g, |b| {
            dense_forward(&p, &x, &weight, b)
        });
    }
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy

#[test]
fn softmax_cross_entropy_hand_checked() {
    // Logits [0, ln 2]: exp gives [1, 2], so softmax = [1/3, 2/3].
    // Label 0: loss ln 3, dlogits ([1/3, 2/3] - [1, 0]) / 2 = [-1/3, 1/3].
    // Label 1: loss -ln(2/3) = ln 1.5, dlogits ([1/3, 2/3] - [0, 1]) / 2 = [1/6, -1/6].
    // The argmax is class 1, so only the second sample is correct.
    let ln2 = 2f64.ln();
    let p = SoftmaxCrossEntropyParams {
        batch: 2,
        classes: 2,
    };
    let out = softmax_cross_entropy(&p, &[0.0, ln2, 0.0, ln2], &[0, 1]);

    let probabilities = [1.0 / 3.0, 2.0 / 3.0, 1.0 / 3.0, 2.0 / 3.0];
    let losses = [3f64.ln(), 1.5f64.ln()];
    let loss = (losses[0] + losses[1]) / 2.0;
    let dlogits = [-1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0, -1.0 / 6.0];
    let tolerance = 1e-14;
    assert_all_close(
        "probabilities",
        &out.probabilities,
        &probabilities,
        tolerance,
    );
    assert_all_close("losses", &out.losses, &losses, tolerance);
    assert_all_close("loss", &[out.loss], &[loss], tolerance);
    assert_all_close("dlogits", &out.dlogits, &dlogits, tolerance);
    assert_eq!(out.correct, [false, true]);
}

#[test]
fn softmax_cross_entropy_large_logits_are_stable() {
    // Shifting every logit by 1000 would overflow a naive exp but must not change anything.
    let ln2 = 2f64.ln();
    let p = SoftmaxCrossEntropyParams {
        batch: 1,
        classes: 2,
    };
    let out = softmax_cross_entropy(&p, &[1000.0, 1000.0 + ln2], &[1]);
    assert_all_close(
        "probabilities",
        &out.probabilities,
        &[1.0 / 3.0, 2.0 / 3.0],
        1e-12,
    );
    assert_all_close("loss", &[out.loss], &[1.5f64.ln()], 1e-12);
}

#[test]
fn softmax_cross_entropy_tie_goes_to_lowest_index() {
    // Logits [1, 1, 0] tie between classes 0 and 1, so the argmax is 0.
    let p = SoftmaxCrossEntropyParams {
        batch: 2,
        classes: 3,
    };
    let out = softmax_cross_entropy(&p, &[1.0, 1.0, 0.0, 1.0, 1.0, 0.0], &[0, 1]);
    assert_eq!(out.correct, [true, false]);
}

#[test]
fn softmax_cross_entropy_gradient_matches_finite_differences() {
    // (N, M)
    let shapes = [(1, 1), (1, 10), (3, 17), (3, 2), (2, 5)];
    let mut rng = SplitMix64(9);
    for (batch, classes) in shapes {
        let p = SoftmaxCrossEntropyParams { batch, classes };
        let logits: Vec<f64> = rng
            .values(batch * classes)
            .iter()
            .map(|v| 3.0 * v)
            .collect();
        let labels: Vec<u32> = (0..batch)
            .map(|_| (rng.next_u64() % classes as u64) as u32)
            .collect();
        let out = softmax_cross_entropy(&p, &logits, &labels);
        check_gradient(
            &format!("softmax_cross_entropy {p:?}"),
            "dlogits",
            &out.dlogits,
            &logits,
            &[1.0],
            |z| vec![softmax_cross_entropy(&p, z, &labels).loss],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Optimizers

#[test]
fn adam_two_steps_hand_checked() {
    // lr 0.25, beta1 0.5, beta2 0.75, epsilon 0.0625. Start: w = 1, m = v = 0.
    // Step 1, g = 0.5: m = 0.5 * 0.5 = 0.25, v = 0.25 * 0.25 = 0.0625,
    //   lr_1 = 0.25 * sqrt(1 - 0.75) / (1 - 0.5) = 0.25, sqrt(v) = 0.25,
    //   w = 1 - 0.25 * 0.25 / (0.25 + 0.0625) = 1 - 0.2 = 0.8.
    // Step 2, g = -1: m = 0.5 * 0.25 - 0.5 = -0.375, v = 0.75 * 0.0625 + 0.25 = 0.296875,
    //   lr_2 = 0.25 * sqrt(1 - 0.5625) / (1 - 0.25) = sqrt(0.4375) / 3,
    //   w = 0.8 + lr_2 * 0.375 / (sqrt(0.296875) + 0.0625) ~= 0.936130.
    let p = AdamParams {
        learning_rate: 0.25,
        beta1: 0.5,
        beta2: 0.75,
        epsilon: 0.0625,
    };
    let (mut w, mut m, mut v) = ([1.0], [0.0], [0.0]);

    adam_step(&p, 1, &mut w, &[0.5], &mut m, &mut v);
    assert_eq!(m, [0.25]);
    assert_eq!(v, [0.0625]);
    assert_all_close("adam step 1 weight", &w, &[0.8], 1e-15);

    adam_step(&p, 2, &mut w, &[-1.0], &mut m, &mut v);
    assert_eq!(m, [-0.375]);
    assert_eq!(v, [0.296875]);
    let expected = 0.8 + 0.4375f64.sqrt() / 3.0 * 0.375 / (0.296875f64.sqrt() + 0.0625);
    assert_all_close("adam step 2 weight", &w, &[expected], 1e-15);
    assert!(
        (w[0] - 0.936130).abs() < 1e-6,
        "adam step 2 weight {} vs 0.936130",
        w[0]
    );
}

#[test]
fn adam_matches_closed_form_moments() {
    // Unrolled, m_t = (1 - beta1) sum_{i<=t} beta1^(t-i) g_i and likewise v_t with beta2 and
    // g_i^2. Each step then moves w by lr sqrt(1 - beta2^t) / (1 - beta1^t) m_t / (sqrt(v_t)
    // + epsilon).
    let p = AdamParams {
        learning_rate: 0.01,
        ..AdamParams::default()
    };
    let (lr, beta1, beta2, epsilon) = (
        f64::from(p.learning_rate),
        f64::from(p.beta1),
        f64::from(p.beta2),
        f64::from(p.epsilon),
    );
    let mut rng = SplitMix64(10);
    let elements = 4;
    let steps = 6;
    let gradients: Vec<Vec<f64>> = (0..steps).map(|_| rng.values(elements)).collect();
    let initial = rng.values(elements);

    let mut w = initial.clone();
    let mut m = vec![0.0; elements];
    let mut v = vec![0.0; elements];
    let mut expected_w = initial;
    for t in 1..=steps {
        adam_step(&p, t as u32, &mut w, &gradients[t - 1], &mut m, &mut v);
        for e in 0..elements {
            let m_t: f64 = (1..=t)
                .map(|i| (1.0 - beta1) * beta1.powi((t - i) as i32) * gradients[i - 1][e])
                .sum();
            let v_t: f64 = (1..=t)
                .map(|i| (1.0 - beta2) * beta2.powi((t - i) as i32) * gradients[i - 1][e].powi(2))
                .sum();
            let step_size = lr * (1.0 - beta2.powi(t as i32)).sqrt() / (1.0 - beta1.powi(t as i32));
            expected_w[e] -= step_size * m_t / (v_t.sqrt() + epsilon);
            let case = format!("adam step {t} element {e}");
            assert_all_close(&format!("{case} m"), &[m[e]], &[m_t], 1e-15);
            assert_all_close(&format!("{case} v"), &[v[e]], &[v_t], 1e-15);
            assert_all_close(&format!("{case} weight"), &[w[e]], &[expected_w[e]], 1e-14);
        }
    }
}

#[test]
fn adam_first_step_magnitude_is_learning_rate() {
    // After one step m / sqrt(v) = (1 - beta1) g / (sqrt(1 - beta2) |g|) and the correction
    // turns this into sign(g), so w moves by lr / (1 + eps / (sqrt(1 - beta2) |g|)) against g.
    // For |g| >= 1e-3 with the defaults that is within 0.4% of lr.
    let p = AdamParams::default();
    let lr = f64::from(p.learning_rate);
    let grads = [1e-3, -0.5, 3.0, -100.0, 1e3];
    let mut w = vec![0.0; grads.len()];
    let mut m = vec![0.0; grads.len()];
    let mut v = vec![0.0; grads.len()];
    adam_step(&p, 1, &mut w, &grads, &mut m, &mut v);
    for (i, (&moved, &g)) in w.iter().zip(&grads).enumerate() {
        assert!(
            moved * g < 0.0,
            "adam first step for g {g}: moved {moved}, not against g"
        );
        assert!(
            moved.abs() <= lr,
            "adam first step for g {g}: |{moved}| exceeds lr {lr}"
        );
        assert!(
            (moved.abs() - lr).abs() < 4e-3 * lr,
            "adam first step element {i} for g {g}: |{moved}| is not within 0.4% of lr {lr}"
        );
    }
}

#[test]
fn sgd_hand_checked() {
    // lr 0.5, momentum 0.5, w = 1, velocity 0.
    // Step 1, g = 2: velocity = -1, w = 0.
    // Step 2, g = -1: velocity = 0.5 * -1 + 0.5 = 0, w = 0.
    // Step 3, g = -1: velocity = 0.5, w = 0.5.
    let p = SgdParams {
        learning_rate: 0.5,
        momentum: 0.5,
    };
    let (mut w, mut velocity) = ([1.0], [0.0]);
    for (g, expected_velocity, expected_w) in [(2.0, -1.0, 0.0), (-1.0, 0.0, 0.0), (-1.0, 0.5, 0.5)]
    {
        sgd_step(&p, &mut w, &[g], &mut velocity);
        assert_eq!(velocity, [expected_velocity]);
        assert_eq!(w, [expected_w]);
    }
}

#[test]
fn sgd_matches_closed_form_velocity() {
    // Unrolled, velocity_t = -lr sum_{i<=t} momentum^(t-i) g_i
    // and w_t = w_0 + sum_{s<=t} velocity_s.
    let p = SgdParams::default();
    let (lr, momentum) = (f64::from(p.learning_rate), f64::from(p.momentum));
    let mut rng = SplitMix64(11);
    let elements = 5;
    let steps = 7;
    let gradients: Vec<Vec<f64>> = (0..steps).map(|_| rng.values(elements)).collect();
    let initial = rng.values(elements);

    let mut w = initial.clone();
    let mut velocity = vec![0.0; elements];
    let mut expected_w = initial;
    for t in 1..=steps {
        sgd_step(&p, &mut w, &gradients[t - 1], &mut velocity);
        for e in 0..elements {
            let velocity_t: f64 = -lr
                * (1..=t)
                    .map(|i| momentum.powi((t - i) as i32) * gradients[i - 1][e])
                    .sum::<f64>();
            expected_w[e] += velocity_t;
            let case = format!("sgd step {t} element {e}");
            assert_all_close(
                &format!("{case} velocity"),
                &[velocity[e]],
                &[velocity_t],
                1e-15,
            );
            assert_all_close(&format!("{case} weight"), &[w[e]], &[expected_w[e]], 1e-14);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Input stage

fn input_params(
    batch: usize,
    channels: usize,
    (height, width): (usize, usize),
    augment: Augment,
    seed: u32,
) -> InputParams {
    InputParams {
        batch,
        channels,
        height,
        width,
        mean: (0..channels).map(|c| 0.4 + 0.05 * c as f32).collect(),
        std: (0..channels).map(|c| 0.2 + 0.03 * c as f32).collect(),
        augment,
        seed,
    }
}

/// Normalizes one byte the way the input stage does, from the params' f32 mean and std.
fn normalize(p: &InputParams, c: usize, pixel: u8) -> f64 {
    (f64::from(pixel) / 255.0 - f64::from(p.mean[c])) / f64::from(p.std[c])
}

fn random_images(rng: &mut SplitMix64, count: usize, image_len: usize) -> Vec<u8> {
    (0..count * image_len)
        .map(|_| (rng.next_u64() >> 56) as u8)
        .collect()
}

#[test]
fn input_without_augmentation_matches_formula() {
    let p = input_params(3, 2, (3, 4), Augment::default(), 1);
    let mut rng = SplitMix64(12);
    let images = random_images(&mut rng, 4, p.image_len());
    let indices = [2, 0, 2];
    let out = input_forward(&p, &images, &indices, 0);
    assert_eq!(out.len(), p.output_len());
    for (b, &index) in indices.iter().enumerate() {
        for i in 0..p.image_len() {
            let c = i / (p.height * p.width);
            let pixel = images[index as usize * p.image_len() + i];
            let got = out[b * p.image_len() + i];
            let expected = normalize(&p, c, pixel);
            assert_eq!(got, expected, "input batch {b} image {index} element {i}");
        }
    }
    // The step only feeds augmentation.
    assert_eq!(input_forward(&p, &images, &indices, 99), out);
}

#[test]
fn input_augmented_hand_built_case() {
    // Find a seed whose draw for batch position 0 at step 0 is dy = 1, dx = -1 with a flip.
    let max_shift = 1;
    let seed = (0..10_000u32)
        .find(|&seed| augment_draw(seed, 0, 0, max_shift) == (1, -1, true))
        .expect("no seed below 10000 draws (1, -1, true)");
    let augment = Augment {
        max_shift,
        horizontal_flip: true,
    };
    let mut p = input_params(1, 1, (3, 4), augment, seed);
    p.mean = vec![0.0];
    p.std = vec![1.0];

    // Source        Output (y, x) reads source (clamp(y - 1), clamp((3 - x) + 1)):
    //  0  1  2  3   rows read 0, 0, 1 and columns read clamp(4) = 3, 3, 2, 1.
    // 10 11 12 13    3  3  2  1
    // 20 21 22 23    3  3  2  1
    //               13 13 12 11
    let image: Vec<u8> = vec![0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23];
    let out = input_forward(&p, &image, &[0], 0);
    let expected: Vec<f64> = [3, 3, 2, 1, 3, 3, 2, 1, 13, 13, 12, 11]
        .iter()
        .map(|&v| f64::from(v) / 255.0)
        .collect();
    assert_eq!(out, expected);
}

/// Builds the augmented image by hand in two passes: shift with the nearest edge pixel filling
/// the gap, then mirror each row when `flip` is set.
fn shift_then_flip(
    image: &[u8],
    (channels, height, width): (usize, usize, usize),
    dy: i32,
    dx: i32,
    flip: bool,
) -> Vec<u8> {
    let mut shifted = vec![0u8; image.len()];
    for c in 0..channels {
        for y in 0..height {
            for x in 0..width {
                let source_y = (y as i32 - dy).clamp(0, height as i32 - 1) as usize;
                let source_x = (x as i32 - dx).clamp(0, width as i32 - 1) as usize;
                shifted[(c * height + y) * width + x] =
                    image[(c * height + source_y) * width + source_x];
            }
        }
    }
    if !flip {
        return shifted;
    }
    let mut flipped = shifted.clone();
    for row in flipped.chunks_mut(width) {
        row.reverse();
    }
    flipped
}

#[test]
fn input_augmented_matches_shift_then_flip() {
    // (max_shift, horizontal_flip)
    for (max_shift, horizontal_flip) in [(2, true), (2, false), (0, true)] {
        let augment = Augment {
            max_shift,
            horizontal_flip,
        };
        let p = input_params(32, 3, (5, 7), augment, 21);
        let mut rng = SplitMix64(13);
        let images = random_images(&mut rng, 40, p.image_len());
        let indices: Vec<u32> = (0..p.batch).map(|_| (rng.next_u64() % 40) as u32).collect();
        let step = 17;
        let out = input_forward(&p, &images, &indices, step);

        let (mut flipped, mut shifted) = (0, 0);
        for (b, &index) in indices.iter().enumerate() {
            let (dy, dx, flip) = augment_draw(p.seed, step, b as u32, max_shift);
            let flip = flip && horizontal_flip;
            flipped += usize::from(flip);
            shifted += usize::from(dy != 0 || dx != 0);
            let start = index as usize * p.image_len();
            let image = &images[start..start + p.image_len()];
            let expected = shift_then_flip(image, (p.channels, p.height, p.width), dy, dx, flip);
            for (i, &pixel) in expected.iter().enumerate() {
                let c = i / (p.height * p.width);
                assert_eq!(
                    out[b * p.image_len() + i],
                    normalize(&p, c, pixel),
                    "input {augment:?} batch {b} (dy {dy}, dx {dx}, flip {flip}) element {i}"
                );
            }
        }

        // Make sure the batch exercised what the augmentation enables, and nothing else.
        if horizontal_flip {
            assert!(
                flipped > 0,
                "input {augment:?}: no image of the batch was flipped"
            );
        } else {
            assert_eq!(flipped, 0, "input {augment:?}: an image was flipped");
        }
        if max_shift > 0 {
            assert!(
                shifted > 0,
                "input {augment:?}: no image of the batch was shifted"
            );
        } else {
            assert_eq!(shifted, 0, "input {augment:?}: an image was shifted");
        }
    }
}
