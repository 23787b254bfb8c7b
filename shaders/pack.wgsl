// Operand packing for gemm.wgsl: copies tensors into k-major ("t-major") matrices whose
// rows are padded with zeros to whole vec4s, so the matrix product reads 4 floats per load.
// Every entry point writes one vec4 of the destination per invocation,
// grid_1d(rows * dst_row_vecs), and overwrites the destination.
//
// im2col:            col[l][j] for l = (c, r, s) < C*R*R and j = (n - sample_begin) * P*Q
//                    + p*Q + q < samples * P*Q, the input value that tap (r, s) of channel c
//                    multiplies at output (n, p, q): x[n, c, p + r - pad, q + s - pad],
//                    zero outside the image. Row length dst_row_vecs >= ceil(samples*P*Q / 4).
// im2col_transposed: colT[j][l], the same values with rows and columns swapped. Row length
//                    dst_row_vecs >= ceil(C*R*R / 4).
// transpose_batched: dst[g * cols + c][r] = src[src_offset + (g * rows + r) * cols + c'] with
//                    c' = c, or cols - 1 - c when `reverse` is 1, for g < groups. With
//                    src = W (K, C, R*R), groups K and reverse 1 it builds the flipped,
//                    transposed weight of a convolution's input gradient.
// pad_rows:          dst[r][c] = src[src_offset + r * cols + c], zero for c >= cols.
//
// Here C, H, W are the channels and spatial size of the image being unrolled and P, Q the
// spatial size of the convolution output; the input gradient unrolls dy instead of x.

struct Params {
    // Destination rows and their length in vec4s.
    dst_rows: u32,
    dst_row_vecs: u32,
    src_offset: u32,
    // transpose and pad_rows.
    groups: u32,
    rows: u32,
    cols: u32,
    reverse: u32,
    // im2col and im2col_transposed.
    channels: u32,
    in_height: u32,
    in_width: u32,
    out_height: u32,
    out_width: u32,
    kernel_size: u32,
    pad: u32,
    sample_begin: u32,
    samples: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>; // dst_rows, dst_row_vecs

// A position j = (n - sample_begin) * P*Q + p*Q + q split into its sample and output row and
// column, and a tap l = (c, r, s) split into its channel and kernel row and column.
struct Position {
    n: u32,
    p: u32,
    q: u32,
}

struct Tap {
    c: u32,
    r: u32,
    s: u32,
}

fn position_of(j: u32) -> Position {
    let plane = params.out_height * params.out_width;
    let pq = j % plane;
    return Position(params.sample_begin + j / plane, pq / params.out_width, pq % params.out_width);
}

fn tap_of(l: u32) -> Tap {
    let size = params.kernel_size;
    return Tap(l / (size * size), (l / size) % size, l % size);
}

// The next position in j order, found by carrying instead of dividing: integer division
// runs one lane at a time on CPU adapters such as lavapipe.
fn next_position(at: Position) -> Position {
    let wrap_q = at.q + 1u == params.out_width;
    let wrap_p = wrap_q && at.p + 1u == params.out_height;
    return Position(
        select(at.n, at.n + 1u, wrap_p),
        select(select(at.p, at.p + 1u, wrap_q), 0u, wrap_p),
        select(at.q + 1u, 0u, wrap_q),
    );
}

// The next tap in l order, like next_position.
fn next_tap(at: Tap) -> Tap {
    let size = params.kernel_size;
    let wrap_s = at.s + 1u == size;
    let wrap_r = wrap_s && at.r + 1u == size;
    return Tap(
        select(at.c, at.c + 1u, wrap_r),
        select(select(at.r, at.r + 1u, wrap_s), 0u, wrap_r),
        select(at.s + 1u, 0u, wrap_s),
    );
}

// The input value that tap `tap` multiplies at output position `at`, zero in the padding
// and past the last sample or channel (the padding columns and rows of the operand).
fn unrolled_value(tap: Tap, at: Position) -> f32 {
    let h = i32(at.p + tap.r) - i32(params.pad);
    let w = i32(at.q + tap.s) - i32(params.pad);
    let inside = at.n < params.sample_begin + params.samples && tap.c < params.channels
        && h >= 0 && h < i32(params.in_height) && w >= 0 && w < i32(params.in_width);
    if !inside {
        return 0.0;
    }
    return src[((at.n * params.channels + tap.c) * params.in_height + u32(h)) * params.in_width + u32(w)];
}

@compute @workgroup_size(WG_SIZE)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = linear_index(gid, groups);
    if index >= params.dst_rows * params.dst_row_vecs {
        return;
    }
    let tap = tap_of(index / params.dst_row_vecs);
    let at0 = position_of((index % params.dst_row_vecs) * 4u);
    let at1 = next_position(at0);
    let at2 = next_position(at1);
    let at3 = next_position(at2);
    dst[index] = vec4<f32>(
        unrolled_value(tap, at0),
        unrolled_value(tap, at1),
        unrolled_value(tap, at2),
        unrolled_value(tap, at3),
    );
}

@compute @workgroup_size(WG_SIZE)
fn im2col_transposed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = linear_index(gid, groups);
    if index >= params.dst_rows * params.dst_row_vecs {
        return;
    }
    let at = position_of(index / params.dst_row_vecs);
    let tap0 = tap_of((index % params.dst_row_vecs) * 4u);
    let tap1 = next_tap(tap0);
    let tap2 = next_tap(tap1);
    let tap3 = next_tap(tap2);
    dst[index] = vec4<f32>(
        unrolled_value(tap0, at),
        unrolled_value(tap1, at),
        unrolled_value(tap2, at),
        unrolled_value(tap3, at),
    );
}

// Element r of a source row that starts at `row_start` and whose elements lie `stride` apart,
// zero past the last source row.
fn strided_value(row_start: u32, stride: u32, r: u32) -> f32 {
    if r >= params.rows {
        return 0.0;
    }
    return src[row_start + r * stride];
}

@compute @workgroup_size(WG_SIZE)
fn transpose_batched(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = linear_index(gid, groups);
    if index >= params.dst_rows * params.dst_row_vecs {
        return;
    }
    // Destination row g * cols + c gathers source column c (or cols - 1 - c) of group g.
    let row = index / params.dst_row_vecs;
    let g = row / params.cols;
    let c = row % params.cols;
    let column = select(c, params.cols - 1u - c, params.reverse == 1u);
    let start = params.src_offset + g * params.rows * params.cols + column;
    let r = (index % params.dst_row_vecs) * 4u;
    dst[index] = vec4<f32>(
        strided_value(start, params.cols, r),
        strided_value(start, params.cols, r + 1u),
        strided_value(start, params.cols, r + 2u),
        strided_value(start, params.cols, r + 3u),
    );
}

fn padded_value(r: u32, c: u32) -> f32 {
    if c >= params.cols {
        return 0.0;
    }
    return src[params.src_offset + r * params.cols + c];
}

@compute @workgroup_size(WG_SIZE)
fn pad_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = linear_index(gid, groups);
    if index >= params.dst_rows * params.dst_row_vecs {
        return;
    }
    let r = index / params.dst_row_vecs;
    let c = (index % params.dst_row_vecs) * 4u;
    dst[index] = vec4<f32>(
        padded_value(r, c),
        padded_value(r, c + 1u),
        padded_value(r, c + 2u),
        padded_value(r, c + 3u),
    );
}
