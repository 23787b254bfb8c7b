//! Small synthetic datasets written in the real on-disk formats.
#![allow(dead_code)]

use std::path::Path;

/// Writes an image folder (`train/<class>/*.png`, `test/<class>/*.png`) of `classes`
/// classes whose images are easy to tell apart: each class has its own colour and stripe
/// orientation, with per-image noise from `seed`.
pub fn write_image_folder(
    dir: &Path,
    classes: usize,
    train_per_class: usize,
    test_per_class: usize,
    size: u32,
    seed: u64,
) {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    let mut noise = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % 64) as i32 - 32
    };
    for (split, count) in [("train", train_per_class), ("test", test_per_class)] {
        for class in 0..classes {
            let folder = dir.join(split).join(format!("class_{class:02}"));
            std::fs::create_dir_all(&folder).unwrap();
            for index in 0..count {
                let image = image::RgbImage::from_fn(size, size, |x, y| {
                    let stripe = match class % 3 {
                        0 => x % 4 < 2,
                        1 => y % 4 < 2,
                        _ => (x + y) % 4 < 2,
                    };
                    let base = [
                        (class * 67 % 256) as i32,
                        (class * 131 % 256) as i32,
                        (class * 29 % 256) as i32,
                    ];
                    let shade = if stripe { 60 } else { -60 };
                    let mut channel = |c: usize| (base[c] + shade + noise()).clamp(0, 255) as u8;
                    image::Rgb([channel(0), channel(1), channel(2)])
                });
                image.save(folder.join(format!("{index:04}.png"))).unwrap();
            }
        }
    }
}
