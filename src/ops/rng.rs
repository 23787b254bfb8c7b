//! The counter-based random numbers shared by the GPU kernels and the CPU reference.
//!
//! Every random draw is a pure function of `(seed, stream, counter)`, so the shaders need
//! no state shared between invocations and the CPU reference reproduces each draw bit for
//! bit. `shaders/common.wgsl` contains the same functions; `tests/rng.rs` compares the two.

/// Streams that separate the independent uses of one seed.
pub mod stream {
    /// Dropout masks: the counter is the step, the layer index selects a sub-stream.
    pub const DROPOUT: u32 = 0x0d50_0000;
    /// Input augmentation: shifts and flips per image.
    pub const AUGMENT: u32 = 0x0a06_0000;
}

/// Permutes a 32-bit integer with the PCG-RXS-M-XS output function (O'Neill, "PCG: A
/// Family of Simple Fast Space-Efficient Statistically Good Algorithms for Random Number
/// Generation", 2014, section 6.3.4) applied to one LCG step.
pub fn hash_u32(x: u32) -> u32 {
    let state = x.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let word = ((state >> ((state >> 28) + 4)) ^ state).wrapping_mul(277_803_737);
    (word >> 22) ^ word
}

/// Returns the random 32-bit word for `counter` in the given seed and stream.
pub fn random_u32(seed: u32, stream: u32, counter: u32) -> u32 {
    hash_u32(hash_u32(hash_u32(seed) ^ stream) ^ counter)
}

/// Maps a random word to a float uniform in `[0, 1)` with 24 bits of resolution.
pub fn unit_f32(word: u32) -> f32 {
    (word >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// Returns whether dropout keeps element `index` of layer `layer` at training step `step`.
pub fn dropout_keep(seed: u32, step: u32, layer: u32, index: u32, rate: f32) -> bool {
    let stream = stream::DROPOUT ^ hash_u32(step ^ (layer << 24));
    unit_f32(random_u32(seed, stream, index)) >= rate
}

/// Draws the augmentation of the image at batch position `position` in step `step`:
/// returns `(shift_y, shift_x, flip)` with shifts in `[-max_shift, max_shift]`.
pub fn augment_draw(seed: u32, step: u32, position: u32, max_shift: u32) -> (i32, i32, bool) {
    let stream = stream::AUGMENT ^ hash_u32(step);
    let word_y = random_u32(seed, stream, 3 * position);
    let word_x = random_u32(seed, stream, 3 * position + 1);
    let word_flip = random_u32(seed, stream, 3 * position + 2);
    let span = 2 * max_shift + 1;
    let shift_y = (word_y % span) as i32 - max_shift as i32;
    let shift_x = (word_x % span) as i32 - max_shift as i32;
    (shift_y, shift_x, word_flip & 1 == 1)
}
