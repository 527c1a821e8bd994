#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of the softmax comparison, and the side-by-side table of bench_softmax's results.

    /usr/bin/python3 bench/torch_softmax.py --kexue-json softmax.json            # time torch, print the tables
    /usr/bin/python3 bench/torch_softmax.py --kexue-json softmax.json --no-torch  # tables of bench_softmax alone
    /usr/bin/python3 bench/torch_softmax.py                                       # torch timings only

softmax.json is bench_softmax's output (--benchmark_out=softmax.json; with --benchmark_repetitions=N the
medians are used). PyTorch runs the same shapes in float32 over the last axis, at 1 and 2 threads
(torch.set_num_threads): forward torch._softmax(x, -1, False, out=y) and backward
aten::_softmax_backward_data.out(dy, y, -1, float32, grad_input=dx), the kernels behind torch.softmax and
its autograd node, into preallocated outputs so that no allocation is timed (bench_softmax preallocates
too). Timed like bench_softmax: one thread in thread CPU time, two in wall-clock time; the median of
--repetitions rounds of at least --min-time seconds each. Debian's python3-torch lives in /usr/bin/python3's
site-packages, hence that interpreter.

Each table gives kexue's Gelem/s (rows * cols per second) and its GB/s as a percentage of the one-thread
triad bandwidth bench_softmax measured on arrays of the same size, then each peer's Gelem/s and the ratio
kexue / peer (above 1: kexue is faster), and kexue / best peer.
"""
import argparse
import json
import statistics
import sys
import time

SHAPES = [(4096, 512), (256, 32000), (8192, 64)]
PEERS = ["eigen", "dnnl", "torch"]


def time_torch(shapes, threads_list, repetitions, min_time):
    """{("forward" | "backward", rows, cols, threads): median Gelem/s}."""
    import torch

    torch.manual_seed(0)
    backward_out = torch.ops.aten._softmax_backward_data.out
    results = {}
    for threads in threads_list:
        torch.set_num_threads(threads)
        clock = time.thread_time if threads == 1 else time.perf_counter
        for rows, cols in shapes:
            x = torch.randn(rows, cols) * 2
            dy = torch.randn(rows, cols) * 2
            y = torch.empty(rows, cols)
            dx = torch.empty(rows, cols)
            forward = lambda: torch._softmax(x, -1, False, out=y)  # noqa: E731
            backward = lambda: backward_out(dy, y, -1, torch.float32, grad_input=dx)  # noqa: E731
            forward()
            backward()
            ref = torch.softmax(x.double(), -1)
            ref_dx = ref * (dy.double() - (dy.double() * ref).sum(-1, keepdim=True))
            if not torch.allclose(y.double(), ref, rtol=1e-5, atol=1e-7) or \
                    not torch.allclose(dx.double(), ref_dx, rtol=1e-4, atol=1e-6):
                sys.exit(f"torch softmax gave a wrong result for {rows}x{cols}")
            for direction, run in (("forward", forward), ("backward", backward)):
                rates = []
                for _ in range(repetitions):
                    iterations, start = 0, clock()
                    while True:
                        run()
                        iterations += 1
                        elapsed = clock() - start
                        if elapsed >= min_time:
                            break
                    rates.append(rows * cols * iterations / elapsed * 1e-9)
                results[(direction, rows, cols, threads)] = statistics.median(rates)
                print(f"torch softmax {direction} {rows}x{cols} threads {threads}: "
                      f"{results[(direction, rows, cols, threads)]:.3f} Gelem/s", file=sys.stderr)
    return results


def read_kexue_json(path):
    """({(name, rows, cols, threads): (Gelem/s, pct_triad)}, context) from bench_softmax's JSON output, where
    name is the benchmark name without "BM_" (softmax_kernel, softmax_backward_dnnl, ...): the median
    aggregate when the run had repetitions, otherwise the median of the runs."""
    with open(path) as f:
        data = json.load(f)
    medians, runs = {}, {}
    for entry in data["benchmarks"]:
        if entry.get("error_occurred") or "Gelem_s" not in entry:
            continue
        parts = entry.get("run_name", entry["name"]).split("/")
        name = parts[0][3:] if parts[0].startswith("BM_") else parts[0]
        fields = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
        key = (name, int(fields["rows"]), int(fields["cols"]), int(fields["threads"]))
        value = (entry["Gelem_s"], entry.get("pct_triad", float("nan")))
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[key] = value
        else:
            runs.setdefault(key, []).append(value)
    result = {key: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
              for key, values in runs.items()}
    result.update(medians)
    return result, data.get("context", {})


def print_tables(kexue, torch_results, context):
    threads_list = sorted({key[3] for key in kexue if key[0] == "softmax_kernel"})
    print(f"machine: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, "
          f"arch {context.get('kexue_simd_arch', '?')}, build: {context.get('kexue_build', '?')}")
    triads = ", ".join(f"{k[len('triad_gbs_1thread_'):]}: {v} GB/s" for k, v in sorted(context.items())
                       if k.startswith("triad_gbs_1thread_"))
    print(f"one-thread triad bandwidth: {triads}")
    for direction, prefix in (("forward", "softmax"), ("backward", "softmax_backward")):
        print()
        print(f"softmax {direction}, float32, Gelem/s (rows x cols per second)")
        print()
        header = ["rows", "cols", "thr", "kexue", "% triad"]
        for peer in PEERS:
            header += [peer, f"x {peer}"]
        header.append("x best")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---:" for _ in header) + "|")
        for threads in threads_list:
            for rows, cols in SHAPES:
                ours = kexue.get((f"{prefix}_kernel", rows, cols, threads))
                if ours is None:
                    continue
                row = [str(rows), str(cols), str(threads), f"{ours[0]:.2f}", f"{ours[1]:.0f}"]
                best = 0.0
                for peer in PEERS:
                    if peer == "torch":
                        value = torch_results.get((direction, rows, cols, threads))
                    else:
                        value = (kexue.get((f"{prefix}_{peer}", rows, cols, threads)) or (None,))[0]
                    if value is None:
                        row += ["-", "-"]
                        continue
                    best = max(best, value)
                    row += [f"{value:.2f}", f"{ours[0] / value:.2f}"]
                row.append(f"{ours[0] / best:.2f}" if best > 0 else "-")
                print("| " + " | ".join(row) + " |")
    extras = sorted(key for key in kexue if key[0] in ("log_softmax_kernel", "cross_entropy_kernel",
                                                       "softmax_kernel_causal", "softmax_kernel_keep_mask"))
    if extras:
        print()
        print("other kexue kernels, Gelem/s: " + "; ".join(
            f"{name} {rows}x{cols} thr {threads}: {kexue[(name, rows, cols, threads)][0]:.2f}"
            for name, rows, cols, threads in extras))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kexue-json", help="bench_softmax --benchmark_out file; prints the comparison tables")
    parser.add_argument("--no-torch", action="store_true", help="do not time PyTorch")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition")
    args = parser.parse_args()

    torch_results = {} if args.no_torch else time_torch(SHAPES, args.threads, args.repetitions, args.min_time)
    if args.kexue_json:
        kexue, context = read_kexue_json(args.kexue_json)
        print_tables(kexue, torch_results, context)
    elif not args.no_torch:
        for (direction, rows, cols, threads), rate in sorted(torch_results.items()):
            print(f"{direction} {rows}x{cols} threads {threads}: {rate:.3f} Gelem/s")


if __name__ == "__main__":
    main()
