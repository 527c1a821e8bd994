#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Minimax polynomial coefficients for include/kexue/kernels/vector_math.hpp.

Remez exchange on relative error, in mpmath at 60 digits. Prints, for each fitted function, its degree,
interval, shift and maximum relative error, then the coefficients lowest degree first, ready to paste.
Needs mpmath (Debian: python3-mpmath). Runs in about half a minute:  python3 tools/fit_vector_math.py
"""
import mpmath as mp

mp.mp.dps = 60


def remez(f, a, b, degree, iterations=40, grid=3000):
    """Coefficients (low to high) of the degree-`degree` polynomial minimising max |p/f - 1| on [a, b]."""
    a, b = mp.mpf(a), mp.mpf(b)
    n = degree + 2
    xs = [(a + b) / 2 - (b - a) / 2 * mp.cos(mp.pi * i / (n - 1)) for i in range(n)]
    grid_points = [a + (b - a) * (1 - mp.cos(mp.pi * i / grid)) / 2 for i in range(grid + 1)]
    coeffs, errors = None, None
    for _ in range(iterations):
        # Solve p(x_i) + (-1)^i E |f(x_i)| = f(x_i) for the coefficients and the levelled error E.
        m, rhs = mp.matrix(n, n), mp.matrix(n, 1)
        for i, x in enumerate(xs):
            fx = f(x)
            for k in range(degree + 1):
                m[i, k] = x**k
            m[i, degree + 1] = (-1) ** i * abs(fx)
            rhs[i] = fx
        sol = mp.lu_solve(m, rhs)
        coeffs, level = [sol[k] for k in range(degree + 1)], abs(sol[degree + 1])
        errors = [(mp.polyval(coeffs[::-1], x) - f(x)) / abs(f(x)) for x in grid_points]
        # New reference: the largest error in each run of constant sign, trimmed to n alternating points.
        runs, start = [], 0
        for j in range(1, len(errors) + 1):
            if j == len(errors) or mp.sign(errors[j]) != mp.sign(errors[start]):
                runs.append(max(range(start, j), key=lambda k: abs(errors[k])))
                start = j
        while len(runs) > n:
            runs.pop(0 if abs(errors[runs[0]]) < abs(errors[runs[-1]]) else -1)
        if len(runs) < n:
            break
        xs = [grid_points[j] for j in runs]
        worst = max(abs(errors[j]) for j in runs)
        if worst - level < level * mp.mpf("1e-6"):
            break
    return coeffs, max(abs(e) for e in errors)


def exp_q(r):  # (e^r - 1 - r) / r^2
    return mp.mpf(1) / 2 + r / 6 if abs(r) < mp.mpf("1e-30") else (mp.exp(r) - 1 - r) / r**2


def log_p(z):  # 2 atanh(s) = 2s + s z P(z), z = s^2
    if z == 0:
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (2 * mp.atanh(s) / s - 2) / z


def erf_e(u):  # erf(sqrt u) / sqrt u
    if u == 0:
        return 2 / mp.sqrt(mp.pi)
    s = mp.sqrt(u)
    return mp.erf(s) / s


def erfc_g(shift):  # erfc(z) e^(z^2) / t with t = 1 / (1 + z/2) = v + shift
    def g(v):
        t = v + shift
        z = 2 * (1 / t - 1)
        return mp.erfc(z) * mp.exp(z * z) / t

    return g


def main():
    ln2 = mp.log(2)
    half = ln2 / 2 + mp.mpf("0.001")
    zmax = ((mp.sqrt(2) - 1) / (mp.sqrt(2) + 1)) ** 2 * mp.mpf("1.01")
    split = mp.mpf("0.84375")
    jobs = [
        ("exp_q", exp_q, -half, half, {"float": 4, "double": 9}, 0, False),
        ("log_p", log_p, 0, zmax, {"float": 2, "double": 6}, 0, False),
        ("erf_e_minus_1", erf_e, 0, split * split, {"float": 5, "double": 10}, 0, True),
    ]
    for dtype, top, degree in (("float", mp.mpf("10.5"), 8), ("double", mp.mpf("27.5"), 20)):
        ta, tb = 1 / (1 + top / 2), 1 / (1 + split / 2)
        shift = (ta + tb) / 2
        jobs.append(("erfc_g", erfc_g(shift), ta - shift, tb - shift, {dtype: degree}, shift, False))
    for name, f, a, b, degrees, shift, minus_one in jobs:
        for dtype, degree in degrees.items():
            coeffs, err = remez(f, a, b, degree)
            if minus_one:  # stored as E - 1: shift the constant term
                coeffs[0] -= 1
            digits = 9 if dtype == "float" else 17
            print(f"// {name} {dtype}: degree {degree} on [{mp.nstr(a, 8)}, {mp.nstr(b, 8)}]"
                  f"{', shift ' + mp.nstr(shift, 17) if shift else ''}, max relative error {mp.nstr(err, 3)}")
            print("  " + ", ".join(mp.nstr(c, digits, strip_zeros=False, min_fixed=0, max_fixed=0) for c in coeffs))


if __name__ == "__main__":
    main()
