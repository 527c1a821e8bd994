// SPDX-License-Identifier: MIT
// BERT-whitening (A15): mean and covariance of row vectors (batch or streaming), W = U Λ^{−1/2}, truncation to k.
#pragma once

#include <cmath>  // std::sqrt

#include <Eigen/Core>
#include <Eigen/Eigenvalues>  // SelfAdjointEigenSolver

#include <kexue/core/eigen.hpp>
#include <kexue/core/error.hpp>
#include <kexue/core/shape.hpp>
#include <kexue/core/tensor.hpp>

namespace kexue::algo {

/// Options of whitening. Defaults: unbiased false (Σ divided by N, as the article; true divides by N − 1, as
/// np.cov in the reference code: this only rescales W by √((N − 1)/N), which no cosine sees), eps 0 (added
/// to every eigenvalue before Λ^{−1/2}; a positive eps guards near-singular covariances).
struct whitening_options {
  whitening_options& unbiased(bool v) {
    unbiased_ = v;
    return *this;
  }
  whitening_options& eps(double v) {
    eps_ = v;
    return *this;
  }
  bool unbiased() const { return unbiased_; }
  double eps() const { return eps_; }

 private:
  bool unbiased_ = false;
  double eps_ = 0.0;
};

/// @brief BERT-whitening (spec A15, https://kexue.fm/archives/8069) of row vectors x_i ∈ R^d:
///   μ = (1/N) Σ_i x_i,  Σ = (1/N) Σ_i (x_i − μ)ᵀ(x_i − μ) = U Λ Uᵀ (Λ descending),  W = U Λ^{−1/2},
///   x̃ = (x − μ) W  has mean 0 and covariance I (over the fitted rows);
/// whitening-k keeps the k leading directions, W_k = U[:, :k] Λ_k^{−1/2} (PCA-style reduction to [N, k]).
/// The statistics accumulate in double whatever T is; the eigen-decomposition (Eigen's symmetric solver, in
/// double) is computed on first use after a fit and cached.
///
/// partial_fit adds a batch to the running statistics; the result equals fit on all rows seen (up to
/// rounding). The article's recurrence μ_{n+m} = (n μ_n + m μ_b)/(n + m), Σ_{n+m} = (n(Σ_n + μ_nᵀμ_n) +
/// Σ_b xᵀx)/(n + m) − μ_{n+m}ᵀμ_{n+m} is applied in its equivalent centred form (Chan et al.): with
/// S = Σ (x − μ)ᵀ(x − μ), S_{n+m} = S_n + S_b + δᵀδ·nm/(n + m), δ = μ_b − μ_n, which does not cancel
/// catastrophically when ‖μ‖ is large against the spread.
///
/// Usage: `algo::whitening<double> w; w.fit(x); auto z = w.transform(x, 32);` (no gradients: a statistics
/// tool, as the article's numpy code).
/// Errors: shape_error "whitening: expected x [N, d] with N >= 1, got [3]" and, after a fit of width 4,
/// "whitening: expected x [N, 4], got [2, 5]"; value_error "whitening: not fitted" (statistics used before any
/// fit), "whitening: k must be in [1, 4], got 5", "whitening: the unbiased covariance needs at least 2 rows,
/// got 1", "whitening: eigenvalue 4 of 4 of the covariance (plus eps) is not positive (-1.2e-17); use a
/// smaller k or a positive eps".
template <class T = double>
class whitening {
 public:
  explicit whitening(const whitening_options& options = {}) : options_(options) {}

  /// Forgets every row seen and fits x [N, d] (N ≥ 1).
  whitening& fit(const tensor<T>& x) {
    reset();
    return partial_fit(x);
  }

  /// Adds the rows of x [N, d] (N ≥ 1; d as in earlier batches) to the statistics.
  whitening& partial_fit(const tensor<T>& x) {
    KEXUE_CHECK(x.rank() == 2 && x.size(0) >= 1, shape_error, "whitening", "expected x [N, d] with N >= 1, got ",
                format_shape(x.shape()));
    KEXUE_CHECK(count_ == 0 || x.size(1) == dim(), shape_error, "whitening", "expected x [N, ", dim(), "], got ",
                format_shape(x.shape()));
    const Eigen::MatrixXd b = as_matrix(x).template cast<double>();
    const double m = static_cast<double>(b.rows());
    const Eigen::RowVectorXd mean_b = b.colwise().mean();
    const Eigen::MatrixXd centred = b.rowwise() - mean_b;
    Eigen::MatrixXd scatter_b = Eigen::MatrixXd::Zero(b.cols(), b.cols());
    scatter_b.selfadjointView<Eigen::Lower>().rankUpdate(centred.transpose());
    scatter_b = scatter_b.selfadjointView<Eigen::Lower>();
    if (count_ == 0) {
      mean_ = mean_b;
      scatter_ = scatter_b;
    } else {
      const double n = static_cast<double>(count_);
      const Eigen::RowVectorXd delta = mean_b - mean_;
      mean_ += delta * (m / (n + m));
      scatter_ += scatter_b + delta.transpose() * delta * (n * m / (n + m));
    }
    count_ += x.size(0);
    decomposed_ = false;
    return *this;
  }

  /// Forgets every row seen.
  void reset() {
    count_ = 0;
    mean_.resize(0);
    scatter_.resize(0, 0);
    decomposed_ = false;
  }

  /// The number of rows seen, and their width d (0 before any fit).
  index_t count() const { return count_; }
  index_t dim() const { return static_cast<index_t>(mean_.size()); }

  /// μ [d].
  tensor<T> mean() const {
    check_fitted();
    return as_vector(mean_.transpose());
  }

  /// Σ [d, d], divided by N (or N − 1 with unbiased).
  tensor<T> covariance() const { return from_eigen(covariance_double().template cast<T>()); }

  /// The eigenvalues of Σ [d], descending (plus nothing: eps enters only W).
  tensor<T> eigenvalues() const {
    decompose();
    return as_vector(eigenvalues_);
  }

  /// W_k = U[:, :k] (Λ_k + eps)^{−1/2} [d, k]; k = 0 means d (full whitening).
  tensor<T> matrix(index_t k = 0) const { return from_eigen(matrix_double(k, true).template cast<T>()); }

  /// U[:, :k] [d, k], the rotation alone (then the covariance of (x − μ)U_k is Λ_k); k = 0 means d.
  tensor<T> rotation(index_t k = 0) const { return from_eigen(matrix_double(k, false).template cast<T>()); }

  /// x̃ = (x − μ) W_k: x [N, d] → [N, k]; k = 0 means d.
  tensor<T> transform(const tensor<T>& x, index_t k = 0) const { return apply(x, k, true); }

  /// (x − μ) U_k: x [N, d] → [N, k], rotated and truncated but not rescaled; k = 0 means d.
  tensor<T> rotate(const tensor<T>& x, index_t k = 0) const { return apply(x, k, false); }

  const whitening_options& options() const { return options_; }

 private:
  static tensor<T> as_vector(const Eigen::VectorXd& v) {
    auto t = tensor<T>::empty(shape{static_cast<index_t>(v.size())});
    for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = static_cast<T>(v(i));
    return t;
  }

  void check_fitted() const { KEXUE_CHECK(count_ > 0, value_error, "whitening", "not fitted"); }

  Eigen::MatrixXd covariance_double() const {
    check_fitted();
    KEXUE_CHECK(!options_.unbiased() || count_ >= 2, value_error, "whitening",
                "the unbiased covariance needs at least 2 rows, got ", count_);
    return scatter_ / static_cast<double>(options_.unbiased() ? count_ - 1 : count_);
  }

  void decompose() const {
    if (decomposed_) return;
    const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> solver(covariance_double());
    // Eigen sorts ascending: reverse to descending.
    eigenvalues_ = solver.eigenvalues().reverse();
    eigenvectors_ = solver.eigenvectors().rowwise().reverse();
    decomposed_ = true;
  }

  Eigen::MatrixXd matrix_double(index_t k, bool whiten) const {
    decompose();
    const index_t d = dim();
    if (k == 0) k = d;
    KEXUE_CHECK(k >= 1 && k <= d, value_error, "whitening", "k must be in [1, ", d, "], got ", k);
    Eigen::MatrixXd w = eigenvectors_.leftCols(k);
    if (!whiten) return w;
    for (index_t j = 0; j < k; ++j) {
      const double lambda = eigenvalues_(j) + options_.eps();
      KEXUE_CHECK(lambda > 0, value_error, "whitening", "eigenvalue ", j + 1, " of ", d,
                  " of the covariance (plus eps) is not positive (", lambda, "); use a smaller k or a positive eps");
      w.col(j) /= std::sqrt(lambda);
    }
    return w;
  }

  tensor<T> apply(const tensor<T>& x, index_t k, bool whiten) const {
    check_fitted();
    KEXUE_CHECK(x.rank() == 2 && x.size(1) == dim(), shape_error, "whitening", "expected x [N, ", dim(), "], got ",
                format_shape(x.shape()));
    const Eigen::MatrixXd w = matrix_double(k, whiten);
    const Eigen::MatrixXd centred = as_matrix(x).template cast<double>().rowwise() - mean_;
    return from_eigen((centred * w).template cast<T>());
  }

  whitening_options options_;
  index_t count_ = 0;
  Eigen::RowVectorXd mean_;
  Eigen::MatrixXd scatter_;  // Σ (x − μ)ᵀ(x − μ) over the rows seen
  mutable bool decomposed_ = false;
  mutable Eigen::VectorXd eigenvalues_;
  mutable Eigen::MatrixXd eigenvectors_;
};

}  // namespace kexue::algo
