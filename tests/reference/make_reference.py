#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the PyTorch reference data under tests/reference/data/, one file per kexue op header.

Run with Debian's PyTorch (python3-torch 1.13), from any directory:

    /usr/bin/python3 tests/reference/make_reference.py          # rewrite every file
    /usr/bin/python3 tests/reference/make_reference.py --check  # exit 1 if a committed file differs

The output is committed, so the C++ tests (tests/ops/test_reference_pytorch.cpp, parser in
tests/reference/reference_data.hpp) need no PyTorch. Every case is computed in float64 on one thread.
The inputs are written too, so C++ never has to rebuild them: each case draws them from its own
torch.Generator seeded with crc32(case name), so adding a case leaves the others unchanged, and re-running
the script gives byte-identical files.

File format (text, one tensor per line, '#' starts a comment line):

    <case>.<tensor> shape=[2,3] dtype=float64 values=v0 v1 v2 ...

dtype is float64, int64 or bool (0/1); values are row-major, floats printed with Python's repr (the
shortest text that reads back to the same double: strtod round-trips it exactly). A rank-0 tensor has
shape=[] and one value. Tensor names within a case:

    <case>.<input>            an input (float64 inputs are differentiated, except masks the comment names as
                              constant; int64/bool ones are not)
    <case>.out                the output, or <case>.out.<k> for each output k of a multi-output op
    <case>.grad_out[.<k>]     the upstream gradient fed to backward for that (float64) output
    <case>.grad.<input>       d(sum_k <out_k, grad_out_k>)/d input
    <case>.dir.<input>        a direction v for the second-order check (only when the gradient depends on
                              the inputs, i.e. the op is not linear in them)
    <case>.gradgrad.<input>   d(sum_i <grad_i, dir_i>)/d input (zeros where unused)

Above each case a comment gives the exact PyTorch expression, which is the spec the C++ check follows.
"""
import argparse
import os
import sys
import zlib

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    sys.exit("make_reference.py needs PyTorch: run it with Debian's /usr/bin/python3 (package python3-torch)")

DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# ~~~ Deterministic inputs ~~~

class inputs:
    """Input factory for one case: its own generator, seeded from the case name."""

    def __init__(self, case):
        self.gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))

    def randn(self, *shape, scale=1.0):
        return torch.randn(shape, generator=self.gen) * scale

    def uniform(self, *shape, low=-1.0, high=1.0):
        return low + (high - low) * torch.rand(shape, generator=self.gen)

    def away(self, *shape, low=0.2, high=2.0):
        """Values of either sign with |v| in [low, high]: away from the kink at 0 (relu, abs, ...)."""
        sign = torch.where(torch.rand(shape, generator=self.gen) < 0.5, -1.0, 1.0)
        return sign * self.uniform(*shape, low=low, high=high)

    def distinct(self, *shape, scale=1.0):
        """A random permutation of well-separated values (no ties: max/min/topk/sort have unique answers)."""
        n = 1
        for d in shape:
            n *= d
        values = (torch.arange(n) - (n - 1) / 2) * (0.37 * scale) + self.uniform(n, low=-0.1, high=0.1) * scale
        return values[torch.randperm(n, generator=self.gen)].reshape(*shape)

    def index(self, high, *shape):
        return torch.randint(0, high, shape, generator=self.gen)

    def mask(self, *shape, p_keep=0.6):
        return torch.rand(shape, generator=self.gen) < p_keep

    def spd(self, n, *batch):
        """Symmetric positive definite, well conditioned: A Aᵀ/n + I."""
        a = self.randn(*batch, n, n)
        return a @ a.mT / n + torch.eye(n)

    def well_conditioned(self, n, *batch):
        """A general square matrix, diagonally dominated: random + 3·I."""
        return self.randn(*batch, n, n) * 0.6 + 3 * torch.eye(n)

    def symmetric(self, n, *batch, gap=0.5):
        """Symmetric with well separated eigenvalues (eigenvalue gradients are smooth there)."""
        q, _ = torch.linalg.qr(self.randn(*batch, n, n))
        lam = torch.arange(n) * (1.0 + gap) - n / 2 + self.uniform(*batch, n, low=-0.2, high=0.2)
        return q @ torch.diag_embed(lam) @ q.mT


# ~~~ Writing ~~~

def format_value(v, dtype):
    if dtype == torch.bool:
        return "1" if v else "0"
    if dtype == torch.int64:
        return str(int(v))
    return repr(float(v))


def format_tensor(name, t):
    t = t.detach()
    if t._is_zerotensor():  # autograd's lazy zeros (sign's gradient, ...) have no storage to read
        t = torch.zeros(t.shape, dtype=t.dtype)
    t = t.contiguous()
    dtype = {torch.float64: "float64", torch.int64: "int64", torch.bool: "bool"}[t.dtype]
    shape = "[" + ",".join(str(d) for d in t.shape) + "]"
    values = " ".join(format_value(v, t.dtype) for v in t.reshape(-1).tolist())
    return f"{name} shape={shape} dtype={dtype} values={values}"


class family:
    """The cases of one data file (named after the kexue op header that will test them)."""

    def __init__(self, name, description):
        self.name = name
        self.lines = [
            f"# PyTorch reference data for kexue ops/{name}.hpp: {description}",
            f"# Generated by tests/reference/make_reference.py with PyTorch {torch.__version__} in float64;"
            " do not edit by hand.",
        ]

    def case(self, name, expr, make, fn, second=True, constant=()):
        """Runs one case.

        name: case name (unique across all files); expr: the PyTorch call as text, for the comment;
        make: function(inputs) -> dict of named input tensors; fn: function(*inputs, in order) -> output tensor or
        dict of outputs; second: also write second-order data (skipped anyway when the gradient does not
        depend on the inputs); constant: names of float64 inputs that are not differentiated (masks).
        """
        src = inputs(name)
        values = make(src)
        diff = [k for k, v in values.items() if v.dtype == torch.float64 and k not in constant]
        leaves = {k: (v.clone().requires_grad_(True) if k in diff else v) for k, v in values.items()}
        result = fn(*leaves.values())
        outputs = {"out": result} if torch.is_tensor(result) else {f"out.{k}": v for k, v in result.items()}

        note = f"  [constant: {', '.join(constant)}]" if constant else ""
        self.lines.append(f"# case {name}: {expr}{note}")
        for k, v in values.items():
            self.lines.append(format_tensor(f"{name}.{k}", v))
        for k, v in outputs.items():
            self.lines.append(format_tensor(f"{name}.{k}", v))

        diff_out = {k: v for k, v in outputs.items() if v.dtype == torch.float64 and v.requires_grad}
        if not diff or not diff_out:
            return
        grad_outs = {}
        for k, v in diff_out.items():
            grad_outs[k] = src.randn(*v.shape)
            self.lines.append(format_tensor(f"{name}.grad_{k}", grad_outs[k]))
        grads = torch.autograd.grad(list(diff_out.values()), [leaves[k] for k in diff],
                                    list(grad_outs.values()), create_graph=second, allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(values[k]) for k, g in zip(diff, grads)]
        for k, g in zip(diff, grads):
            self.lines.append(format_tensor(f"{name}.grad.{k}", g))
        if not second or not any(g.requires_grad for g in grads):
            return
        dirs = [src.randn(*g.shape) for g in grads]
        s = sum((g * d).sum() for g, d in zip(grads, dirs) if g.requires_grad)
        gradgrads = torch.autograd.grad(s, [leaves[k] for k in diff], allow_unused=True)
        for k, d, gg in zip(diff, dirs, gradgrads):
            self.lines.append(format_tensor(f"{name}.dir.{k}", d))
            self.lines.append(format_tensor(f"{name}.gradgrad.{k}", gg if gg is not None else torch.zeros_like(d)))

    def text(self):
        return "\n".join(self.lines) + "\n"


# ~~~ The cases, one family per kexue header ~~~

def arithmetic():
    f = family("arithmetic", "add, sub, mul, div, neg, pow, scalar forms, with broadcasting")
    f.case("add_broadcast", "a + b", lambda s: {"a": s.randn(2, 3, 4), "b": s.randn(3, 1)}, lambda a, b: a + b)
    f.case("add_same_shape", "a + b", lambda s: {"a": s.randn(3, 4), "b": s.randn(3, 4)}, lambda a, b: a + b)
    f.case("sub_broadcast", "a - b", lambda s: {"a": s.randn(3, 1), "b": s.randn(1, 4)}, lambda a, b: a - b)
    f.case("mul_broadcast", "a * b", lambda s: {"a": s.randn(2, 3, 4), "b": s.randn(4)}, lambda a, b: a * b)
    f.case("mul_scalar_tensor", "a * b (b has shape [])", lambda s: {"a": s.randn(2, 3), "b": s.randn()},
           lambda a, b: a * b)
    f.case("div_broadcast", "a / b", lambda s: {"a": s.randn(2, 3), "b": s.away(2, 1, low=0.5, high=2.0)},
           lambda a, b: a / b)
    f.case("neg", "-x", lambda s: {"x": s.randn(2, 3)}, lambda x: -x)
    f.case("add_scalar", "x + 1.5", lambda s: {"x": s.randn(2, 3)}, lambda x: x + 1.5)
    f.case("mul_scalar", "x * -0.75", lambda s: {"x": s.randn(2, 3)}, lambda x: x * -0.75)
    f.case("rdiv_scalar", "2.0 / x", lambda s: {"x": s.away(2, 3, low=0.5)}, lambda x: 2.0 / x)
    f.case("pow_scalar", "torch.pow(x, 2.5)", lambda s: {"x": s.uniform(2, 3, low=0.3, high=2.0)},
           lambda x: torch.pow(x, 2.5))
    f.case("pow_square", "torch.pow(x, 2.0)", lambda s: {"x": s.randn(2, 3)}, lambda x: torch.pow(x, 2.0))
    f.case("pow_negative", "torch.pow(x, -1.5)", lambda s: {"x": s.uniform(2, 3, low=0.3, high=2.0)},
           lambda x: torch.pow(x, -1.5))
    f.case("pow_tensor", "torch.pow(a, b)",
           lambda s: {"a": s.uniform(2, 3, low=0.3, high=2.0), "b": s.uniform(3, low=-1.5, high=2.5)},
           lambda a, b: torch.pow(a, b))
    return f


def math():
    f = family("math", "unary element-wise functions")
    x = lambda s: {"x": s.randn(3, 4)}
    pos = lambda s: {"x": s.uniform(3, 4, low=0.2, high=3.0)}
    for name, make, fn in [
        ("exp", x, torch.exp),
        ("log", pos, torch.log),
        ("log1p", lambda s: {"x": s.uniform(3, 4, low=-0.7, high=3.0)}, torch.log1p),
        ("expm1", x, torch.expm1),
        ("sqrt", pos, torch.sqrt),
        ("rsqrt", pos, torch.rsqrt),
        ("square", x, torch.square),
        ("abs", lambda s: {"x": s.away(3, 4)}, torch.abs),
        ("sign", lambda s: {"x": s.away(3, 4)}, torch.sign),
        ("sin", lambda s: {"x": s.randn(3, 4, scale=2.0)}, torch.sin),
        ("cos", lambda s: {"x": s.randn(3, 4, scale=2.0)}, torch.cos),
        ("erf", lambda s: {"x": s.randn(3, 4, scale=1.5)}, torch.erf),
    ]:
        f.case(name, f"torch.{name}(x)", make, fn)
    return f


def broadcast():
    f = family("broadcast", "expand and sum_to")
    f.case("expand", "x.expand(2, 3, 4)", lambda s: {"x": s.randn(3, 1)}, lambda x: x.expand(2, 3, 4))
    f.case("sum_to", "x.sum(0).sum(1, keepdim=True)  (sum_to(x, [3, 1]))", lambda s: {"x": s.randn(2, 3, 4)},
           lambda x: x.sum(0).sum(1, keepdim=True))
    return f


def reduce():
    f = family("reduce", "sum and mean over axes, with keepdim")
    x = lambda s: {"x": s.randn(2, 3, 4)}
    f.case("sum_all", "x.sum()", x, lambda x: x.sum())
    f.case("sum_axis1_keepdim", "x.sum(dim=1, keepdim=True)", x, lambda x: x.sum(dim=1, keepdim=True))
    f.case("sum_axes02", "x.sum(dim=(0, 2))", x, lambda x: x.sum(dim=(0, 2)))
    f.case("sum_axis_neg1", "x.sum(dim=-1)", x, lambda x: x.sum(dim=-1))
    f.case("mean_all", "x.mean()", x, lambda x: x.mean())
    f.case("mean_axis_neg1_keepdim", "x.mean(dim=-1, keepdim=True)", x, lambda x: x.mean(dim=-1, keepdim=True))
    f.case("mean_axes01", "x.mean(dim=(0, 1))", x, lambda x: x.mean(dim=(0, 1)))
    return f


def matmul():
    f = family("matmul", "2-D, batched with broadcast batch axes, transpose flags (a stored transposed: a.mT)")
    mm = lambda a, b: torch.matmul(a, b)
    f.case("matmul_2d", "torch.matmul(a, b)", lambda s: {"a": s.randn(3, 4), "b": s.randn(4, 5)}, mm)
    f.case("matmul_trans_a", "torch.matmul(a.mT, b)  (kexue: matmul(a, b, true, false))",
           lambda s: {"a": s.randn(4, 3), "b": s.randn(4, 5)}, lambda a, b: a.mT @ b)
    f.case("matmul_trans_b", "torch.matmul(a, b.mT)  (kexue: matmul(a, b, false, true))",
           lambda s: {"a": s.randn(3, 4), "b": s.randn(5, 4)}, lambda a, b: a @ b.mT)
    f.case("matmul_trans_ab", "torch.matmul(a.mT, b.mT)  (kexue: matmul(a, b, true, true))",
           lambda s: {"a": s.randn(4, 3), "b": s.randn(5, 4)}, lambda a, b: a.mT @ b.mT)
    f.case("matmul_batched", "torch.matmul(a, b)", lambda s: {"a": s.randn(2, 3, 4), "b": s.randn(2, 4, 5)}, mm)
    f.case("matmul_batch_broadcast", "torch.matmul(a, b)",
           lambda s: {"a": s.randn(2, 1, 3, 4), "b": s.randn(3, 4, 2)}, mm)
    f.case("matmul_batch_broadcast_2d", "torch.matmul(a, b)  (b is 2-D)",
           lambda s: {"a": s.randn(2, 3, 4), "b": s.randn(4, 5)}, mm)
    f.case("matmul_batched_trans_b", "torch.matmul(a, b.mT)  (kexue: matmul(a, b, false, true))",
           lambda s: {"a": s.randn(2, 3, 4), "b": s.randn(1, 5, 4)}, lambda a, b: a @ b.mT)
    f.case("matmul_vector_matrix", "torch.matmul(a, b)  (a is 1-D)",
           lambda s: {"a": s.randn(4), "b": s.randn(4, 3)}, mm)
    f.case("matmul_matrix_vector", "torch.matmul(a, b)  (b is 1-D)",
           lambda s: {"a": s.randn(3, 4), "b": s.randn(4)}, mm)
    return f


def activation():
    f = family("activation", "relu, leaky_relu, elu, gelu, silu, sigmoid, tanh, softplus, log_sigmoid, "
                             "softsign, mish")
    # Inputs away from 0 (the kink of relu, leaky_relu and elu) and spread over [-6, 6].
    away = lambda s: {"x": s.away(3, 4, low=0.1, high=6.0)}
    # Wider inputs for the saturating functions, where a naive formula loses precision or overflows.
    wide = lambda s: {"x": torch.cat([torch.tensor([-30.0, -12.0, 12.0, 30.0]), s.away(8, low=0.1, high=6.0)])
                      .reshape(3, 4)}
    for name, expr, make, fn in [
        ("relu", "F.relu(x)", away, F.relu),
        ("leaky_relu", "F.leaky_relu(x, negative_slope=0.2)", away, lambda x: F.leaky_relu(x, 0.2)),
        ("elu", "F.elu(x, alpha=1.0)", away, lambda x: F.elu(x, alpha=1.0)),
        ("elu_alpha", "F.elu(x, alpha=0.5)", away, lambda x: F.elu(x, alpha=0.5)),
        ("gelu_erf", "F.gelu(x)  (exact, erf form)", away, F.gelu),
        ("gelu_tanh", "F.gelu(x, approximate='tanh')", away, lambda x: F.gelu(x, approximate="tanh")),
        ("silu", "F.silu(x)  (swish with beta 1)", away, F.silu),
        ("sigmoid", "torch.sigmoid(x)", wide, torch.sigmoid),
        ("tanh", "torch.tanh(x)", wide, torch.tanh),
        ("softplus", "F.softplus(x)  (beta 1, threshold 20)", wide, F.softplus),
        ("log_sigmoid", "F.logsigmoid(x)", wide, F.logsigmoid),
        ("softsign", "F.softsign(x)", away, F.softsign),
        ("mish", "F.mish(x)", away, F.mish),
    ]:
        f.case(name, expr, make, fn)
    return f


def softmax():
    f = family("softmax", "softmax, log_softmax, logsumexp, with additive and boolean masks")
    x = lambda s: {"x": s.randn(3, 5, scale=2.0)}
    x3 = lambda s: {"x": s.randn(2, 3, 4, scale=2.0)}
    f.case("softmax_last", "torch.softmax(x, dim=-1)", x, lambda x: torch.softmax(x, dim=-1))
    f.case("softmax_axis0", "torch.softmax(x, dim=0)", x, lambda x: torch.softmax(x, dim=0))
    f.case("softmax_axis1_rank3", "torch.softmax(x, dim=1)", x3, lambda x: torch.softmax(x, dim=1))
    f.case("log_softmax_last", "torch.log_softmax(x, dim=-1)", x, lambda x: torch.log_softmax(x, dim=-1))
    f.case("log_softmax_axis1_rank3", "torch.log_softmax(x, dim=1)", x3, lambda x: torch.log_softmax(x, dim=1))
    f.case("logsumexp_last", "torch.logsumexp(x, dim=-1)", x, lambda x: torch.logsumexp(x, dim=-1))
    f.case("logsumexp_axes02_keepdim", "torch.logsumexp(x, dim=(0, 2), keepdim=True)", x3,
           lambda x: torch.logsumexp(x, dim=(0, 2), keepdim=True))
    f.case("logsumexp_all", "torch.logsumexp(x, dim=(0, 1))", x, lambda x: torch.logsumexp(x, dim=(0, 1)))
    f.case("logsumexp_large", "torch.logsumexp(x, dim=-1)  (|x| ~ 1000: needs the max shift)",
           lambda s: {"x": s.randn(2, 4) + torch.tensor([[1000.0], [-1000.0]])},
           lambda x: torch.logsumexp(x, dim=-1))

    # Boolean masks: keep = 1 where the position takes part; every row keeps at least one position.
    def keep_mask(s, *shape):
        keep = s.mask(*shape)
        keep[..., 0] = True
        return keep

    f.case("softmax_bool_mask", "torch.softmax(x.masked_fill(~keep, -inf), dim=-1)  (keep broadcasts over rows)",
           lambda s: {"x": s.randn(2, 3, 5, scale=2.0), "keep": keep_mask(s, 2, 1, 5)},
           lambda x, keep: torch.softmax(x.masked_fill(~keep, float("-inf")), dim=-1))
    f.case("log_softmax_bool_mask", "torch.log_softmax(x.masked_fill(~keep, -inf), dim=-1)  "
           "(out is -inf at masked positions; their gradient is 0)",
           lambda s: {"x": s.randn(3, 5, scale=2.0), "keep": keep_mask(s, 3, 5)},
           lambda x, keep: torch.log_softmax(x.masked_fill(~keep, float("-inf")), dim=-1))
    f.case("softmax_additive_mask", "torch.softmax(x + mask, dim=-1)  (mask: 0 or -1e4, broadcast, no gradient)",
           lambda s: {"x": s.randn(2, 3, 5, scale=2.0),
                      "mask": torch.where(keep_mask(s, 3, 5), 0.0, -1e4)},
           lambda x, mask: torch.softmax(x + mask, dim=-1), constant=("mask",))
    f.case("logsumexp_bool_mask", "torch.logsumexp(x.masked_fill(~keep, -inf), dim=-1)",
           lambda s: {"x": s.randn(3, 5, scale=2.0), "keep": keep_mask(s, 3, 5)},
           lambda x, keep: torch.logsumexp(x.masked_fill(~keep, float("-inf")), dim=-1))
    return f


def compare():
    f = family("compare", "maximum, minimum, where, clamp (inputs without ties or values at the bounds), "
                          "comparisons")
    f.case("maximum_broadcast", "torch.maximum(a, b)", lambda s: {"a": s.randn(2, 3, 4), "b": s.randn(3, 1)},
           torch.maximum)
    f.case("minimum_broadcast", "torch.minimum(a, b)", lambda s: {"a": s.randn(3, 4), "b": s.randn(4)},
           torch.minimum)
    f.case("where_broadcast", "torch.where(cond, a, b)",
           lambda s: {"cond": s.mask(3, 4, p_keep=0.5), "a": s.randn(3, 1), "b": s.randn(4)},
           lambda cond, a, b: torch.where(cond, a, b))
    f.case("clamp_scalar", "torch.clamp(x, min=-0.5, max=0.8)", lambda s: {"x": s.distinct(3, 4, scale=0.9)},
           lambda x: torch.clamp(x, min=-0.5, max=0.8))
    f.case("clamp_min_only", "torch.clamp(x, min=0.1)", lambda s: {"x": s.distinct(3, 4)},
           lambda x: torch.clamp(x, min=0.1))
    f.case("clamp_tensor_bounds", "torch.clamp(x, min=lo, max=hi)  (lo, hi broadcast)",
           lambda s: {"x": s.randn(3, 4, scale=2.0), "lo": s.uniform(4, low=-1.5, high=-0.3),
                      "hi": s.uniform(3, 1, low=0.3, high=1.5)},
           lambda x, lo, hi: torch.clamp(x, min=lo, max=hi))
    f.case("greater", "a > b  (no gradient)", lambda s: {"a": s.randn(3, 4), "b": s.randn(4)},
           lambda a, b: (a > b).detach())
    f.case("less_equal", "a <= b  (no gradient)", lambda s: {"a": s.randn(3, 4), "b": s.randn(3, 1)},
           lambda a, b: (a <= b).detach())
    return f


def reduce_minmax():
    f = family("reduce_minmax", "max, min (values; no ties in the inputs), argmax, argmin")
    x = lambda s: {"x": s.distinct(2, 3, 4)}
    f.case("max_all", "torch.amax(x)", x, lambda x: torch.amax(x))
    f.case("max_axes02", "torch.amax(x, dim=(0, 2))", x, lambda x: torch.amax(x, dim=(0, 2)))
    f.case("max_axis1_keepdim", "torch.amax(x, dim=1, keepdim=True)", x, lambda x: torch.amax(x, dim=1, keepdim=True))
    f.case("min_axis_neg1", "torch.amin(x, dim=-1)", x, lambda x: torch.amin(x, dim=-1))
    f.case("min_axes01_keepdim", "torch.amin(x, dim=(0, 1), keepdim=True)", x,
           lambda x: torch.amin(x, dim=(0, 1), keepdim=True))
    f.case("max_with_indices_axis1", "torch.max(x, dim=1) -> out.values, out.indices", x,
           lambda x: dict(zip(("values", "indices"), torch.max(x, dim=1))))
    f.case("min_with_indices_axis0_keepdim", "torch.min(x, dim=0, keepdim=True) -> out.values, out.indices", x,
           lambda x: dict(zip(("values", "indices"), torch.min(x, dim=0, keepdim=True))))
    f.case("argmax_axis_neg1", "torch.argmax(x, dim=-1)  (int64, no gradient)", x,
           lambda x: torch.argmax(x, dim=-1))
    f.case("argmax_axis0_keepdim", "torch.argmax(x, dim=0, keepdim=True)", x,
           lambda x: torch.argmax(x, dim=0, keepdim=True))
    f.case("argmin_axis1", "torch.argmin(x, dim=1)", x, lambda x: torch.argmin(x, dim=1))
    return f


def reduce_stats():
    f = family("reduce_stats", "var, std (biased and unbiased), norm")
    x = lambda s: {"x": s.randn(2, 3, 4)}
    f.case("var_all_unbiased", "torch.var(x, unbiased=True)", x, lambda x: torch.var(x, unbiased=True))
    f.case("var_axis1_biased", "torch.var(x, dim=1, unbiased=False)", x,
           lambda x: torch.var(x, dim=1, unbiased=False))
    f.case("var_axes02_unbiased_keepdim", "torch.var(x, dim=(0, 2), unbiased=True, keepdim=True)", x,
           lambda x: torch.var(x, dim=(0, 2), unbiased=True, keepdim=True))
    f.case("std_axis_neg1_unbiased", "torch.std(x, dim=-1, unbiased=True)", x,
           lambda x: torch.std(x, dim=-1, unbiased=True))
    f.case("std_all_biased", "torch.std(x, unbiased=False)", x, lambda x: torch.std(x, unbiased=False))
    f.case("std_axis0_biased_keepdim", "torch.std(x, dim=0, unbiased=False, keepdim=True)", x,
           lambda x: torch.std(x, dim=0, unbiased=False, keepdim=True))
    f.case("norm_all", "torch.linalg.vector_norm(x)  (L2 over all elements)", x, lambda x: torch.linalg.vector_norm(x))
    f.case("norm_axis_neg1", "torch.linalg.vector_norm(x, dim=-1)", x, lambda x: torch.linalg.vector_norm(x, dim=-1))
    f.case("norm_axes01_keepdim", "torch.linalg.vector_norm(x, dim=(0, 1), keepdim=True)", x,
           lambda x: torch.linalg.vector_norm(x, dim=(0, 1), keepdim=True))
    f.case("norm_p1_axis1", "torch.linalg.vector_norm(x, ord=1, dim=1)  (no zeros in x)",
           lambda s: {"x": s.away(2, 3, 4)}, lambda x: torch.linalg.vector_norm(x, ord=1, dim=1))
    f.case("norm_p3_axis_neg1", "torch.linalg.vector_norm(x, ord=3, dim=-1)", lambda s: {"x": s.away(2, 3, 4)},
           lambda x: torch.linalg.vector_norm(x, ord=3, dim=-1))
    return f


def cumsum():
    f = family("cumsum", "cumulative sum along an axis")
    f.case("cumsum_axis1", "torch.cumsum(x, dim=1)", lambda s: {"x": s.randn(3, 4)}, lambda x: torch.cumsum(x, 1))
    f.case("cumsum_axis0", "torch.cumsum(x, dim=0)", lambda s: {"x": s.randn(3, 4)}, lambda x: torch.cumsum(x, 0))
    f.case("cumsum_axis_neg2_rank3", "torch.cumsum(x, dim=-2)", lambda s: {"x": s.randn(2, 3, 4)},
           lambda x: torch.cumsum(x, -2))
    return f


def topk():
    f = family("topk", "k largest / smallest along an axis, sorted (no ties in the inputs)")
    f.case("topk_largest_last", "torch.topk(x, 2, dim=-1, largest=True, sorted=True) -> out.values, out.indices",
           lambda s: {"x": s.distinct(3, 5)}, lambda x: dict(zip(("values", "indices"), torch.topk(x, 2, dim=-1))))
    f.case("topk_smallest_axis0", "torch.topk(x, 3, dim=0, largest=False, sorted=True) -> out.values, out.indices",
           lambda s: {"x": s.distinct(4, 3)},
           lambda x: dict(zip(("values", "indices"), torch.topk(x, 3, dim=0, largest=False))))
    f.case("topk_rank3_axis1", "torch.topk(x, 2, dim=1) -> out.values, out.indices",
           lambda s: {"x": s.distinct(2, 4, 3)}, lambda x: dict(zip(("values", "indices"), torch.topk(x, 2, dim=1))))
    return f


def permute():
    f = family("permute", "permute and transpose (copies in kexue)")
    x = lambda s: {"x": s.randn(2, 3, 4)}
    f.case("permute_201", "x.permute(2, 0, 1)", x, lambda x: x.permute(2, 0, 1).contiguous())
    f.case("permute_021", "x.permute(0, 2, 1)", x, lambda x: x.permute(0, 2, 1).contiguous())
    f.case("transpose_0_2", "x.transpose(0, 2)", x, lambda x: x.transpose(0, 2).contiguous())
    f.case("transpose_2d", "x.transpose(0, 1)", lambda s: {"x": s.randn(3, 4)}, lambda x: x.transpose(0, 1).contiguous())
    return f


def slice_():
    f = family("slice", "narrow, slice with a step, select, flip, pad")
    f.case("narrow_axis1", "torch.narrow(x, 1, 1, 2)", lambda s: {"x": s.randn(2, 4, 3)},
           lambda x: torch.narrow(x, 1, 1, 2).contiguous())
    f.case("narrow_axis_neg1", "torch.narrow(x, -1, 2, 3)", lambda s: {"x": s.randn(3, 5)},
           lambda x: torch.narrow(x, -1, 2, 3).contiguous())
    f.case("slice_step", "x[:, 1:5:2]  (axis 1, start 1, end 5, step 2)", lambda s: {"x": s.randn(3, 6)},
           lambda x: x[:, 1:5:2].contiguous())
    f.case("select_axis1", "x.select(1, 2)  (the axis is removed)", lambda s: {"x": s.randn(2, 4, 3)},
           lambda x: x.select(1, 2).contiguous())
    f.case("flip_axes02", "torch.flip(x, [0, 2])", lambda s: {"x": s.randn(2, 3, 4)}, lambda x: torch.flip(x, [0, 2]))
    f.case("pad_axis0", "F.pad(x, (0, 0, 1, 2), value=0.5)  (axis 0: 1 before, 2 after)",
           lambda s: {"x": s.randn(2, 3)}, lambda x: F.pad(x, (0, 0, 1, 2), value=0.5))
    return f


def index():
    f = family("index", "index_select, gather, scatter_add (repeated indices accumulate)")
    f.case("index_select_axis0", "torch.index_select(x, 0, index)",
           lambda s: {"x": s.randn(4, 3), "index": torch.tensor([2, 0, 2, 3])},
           lambda x, index: torch.index_select(x, 0, index))
    f.case("index_select_axis1", "torch.index_select(x, 1, index)",
           lambda s: {"x": s.randn(2, 4, 3), "index": torch.tensor([3, 1])},
           lambda x, index: torch.index_select(x, 1, index))
    f.case("gather_axis1", "torch.gather(x, 1, index)",
           lambda s: {"x": s.randn(3, 4), "index": s.index(4, 3, 2)}, lambda x, index: torch.gather(x, 1, index))
    f.case("gather_axis0", "torch.gather(x, 0, index)",
           lambda s: {"x": s.randn(3, 4), "index": s.index(3, 2, 4)}, lambda x, index: torch.gather(x, 0, index))
    f.case("scatter_add_axis1", "torch.scatter_add(base, 1, index, src)",
           lambda s: {"base": s.randn(3, 4), "index": s.index(4, 3, 5), "src": s.randn(3, 5)},
           lambda base, index, src: torch.scatter_add(base, 1, index, src))
    f.case("index_add_axis0", "torch.index_add(x, 0, index, src)",
           lambda s: {"x": s.randn(4, 3), "index": torch.tensor([3, 0, 3]), "src": s.randn(3, 3)},
           lambda x, index, src: torch.index_add(x, 0, index, src))
    f.case("scatter_add_axis0", "torch.scatter_add(base, 0, index, src)",
           lambda s: {"base": s.randn(2, 3), "index": s.index(2, 4, 3), "src": s.randn(4, 3)},
           lambda base, index, src: torch.scatter_add(base, 0, index, src))
    return f


def one_hot():
    f = family("one_hot", "indicator vectors of integer labels")
    f.case("one_hot", "F.one_hot(index, 5).to(float64)", lambda s: {"index": torch.tensor([[0, 4, 2], [1, 1, 3]])},
           lambda index: F.one_hot(index, 5).to(torch.float64))
    return f


def join():
    f = family("join", "concat, stack, split, chunk, unbind")
    f.case("concat_axis1", "torch.cat([a, b, c], dim=1)",
           lambda s: {"a": s.randn(2, 1, 3), "b": s.randn(2, 2, 3), "c": s.randn(2, 3, 3)},
           lambda a, b, c: torch.cat([a, b, c], dim=1))
    f.case("concat_axis0", "torch.cat([a, b], dim=0)", lambda s: {"a": s.randn(1, 3), "b": s.randn(2, 3)},
           lambda a, b: torch.cat([a, b], dim=0))
    f.case("stack_axis0", "torch.stack([a, b], dim=0)", lambda s: {"a": s.randn(2, 3), "b": s.randn(2, 3)},
           lambda a, b: torch.stack([a, b], dim=0))
    f.case("stack_axis_neg1", "torch.stack([a, b, c], dim=-1)",
           lambda s: {"a": s.randn(2, 3), "b": s.randn(2, 3), "c": s.randn(2, 3)},
           lambda a, b, c: torch.stack([a, b, c], dim=-1))
    f.case("split_sizes", "torch.split(x, [1, 3], dim=1) -> out.0, out.1", lambda s: {"x": s.randn(2, 4)},
           lambda x: {str(i): t.contiguous() for i, t in enumerate(torch.split(x, [1, 3], dim=1))})
    f.case("chunk_3", "torch.chunk(x, 3, dim=0) -> out.0, out.1, out.2  (sizes 2, 2, 1)",
           lambda s: {"x": s.randn(5, 2)},
           lambda x: {str(i): t.contiguous() for i, t in enumerate(torch.chunk(x, 3, dim=0))})
    f.case("split_equal", "torch.split(x, 2, dim=-1) -> out.0, out.1, out.2  (sizes 2, 2, 1)",
           lambda s: {"x": s.randn(3, 5)},
           lambda x: {str(i): t.contiguous() for i, t in enumerate(torch.split(x, 2, dim=-1))})
    f.case("unbind_axis1", "torch.unbind(x, dim=1) -> out.0, out.1, out.2", lambda s: {"x": s.randn(2, 3, 2)},
           lambda x: {str(i): t.contiguous() for i, t in enumerate(torch.unbind(x, dim=1))})
    return f


def repeat():
    f = family("repeat", "repeat, tile, repeat_interleave")
    f.case("repeat_2d", "x.repeat(2, 3)", lambda s: {"x": s.randn(2, 3)}, lambda x: x.repeat(2, 3))
    f.case("repeat_rank3", "x.repeat(1, 2, 2)", lambda s: {"x": s.randn(2, 1, 3)}, lambda x: x.repeat(1, 2, 2))
    f.case("tile_short_reps", "torch.tile(x, (2,))  (fewer reps than axes: ones are prepended)",
           lambda s: {"x": s.randn(2, 3)}, lambda x: torch.tile(x, (2,)))
    f.case("repeat_interleave_axis1", "torch.repeat_interleave(x, 2, dim=1)", lambda s: {"x": s.randn(2, 3)},
           lambda x: torch.repeat_interleave(x, 2, dim=1))
    f.case("repeat_new_axes", "x.repeat(2, 1, 2)  (x is 2-D: a leading axis is added)",
           lambda s: {"x": s.randn(2, 3)}, lambda x: x.repeat(2, 1, 2))
    return f


def normalize():
    f = family("normalize", "l2_normalize, cosine_similarity (norms far above eps, so eps does not matter)")
    f.case("l2_normalize_last", "F.normalize(x, p=2, dim=-1)", lambda s: {"x": s.randn(3, 4)},
           lambda x: F.normalize(x, p=2.0, dim=-1))
    f.case("l2_normalize_axis0", "F.normalize(x, p=2, dim=0)", lambda s: {"x": s.randn(3, 4)},
           lambda x: F.normalize(x, p=2.0, dim=0))
    f.case("cosine_similarity_last", "F.cosine_similarity(a, b, dim=-1)",
           lambda s: {"a": s.randn(3, 4), "b": s.randn(3, 4)}, lambda a, b: F.cosine_similarity(a, b, dim=-1))
    f.case("cosine_similarity_broadcast", "F.cosine_similarity(a, b, dim=-1)  (b broadcasts over rows)",
           lambda s: {"a": s.randn(2, 3, 4), "b": s.randn(3, 4)}, lambda a, b: F.cosine_similarity(a, b, dim=-1))
    return f


def embedding():
    f = family("embedding", "embedding lookup (repeated indices accumulate into the weight gradient)")
    f.case("embedding_2d_index", "F.embedding(index, weight)",
           lambda s: {"weight": s.randn(5, 4), "index": torch.tensor([[0, 3, 3], [4, 0, 1]])},
           lambda weight, index: F.embedding(index, weight))
    f.case("embedding_1d_index", "F.embedding(index, weight)",
           lambda s: {"weight": s.randn(6, 3), "index": torch.tensor([5, 2, 2, 0])},
           lambda weight, index: F.embedding(index, weight))
    return f


def linalg():
    f = family("linalg", "det, logdet, inverse, trace, matrix_exp, singular values, symmetric eigenvalues")
    f.case("det_3x3", "torch.linalg.det(x)", lambda s: {"x": s.well_conditioned(3)}, torch.linalg.det)
    f.case("det_batched", "torch.linalg.det(x)", lambda s: {"x": s.well_conditioned(3, 2)}, torch.linalg.det)
    f.case("logdet_spd", "torch.logdet(x)  (x symmetric positive definite)", lambda s: {"x": s.spd(4)}, torch.logdet)
    f.case("logdet_general", "torch.logdet(x)  (det > 0, not symmetric)", lambda s: {"x": s.well_conditioned(3)},
           torch.logdet)
    f.case("slogdet", "torch.linalg.slogdet(x) -> out.sign, out.logabsdet  (det < 0 here)",
           lambda s: {"x": s.well_conditioned(3) @ torch.diag(torch.tensor([1.0, -1.0, 1.0]))},
           lambda x: dict(zip(("sign", "logabsdet"), torch.linalg.slogdet(x))))
    f.case("inverse_3x3", "torch.linalg.inv(x)", lambda s: {"x": s.well_conditioned(3)}, torch.linalg.inv)
    f.case("inverse_batched", "torch.linalg.inv(x)", lambda s: {"x": s.well_conditioned(4, 2)}, torch.linalg.inv)
    f.case("trace", "torch.trace(x)", lambda s: {"x": s.randn(4, 4)}, torch.trace)
    f.case("trace_rectangular", "torch.trace(x)  (x is 3x5)", lambda s: {"x": s.randn(3, 5)}, torch.trace)
    f.case("matrix_exp", "torch.linalg.matrix_exp(x)", lambda s: {"x": s.randn(3, 3, scale=0.7)},
           torch.linalg.matrix_exp)
    f.case("matrix_exp_batched", "torch.linalg.matrix_exp(x)", lambda s: {"x": s.randn(2, 3, 3, scale=0.7)},
           torch.linalg.matrix_exp)
    f.case("svd_values", "torch.linalg.svdvals(x)  (descending; distinct singular values)",
           lambda s: {"x": s.randn(4, 3)}, torch.linalg.svdvals)
    f.case("svd_values_wide", "torch.linalg.svdvals(x)  (x is 2x4)", lambda s: {"x": s.randn(2, 4)},
           torch.linalg.svdvals)
    f.case("eigh_values", "torch.linalg.eigvalsh(x)  (ascending; x symmetric with separated eigenvalues; the "
           "gradient is V diag(g) V^T, symmetric)", lambda s: {"x": s.symmetric(4)}, torch.linalg.eigvalsh)
    return f


FAMILIES = [arithmetic, math, broadcast, reduce, matmul, activation, softmax, compare, reduce_minmax, reduce_stats,
            cumsum, topk, permute, slice_, index, one_hot, join, repeat, normalize, embedding, linalg]


def single_file_main(doc, script, name, make):
    """The command line of a script writing one data file, tests/reference/data/<name>.txt: --check exits 1
    when the committed file differs from what make() produces (a family or its text), otherwise it is written.
    Shared by the make_reference_<family>.py scripts."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the file on disk instead of writing")
    args = parser.parse_args()
    made = make()
    text = made if isinstance(made, str) else made.text()
    path = os.path.join(DATA_DIR, name + ".txt")
    if args.check:
        old = open(path).read() if os.path.exists(path) else None
        if old != text:
            sys.exit(f"stale reference data (re-run tests/reference/{os.path.basename(script)}): {path}")
        return
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(path, "w", newline="\n") as out:
        out.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = parser.parse_args()
    os.makedirs(DATA_DIR, exist_ok=True)
    stale = []
    for make_family in FAMILIES:
        fam = make_family()
        path = os.path.join(DATA_DIR, fam.name + ".txt")
        text = fam.text()
        if args.check:
            old = open(path).read() if os.path.exists(path) else None
            if old != text:
                stale.append(path)
        else:
            with open(path, "w", newline="\n") as out:
                out.write(text)
    if stale:
        sys.exit("stale reference data (re-run tests/reference/make_reference.py): " + ", ".join(stale))


if __name__ == "__main__":
    main()
