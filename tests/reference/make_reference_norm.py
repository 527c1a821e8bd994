#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/reference/data/norm.txt: PyTorch reference data for kexue ops/norm.hpp (layer_norm, rms_norm,
batch_norm) and ops/cross_entropy.hpp (softmax_cross_entropy).

    /usr/bin/python3 tests/reference/make_reference_norm.py          # rewrite the file
    /usr/bin/python3 tests/reference/make_reference_norm.py --check  # exit 1 if the committed file differs

Same format and conventions as tests/reference/make_reference.py (whose helpers it imports). Cases written with
second=False have no second-order data, so the C++ check takes the ops' fused first-order backward there; the
others check the composed (create_graph) backward and second order. Batch norm cases return the updated running
statistics as outputs out.running_mean / out.running_var (from clones: the inputs are written as they were).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as ref  # noqa: E402  (sets float64, one thread, deterministic algorithms)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def batch_norm_case(training):
    def fn(x, rm, rv, w, b):
        rm2, rv2 = rm.clone(), rv.clone()
        y = F.batch_norm(x, rm2, rv2, w, b, training=training, momentum=0.1, eps=1e-5)
        return {"y": y, "running_mean": rm2, "running_var": rv2}
    return fn


def stats(s, c):
    return {"rm": s.randn(c, scale=0.5), "rv": s.uniform(c, low=0.5, high=2.0)}


def norm():
    fam = ref.family("norm", "layer_norm, rms_norm, batch_norm (train and eval), softmax_cross_entropy")
    for second in (True, False):
        tag = "" if second else "_fused"
        fam.case("layer_norm_affine" + tag, "F.layer_norm(x, (5,), w, b, eps=1e-5), x [3, 4, 5]",
                 lambda s: {"x": s.randn(3, 4, 5, scale=2.0) + 1.5, "w": s.randn(5), "b": s.randn(5)},
                 lambda x, w, b: F.layer_norm(x, (5,), w, b, eps=1e-5), second=second)
        fam.case("rms_norm" + tag, "x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w, x [4, 6]",
                 lambda s: {"x": s.randn(4, 6), "w": s.randn(6)},
                 lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w, second=second)
    fam.case("layer_norm_two_axes_plain_fused", "F.layer_norm(x, (3, 4), eps=1e-3), x [2, 3, 4]",
             lambda s: {"x": s.randn(2, 3, 4)}, lambda x: F.layer_norm(x, (3, 4), eps=1e-3), second=False)
    fam.case("batch_norm_train_2d",
             "F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5), x [5, 3]",
             lambda s: {"x": s.randn(5, 3, scale=2.0), **stats(s, 3), "w": s.randn(3), "b": s.randn(3)},
             batch_norm_case(True), constant=("rm", "rv"))
    fam.case("batch_norm_train_4d",
             "F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5), x [2, 3, 2, 3]",
             lambda s: {"x": s.randn(2, 3, 2, 3), **stats(s, 3), "w": s.randn(3), "b": s.randn(3)},
             batch_norm_case(True), constant=("rm", "rv"))
    fam.case("batch_norm_eval_3d",
             "F.batch_norm(x, rm, rv, w, b, training=False, momentum=0.1, eps=1e-5), x [2, 3, 4]",
             lambda s: {"x": s.randn(2, 3, 4), **stats(s, 3), "w": s.randn(3), "b": s.randn(3)},
             batch_norm_case(False), constant=("rm", "rv"))

    def targets(s, n, c):
        t = s.index(c, n)
        t[1] = -100
        return t
    for second in (True, False):
        tag = "" if second else "_fused"
        fam.case("ce_plain" + tag, "F.cross_entropy(x, t, reduction='none'), x [5, 4], t[1] = -100",
                 lambda s: {"x": s.randn(5, 4, scale=2.0), "t": targets(s, 5, 4)},
                 lambda x, t: F.cross_entropy(x, t, reduction="none"), second=second)
        fam.case("ce_smooth_weight" + tag,
                 "F.cross_entropy(x, t, weight=w, label_smoothing=0.2, reduction='none'), x [6, 5], t[1] = -100",
                 lambda s: {"x": s.randn(6, 5, scale=2.0), "t": targets(s, 6, 5), "w": s.uniform(5, low=0.2, high=2)},
                 lambda x, t, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.2, reduction="none"),
                 second=second, constant=("w",))
        fam.case("ce_probs" + tag,
                 "F.cross_entropy(x, q, weight=w, label_smoothing=0.15, reduction='none'), x, q [4, 5]",
                 lambda s: {"x": s.randn(4, 5, scale=2.0), "q": torch.softmax(s.randn(4, 5), -1),
                            "w": s.uniform(5, low=0.2, high=2)},
                 lambda x, q, w: F.cross_entropy(x, q, weight=w, label_smoothing=0.15, reduction="none"),
                 second=second, constant=("w",))
    fam.case("ce_ignore_7_smooth", "F.cross_entropy(x, t, ignore_index=7, label_smoothing=0.3, reduction='none')",
             lambda s: {"x": s.randn(4, 3), "t": torch.tensor([2, 7, 0, 7])},
             lambda x, t: F.cross_entropy(x, t, ignore_index=7, label_smoothing=0.3, reduction="none"))
    return fam


def main():
    ref.single_file_main(__doc__, __file__, "norm", norm)


if __name__ == "__main__":
    main()
