#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Side-by-side table of Google Benchmark JSON outputs: kexue against libtorch (or any other runs).

    bench/compare.py kexue=build/kexue.json torch=build/torch.json [--real-time] [--markdown]

Each argument is LABEL=PATH (or a PATH, labelled by its file name) of a file written with
--benchmark_out=PATH --benchmark_out_format=json. Benchmarks are matched by their case name: the name
without its "BM_" prefix, an optional "kexue_"/"torch_" library prefix, and anything from the first "/"
on (arguments), so BM_add_1M in bench_core and BM_add_1M (or BM_torch_add_1M) in torch_core are one case.
With --benchmark_repetitions=N the median aggregate is used; otherwise the median of the runs.

Columns: the time of each run (CPU time by default, which a busy machine disturbs less; --real-time for
wall time), then for every run after the first the ratio  other time / first time  (so with kexue first,
"torch/kexue 20.0x" means kexue is 20 times faster), then for each run with a bytes_per_second counter its
GB/s (Google Benchmark's counter, over CPU time) and the percentage of the triad (BM_triad_1M) and memcpy
(BM_copy_1M_memcpy) bandwidth of the same file, when that file has them.
"""
import argparse
import json
import os
import re
import statistics
import sys

LIBRARY_PREFIXES = ("kexue_", "torch_", "libtorch_")
BANDWIDTH_BASELINES = (("triad", "triad_1M"), ("memcpy", "copy_1M_memcpy"))


def case_name(name):
    name = name.split("/")[0]
    if name.startswith("BM_"):
        name = name[3:]
    for prefix in LIBRARY_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def to_ns(value, unit):
    return value * {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}[unit]


def load(path, time_key):
    """Returns {case: {"time_ns": median, "bytes_per_second": median or None}} and the file's context."""
    with open(path) as f:
        data = json.load(f)
    runs, medians = {}, {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        case = case_name(b.get("run_name", b["name"]))
        entry = {"time_ns": to_ns(b[time_key], b.get("time_unit", "ns")), "bytes_per_second": b.get("bytes_per_second")}
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[case] = entry
        else:
            runs.setdefault(case, []).append(entry)
    result = {}
    for case, entries in runs.items():
        if case in medians:
            result[case] = medians[case]
            continue
        bps = [e["bytes_per_second"] for e in entries if e["bytes_per_second"] is not None]
        result[case] = {"time_ns": statistics.median(e["time_ns"] for e in entries),
                        "bytes_per_second": statistics.median(bps) if bps else None}
    return result, data.get("context", {})


def format_time(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.1f} ns"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("runs", nargs="+", metavar="[LABEL=]PATH", help="Google Benchmark JSON files")
    parser.add_argument("--real-time", action="store_true", help="compare wall time instead of CPU time")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()
    if len(args.runs) < 2:
        parser.error("give at least two runs to compare")

    labels, tables = [], []
    for run in args.runs:
        label, path = run.split("=", 1) if "=" in run and not os.path.exists(run) else (None, run)
        if label is None:
            label = re.sub(r"\.json$", "", os.path.basename(path))
        table, context = load(path, "real_time" if args.real_time else "cpu_time")
        if not table:
            sys.exit(f"{path}: no benchmark results")
        labels.append(label)
        tables.append(table)
        extra = ", ".join(f"{k} {context[k]}" for k in ("library", "torch_version", "torch_threads", "kexue_build",
                                                         "triad_gbs_4MiB_1thread") if k in context)
        print(f"# {label}: {path} ({context.get('host_name', '?')}, {context.get('date', '?')}{', ' + extra if extra else ''})")

    cases = []  # order of first appearance, first run first
    for table in tables:
        cases += [c for c in table if c not in cases]

    header = ["case"] + [f"{label} time" for label in labels]
    header += [f"{label}/{labels[0]}" for label in labels[1:]]
    bandwidth_columns = []
    for i, table in enumerate(tables):
        if any(e["bytes_per_second"] for e in table.values()):
            bandwidth_columns.append(i)
            header.append(f"{labels[i]} GB/s")
            header += [f"% {name}" for name, case in BANDWIDTH_BASELINES if case in table]

    rows = []
    for case in cases:
        entries = [table.get(case) for table in tables]
        row = [case] + [format_time(e["time_ns"]) if e else "-" for e in entries]
        for e in entries[1:]:
            row.append(f"{e['time_ns'] / entries[0]['time_ns']:.2f}x" if e and entries[0] else "-")
        for i in bandwidth_columns:
            e, table = entries[i], tables[i]
            bps = e["bytes_per_second"] if e else None
            row.append(f"{bps / 1e9:.1f}" if bps else "-")
            for _, baseline in BANDWIDTH_BASELINES:
                if baseline in table:
                    base = table[baseline]["bytes_per_second"]
                    row.append(f"{100 * bps / base:.0f}%" if bps and base else "-")
        rows.append(row)

    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


if __name__ == "__main__":
    main()
