// Softmax cross-entropy over integer labels, averaged over the valid samples of the batch.
//
// softmax_cross_entropy: one invocation per sample, grid_1d(N). For n < valid:
//   loss[n] = logsumexp(logits[n]) - logits[n, label[n]]
//   dlogits[n, m] = (softmax(logits[n])[m] - [m == label[n]]) / valid
//   prediction[n] = the first index of the largest logit
//   probabilities[n, m] = softmax(logits[n])[m]
// Samples at or past `valid` are batch padding: they get zero loss and gradient.
//
// accumulate_metrics: a single invocation that adds the batch's loss sum, correct count and
// sample count, in sample order, to the running metrics, so the host can read them every
// few steps without reading anything per step.
// metrics = [loss sum, correct count, sample count, 1 + first step with a non-finite loss
// sum (0 while every loss has been finite)].

const NO_PREDICTION: u32 = 0xffffffffu;

struct Params {
    batch: u32,
    classes: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
// softmax_cross_entropy bindings.
@group(0) @binding(1) var<uniform> step_state: StepState;
@group(0) @binding(2) var<storage, read> logits: array<f32>;              // N, M
@group(0) @binding(3) var<storage, read> labels: array<u32>;              // N
@group(0) @binding(4) var<storage, read_write> dlogits: array<f32>;       // N, M
@group(0) @binding(5) var<storage, read_write> losses: array<f32>;        // N
@group(0) @binding(6) var<storage, read_write> predictions: array<u32>;   // N
@group(0) @binding(7) var<storage, read_write> probabilities: array<f32>; // N, M
// accumulate_metrics bindings.
@group(0) @binding(8) var<uniform> metrics_step: StepState;
@group(0) @binding(9) var<storage, read> metrics_labels: array<u32>;      // N
@group(0) @binding(10) var<storage, read> metrics_losses: array<f32>;     // N
@group(0) @binding(11) var<storage, read> metrics_predictions: array<u32>; // N
@group(0) @binding(12) var<storage, read_write> metrics: array<f32>;      // 4

@compute @workgroup_size(WG_SIZE)
fn softmax_cross_entropy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let n = linear_index(gid, groups);
    if n >= params.batch {
        return;
    }
    let row = n * params.classes;
    let valid = min(step_state.valid, params.batch);
    if n >= valid {
        for (var m = 0u; m < params.classes; m++) {
            dlogits[row + m] = 0.0;
            probabilities[row + m] = 0.0;
        }
        losses[n] = 0.0;
        predictions[n] = NO_PREDICTION;
        return;
    }

    var best = logits[row];
    var best_index = 0u;
    for (var m = 1u; m < params.classes; m++) {
        let value = logits[row + m];
        if value > best {
            best = value;
            best_index = m;
        }
    }
    var sum = 0.0;
    for (var m = 0u; m < params.classes; m++) {
        sum += exp(logits[row + m] - best);
    }
    let label = labels[n];
    losses[n] = log(sum) + best - logits[row + label];
    predictions[n] = best_index;

    let inverse_valid = 1.0 / f32(valid);
    for (var m = 0u; m < params.classes; m++) {
        let probability = exp(logits[row + m] - best) / sum;
        probabilities[row + m] = probability;
        let one_hot = select(0.0, 1.0, m == label);
        dlogits[row + m] = (probability - one_hot) * inverse_valid;
    }
}

@compute @workgroup_size(1)
fn accumulate_metrics() {
    var loss_sum = 0.0;
    var correct = 0.0;
    let valid = min(metrics_step.valid, params.batch);
    for (var n = 0u; n < valid; n++) {
        loss_sum += metrics_losses[n];
        correct += select(0.0, 1.0, metrics_predictions[n] == metrics_labels[n]);
    }
    // Infinity and NaN have an all-ones exponent.
    let exponent = bitcast<u32>(loss_sum) & 0x7f800000u;
    if exponent == 0x7f800000u && metrics[3] == 0.0 {
        metrics[3] = f32(metrics_step.step + 1u);
    }
    metrics[0] += loss_sum;
    metrics[1] += correct;
    metrics[2] += f32(valid);
}
