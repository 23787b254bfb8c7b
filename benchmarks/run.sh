#!/usr/bin/env bash
# Benchmarks the classic model with `cifar-gpu profile` at each batch size, RUNS times,
# and prints the median of every figure. When `import torch` works it also runs
# benchmarks/pytorch_classic.py and prints both programs' throughputs side by side.
#
# Settings (environment variables): RUNS (3), STEPS (10), WARMUP (2), BATCH_SIZES
# ("32 128"), TIMING (the adapter's best), ADAPTER (the default adapter).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS="${RUNS:-3}"
STEPS="${STEPS:-10}"
WARMUP="${WARMUP:-2}"
BATCH_SIZES="${BATCH_SIZES:-32 128}"
# wgpu's Vulkan loader warns when XDG_RUNTIME_DIR is unset; the warning is harmless.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

cargo build --release --quiet
binary="${CARGO_TARGET_DIR:-target}/release/cifar-gpu"
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT

extra=()
if [[ -n "${TIMING:-}" ]]; then extra+=(--timing "$TIMING"); fi
if [[ -n "${ADAPTER:-}" ]]; then extra+=(--adapter "$ADAPTER"); fi

for batch in $BATCH_SIZES; do
    for run in $(seq 1 "$RUNS"); do
        echo "cifar-gpu profile: batch $batch, run $run of $RUNS" >&2
        RUST_LOG=warn "$binary" profile --model classic --batch-size "$batch" \
            --steps "$STEPS" --warmup "$WARMUP" --out "$results/batch$batch-run$run" \
            "${extra[@]}" >/dev/null
    done
done

if python3 -c "import torch" 2>/dev/null; then
    echo "PyTorch: classic model on the CPU" >&2
    # shellcheck disable=SC2086 # BATCH_SIZES is a list of numbers
    python3 benchmarks/pytorch_classic.py --batch-sizes $BATCH_SIZES --runs "$RUNS" \
        --steps "$STEPS" --warmup "$WARMUP" --json "$results/pytorch.json" >&2
else
    echo "PyTorch is not installed (python3 -c 'import torch' failed): no comparison" >&2
fi

python3 - "$results" "$RUNS" $BATCH_SIZES <<'PYTHON'
"""Prints the median of each figure over the runs of every batch size."""
import json
import os
import statistics
import sys

results, runs, batch_sizes = sys.argv[1], int(sys.argv[2]), sys.argv[3:]


def load(batch):
    return [
        json.load(open(os.path.join(results, f"batch{batch}-run{run}", "profile.json")))
        for run in range(1, runs + 1)
    ]


def kernel_medians(reports, key):
    """Median over runs of each kernel's per-step time, mean, share and rates."""
    names = [row["name"] for row in reports[0][key]]
    medians = []
    for name in names:
        rows = [row for report in reports for row in report[key] if row["name"] == name]
        steps = reports[0]["steps"]
        medians.append(
            {
                "name": name,
                "calls": rows[0]["dispatches"] // steps,
                "ms_per_step": statistics.median(r["total_ms"] / steps for r in rows),
                "mean_us": statistics.median(r["mean_us"] for r in rows),
                "share": statistics.median(r["share"] for r in rows),
                "gflops": statistics.median(r["gflops"] for r in rows),
                "gbps": statistics.median(r["gbps"] for r in rows),
            }
        )
    medians.sort(key=lambda row: -row["ms_per_step"])
    return medians


def print_kernels(title, medians):
    width = max(len("kernel"), *(len(row["name"]) for row in medians))
    print(f"\n{title}")
    print(
        f"{'kernel':<{width}}  {'calls/step':>10}  {'ms/step':>10}  {'mean µs':>10}  "
        f"{'share':>6}  {'GFLOP/s':>8}  {'GB/s':>8}"
    )
    for row in medians:
        print(
            f"{row['name']:<{width}}  {row['calls']:>10}  {row['ms_per_step']:>10.2f}  "
            f"{row['mean_us']:>10.1f}  {row['share'] * 100:>5.1f}%  "
            f"{row['gflops']:>8.2f}  {row['gbps']:>8.3f}"
        )


pytorch = None
pytorch_path = os.path.join(results, "pytorch.json")
if os.path.exists(pytorch_path):
    pytorch = json.load(open(pytorch_path))

first = load(batch_sizes[0])[0]
adapter = first["adapter"]
print(f"adapter: {adapter['name']} ({adapter['backend']}, {adapter['device_type']})")
print(f"timing method: {first['timing_method']}; medians of {runs} runs")
summary = []
for batch in batch_sizes:
    reports = load(batch)
    steps = reports[0]["steps"]
    print(f"\n=== batch {batch}: {steps} timed steps per run ===")
    print_kernels("training step", kernel_medians(reports, "kernels"))
    print_kernels("inference batch", kernel_medians(reports, "inference_kernels"))
    train = [report["train_images_per_second"] for report in reports]
    infer = [report["infer_images_per_second"] for report in reports]
    runs_text = ", ".join(f"{value:.2f}" for value in train)
    print(f"\ntraining:  median {statistics.median(train):.2f} images/s (runs: {runs_text})")
    runs_text = ", ".join(f"{value:.2f}" for value in infer)
    print(f"inference: median {statistics.median(infer):.2f} images/s (runs: {runs_text})")
    print(f"GPU buffers: {reports[0]['buffer_bytes'] / 2**20:.1f} MiB")
    summary.append((batch, statistics.median(train), statistics.median(infer)))

print("\n=== throughput, images/s (medians); ratio = cifar-gpu / PyTorch ===")
print(f"{'batch':>5}  {'phase':>9}  {'cifar-gpu':>10}  {'PyTorch CPU':>11}  {'ratio':>7}")
for batch, train, infer in summary:
    for phase, value in (("training", train), ("inference", infer)):
        torch_value = None
        if pytorch and batch in pytorch["batch_sizes"]:
            key = "train_median" if phase == "training" else "infer_median"
            torch_value = pytorch["batch_sizes"][batch][key]
        if torch_value:
            print(
                f"{batch:>5}  {phase:>9}  {value:>10.2f}  {torch_value:>11.1f}  "
                f"{value / torch_value:>7.4f}"
            )
        else:
            print(f"{batch:>5}  {phase:>9}  {value:>10.2f}  {'-':>11}  {'-':>7}")
PYTHON
