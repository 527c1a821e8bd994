#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/reference/data/linear.txt: PyTorch reference data for kexue ops/linear.hpp and nn/linear.hpp.

    /usr/bin/python3 tests/reference/make_reference_linear.py          # rewrite the file
    /usr/bin/python3 tests/reference/make_reference_linear.py --check  # exit 1 if the committed file differs

Same format and conventions as tests/reference/make_reference.py (whose helpers it imports).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference as ref  # noqa: E402  (sets float64, one thread, deterministic algorithms)
import torch.nn.functional as F  # noqa: E402


def linear():
    fam = ref.family("linear", "torch.nn.functional.linear (= torch.nn.Linear's forward)")
    fam.case("linear_2d_bias", "F.linear(x, w, b), x [4, 3], w [5, 3], b [5]",
             lambda s: {"x": s.randn(4, 3), "w": s.randn(5, 3), "b": s.randn(5)},
             lambda x, w, b: F.linear(x, w, b))
    fam.case("linear_3d_bias", "F.linear(x, w, b), x [2, 3, 4], w [2, 4], b [2]",
             lambda s: {"x": s.randn(2, 3, 4), "w": s.randn(2, 4), "b": s.randn(2)},
             lambda x, w, b: F.linear(x, w, b))
    fam.case("linear_1d_nobias", "F.linear(x, w), x [3], w [4, 3]",
             lambda s: {"x": s.randn(3), "w": s.randn(4, 3)},
             lambda x, w: F.linear(x, w))
    return fam


def main():
    ref.single_file_main(__doc__, __file__, "linear", linear)


if __name__ == "__main__":
    main()
