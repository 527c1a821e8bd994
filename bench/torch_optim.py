#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of the optimizer-step comparison, and the side-by-side table with bench_optim's results.

    /usr/bin/python3 bench/torch_optim.py --kexue-json optim.json   # time torch.optim, print the table
    /usr/bin/python3 bench/torch_optim.py                           # torch timings only

optim.json is bench_optim's output (--benchmark_out=optim.json --benchmark_out_format=json; with
--benchmark_repetitions=N the medians are used). torch.optim runs the same cases in float32: SGD(momentum=0.9),
Adam, AdamW, RMSprop(momentum=0.9, centered=True) on 1 tensor of 2^20, 256 tensors of 4096 and 64 tensors of
16 parameters with fixed gradients, single-tensor (foreach=False, the 1.13 default) and foreach=True
implementations, at 1 and 2 threads (torch.set_num_threads). Timed like Google Benchmark: one thread in thread
CPU time, two in wall-clock time; the median of --repetitions rounds of at least --min-time seconds each.
The table gives kexue's time per step and the ratio torch time / kexue time (above 1: kexue is faster).
"""
import argparse
import json
import statistics
import time

CASES = [(1, 1 << 20), (256, 4096), (64, 16)]


def optimizers(torch):
    O = torch.optim
    return {
        "sgd_momentum": lambda p, fe: O.SGD(p, lr=1e-3, momentum=0.9, foreach=fe),
        "adam": lambda p, fe: O.Adam(p, foreach=fe),
        "adamw": lambda p, fe: O.AdamW(p, foreach=fe),
        "rmsprop": lambda p, fe: O.RMSprop(p, momentum=0.9, centered=True, foreach=fe),
    }


def time_torch(threads_list, repetitions, min_time):
    """{(name, tensors, size, threads, foreach): median seconds per step}."""
    import torch

    torch.manual_seed(7)
    results = {}
    for threads in threads_list:
        torch.set_num_threads(threads)
        clock = time.thread_time if threads == 1 else time.perf_counter
        for name, make in optimizers(torch).items():
            for count, size in CASES:
                for foreach in (False, True):
                    params = [torch.empty(size).uniform_(-1, 1).requires_grad_() for _ in range(count)]
                    for p in params:
                        p.grad = torch.empty(size).uniform_(-1, 1)
                    opt = make(params, foreach)
                    opt.step()
                    rounds = []
                    for _ in range(repetitions):
                        iterations, start = 0, clock()
                        while True:
                            opt.step()
                            iterations += 1
                            elapsed = clock() - start
                            if elapsed >= min_time:
                                break
                        rounds.append(elapsed / iterations)
                    results[(name, count, size, threads, foreach)] = statistics.median(rounds)
    return results


def read_kexue(path):
    """{(name, tensors, size): seconds per step}, medians when repetitions were run."""
    with open(path) as f:
        data = json.load(f)
    runs = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        base = b.get("run_name", b["name"]).split("/")
        name = base[0][3:] if base[0].startswith("BM_") else base[0]
        count = int(base[1].split(":")[1])
        size = int(base[2].split(":")[1])
        scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b["time_unit"]]
        runs.setdefault((name, count, size), []).append(b["cpu_time"] * scale)
    return {k: statistics.median(v) for k, v in runs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kexue-json", help="bench_optim --benchmark_out file; prints the comparison table")
    parser.add_argument("--threads", default="1,2", help="torch thread counts (default 1,2)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]
    torch_times = time_torch(threads, args.repetitions, args.min_time)
    kexue = read_kexue(args.kexue_json) if args.kexue_json else {}
    header = "case                      tensors x size    kexue us"
    for t in threads:
        header += f"   torch{t}t us  ratio   foreach{t}t us  ratio"
    print(header)
    for name in optimizers(__import__("torch")):
        for count, size in CASES:
            k = kexue.get((name, count, size))
            line = f"{name:24s} {count:5d} x {size:8d}  " + (f"{k * 1e6:10.1f}" if k else "         -")
            for t in threads:
                for foreach in (False, True):
                    v = torch_times[(name, count, size, t, foreach)]
                    line += f"  {v * 1e6:11.1f}  " + (f"{v / k:5.2f}" if k else "    -")
            print(line)
    if kexue:
        print("ratio = torch time / kexue time (above 1: kexue faster); kexue runs one thread")


if __name__ == "__main__":
    main()
