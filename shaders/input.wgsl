// The input stage: gathers the batch's images from the u8 dataset resident on the GPU,
// applies the training augmentation, and normalizes:
//   out[n,c,y,x] = (pixel / 255 - mean[c]) / std[c]
// where pixel is byte (c, sy, sx) of image indices[n]. Without augmentation (sy, sx) =
// (y, x). With it, (shift_y, shift_x, flip) are drawn per batch position n and step as
// augment_draw in src/ops/rng.rs does, xs = flip ? W-1-x : x, and
// (sy, sx) = (clamp(y - shift_y, 0, H-1), clamp(xs - shift_x, 0, W-1)), which repeats the
// nearest edge pixel.
//
// The dataset may exceed one storage binding, so it is split into chunks of whole images,
// each its own buffer; one dispatch runs per chunk and writes only the batch entries whose
// image lies in that chunk. Bytes are packed four to a u32, little-endian.
//
// Grid: one invocation per output element, grid_1d(N*C*H*W). The output is overwritten.

struct Params {
    batch: u32,
    channels: u32,
    height: u32,
    width: u32,
    // Index of the chunk's first image and the number of images it holds.
    first_image: u32,
    image_count: u32,
    seed: u32,
    max_shift: u32,
    // 1 to mirror images with probability 1/2.
    horizontal_flip: u32,
    // 1 at training time; 0 at evaluation, which ignores max_shift and horizontal_flip.
    augment: u32,
    _padding0: u32,
    _padding1: u32,
    mean: vec4<f32>,
    std_dev: vec4<f32>,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<uniform> step_state: StepState;
@group(0) @binding(2) var<storage, read> indices: array<u32>;       // N
@group(0) @binding(3) var<storage, read> pixels: array<u32>;        // image_count * C*H*W bytes
@group(0) @binding(4) var<storage, read_write> output: array<f32>;  // N, C, H, W

fn read_byte(offset: u32) -> u32 {
    return (pixels[offset / 4u] >> ((offset % 4u) * 8u)) & 0xffu;
}

@compute @workgroup_size(WG_SIZE)
fn input_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let image_len = params.channels * params.height * params.width;
    if i >= params.batch * image_len {
        return;
    }
    let x = i % params.width;
    let y = (i / params.width) % params.height;
    let c = (i / (params.width * params.height)) % params.channels;
    let n = i / image_len;
    let image = indices[n];
    if image < params.first_image || image >= params.first_image + params.image_count {
        return;
    }

    var sy = i32(y);
    var sx = i32(x);
    if params.augment == 1u {
        let stream = STREAM_AUGMENT ^ hash_u32(step_state.step);
        let span = 2u * params.max_shift + 1u;
        let shift_y = i32(random_u32(params.seed, stream, 3u * n) % span) - i32(params.max_shift);
        let shift_x = i32(random_u32(params.seed, stream, 3u * n + 1u) % span) - i32(params.max_shift);
        let flip = (random_u32(params.seed, stream, 3u * n + 2u) & 1u) == 1u;
        if flip && params.horizontal_flip == 1u {
            sx = i32(params.width) - 1 - sx;
        }
        sy = clamp(sy - shift_y, 0, i32(params.height) - 1);
        sx = clamp(sx - shift_x, 0, i32(params.width) - 1);
    }
    let offset = (image - params.first_image) * image_len + (c * params.height + u32(sy)) * params.width + u32(sx);
    let value = f32(read_byte(offset)) / 255.0;
    output[i] = (value - params.mean[c]) / params.std_dev[c];
}
