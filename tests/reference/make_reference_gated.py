#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/reference/data/gated.txt: PyTorch reference data for kexue ops/gated.hpp (glu, gated_residual).

    /usr/bin/python3 tests/reference/make_reference_gated.py          # rewrite the file
    /usr/bin/python3 tests/reference/make_reference_gated.py --check  # exit 1 if the committed file differs

Same format and conventions as tests/reference/make_reference.py (whose helpers it imports). PyTorch has no
gated residual op: its cases are the composition x + (a - x) * sigmoid(b) with (a, b) = h.chunk(2, dim),
differentiated by PyTorch's autograd. Cases written with second=False are checked through kexue's fused
first-order backward; the others through the composed (create_graph) backward, with second order.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as ref  # noqa: E402  (sets float64, one thread, deterministic algorithms)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def gated_residual(x, h, dim):
    a, b = h.chunk(2, dim)
    return x + (a - x) * torch.sigmoid(b)


def gated():
    fam = ref.family("gated", "glu (F.glu) and gated_residual (x + (a - x) * sigmoid(b), (a, b) = h.chunk(2, dim))")
    for second in (True, False):
        tag = "" if second else "_fused"
        fam.case("glu_last" + tag, "F.glu(h, -1), h [3, 8]", lambda s: {"h": s.randn(3, 8, scale=2.0)},
                 lambda h: F.glu(h, -1), second=second)
        fam.case("glu_middle" + tag, "F.glu(h, 1), h [2, 6, 5]", lambda s: {"h": s.randn(2, 6, 5, scale=2.0)},
                 lambda h: F.glu(h, 1), second=second)
        fam.case("gated_residual_channels" + tag, "gated_residual(x, h, 1), x [2, 3, 5], h [2, 6, 5]",
                 lambda s: {"x": s.randn(2, 3, 5), "h": s.randn(2, 6, 5, scale=2.0)},
                 lambda x, h: gated_residual(x, h, 1), second=second)
        fam.case("gated_residual_first" + tag, "gated_residual(x, h, 0), x [2, 4], h [4, 4]",
                 lambda s: {"x": s.randn(2, 4), "h": s.randn(4, 4, scale=2.0)},
                 lambda x, h: gated_residual(x, h, 0), second=second)
    return fam


def main():
    ref.single_file_main(__doc__, __file__, "gated", gated)


if __name__ == "__main__":
    main()
