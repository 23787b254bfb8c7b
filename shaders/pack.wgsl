// Operand packing for gemm.wgsl: copies tensors into k-major ("t-major") matrices whose
// rows are padded with zeros to whole vec4s, so the matrix product reads 4 floats per load.
// Every entry point overwrites the destination. transpose_batched and pad_rows write one
// vec4 per invocation, grid_1d(dst_rows * dst_row_vecs); the grids of im2col and
// im2col_transposed are given at each entry point.
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

// Element w of the image row that starts at src[row_start], zero when the row or the
// column lies in the padding.
fn row_value(row_start: u32, row_inside: bool, w: i32) -> f32 {
    if !row_inside || w < 0 || w >= i32(params.in_width) {
        return 0.0;
    }
    return src[row_start + u32(w)];
}

// One invocation per run (tap l, sample n, output row p), grid_1d(taps * samples * P). A run
// is the Q positions j0 = (n - sample_begin) * P*Q + p*Q ... j0 + Q - 1 of row l, which all
// read the same image row, so the invocation divides once and walks the row with additions.
// It writes every vec4 whose first element lies in its run; when Q is not a multiple of 4 the
// last such vec4 reaches into the following runs and takes those elements by carrying. The
// last run of a row also writes the zero vec4s, if any, past the last position.
@compute @workgroup_size(WG_SIZE)
fn im2col(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let index = linear_index(gid, groups);
    let runs_per_tap = params.samples * params.out_height;
    let area = params.kernel_size * params.kernel_size;
    if index >= params.channels * area * runs_per_tap {
        return;
    }
    let l = index / runs_per_tap;
    let run = index - l * runs_per_tap;
    let n_offset = run / params.out_height;
    let p = run - n_offset * params.out_height;
    let c = l / area;
    let rs = l - c * area;
    let r = rs / params.kernel_size;
    let s = rs - r * params.kernel_size;
    let tap = Tap(c, r, s);
    let n = params.sample_begin + n_offset;

    let h = i32(p + r) - i32(params.pad);
    let row_inside = h >= 0 && h < i32(params.in_height);
    let row_start = ((n * params.channels + c) * params.in_height + u32(max(h, 0))) * params.in_width;
    // Image column of position q = 0, so position q reads column w0 + q.
    let w0 = i32(s) - i32(params.pad);

    let width = params.out_width;
    let j0 = run * width;
    let row_offset = l * params.dst_row_vecs;
    let first_vec = (j0 + 3u) / 4u;
    let end_vec = (j0 + width + 3u) / 4u;
    for (var v = first_vec; v < end_vec; v++) {
        let q = v * 4u - j0;
        if q + 3u < width {
            let w = w0 + i32(q);
            dst[row_offset + v] = vec4<f32>(
                row_value(row_start, row_inside, w),
                row_value(row_start, row_inside, w + 1),
                row_value(row_start, row_inside, w + 2),
                row_value(row_start, row_inside, w + 3),
            );
        } else {
            let at0 = Position(n, p, q);
            let at1 = next_position(at0);
            let at2 = next_position(at1);
            let at3 = next_position(at2);
            dst[row_offset + v] = vec4<f32>(
                unrolled_value(tap, at0),
                unrolled_value(tap, at1),
                unrolled_value(tap, at2),
                unrolled_value(tap, at3),
            );
        }
    }
    if run + 1u == runs_per_tap {
        for (var v = end_vec; v < params.dst_row_vecs; v++) {
            dst[row_offset + v] = vec4<f32>(0.0);
        }
    }
}

// One invocation per position j = (n, p, q), grid_1d(dst_rows), writing the whole row j:
// taps in l order, found by carrying, and zeros past the last tap.
@compute @workgroup_size(WG_SIZE)
fn im2col_transposed(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let j = linear_index(gid, groups);
    if j >= params.dst_rows {
        return;
    }
    let plane = params.out_height * params.out_width;
    let n_offset = j / plane;
    let pq = j - n_offset * plane;
    let p = pq / params.out_width;
    let at = Position(params.sample_begin + n_offset, p, pq - p * params.out_width);

    let row_offset = j * params.dst_row_vecs;
    var tap = Tap(0u, 0u, 0u);
    for (var v = 0u; v < params.dst_row_vecs; v++) {
        let tap0 = tap;
        let tap1 = next_tap(tap0);
        let tap2 = next_tap(tap1);
        let tap3 = next_tap(tap2);
        dst[row_offset + v] = vec4<f32>(
            unrolled_value(tap0, at),
            unrolled_value(tap1, at),
            unrolled_value(tap2, at),
            unrolled_value(tap3, at),
        );
        tap = next_tap(tap3);
    }
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
