//! The input stage: gathers images by index, augments them and normalizes each channel.

use crate::ops::rng::augment_draw;
use crate::ops::InputParams;

/// Gathers the images `indices` from the dataset, optionally shifts and flips each one, and
/// normalizes every pixel to `((pixel / 255) - mean[c]) / std[c]`.
///
/// Augmentation runs when `p.augment.max_shift > 0` or `p.augment.horizontal_flip` is set.
/// Batch position `b` then draws `(dy, dx, flip)` from [`augment_draw`] with `p.seed` and
/// `step`, and the flip applies only when `horizontal_flip` is set. Output pixel `(y, x)`
/// reads source pixel `(clamp(y - dy), clamp(xs - dx))` with `xs = W - 1 - x` when flipped
/// and `x` otherwise. Clamping to `[0, H - 1]` and `[0, W - 1]` repeats the nearest edge
/// pixel. Without augmentation `step` is unused.
///
/// # Shapes
/// - `images`: the whole dataset, a multiple of C x H x W bytes, one image after another
/// - `indices`: N image indices into `images`
/// - returns: N x C x H x W
pub fn input_forward(p: &InputParams, images: &[u8], indices: &[u32], step: u32) -> Vec<f64> {
    let (c_count, h, w) = (p.channels, p.height, p.width);
    let image_len = p.image_len();
    assert!(
        image_len > 0,
        "input_forward: image size {c_count}x{h}x{w} is empty"
    );
    assert_eq!(
        images.len() % image_len,
        0,
        "input_forward: images length modulo image size"
    );
    assert_eq!(
        indices.len(),
        p.batch,
        "input_forward: indices length vs batch"
    );
    assert_eq!(
        p.mean.len(),
        c_count,
        "input_forward: mean length vs channels"
    );
    assert_eq!(
        p.std.len(),
        c_count,
        "input_forward: std length vs channels"
    );

    let image_count = images.len() / image_len;
    let augment = p.augment.max_shift > 0 || p.augment.horizontal_flip;
    let mut out = vec![0.0; p.output_len()];
    for (b, &index) in indices.iter().enumerate() {
        let index = index as usize;
        assert!(
            index < image_count,
            "input_forward: index {index} at batch position {b} is not below the image count \
             {image_count}"
        );
        let image = &images[index * image_len..(index + 1) * image_len];

        let (dy, dx, flip) = if augment {
            let position = u32::try_from(b).expect("input_forward: batch position must fit in u32");
            let (dy, dx, flip) = augment_draw(p.seed, step, position, p.augment.max_shift);
            (dy as i64, dx as i64, flip && p.augment.horizontal_flip)
        } else {
            (0, 0, false)
        };

        for c in 0..c_count {
            let mean = f64::from(p.mean[c]);
            let std = f64::from(p.std[c]);
            for y in 0..h {
                let source_y = (y as i64 - dy).clamp(0, h as i64 - 1) as usize;
                for x in 0..w {
                    let xs = if flip { w - 1 - x } else { x };
                    let source_x = (xs as i64 - dx).clamp(0, w as i64 - 1) as usize;
                    let pixel = f64::from(image[(c * h + source_y) * w + source_x]);
                    out[((b * c_count + c) * h + y) * w + x] = (pixel / 255.0 - mean) / std;
                }
            }
        }
    }
    out
}
