#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""PyTorch side of bench_loss_other (WGAN-GP critic step, IMLE, triplet margin), and the side-by-side table.

    /usr/bin/python3 bench/torch_loss_other.py --kexue-json loss_other.json   # time PyTorch, print the table
    /usr/bin/python3 bench/torch_loss_other.py                                # PyTorch timings only

loss_other.json is bench_loss_other's output (--benchmark_out=loss_other.json --benchmark_out_format=json; with
--benchmark_repetitions=N the medians are used). Same cases in float32 on one thread (torch.set_num_threads(1)),
timed in thread CPU time like Google Benchmark: the median of --repetitions rounds of at least --min-time seconds.
  wgan_gp_critic_step/batch:100  the author's MNIST critic 784-128-32-1 (relu), D(real).mean() - D(fake).mean()
                                 + 10*relu(|grad D(x_hat)| - 1).mean() with autograd.grad(create_graph=True), backward
  imle/samples:128               mean_i min_j |x_i - f_j|^2 over 784 values, the |a|^2 + |b|^2 - 2ab form
                                 (kexue searches with it, then recomputes the chosen distances exactly), backward
  triplet_margin/batch:256       F.triplet_margin_loss on [256, 128] embeddings, backward
The table gives kexue's time and the ratio torch time / kexue time (above 1: kexue is faster).
"""
import argparse
import os
import statistics
import sys
import time


def cases(torch):
    F = torch.nn.functional
    g = torch.Generator().manual_seed(7)

    def critic_params():
        sizes = [784, 128, 32, 1]
        ps = []
        for a, b in zip(sizes, sizes[1:]):
            ps.append((torch.rand(a, b, generator=g) * 0.1 - 0.05).requires_grad_())
            ps.append(torch.zeros(b).requires_grad_())
        return ps

    def critic(ps, x):
        h = x
        for layer in range(3):
            h = h @ ps[2 * layer] + ps[2 * layer + 1]
            if layer < 2:
                h = torch.relu(h)
        return h

    ps = critic_params()
    real, fake = torch.rand(100, 784, generator=g), torch.rand(100, 784, generator=g)

    def wgan_gp():
        eps = torch.rand(100, 1, generator=g)
        x_hat = (real + eps * (fake - real)).requires_grad_()
        (grad,) = torch.autograd.grad(critic(ps, x_hat).sum(), x_hat, create_graph=True)
        n = torch.sqrt((grad * grad).sum(1) + 1e-12)
        loss = critic(ps, real).mean() - critic(ps, fake).mean() + 10 * torch.relu(n - 1).mean()
        loss.backward()
        for p in ps:
            p.grad = None

    x_real = torch.rand(128, 784, generator=g)
    x_fake = torch.rand(128, 784, generator=g).requires_grad_()

    def imle():
        d2 = (x_real * x_real).sum(1, keepdim=True) + (x_fake * x_fake).sum(1) - 2 * x_real @ x_fake.T
        d2.min(1).values.mean().backward()
        x_fake.grad = None

    a, p, n = (torch.randn(256, 128, generator=g).requires_grad_() for _ in range(3))

    def triplet():
        F.triplet_margin_loss(a, p, n).backward()
        for t in (a, p, n):
            t.grad = None

    return {"wgan_gp_critic_step/batch:100": wgan_gp, "imle/samples:128": imle, "triplet_margin/batch:256": triplet}


def time_torch(repetitions, min_time):
    import torch

    torch.set_num_threads(1)
    results = {}
    for name, step in cases(torch).items():
        step()
        rounds = []
        for _ in range(repetitions):
            iterations, start = 0, time.thread_time()
            while True:
                step()
                iterations += 1
                elapsed = time.thread_time() - start
                if elapsed >= min_time:
                    break
            rounds.append(elapsed / iterations)
        results[name] = statistics.median(rounds)
    return results


def read_kexue(path):
    """{case: seconds} from bench_loss_other's JSON, through bench/compare.py's reader (medians of repetitions)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import compare

    return {case: entry["time_ns"] * 1e-9 for case, entry in compare.load(path, "cpu_time")[0].items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kexue-json", help="bench_loss_other's JSON output")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5)
    args = parser.parse_args()
    torch_times = time_torch(args.repetitions, args.min_time)
    kexue = read_kexue(args.kexue_json) if args.kexue_json else {}
    print(f"{'case':34} {'torch (us)':>11} {'kexue (us)':>11} {'torch/kexue':>12}")
    for name, t in torch_times.items():
        k = kexue.get(name.split("/")[0])
        ratio = f"{t / k:12.2f}" if k else f"{'-':>12}"
        print(f"{name:34} {t * 1e6:11.1f} {k * 1e6 if k else float('nan'):11.1f} {ratio}")


if __name__ == "__main__":
    main()
