#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of the attention comparison, and the side-by-side table of bench_attention's results.

    /usr/bin/python3 bench/torch_attention.py --kexue-json attention.json   # time torch, print the table
    /usr/bin/python3 bench/torch_attention.py                                # torch timings only

attention.json is bench_attention's output (--benchmark_out=attention.json; with --benchmark_repetitions=N the
medians are used). Shapes: q, k, v [B=4, heads=8, n=512, d=64] float32, without and with a causal mask, at 1
and 2 threads (torch.set_num_threads and the OpenBLAS pool, as bench/torch_gemm.py). PyTorch 1.13 has no
fused scaled_dot_product_attention, so several compositions are timed and the best is the reference
("PyTorch's best"):
  matmul:  softmax((q / sqrt(d)) @ kᵀ [masked_fill(causal, -inf)]) @ v       (the textbook form)
  baddbmm: softmax(baddbmm(mask, q / sqrt(d), kᵀ)) @ v on [B·heads, n, d]    (torch.nn.MultiheadAttention's)
Forward runs without autograd (inference, as kexue's forward with inputs that need no gradient);
forward+backward runs the forward with q, k, v requiring gradients and autograd.grad with a fixed upstream
gradient. Timed like bench_attention: one thread in thread CPU time, two in wall-clock time; the median of
--repetitions rounds of at least --min-time seconds each.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_gemm import blas_thread_setters  # noqa: E402  (OpenBLAS pool size: torch.set_num_threads misses it)

B, HEADS, N, D = 4, 8, 512, 64


def variants(torch, causal):
    """{name: f(q, k, v) -> out} for the compositions timed."""
    scale = 1.0 / math.sqrt(D)
    hidden = torch.triu(torch.ones(N, N, dtype=torch.bool), diagonal=1)
    additive = torch.zeros(N, N).masked_fill(hidden, float("-inf"))

    def matmul(q, k, v):
        s = (q * scale) @ k.transpose(-2, -1)
        if causal:
            s = s.masked_fill(hidden, float("-inf"))
        return torch.softmax(s, -1) @ v

    def baddbmm(q, k, v):
        q3, k3, v3 = (t.reshape(B * HEADS, N, D) for t in (q, k, v))
        if causal:
            s = torch.baddbmm(additive, q3 * scale, k3.transpose(-2, -1))
        else:
            s = torch.bmm(q3 * scale, k3.transpose(-2, -1))
        return torch.bmm(torch.softmax(s, -1), v3).reshape(B, HEADS, N, D)

    return {"matmul": matmul, "baddbmm": baddbmm}


def time_torch(threads_list, repetitions, min_time):
    """{(pass, causal, threads): (best median ms, name of the best variant, {variant: median ms})}."""
    import torch

    torch.manual_seed(0)
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))  # loads the BLAS
    setters = blas_thread_setters()
    q, k, v, g = (torch.randn(B, HEADS, N, D) for _ in range(4))
    results = {}
    for threads in threads_list:
        torch.set_num_threads(threads)
        for set_blas_threads in setters:
            set_blas_threads(threads)
        clock = time.thread_time if threads == 1 else time.perf_counter
        for causal in (0, 1):
            fns = variants(torch, causal)
            reference = fns["matmul"](q.double(), k.double(), v.double())
            for kind in ("forward", "forward_backward"):
                per_variant = {}
                for name, fn in fns.items():
                    if not torch.allclose(fn(q, k, v).double(), reference, rtol=1e-4, atol=1e-5):
                        sys.exit(f"torch attention variant {name} gave a wrong result")
                    if kind == "forward":
                        def run(fn=fn):
                            with torch.no_grad():
                                return fn(q, k, v)
                    else:
                        qq, kk, vv = (t.clone().requires_grad_(True) for t in (q, k, v))

                        def run(fn=fn, qq=qq, kk=kk, vv=vv):
                            return torch.autograd.grad(fn(qq, kk, vv), (qq, kk, vv), g)
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
                    per_variant[name] = statistics.median(times)
                    print(f"torch attention {kind} causal={causal} threads={threads} {name}: "
                          f"{per_variant[name]:.1f} ms", file=sys.stderr)
                best = min(per_variant, key=per_variant.get)
                results[(kind, causal, threads)] = (per_variant[best], best, per_variant)
    return results


def read_kexue_json(path):
    """{(name, causal, threads): ms} from bench_attention's JSON (medians when repeated), name without BM_."""
    with open(path) as f:
        data = json.load(f)
    medians, runs = {}, {}
    for entry in data["benchmarks"]:
        parts = entry["run_name"].split("/")
        name = parts[0][3:]
        args = dict(p.split(":") for p in parts[1:] if ":" in p)
        if "causal" not in args or "threads" not in args:
            continue  # BM_attention_pattern_forward has no PyTorch twin
        key = (name, int(args["causal"]), int(args["threads"]))
        factor = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[entry.get("time_unit", "ns")]
        value = entry["real_time" if key[2] > 1 else "cpu_time"] * factor
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == "median":
                medians[key] = value
        else:
            runs.setdefault(key, []).append(value)
    out = {key: statistics.median(values) for key, values in runs.items()}
    out.update(medians)
    return out


def print_table(kexue, torch_results):
    print("| pass | causal | threads | kexue ms | kexue composed ms | PyTorch best ms (variant) | PyTorch / kexue |")
    print("|---|---|---|---|---|---|---|")
    for kind in ("forward", "forward_backward"):
        for causal in (0, 1):
            for threads in (1, 2):
                fused = kexue.get((f"attention_{kind}", causal, threads))
                comp = kexue.get((f"attention_composed_{kind}", causal, threads))
                t = torch_results.get((kind, causal, threads))
                if fused is None and t is None:
                    continue
                cells = [kind.replace("_", "+"), "yes" if causal else "no", str(threads),
                         f"{fused:.1f}" if fused else "-", f"{comp:.1f}" if comp else "-",
                         f"{t[0]:.1f} ({t[1]})" if t else "-",
                         f"{t[0] / fused:.2f}x" if t and fused else "-"]
                print("| " + " | ".join(cells) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kexue-json", help="bench_attention --benchmark_out file; prints the comparison table")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition")
    args = parser.parse_args()
    torch_results = time_torch(args.threads, args.repetitions, args.min_time)
    kexue = read_kexue_json(args.kexue_json) if args.kexue_json else {}
    print_table(kexue, torch_results)


if __name__ == "__main__":
    main()
