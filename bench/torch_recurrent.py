#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of the recurrent-layer comparison, and the side-by-side table of bench_recurrent's results.

    /usr/bin/python3 bench/torch_recurrent.py --kexue-json recurrent.json   # time torch, print the table
    /usr/bin/python3 bench/torch_recurrent.py                               # torch timings only

recurrent.json is bench_recurrent's output (--benchmark_out=recurrent.json; with --benchmark_repetitions=N
the medians are used). PyTorch runs torch.nn.GRU / torch.nn.LSTM(128, 128, batch_first=True) in float32 on
x [32, 64, 128], as bench_recurrent does: "forward" under torch.no_grad(), "forward_backward" with x
requiring a gradient and out.backward(g) for a fixed random g of the output's shape (parameter and input
gradients accumulate, as in kexue). Timed like bench_recurrent: one thread in thread CPU time, two in
wall-clock time (torch.set_num_threads); the median of --repetitions rounds of at least --min-time seconds.
The table gives milliseconds per call and the ratio torch / kexue (above 1: kexue is faster).
"""
import argparse
import json
import statistics
import sys
import time

BATCH, STEPS, FEATURES, HIDDEN = 32, 64, 128, 128
LAYERS = ["gru", "lstm"]
MODES = ["forward", "forward_backward"]


def time_torch(threads_list, repetitions, min_time):
    """{(layer, mode, threads): median milliseconds per call}."""
    import torch

    torch.manual_seed(0)
    results = {}
    for threads in threads_list:
        torch.set_num_threads(threads)
        clock = time.thread_time if threads == 1 else time.perf_counter
        for layer in LAYERS:
            module = {"gru": torch.nn.GRU, "lstm": torch.nn.LSTM}[layer](FEATURES, HIDDEN, batch_first=True)
            x = torch.randn(BATCH, STEPS, FEATURES)
            g = torch.randn(BATCH, STEPS, HIDDEN)
            xg = x.clone().requires_grad_(True)

            def forward():
                with torch.no_grad():
                    module(x)

            def forward_backward():
                out, _ = module(xg)
                out.backward(g)

            for mode, run in (("forward", forward), ("forward_backward", forward_backward)):
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
                results[(layer, mode, threads)] = statistics.median(times)
                print(f"torch {layer} {mode} threads {threads}: {results[(layer, mode, threads)]:.2f} ms",
                      file=sys.stderr)
    return results


def read_kexue_json(path):
    """({(layer, mode, threads): ms}, context) from bench_recurrent's JSON: median aggregates when present,
    otherwise the median of the runs (real time for more than one thread, CPU time for one)."""
    with open(path) as f:
        data = json.load(f)
    scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
    medians, runs = {}, {}
    for entry in data["benchmarks"]:
        if entry.get("error_occurred"):
            continue
        parts = entry.get("run_name", entry["name"]).split("/")
        name = parts[0][3:] if parts[0].startswith("BM_") else parts[0]
        layer, mode = name.split("_", 1)
        fields = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
        threads = int(fields["threads"])
        key = (layer, mode, threads)
        value = entry["real_time" if threads > 1 else "cpu_time"] * scale[entry.get("time_unit", "ns")]
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[key] = value
        else:
            runs.setdefault(key, []).append(value)
    result = {key: statistics.median(values) for key, values in runs.items()}
    result.update(medians)
    return result, data.get("context", {})


def print_table(kexue, torch_results, context):
    print(f"machine: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, "
          f"arch {context.get('kexue_simd_arch', '?')}, build: {context.get('kexue_build', '?')}")
    print()
    print(f"B={BATCH}, T={STEPS}, input={FEATURES}, hidden={HIDDEN}, float32, ms per call")
    print()
    print("| layer | pass | threads | kexue ms | torch ms | torch / kexue |")
    print("|---|---|---:|---:|---:|---:|")
    for layer, mode, threads in sorted(kexue):
        ours = kexue[(layer, mode, threads)]
        theirs = torch_results.get((layer, mode, threads))
        ratio = f"{theirs / ours:.2f}" if theirs else "-"
        theirs_text = f"{theirs:.2f}" if theirs else "-"
        print(f"| {layer} | {mode.replace('_', ' + ')} | {threads} | {ours:.2f} | {theirs_text} | {ratio} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kexue-json", help="bench_recurrent --benchmark_out file; prints the comparison table")
    parser.add_argument("--no-torch", action="store_true", help="do not time PyTorch")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition")
    args = parser.parse_args()
    torch_results = {} if args.no_torch else time_torch(args.threads, args.repetitions, args.min_time)
    if args.kexue_json:
        kexue, context = read_kexue_json(args.kexue_json)
        print_table(kexue, torch_results, context)
    else:
        for (layer, mode, threads), ms in sorted(torch_results.items()):
            print(f"{layer} {mode} threads {threads}: {ms:.2f} ms")


if __name__ == "__main__":
    main()
