// Max pooling with a square window of `size` and stride `size`; trailing rows and
// columns that fill no window are dropped. Ties go to the first maximum in row-major
// window order, in both passes, so exactly one input of each window gets its gradient.
//
// Forward grid: one invocation per output element (N*C*P*Q).
// Backward grid: one invocation per tile (N*C*ceil(H/size)*ceil(W/size)), where the tiles
// split the input plane on the window grid. A tile that is a window finds its argmax once,
// instead of reading stored indices, writes dy there and 0 to the rest of the window. The
// other tiles are the trailing rows and columns that fill no window, and get 0.
// Outputs are overwritten.

struct Params {
    batch: u32,
    channels: u32,
    in_height: u32,
    in_width: u32,
    size: u32,
    out_height: u32,
    out_width: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// Forward bindings.
@group(0) @binding(1) var<storage, read> x: array<f32>;          // N, C, H, W
@group(0) @binding(2) var<storage, read_write> y: array<f32>;    // N, C, P, Q
// Backward bindings.
@group(0) @binding(3) var<storage, read> x_saved: array<f32>;    // N, C, H, W
@group(0) @binding(4) var<storage, read> dy: array<f32>;         // N, C, P, Q
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;   // N, C, H, W

@compute @workgroup_size(WG_SIZE)
fn maxpool2d_forward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let total = params.batch * params.channels * params.out_height * params.out_width;
    if i >= total {
        return;
    }
    let q = i % params.out_width;
    let p = (i / params.out_width) % params.out_height;
    let nc = i / (params.out_width * params.out_height);
    let plane = nc * params.in_height * params.in_width;
    var best = x[plane + p * params.size * params.in_width + q * params.size];
    for (var r = 0u; r < params.size; r++) {
        for (var s = 0u; s < params.size; s++) {
            let offset = (p * params.size + r) * params.in_width + q * params.size + s;
            best = max(best, x[plane + offset]);
        }
    }
    y[i] = best;
}

@compute @workgroup_size(WG_SIZE)
fn maxpool2d_backward(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = linear_index(gid, groups);
    let size = params.size;
    let tile_cols = (params.in_width + size - 1u) / size;
    let tile_rows = (params.in_height + size - 1u) / size;
    let tiles = tile_rows * tile_cols;
    if i >= params.batch * params.channels * tiles {
        return;
    }
    let nc = i / tiles;
    let tile = i - nc * tiles;
    let p = tile / tile_cols;
    let q = tile - p * tile_cols;
    // Offset of the tile's top-left input within the batch, and its extent, which is
    // smaller than the window only in the last tile row or column.
    let corner = (nc * params.in_height + p * size) * params.in_width + q * size;
    let height = min(size, params.in_height - p * size);
    let width = min(size, params.in_width - q * size);

    if p >= params.out_height || q >= params.out_width {
        for (var r = 0u; r < height; r++) {
            for (var s = 0u; s < width; s++) {
                dx[corner + r * params.in_width + s] = 0.0;
            }
        }
        return;
    }

    // First maximum in row-major order: only a strictly greater value replaces it.
    var best = x_saved[corner];
    var best_offset = 0u;
    for (var r = 0u; r < size; r++) {
        for (var s = 0u; s < size; s++) {
            let offset = r * params.in_width + s;
            let value = x_saved[corner + offset];
            if value > best {
                best = value;
                best_offset = offset;
            }
        }
    }
    let gradient = dy[(nc * params.out_height + p) * params.out_width + q];
    for (var r = 0u; r < size; r++) {
        for (var s = 0u; s < size; s++) {
            let offset = r * params.in_width + s;
            dx[corner + offset] = select(0.0, gradient, offset == best_offset);
        }
    }
}
