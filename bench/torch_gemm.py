#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of the SGEMM comparison, and the side-by-side table of bench_gemm's results.

    /usr/bin/python3 bench/torch_gemm.py --kexue-json gemm.json            # time torch.mm, print the table
    /usr/bin/python3 bench/torch_gemm.py --kexue-json gemm.json --no-torch  # table of bench_gemm alone
    /usr/bin/python3 bench/torch_gemm.py                                    # torch.mm timings only

gemm.json is bench_gemm's output (--benchmark_out=gemm.json; run it with --benchmark_repetitions=N so the
medians are used). torch.mm runs the same shapes, C = A B in float32, at 1 and 2 threads
(torch.set_num_threads, and the same count for the OpenBLAS pool torch.mm runs on), timed like bench_gemm:
one thread in thread CPU time, two in wall-clock time, the median (or with --aggregate max the best) of
--repetitions rounds of at least --min-time seconds each. Debian's python3-torch lives in
/usr/bin/python3's site-packages, hence that interpreter.

The table gives kexue's GFLOP/s and percent of the FMA peak bench_gemm measured (threads x one-core peak),
then each peer's GFLOP/s and the ratio kexue / peer (above 1: kexue is faster), and kexue / best peer.
"""
import argparse
import json
import statistics
import sys
import time

SHAPES = [(32, 32, 32), (64, 64, 64), (128, 128, 128), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024),
          (2048, 2048, 2048), (4096, 768, 768), (512, 512, 64), (512, 64, 512), (128, 3072, 768)]
PEERS = ["eigen", "openblas", "dnnl", "torch"]


def blas_thread_setters():
    """openblas_set_num_threads of every OpenBLAS library torch has loaded. Debian's torch (BLAS_INFO=generic)
    runs torch.mm through the system BLAS, OpenBLAS, whose own thread pool torch.set_num_threads does not
    control: without this, "one thread" would really use OpenBLAS's default (all cores)."""
    import ctypes

    setters = []
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1]})
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if hasattr(lib, "openblas_set_num_threads"):
            setters.append(lib.openblas_set_num_threads)
    return setters


def time_torch(shapes, threads_list, repetitions, min_time, aggregate="median"):
    """{(m, n, k, threads): median GFLOP/s of torch.mm}."""
    import torch

    torch.manual_seed(0)
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))  # loads the BLAS
    setters = blas_thread_setters()
    results = {}
    for threads in threads_list:
        torch.set_num_threads(threads)
        for set_blas_threads in setters:
            set_blas_threads(threads)
        clock = time.thread_time if threads == 1 else time.perf_counter
        for m, n, k in shapes:
            a = torch.rand(m, k) * 2 - 1
            b = torch.rand(k, n) * 2 - 1
            c = torch.empty(m, n)
            torch.mm(a, b, out=c)
            ref = (a.double() @ b.double()).float()
            if not torch.allclose(c, ref, rtol=1e-4, atol=1e-4 * k ** 0.5):
                sys.exit(f"torch.mm gave a wrong result for {m}x{n}x{k}")
            rates = []
            for _ in range(repetitions):
                iterations, start = 0, clock()
                while True:
                    torch.mm(a, b, out=c)
                    iterations += 1
                    elapsed = clock() - start
                    if elapsed >= min_time:
                        break
                rates.append(2.0 * m * n * k * iterations / elapsed * 1e-9)
            results[(m, n, k, threads)] = max(rates) if aggregate == "max" else statistics.median(rates)
            print(f"torch.mm {m}x{n}x{k} threads {threads}: {results[(m, n, k, threads)]:.1f} GFLOP/s",
                  file=sys.stderr)
    return results


def read_kexue_json(path, aggregate="median"):
    """({(library, m, n, k, threads): (GFLOP/s, pct_peak)}, context) from bench_gemm's JSON output: the given
    aggregate ("median", or "max": the best repetition) when the run had repetitions, otherwise the median of
    the runs."""
    with open(path) as f:
        data = json.load(f)
    medians, runs = {}, {}
    for entry in data["benchmarks"]:
        if entry.get("error_occurred") or "GFLOPS" not in entry:
            continue
        parts = entry.get("run_name", entry["name"]).split("/")
        library = parts[0].replace("BM_gemm_", "")
        fields = dict(p.split(":", 1) for p in parts[1:] if ":" in p)
        key = (library, int(fields["m"]), int(fields["n"]), int(fields["k"]), int(fields["threads"]))
        value = (entry["GFLOPS"], entry.get("pct_peak", float("nan")))
        if entry.get("run_type") == "aggregate":
            if entry.get("aggregate_name") == aggregate:
                medians[key] = value
        else:
            runs.setdefault(key, []).append(value)
    result = {key: (statistics.median(v[0] for v in values), statistics.median(v[1] for v in values))
              for key, values in runs.items()}
    result.update(medians)
    return result, data.get("context", {})


def print_table(kexue, torch_results, context):
    threads_list = sorted({key[4] for key in kexue})
    peak = context.get("peak_fma_gflops_1thread", "?")
    print(f"machine: {context.get('host_name', '?')}, {context.get('num_cpus', '?')} CPUs, "
          f"arch {context.get('kexue_simd_arch', '?')}, build: {context.get('kexue_build', '?')}")
    print(f"measured FMA peak: {peak} GFLOP/s on one core"
          + "".join(f", {v} on {k.split('_')[-1]}" for k, v in context.items()
                    if k.startswith("peak_fma_gflops_") and not k.endswith("1thread")))
    print(f"tile: {context.get('kexue_gemm_tile', '?')}")
    print()
    header = ["M", "N", "K", "thr", "kexue GF/s", "% peak"]
    for peer in PEERS:
        header += [f"{peer} GF/s", f"x {peer}"]
    header.append("x best")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" for _ in header) + "|")
    for threads in threads_list:
        for m, n, k in SHAPES:
            ours = kexue.get(("kernel", m, n, k, threads))
            if ours is None:
                continue
            row = [str(m), str(n), str(k), str(threads), f"{ours[0]:.1f}", f"{ours[1]:.1f}"]
            best = 0.0
            for peer in PEERS:
                value = torch_results.get((m, n, k, threads)) if peer == "torch" else \
                    (kexue.get((peer, m, n, k, threads)) or (None,))[0]
                if value is None:
                    row += ["-", "-"]
                    continue
                best = max(best, value)
                row += [f"{value:.1f}", f"{ours[0] / value:.2f}"]
            row.append(f"{ours[0] / best:.2f}" if best > 0 else "-")
            print("| " + " | ".join(row) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kexue-json", help="bench_gemm --benchmark_out file; prints the comparison table")
    parser.add_argument("--no-torch", action="store_true", help="do not time torch.mm")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds per repetition")
    parser.add_argument("--torch-json", help="write the torch.mm results here")
    parser.add_argument("--aggregate", choices=["median", "max"], default="median",
                        help="which repetition aggregate of bench_gemm to tabulate (max: the best repetition); "
                             "torch.mm uses the same")
    args = parser.parse_args()

    torch_results = {}
    if not args.no_torch:
        torch_results = time_torch(SHAPES, args.threads, args.repetitions, args.min_time, args.aggregate)
        if args.torch_json:
            with open(args.torch_json, "w") as f:
                json.dump([{"m": m, "n": n, "k": k, "threads": t, "GFLOPS": v}
                           for (m, n, k, t), v in torch_results.items()], f, indent=1)
    if args.kexue_json:
        kexue, context = read_kexue_json(args.kexue_json, args.aggregate)
        print_table(kexue, torch_results, context)
    elif not torch_results:
        parser.error("nothing to do: give --kexue-json or let torch run")


if __name__ == "__main__":
    main()
