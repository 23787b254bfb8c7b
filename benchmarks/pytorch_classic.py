"""Training and inference throughput of the classic CIFAR-10 CNN in PyTorch on the CPU.

The model matches cifar-gpu's `classic` preset. It has two blocks of two 3x3 convolutions
(32 then 64 filters, the first of each block `same`, the second `valid`), each block
followed by 2x2 max pooling and dropout 0.25. Dense 1024 with tanh, dropout 0.5 and dense
10 follow.
It trains with Adam (learning rate 1e-3, epsilon 1e-7, the Keras defaults) on random
3x32x32 inputs and random labels, and reports the median images/s of several timed runs
after warm-up steps.

Usage: python3 benchmarks/pytorch_classic.py [--batch-sizes 32 128] [--runs 3]
       [--steps 10] [--warmup 2] [--json FILE]
"""

import argparse
import json
import statistics
import time

import torch
from torch import nn


def classic_model(channels: int = 3, classes: int = 10, size: int = 32) -> nn.Sequential:
    """Builds the classic network for `channels` x `size` x `size` inputs."""
    # 'same' keeps the size, 'valid' loses 2 pixels, pooling halves (rounding down).
    flat_size = ((size - 2) // 2 - 2) // 2
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(64 * flat_size * flat_size, 1024),
        nn.Tanh(),
        nn.Dropout(0.5),
        nn.Linear(1024, classes),
    )


def training_images_per_second(batch: int, steps: int, warmup: int) -> float:
    """Times `steps` training steps on one random batch after `warmup` untimed ones."""
    model = classic_model()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    loss_function = nn.CrossEntropyLoss()
    images = torch.rand(batch, 3, 32, 32)
    labels = torch.randint(0, 10, (batch,))
    started = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = loss_function(model(images), labels)
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - started)


def inference_images_per_second(batch: int, steps: int, warmup: int) -> float:
    """Times `steps` forward passes with dropout off and no gradients."""
    model = classic_model()
    model.eval()
    images = torch.rand(batch, 3, 32, 32)
    started = time.perf_counter()
    with torch.no_grad():
        for step in range(warmup + steps):
            if step == warmup:
                started = time.perf_counter()
            model(images).argmax(dim=1)
    return steps * batch / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--runs", type=int, default=3, help="timed runs per batch size")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per run")
    parser.add_argument("--json", help="file for the results as JSON")
    args = parser.parse_args()

    torch.manual_seed(0)
    results = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch_sizes": {},
    }
    print(f"PyTorch {torch.__version__} on the CPU, {torch.get_num_threads()} threads")
    for batch in args.batch_sizes:
        train = [
            training_images_per_second(batch, args.steps, args.warmup)
            for _ in range(args.runs)
        ]
        infer = [
            inference_images_per_second(batch, args.steps, args.warmup)
            for _ in range(args.runs)
        ]
        results["batch_sizes"][str(batch)] = {
            "train_images_per_second": train,
            "infer_images_per_second": infer,
            "train_median": statistics.median(train),
            "infer_median": statistics.median(infer),
        }
        runs = ", ".join(f"{value:.1f}" for value in train)
        print(
            f"batch {batch:>4}: training {statistics.median(train):8.1f} images/s "
            f"(runs: {runs}), inference {statistics.median(infer):8.1f} images/s"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)
            file.write("\n")


if __name__ == "__main__":
    main()
