#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of bench_training: one training step of the same models, at 1 and 2 threads, and the ratios.

    /usr/bin/python3 bench/torch_training.py --kexue-json training.json [--repetitions 5]

training.json is bench_training's output (--benchmark_out=training.json; with --benchmark_repetitions=N the
medians are used). A step is zero_grad, forward, loss, backward, optimizer step, exactly as bench_training.
One thread is timed in thread CPU time, two in wall-clock time; the median of --repetitions rounds.
Ratios are torch time / kexue time (above 1: kexue is faster).
"""
import argparse
import json
import statistics
import sys
import time


def mlp_case():
    import torch
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                                torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(128, 784)
    y = torch.randint(0, 10, (128,))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    return step


def dgcnn_case():
    import torch

    class gated_block(torch.nn.Module):
        """A02's residual block Y = X(1 − σ) + V σ, with [V, G] = Conv1d(C → 2C, k 3, dilation d, same)."""

        def __init__(self, channels, dilation):
            super().__init__()
            self.conv = torch.nn.Conv1d(channels, 2 * channels, 3, dilation=dilation, padding=dilation)

        def forward(self, x):
            v, g = self.conv(x).chunk(2, dim=1)
            s = torch.sigmoid(g)
            return x * (1 - s) + v * s

    torch.manual_seed(2)
    net = torch.nn.Sequential(*[gated_block(128, d) for d in (1, 2, 4, 8, 1, 1)])
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x = torch.randn(32, 128, 256)
    target = torch.randn(32, 128, 256)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), target)
        loss.backward()
        opt.step()
    return step


def transformer_case():
    import torch
    torch.manual_seed(3)
    layer = torch.nn.TransformerEncoderLayer(256, 4, dim_feedforward=1024, dropout=0.0, batch_first=True)
    opt = torch.optim.AdamW(layer.parameters(), lr=1e-3)
    x = torch.randn(16, 128, 256)
    target = torch.randn(16, 128, 256)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(x), target)
        loss.backward()
        opt.step()
    return step


CASES = {"mlp_step": mlp_case, "dgcnn_step": dgcnn_case, "transformer_step": transformer_case}


def time_torch(threads_list, repetitions, min_time):
    import torch
    results = {}
    for threads in threads_list:
        torch.set_num_threads(threads)
        clock = time.thread_time if threads == 1 else time.perf_counter
        for name, make in CASES.items():
            step = make()
            step()
            times = []
            for _ in range(repetitions):
                iterations, start = 0, clock()
                while True:
                    step()
                    iterations += 1
                    elapsed = clock() - start
                    if elapsed >= min_time:
                        break
                times.append(elapsed / iterations * 1e3)
            results[(name, threads)] = statistics.median(times)
            print(f"torch {name} threads {threads}: {results[(name, threads)]:.3f} ms", file=sys.stderr)
    return results


def read_kexue(path):
    with open(path) as f:
        data = json.load(f)
    medians, runs = {}, {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            continue
        parts = b.get("run_name", b["name"]).split("/")
        name = parts[0][3:] if parts[0].startswith("BM_") else parts[0]
        threads = int(dict(p.split(":", 1) for p in parts[1:] if ":" in p).get("threads", 1))
        unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
        value = (b["cpu_time"] if threads == 1 else b["real_time"]) * unit
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[(name, threads)] = value
        else:
            runs.setdefault((name, threads), []).append(value)
    out = {k: statistics.median(v) for k, v in runs.items()}
    out.update(medians)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--kexue-json")
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = p.parse_args()
    torch_results = time_torch(args.threads, args.repetitions, args.min_time)
    kexue = read_kexue(args.kexue_json) if args.kexue_json else {}
    print("| step | threads | kexue ms | torch ms | torch / kexue |")
    print("|---|---:|---:|---:|---:|")
    for (name, threads), t in sorted(torch_results.items()):
        k = kexue.get((name, threads))
        ratio = f"{t / k:.2f}" if k else "-"
        print(f"| {name} | {threads} | {k:.3f} | {t:.3f} | {ratio} |" if k else f"| {name} | {threads} | - | {t:.3f} | - |")


if __name__ == "__main__":
    main()
