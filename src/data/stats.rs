//! Per-channel pixel statistics, used to normalise inputs.

use super::Split;

/// Computes the mean and population standard deviation of each channel's pixels scaled to
/// `[0, 1]` (value / 255), over every image of `split`.
///
/// Sums are exact integers and only the final divisions happen in f64, so the result does
/// not depend on image order. An empty split returns mean 0 and standard deviation 1 per
/// channel, which leaves inputs unchanged when used to normalise.
///
/// # Panics
///
/// Panics if `image_len` is not a multiple of `channels`, or if the image buffer is not
/// `split.len() * image_len` bytes.
pub fn channel_stats(split: &Split, channels: usize, image_len: usize) -> (Vec<f32>, Vec<f32>) {
    assert!(
        channels > 0 && image_len.is_multiple_of(channels),
        "image length {image_len} is not a multiple of {channels} channels"
    );
    assert_eq!(
        split.images.len(),
        split.len() * image_len,
        "image buffer length does not match {} images of {image_len} bytes",
        split.len()
    );
    if split.is_empty() {
        return (vec![0.0; channels], vec![1.0; channels]);
    }

    let plane_len = image_len / channels;
    let mut sums = vec![0u64; channels];
    let mut square_sums = vec![0u64; channels];
    for image in split.images.chunks_exact(image_len) {
        for (channel, plane) in image.chunks_exact(plane_len).enumerate() {
            for &pixel in plane {
                let value = u64::from(pixel);
                sums[channel] += value;
                square_sums[channel] += value * value;
            }
        }
    }

    let count = (split.len() * plane_len) as u128;
    let mut means = Vec::with_capacity(channels);
    let mut stds = Vec::with_capacity(channels);
    for channel in 0..channels {
        let sum = u128::from(sums[channel]);
        let mean = sum as f64 / count as f64;
        // count^2 * variance = count * sum(x^2) - sum(x)^2, exact and never negative.
        let scaled_variance = count * u128::from(square_sums[channel]) - sum * sum;
        let variance = scaled_variance as f64 / (count as f64 * count as f64);
        means.push((mean / 255.0) as f32);
        stds.push((variance.sqrt() / 255.0) as f32);
    }
    (means, stds)
}
