//! `shaders/input.wgsl` against `reference::input`: gathering u8 images by index from a
//! store split into chunks, augmentation on and off, and per-channel normalization.

mod common;

use cifar_gpu::gpu::Gpu;
use cifar_gpu::ops::input::{input_forward, ImageStore};
use cifar_gpu::ops::{Augment, InputParams, StepState};
use cifar_gpu::reference::input as reference;
use common::{assert_close, gpu, poisoned, Rng, ELEMENTWISE};

/// One input-stage configuration: image shape, batch, stored image count and the chunk
/// size that splits the store.
struct Case {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    images: usize,
    /// Whole images per chunk of the store.
    images_per_chunk: usize,
}

/// Batches 1, 3, 17 and 70 (past one workgroup of images), with one and three channels.
/// Images are 1x1, 5x7 (35 bytes, so images straddle the u32 words of a chunk) and 8x8.
/// Stores have one chunk, one image per chunk, or chunks that leave a partial last chunk.
const CASES: &[Case] = &[
    Case {
        batch: 1,
        channels: 1,
        height: 1,
        width: 1,
        images: 3,
        images_per_chunk: 1,
    },
    Case {
        batch: 3,
        channels: 3,
        height: 5,
        width: 7,
        images: 11,
        images_per_chunk: 3,
    },
    Case {
        batch: 17,
        channels: 1,
        height: 5,
        width: 7,
        images: 9,
        images_per_chunk: 2,
    },
    Case {
        batch: 17,
        channels: 3,
        height: 8,
        width: 8,
        images: 5,
        images_per_chunk: 5,
    },
    Case {
        batch: 70,
        channels: 3,
        height: 5,
        width: 7,
        images: 13,
        images_per_chunk: 4,
    },
];

const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
const STD: [f32; 3] = [0.2470, 0.2435, 0.2616];

fn params(case: &Case, augment: Augment, seed: u32) -> InputParams {
    InputParams {
        batch: case.batch,
        channels: case.channels,
        height: case.height,
        width: case.width,
        mean: MEAN[..case.channels].to_vec(),
        std: STD[..case.channels].to_vec(),
        augment,
        seed,
    }
}

fn step_state(gpu: &Gpu, step: u32) -> wgpu::Buffer {
    let state = StepState {
        step,
        ..Default::default()
    };
    gpu.uniform("step", bytemuck::bytes_of(&state))
}

/// Draws random stored images and the batch's image indices, in random order with
/// repeats, so a large enough batch reads from every chunk of the store.
fn images_and_indices(rng: &mut Rng, case: &Case, image_len: usize) -> (Vec<u8>, Vec<u32>) {
    let images: Vec<u8> = (0..case.images * image_len)
        .map(|_| rng.below(256) as u8)
        .collect();
    let mut indices: Vec<u32> = (0..case.batch)
        .map(|_| rng.below(case.images as u32))
        .collect();
    // Start with the last image and repeat it, so the last chunk and a repeat are covered
    // even in small batches.
    indices[0] = case.images as u32 - 1;
    if case.batch > 2 {
        indices[2] = indices[0];
    }
    (images, indices)
}

/// Runs the input stage for `case` on the GPU at the given steps and compares each result
/// with the reference run with `reference_augment`.
fn check_case(
    gpu: &Gpu,
    rng: &mut Rng,
    case: &Case,
    augment: Augment,
    augment_on: bool,
    reference_augment: Augment,
) {
    let seed = rng.below(1 << 20);
    let p = params(case, augment, seed);
    let image_len = p.image_len();
    let (images, indices) = images_and_indices(rng, case, image_len);
    let chunk_bytes = (case.images_per_chunk * image_len) as u64;
    let store = ImageStore::upload(gpu, "test", &images, image_len, Some(chunk_bytes)).unwrap();
    let expected_chunks = case.images.div_ceil(case.images_per_chunk);
    assert_eq!(
        store.chunks.len(),
        expected_chunks,
        "chunks of a store of {} images with {} per chunk",
        case.images,
        case.images_per_chunk
    );

    let indices_view = gpu.storage_u32("indices", &indices).unwrap();
    let output = poisoned(gpu, p.output_len());
    let state = step_state(gpu, 0);
    let dispatches = input_forward(gpu, &p, augment_on, &state, &indices_view, &store, &output);
    let dispatch_refs: Vec<_> = dispatches.iter().collect();

    let reference_params = InputParams {
        augment: reference_augment,
        ..p.clone()
    };
    for step in [0, 7] {
        let step_values = StepState {
            step,
            ..Default::default()
        };
        gpu.queue
            .write_buffer(&state, 0, bytemuck::bytes_of(&step_values));
        gpu.run(&dispatch_refs).unwrap();
        let expected = reference::input_forward(&reference_params, &images, &indices, step);
        assert_close(
            &format!(
                "input forward, batch {} of {}x{}x{} images, {} images in chunks of {}, \
                 augment {augment:?} {}, seed {seed}, step {step}",
                case.batch,
                case.channels,
                case.height,
                case.width,
                case.images,
                case.images_per_chunk,
                if augment_on { "on" } else { "off" }
            ),
            &gpu.read_f32(&output).unwrap(),
            &expected,
            ELEMENTWISE,
        );
    }
}

/// Evaluation ignores the configured augmentation, so the output must equal the
/// reference without augmentation.
#[test]
fn input_forward_matches_reference_augment_off() {
    let gpu = gpu();
    let mut rng = Rng::new(71);
    let configured = Augment {
        max_shift: 2,
        horizontal_flip: true,
    };
    for case in CASES {
        check_case(&gpu, &mut rng, case, configured, false, Augment::default());
    }
}

#[test]
fn input_forward_matches_reference_augment_on() {
    let gpu = gpu();
    let mut rng = Rng::new(72);
    let augments = [
        Augment {
            max_shift: 2,
            horizontal_flip: true,
        },
        Augment {
            max_shift: 1,
            horizontal_flip: false,
        },
        Augment {
            max_shift: 0,
            horizontal_flip: true,
        },
        // Shifts wider than the 5x7 images clamp every read to an edge pixel.
        Augment {
            max_shift: 9,
            horizontal_flip: true,
        },
    ];
    for case in CASES {
        for augment in augments {
            check_case(&gpu, &mut rng, case, augment, true, augment);
        }
    }
}

/// Training with no shift and no flip configured is the identity gather, as in the
/// reference, which augments only when one of them is set.
#[test]
fn input_forward_matches_reference_augment_on_without_transforms() {
    let gpu = gpu();
    let mut rng = Rng::new(73);
    for case in CASES {
        check_case(
            &gpu,
            &mut rng,
            case,
            Augment::default(),
            true,
            Augment::default(),
        );
    }
}

/// Augmentation must change with the step: at least one image of a 17-image batch moves
/// between steps 0 and 7.
#[test]
fn input_forward_augmentation_changes_with_step() {
    let gpu = gpu();
    let mut rng = Rng::new(74);
    let case = &CASES[3];
    let augment = Augment {
        max_shift: 2,
        horizontal_flip: true,
    };
    let p = params(case, augment, 5);
    let (images, indices) = images_and_indices(&mut rng, case, p.image_len());
    let store = ImageStore::upload(&gpu, "test", &images, p.image_len(), None).unwrap();
    let indices_view = gpu.storage_u32("indices", &indices).unwrap();
    let output = poisoned(&gpu, p.output_len());

    let mut outputs = Vec::new();
    for step in [0, 7] {
        let state = step_state(&gpu, step);
        let dispatches = input_forward(&gpu, &p, true, &state, &indices_view, &store, &output);
        let dispatch_refs: Vec<_> = dispatches.iter().collect();
        gpu.run(&dispatch_refs).unwrap();
        outputs.push(gpu.read_f32(&output).unwrap());
    }
    assert_ne!(
        outputs[0], outputs[1],
        "input forward with augmentation gave the same batch at steps 0 and 7"
    );
}
