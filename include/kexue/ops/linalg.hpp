// SPDX-License-Identifier: MIT
// Linear algebra through Eigen: trace, det, slogdet, logdet, inverse, svd, eigh, matrix_exp.
#pragma once

#include <algorithm>         // std::min
#include <cmath>             // std::log, std::abs, NAN, INFINITY
#include <initializer_list>  // with_tail
#include <vector>

#include <Eigen/Core>
#include <Eigen/Eigenvalues>                  // SelfAdjointEigenSolver
#include <Eigen/LU>                           // PartialPivLU
#include <Eigen/SVD>                          // JacobiSVD
#include <unsupported/Eigen/MatrixFunctions>  // the matrix exponential (scaling and squaring, Padé)

#include <kexue/autograd/grad_mode.hpp>
#include <kexue/autograd/node.hpp>
#include <kexue/core/creation.hpp>
#include <kexue/core/eigen.hpp>
#include <kexue/core/tensor.hpp>
#include <kexue/ops/arithmetic.hpp>
#include <kexue/ops/broadcast.hpp>
#include <kexue/ops/join.hpp>
#include <kexue/ops/matmul.hpp>
#include <kexue/ops/permute.hpp>
#include <kexue/ops/reshape.hpp>
#include <kexue/ops/slice.hpp>

namespace kexue {

// Conventions of this header. Matrices are the last two axes; every op but trace is batched over the
// leading axes, as in PyTorch. Element types float and double; the factorisations run in double for
// both (float results are rounded once at the end). "Second order" below means that the
// backward is composed of differentiable ops, so grad(..., create_graph) can be differentiated again;
// where it is not, the backward throws value_error under create_graph instead of returning a wrong
// second derivative.
//
// Ops with several outputs (slogdet, svd, eigh) record one node per output, each with its own backward
// term, all reading what the forward computed; the engine adds the terms of the outputs a loss uses.
// The node of S (svd) and of the eigenvalues (eigh) builds its gradient from the *recorded* U, Vh (or
// eigenvectors) outputs, so the gradient of a loss of S or of the eigenvalues alone has a correct
// second derivative; the nodes of U, Vh and of the eigenvectors compute their terms directly with Eigen
// (first order only).

/// Sign and log|det| of square matrices (see slogdet).
template <class T>
struct slogdet_result {
  tensor<T> sign;
  tensor<T> logabsdet;
};

/// Reduced SVD x = U · diag(S) · Vh (see svd).
template <class T>
struct svd_result {
  tensor<T> U;
  tensor<T> S;
  tensor<T> Vh;
};

/// Eigen-decomposition x = V · diag(eigenvalues) · Vᵀ of symmetric matrices (see eigh).
template <class T>
struct eigh_result {
  tensor<T> eigenvalues;
  tensor<T> eigenvectors;
};

/// @brief Sum of the diagonal of a matrix x [m, n] (not batched, as torch.trace; m ≠ n allowed).
/// @return a rank-0 tensor. Gradient: g · I (m×n); second order (zero).
/// Errors: shape_error "trace: expected a matrix (rank 2), got shape [2, 2, 2]".
template <class T>
tensor<T> trace(const tensor<T>& x);

/// @brief Determinant of x [.., n, n] → [..] (LU with partial pivoting; det of a 0×0 matrix is 1).
/// Gradient: g · det(x) · x⁻ᵀ, composed of inverse and matmul (second order). Where det(x) is exactly 0
/// the gradient is the cofactor matrix adj(x)ᵀ = det(U)det(V)·U·diag(Π_{j≠i} σ_j)·Vᵀ from an SVD (the
/// exact derivative; PyTorch 1.13 returns 0 there), first order only.
/// Errors: shape_error "det: expected a tensor of rank >= 2 (got shape [3])", "det: expected square
/// matrices in the last two axes (got shape [2, 3])".
template <class T>
tensor<T> det(const tensor<T>& x);

/// @brief sign(det x) and log|det x| of x [.., n, n], each [..], from one LU factorisation (no overflow
/// for large n). A singular matrix gives sign 0 and logabsdet −inf.
/// Gradient: logabsdet: g · x⁻ᵀ (second order; not finite at a singular matrix, as PyTorch). sign is
/// piecewise constant and not recorded. Errors: as det, named "slogdet".
template <class T>
slogdet_result<T> slogdet(const tensor<T>& x);

/// @brief log det x of x [.., n, n] → [..], as torch.logdet: NaN where det < 0, −inf where det = 0.
/// Gradient: g · x⁻ᵀ where det > 0, 0 where det < 0 (PyTorch's masking), not finite where det = 0;
/// second order. Errors: as det, named "logdet".
template <class T>
tensor<T> logdet(const tensor<T>& x);

/// @brief Inverse of x [.., n, n] → [.., n, n] (LU with partial pivoting).
/// Gradient: −x⁻ᵀ · g · x⁻ᵀ, composed of matmul (second order).
/// Errors: as det, named "inverse"; value_error "inverse: the matrix is singular (shape [2, 2])" or
/// "inverse: matrix 1 of the batch is singular (shape [3, 2, 2])" when a pivot is exactly 0.
template <class T>
tensor<T> inverse(const tensor<T>& x);

/// @brief Reduced (thin) SVD of x [.., m, n], as torch.linalg.svd(x, full_matrices = False): with
/// k = min(m, n), U [.., m, k] and Vh [.., k, n] have orthonormal columns / rows, S [.., k] is
/// non-negative and descending. Singular vectors are unique only up to sign (and within repeated
/// singular values), and Eigen's signs need not equal LAPACK's: compare U·diag(S)·Vh, not U or Vh.
/// Computed by Eigen's two-sided Jacobi SVD (accurate, but O(n³) per sweep, so slower than divide and
/// conquer beyond a few hundred columns; Eigen's BDCSVD was left out for its compile time; for
/// a symmetric positive semi-definite matrix such as a covariance, eigh is the faster route).
/// Gradient (distinct, non-zero singular values; Townsend 2016, "Differentiating the singular value
/// decomposition", eq. for Ā; also PyTorch's svd_backward), with F_ij = 1/(s_j² − s_i²), F_ii = 0:
///   from S:  U · diag(gS) · Vh                      (second order, through the recorded U and Vh)
///   from U:  U [F ∘ (UᵀgU − gUᵀU)] S Vh + (I − UUᵀ) gU S⁻¹ Vh                         (first order)
///   from Vh: U S [F ∘ (Vh gVhᵀ − gVh Vhᵀ)] Vh + U S⁻¹ gVh (I − VhᵀVh)                   (first order)
/// Only losses invariant to the signs of the singular vectors have a meaningful gradient.
/// Errors: shape_error "svd: expected a tensor of rank >= 2 (got shape [3])".
template <class T>
svd_result<T> svd(const tensor<T>& x);

/// @brief Eigen-decomposition of symmetric x [.., n, n] (only the lower triangle is read, as
/// torch.linalg.eigh with UPLO = 'L'): eigenvalues [.., n] ascending, eigenvectors [.., n, n] orthonormal
/// columns (each unique only up to sign).
/// Gradient (distinct eigenvalues), with F_ij = 1/(λ_j − λ_i), F_ii = 0 and skew(M) = (M − Mᵀ)/2:
///   from the eigenvalues:  V · diag(gλ) · Vᵀ        (second order, through the recorded eigenvectors)
///   from the eigenvectors: V [F ∘ skew(VᵀgV)] Vᵀ                                      (first order)
/// Both are symmetric: the gradient is that of a symmetric argument (PyTorch's convention), not of the
/// lower triangle alone, so check it through a symmetrised input such as eigh((a + aᵀ)/2).
/// Errors: as det, named "eigh".
template <class T>
eigh_result<T> eigh(const tensor<T>& x);

/// @brief Matrix exponential e^x = Σ xᵏ/k! of x [.., n, n] (Eigen's scaling and squaring with Padé
/// approximants, Higham 2005).
/// Gradient: the adjoint of the Fréchet derivative, which is the upper-right block of
/// exp([[xᵀ, g], [0, xᵀ]]) (Najfeld & Havel 1995, "Derivatives of the matrix exponential and their
/// computation"; Higham 2008, "Functions of Matrices", Thm 3.6 / eq. (3.16)). The block matrix is built
/// and exponentiated with recorded ops, so gradients of every order work.
/// Errors: as det, named "matrix_exp".
template <class T>
tensor<T> matrix_exp(const tensor<T>& x);

// ~~~ Implementation ~~~

namespace detail {

// Working precision of the factorisations: float matrices are factorised in double as well (more
// accurate, and each Eigen decomposition is instantiated once, which halves the compile time of code
// using both element types). Copies cost O(n²) beside the O(n³) factorisations.
using work_matrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
using work_vector = Eigen::VectorXd;

/// Matrix b of the batch x [.., rows, cols], as a working copy.
template <class T>
work_matrix load_matrix(const tensor<T>& x, index_t b, index_t rows, index_t cols) {
  return Eigen::Map<const eigen_row_matrix<T>>(x.data() + b * rows * cols, rows, cols).template cast<double>();
}
/// Vector b of the batch x [.., size], as a working copy.
template <class T>
work_vector load_vector(const tensor<T>& x, index_t b, index_t size) {
  return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(x.data() + b * size, size).template cast<double>();
}
/// Writes m into matrix b of the batch out [.., m.rows(), m.cols()] (a vector m: into vector b).
template <class T, class Derived>
void store(const tensor<T>& out, index_t b, const Eigen::MatrixBase<Derived>& m) {
  eigen_matrix_map<T>(out.data() + b * m.rows() * m.cols(), m.rows(), m.cols()) = m.template cast<T>();
}

/// Checks rank ≥ 2 (and square last axes when `square`), naming `op`.
template <class T>
void check_matrices(const tensor<T>& x, const char* op, bool square) {
  KEXUE_CHECK(x.rank() >= 2, shape_error, op, "expected a tensor of rank >= 2 (got shape ", format_shape(x.shape()),
              ")");
  KEXUE_CHECK(!square || x.size(-1) == x.size(-2), shape_error, op,
              "expected square matrices in the last two axes (got shape ", format_shape(x.shape()), ")");
}

/// The leading (batch) axes of a [.., m, n] shape.
inline shape batch_shape(const shape& s) { return shape(s.begin(), s.end() - 2); }

/// A batch shape followed by `tail` dimensions.
inline shape with_tail(const shape& batch, std::initializer_list<index_t> tail) {
  shape s = batch;
  for (index_t d : tail) s.push_back(d);
  return s;
}

/// g [..] → [.., 1, 1], to scale a batch of matrices.
template <class T>
tensor<T> per_matrix(const tensor<T>& g) {
  return unsqueeze(unsqueeze(g, -1), -1);
}

/// x⁻¹ of x [.., n, n]; with `check`, a zero pivot throws value_error naming `op`, otherwise it yields
/// non-finite entries. Gradient: −x⁻ᵀ g x⁻ᵀ.
template <class T>
tensor<T> invert(const tensor<T>& x, const char* op, bool check) {
  check_matrices(x, op, true);
  const index_t n = x.size(-1);
  const shape batch = batch_shape(x.shape());
  auto out = tensor<T>::empty(x.shape());
  for (index_t b = 0, count = batch.numel(); b < count; ++b) {
    const Eigen::PartialPivLU<work_matrix> lu(load_matrix(x, b, n, n));
    if (check && (lu.matrixLU().diagonal().array() == 0.0).any()) {
      if (batch.rank() == 0) {
        KEXUE_THROW(value_error, op, "the matrix is singular (shape ", format_shape(x.shape()), ")");
      }
      KEXUE_THROW(value_error, op, "matrix ", b, " of the batch is singular (shape ", format_shape(x.shape()), ")");
    }
    store(out, b, lu.inverse());
  }
  return autograd::record<T>("inverse", out, {x}, [](auto self) {
    return [self](const tensor<T>& g) {
      // d(X⁻¹) = −X⁻¹ dX X⁻¹  ⇒  gX = −Yᵀ g Yᵀ, with Y = X⁻¹ [.., n, n].
      const tensor<T> y = autograd::saved_output<T>(self);
      return std::vector<tensor<T>>{neg(matmul(matmul(y, g, true, false), y, false, true))};
    };
  });
}

/// Throws value_error naming `op` when a first-order-only backward runs under create_graph.
inline void refuse_double_backward(const char* op, const char* what) {
  KEXUE_CHECK(!is_grad_enabled(), value_error, op, "second-order gradients ", what,
              " are not implemented (create_graph)");
}

/// The cofactor matrix adj(a)ᵀ = d det(a)/da of each a in x [.., n, n], valid for singular a:
/// det(U)·det(V)·U·diag(Π_{j≠i} σ_j)·Vᵀ from a full SVD a = U diag(σ) Vᵀ.
template <class T>
tensor<T> cofactor_matrix(const tensor<T>& x) {
  const index_t n = x.size(-1);
  auto out = tensor<T>::empty(x.shape());
  for (index_t b = 0, count = batch_shape(x.shape()).numel(); b < count; ++b) {
    const Eigen::JacobiSVD<work_matrix> svd(load_matrix(x, b, n, n), Eigen::ComputeFullU | Eigen::ComputeFullV);
    const work_vector& s = svd.singularValues();
    work_vector others(n);
    for (index_t i = 0; i < n; ++i) {
      double p = 1;
      for (index_t j = 0; j < n; ++j) p *= j == i ? 1.0 : s(j);
      others(i) = p;
    }
    const double orientation = svd.matrixU().determinant() * svd.matrixV().determinant();
    store(out, b, orientation * svd.matrixU() * others.asDiagonal() * svd.matrixV().transpose());
  }
  return out;
}

/// g · x⁻ᵀ for g [..] (the gradient of log|det x|), with x⁻¹ unchecked (non-finite at singular x).
template <class T>
tensor<T> logdet_gradient(const tensor<T>& x, const tensor<T>& g) {
  return mul(per_matrix(g), transpose(invert(x, "inverse", false), -2, -1));
}

/// sign and log|det| of every matrix of x [.., n, n], from an LU factorisation.
template <class T>
void sign_logabsdet(const tensor<T>& x, tensor<T>& sign, tensor<T>& logabsdet) {
  const index_t n = x.size(-1);
  const shape batch = batch_shape(x.shape());
  sign = tensor<T>::empty(batch);
  logabsdet = tensor<T>::empty(batch);
  for (index_t b = 0, count = batch.numel(); b < count; ++b) {
    const Eigen::PartialPivLU<work_matrix> lu(load_matrix(x, b, n, n));
    double s = lu.permutationP().determinant();
    double l = 0;
    for (index_t i = 0; i < n; ++i) {
      const double u = lu.matrixLU()(i, i);
      s = u < 0 ? -s : (u == 0 ? 0.0 : s);
      l += std::log(std::abs(u));
    }
    sign.data()[b] = static_cast<T>(s);
    logabsdet.data()[b] = static_cast<T>(l);
  }
}

/// F_ij = 1/(v_j − v_i) off the diagonal, 0 on it (v: eigenvalues, or squared singular values).
inline work_matrix inverse_gaps(const work_vector& v) {
  const index_t k = v.size();
  work_matrix f(k, k);
  for (index_t j = 0; j < k; ++j) {
    for (index_t i = 0; i < k; ++i) f(i, j) = i == j ? 0.0 : 1.0 / (v(j) - v(i));
  }
  return f;
}

/// The first-order gradient terms of svd from U (`from_u`) or from Vh, Townsend's formula (see svd):
/// u [.., m, k], s [.., k], vh [.., k, n] (detached), g shaped like U or Vh → gA [.., m, n].
template <class T>
tensor<T> svd_vector_gradient(const tensor<T>& u, const tensor<T>& s, const tensor<T>& vh, const tensor<T>& g,
                              bool from_u) {
  refuse_double_backward("svd", "through U or Vh");
  const index_t m = u.size(-2), k = u.size(-1), n = vh.size(-1);
  const shape batch = batch_shape(u.shape());
  auto ga = tensor<T>::empty(with_tail(batch, {m, n}));
  for (index_t b = 0, count = batch.numel(); b < count; ++b) {
    const work_matrix U = load_matrix(u, b, m, k), Vh = load_matrix(vh, b, k, n);
    const work_vector S = load_vector(s, b, k);
    const work_matrix F = inverse_gaps(S.array().square().matrix());
    const work_vector S_inv = S.cwiseInverse();
    if (from_u) {
      // gA = U [F ∘ (UᵀgU − gUᵀU)] S Vh + (I − UUᵀ) gU S⁻¹ Vh, gU [m, k].
      const work_matrix gU = load_matrix(g, b, m, k);
      const work_matrix UtgU = U.transpose() * gU;
      const work_matrix J = F.cwiseProduct(UtgU - UtgU.transpose());
      store(ga, b, (U * (J * S.asDiagonal()) + (gU - U * UtgU) * S_inv.asDiagonal()) * Vh);
    } else {
      // gA = U S [F ∘ (Vh gVhᵀ − gVh Vhᵀ)] Vh + U S⁻¹ gVh (I − VhᵀVh), gVh [k, n].
      const work_matrix gVh = load_matrix(g, b, k, n);
      const work_matrix VtgV = Vh * gVh.transpose();
      const work_matrix K = F.cwiseProduct(VtgV - VtgV.transpose());
      store(ga, b, U * (S.asDiagonal() * K * Vh + S_inv.asDiagonal() * (gVh - VtgV.transpose() * Vh)));
    }
  }
  return ga;
}

/// The first-order gradient term of eigh from the eigenvectors: V [F ∘ skew(VᵀgV)] Vᵀ with
/// F_ij = 1/(λ_j − λ_i); values [.., n], vectors [.., n, n] (detached), g [.., n, n].
template <class T>
tensor<T> eigh_vector_gradient(const tensor<T>& values, const tensor<T>& vectors, const tensor<T>& g) {
  refuse_double_backward("eigh", "through the eigenvectors");
  const index_t n = vectors.size(-1);
  auto ga = tensor<T>::empty(vectors.shape());
  for (index_t b = 0, count = batch_shape(vectors.shape()).numel(); b < count; ++b) {
    const work_matrix V = load_matrix(vectors, b, n, n);
    const work_matrix VtgV = V.transpose() * load_matrix(g, b, n, n);
    const work_matrix inner = inverse_gaps(load_vector(values, b, n)).cwiseProduct(VtgV - VtgV.transpose()) / 2;
    store(ga, b, V * inner * V.transpose());
  }
  return ga;
}

}  // namespace detail

template <class T>
tensor<T> trace(const tensor<T>& x) {
  KEXUE_CHECK(x.rank() == 2, shape_error, "trace", "expected a matrix (rank 2), got shape ", format_shape(x.shape()));
  const index_t m = x.size(0), n = x.size(1);
  T s = T(0);
  for (index_t i = 0; i < std::min(m, n); ++i) s += x.data()[i * n + i];
  return autograd::record<T>("trace", scalar<T>(s), {x}, [m, n](auto) {
    return [m, n](const tensor<T>& g) {
      return std::vector<tensor<T>>{mul(expand(reshape(g, shape{1, 1}), shape{m, n}), eye<T>(m, n))};
    };
  });
}

template <class T>
tensor<T> det(const tensor<T>& x) {
  detail::check_matrices(x, "det", true);
  const index_t n = x.size(-1);
  auto out = tensor<T>::empty(detail::batch_shape(x.shape()));
  for (index_t b = 0, count = out.numel(); b < count; ++b) {
    out.data()[b] =
        static_cast<T>(Eigen::PartialPivLU<detail::work_matrix>(detail::load_matrix(x, b, n, n)).determinant());
  }
  return autograd::record<T>("det", out, {x}, [x](auto self) {
    return [x, self](const tensor<T>& g) {
      const tensor<T> d = autograd::saved_output<T>(self);
      bool singular = false;
      for (index_t b = 0; b < d.numel(); ++b) singular = singular || d.data()[b] == T(0);
      if (singular) {
        detail::refuse_double_backward("det", "at a singular matrix");
        return std::vector<tensor<T>>{mul(detail::per_matrix(g), detail::cofactor_matrix(x.detach()))};
      }
      // d det = det · tr(X⁻¹ dX)  ⇒  gX = g · det · X⁻ᵀ.
      return std::vector<tensor<T>>{
          mul(detail::per_matrix(mul(g, d)), transpose(detail::invert(x, "det", true), -2, -1))};
    };
  });
}

template <class T>
slogdet_result<T> slogdet(const tensor<T>& x) {
  detail::check_matrices(x, "slogdet", true);
  slogdet_result<T> r;
  detail::sign_logabsdet(x, r.sign, r.logabsdet);
  r.logabsdet = autograd::record<T>("slogdet", r.logabsdet, {x}, [x](auto) {
    return [x](const tensor<T>& g) { return std::vector<tensor<T>>{detail::logdet_gradient(x, g)}; };
  });
  return r;
}

template <class T>
tensor<T> logdet(const tensor<T>& x) {
  detail::check_matrices(x, "logdet", true);
  tensor<T> sign, out;
  detail::sign_logabsdet(x, sign, out);
  auto positive = tensor<T>::empty(sign.shape());
  for (index_t b = 0; b < out.numel(); ++b) {
    const T s = sign.data()[b];
    out.data()[b] = s < T(0) ? T(NAN) : (s == T(0) ? -T(INFINITY) : out.data()[b]);
    positive.data()[b] = s < T(0) ? T(0) : T(1);
  }
  return autograd::record<T>("logdet", out, {x}, [x, positive](auto) {
    return [x, positive](const tensor<T>& g) {
      return std::vector<tensor<T>>{detail::logdet_gradient(x, mul(g, positive))};
    };
  });
}

template <class T>
tensor<T> inverse(const tensor<T>& x) {
  return detail::invert(x, "inverse", true);
}

template <class T>
svd_result<T> svd(const tensor<T>& x) {
  detail::check_matrices(x, "svd", false);
  const index_t m = x.size(-2), n = x.size(-1), k = std::min(m, n);
  const shape batch = detail::batch_shape(x.shape());
  auto u = tensor<T>::empty(detail::with_tail(batch, {m, k}));
  auto s = tensor<T>::empty(detail::with_tail(batch, {k}));
  auto vh = tensor<T>::empty(detail::with_tail(batch, {k, n}));
  for (index_t b = 0, count = batch.numel(); b < count; ++b) {
    const Eigen::JacobiSVD<detail::work_matrix> dec(detail::load_matrix(x, b, m, n),
                                                    Eigen::ComputeThinU | Eigen::ComputeThinV);
    detail::store(u, b, dec.matrixU());
    detail::store(s, b, dec.singularValues());
    detail::store(vh, b, dec.matrixV().transpose());
  }
  if (!autograd::any_requires_grad<T>({&x})) return {u, s, vh};
  // The nodes of U and Vh read detached factors (each output owns its node: no cycle); the node of S
  // reads the recorded U and Vh, so its gradient can be differentiated again.
  svd_result<T> r;
  r.U = autograd::record<T>("svd", u, {x}, [u0 = u.detach(), s0 = s.detach(), vh0 = vh.detach()](auto) {
    return [u0, s0, vh0](const tensor<T>& g) {
      return std::vector<tensor<T>>{detail::svd_vector_gradient(u0, s0, vh0, g, true)};
    };
  });
  r.Vh = autograd::record<T>("svd", vh, {x}, [u0 = u.detach(), s0 = s.detach(), vh0 = vh.detach()](auto) {
    return [u0, s0, vh0](const tensor<T>& g) {
      return std::vector<tensor<T>>{detail::svd_vector_gradient(u0, s0, vh0, g, false)};
    };
  });
  r.S = autograd::record<T>("svd", s, {x}, [u_out = r.U, vh_out = r.Vh](auto) {
    return [u_out, vh_out](const tensor<T>& g) {
      // gA = U diag(gS) Vh = (U ∘ gS broadcast over rows) · Vh.
      return std::vector<tensor<T>>{matmul(mul(u_out, unsqueeze(g, -2)), vh_out)};
    };
  });
  return r;
}

template <class T>
eigh_result<T> eigh(const tensor<T>& x) {
  detail::check_matrices(x, "eigh", true);
  const index_t n = x.size(-1);
  const shape batch = detail::batch_shape(x.shape());
  auto values = tensor<T>::empty(detail::with_tail(batch, {n}));
  auto vectors = tensor<T>::empty(x.shape());
  for (index_t b = 0, count = batch.numel(); b < count; ++b) {
    const Eigen::SelfAdjointEigenSolver<detail::work_matrix> es(detail::load_matrix(x, b, n, n));
    detail::store(values, b, es.eigenvalues());
    detail::store(vectors, b, es.eigenvectors());
  }
  if (!autograd::any_requires_grad<T>({&x})) return {values, vectors};
  eigh_result<T> r;
  r.eigenvectors = autograd::record<T>("eigh", vectors, {x}, [l0 = values.detach(), v0 = vectors.detach()](auto) {
    return [l0, v0](const tensor<T>& g) { return std::vector<tensor<T>>{detail::eigh_vector_gradient(l0, v0, g)}; };
  });
  r.eigenvalues = autograd::record<T>("eigh", values, {x}, [v_out = r.eigenvectors](auto) {
    return [v_out](const tensor<T>& g) {
      // gA = V diag(gλ) Vᵀ.
      return std::vector<tensor<T>>{matmul(mul(v_out, unsqueeze(g, -2)), v_out, false, true)};
    };
  });
  return r;
}

template <class T>
tensor<T> matrix_exp(const tensor<T>& x) {
  detail::check_matrices(x, "matrix_exp", true);
  const index_t n = x.size(-1);
  auto out = tensor<T>::empty(x.shape());
  for (index_t b = 0, count = detail::batch_shape(x.shape()).numel(); b < count; ++b) {
    const detail::work_matrix e = detail::load_matrix(x, b, n, n).exp();
    detail::store(out, b, e);
  }
  return autograd::record<T>("matrix_exp", out, {x}, [x, n](auto) {
    return [x, n](const tensor<T>& g) {
      // gX = upper-right n×n block of exp([[Xᵀ, g], [0, Xᵀ]]) [.., 2n, 2n].
      const tensor<T> xt = transpose(x, -2, -1);
      const tensor<T> block = concat({concat({xt, g}, -1), concat({zeros<T>(xt.shape()), xt}, -1)}, -2);
      return std::vector<tensor<T>>{narrow(narrow(matrix_exp(block), -2, 0, n), -1, n, n)};
    };
  });
}

}  // namespace kexue
