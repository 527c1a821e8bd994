#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of the conv1d comparison, and the side-by-side table of bench_conv's results.

    /usr/bin/python3 bench/torch_conv.py --kexue-json conv.json   # time torch, print the ratio table
    /usr/bin/python3 bench/torch_conv.py                          # torch timings only

conv.json is bench_conv's output (--benchmark_out=conv.json; with --benchmark_repetitions=N the medians are
used). Same problem as bench_conv: float32, x [32, 128, 256], w [128, 128, 3], bias [128], "same" padding
(= dilation) at dilations 1, 2, 4 (and the dgcnn_ cases: w [256, 128, 3], bias [256], dilations 1, 2, 4, 8); forward under torch.no_grad(), and forward + backward with x, w and b
requiring gradients (torch.autograd.grad seeded with a fixed gy), at 1 and 2 threads (torch.set_num_threads).
Timed like bench_conv (Google Benchmark's CPU time of the calling thread for one thread, wall-clock for two):
the median of --repetitions rounds of at least --min-time seconds each.
The table gives ms per call for both and the ratio torch / kexue (above 1: kexue is faster).
"""
import argparse
import json
import statistics
import sys
import time

B, C, L, K = 32, 128, 256, 3
# (name prefix, output channels, dilations)
SHAPES = [("", 128, [1, 2, 4]), ("dgcnn_", 256, [1, 2, 4, 8])]


def time_torch(threads_list, repetitions, min_time):
    """{(kind, dilation, threads): median ms per call}."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    results = {}

    def median_ms(run, clock):
        run()
        times = []
        for _ in range(repetitions):
            iterations, start = 0, clock()
            while True:
                run()
                iterations += 1
                elapsed = clock() - start
                if elapsed >= min_time:
                    break
            times.append(elapsed / iterations * 1e3)
        return statistics.median(times)

    for threads in threads_list:
        torch.set_num_threads(threads)
        clock = time.thread_time if threads == 1 else time.perf_counter
        for prefix, out_channels, dilations in SHAPES:
            for d in dilations:
                x = torch.randn(B, C, L)
                w = torch.randn(out_channels, C, K) * 0.05
                b = torch.randn(out_channels)
                gy = torch.randn(B, out_channels, L)
                xg, wg, bg = (t.clone().requires_grad_(True) for t in (x, w, b))

                def forward():
                    with torch.no_grad():
                        return F.conv1d(x, w, b, padding=d, dilation=d)

                def forward_backward():
                    y = F.conv1d(xg, wg, bg, padding=d, dilation=d)
                    return torch.autograd.grad(y, (xg, wg, bg), gy)

                for kind, run in (("forward", forward), ("forward_backward", forward_backward)):
                    key = (prefix + kind, d, threads)
                    results[key] = median_ms(run, clock)
                    print(f"torch conv1d {key[0]} dilation {d} threads {threads}: {results[key]:.2f} ms",
                          file=sys.stderr)
    return results


def read_kexue_json(path):
    """{(kind, dilation, threads): ms} from bench_conv's JSON (median aggregates when present)."""
    with open(path) as f:
        data = json.load(f)
    medians, runs = {}, {}
    for entry in data["benchmarks"]:
        name = entry.get("run_name", entry["name"])
        parts = name.split("/")
        kind = parts[0].replace("BM_conv1d_", "")
        fields = dict(p.split(":") for p in parts[1:] if ":" in p)
        key = (kind, int(fields["dilation"]), int(fields["threads"]))
        ms = entry["real_time"] if key[2] > 1 else entry["cpu_time"]
        unit = {"ms": 1.0, "us": 1e-3, "ns": 1e-6, "s": 1e3}[entry.get("time_unit", "ns")]
        if entry.get("aggregate_name") == "median":
            medians[key] = ms * unit
        elif entry.get("run_type", "iteration") == "iteration":
            runs.setdefault(key, []).append(ms * unit)
    for key, values in runs.items():
        medians.setdefault(key, statistics.median(values))
    return medians


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kexue-json", help="bench_conv --benchmark_out file")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5)
    parser.add_argument("--json-out", help="write the torch timings here")
    args = parser.parse_args()
    torch_ms = time_torch(args.threads, args.repetitions, args.min_time)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({f"{k}/dilation:{d}/threads:{t}": v for (k, d, t), v in torch_ms.items()}, f, indent=1)
    if not args.kexue_json:
        return
    kexue_ms = read_kexue_json(args.kexue_json)
    print("| shape | pass | dilation | threads | kexue ms | PyTorch ms | PyTorch / kexue |")
    print("|---|---|---|---|---|---|---|")
    for prefix, out_channels, dilations in SHAPES:
        for kind in ("forward", "forward_backward"):
            for t in args.threads:
                for d in dilations:
                    key = (prefix + kind, d, t)
                    k, p = kexue_ms.get(key), torch_ms.get(key)
                    if k is None or p is None:
                        continue
                    print(f"| {C}->{out_channels} | {kind.replace('_', ' + ')} | {d} | {t} | {k:.2f} | {p:.2f} "
                          f"| {p / k:.2f}x |")


if __name__ == "__main__":
    main()
