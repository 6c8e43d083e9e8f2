#include "core/spline.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace k2sim::internal {

CubicSpline::CubicSpline(std::vector<double> x, std::vector<double> y, End first, End last)
    : x_(std::move(x)), y_(std::move(y)) {
  const std::size_t n = x_.size();
  if (n < 2 || y_.size() != n) {
    throw std::invalid_argument("CubicSpline: at least 2 points, as many x as y");
  }
  for (std::size_t i = 1; i < n; ++i) {
    if (!(x_[i] > x_[i - 1])) throw std::invalid_argument("CubicSpline: x must ascend strictly");
  }
  // The second derivatives M: continuous first derivatives at the interior knots,
  //   h0/6 M_i-1 + (h0 + h1)/3 M_i + h1/6 M_i+1 = (y_i+1 - y_i)/h1 - (y_i - y_i-1)/h0,
  // and at each end M = 0 (natural) or the given slope (clamped). Tridiagonal and diagonally
  // dominant: the Thomas algorithm.
  std::vector<double> a(n, 0.0);
  std::vector<double> b(n, 1.0);
  std::vector<double> c(n, 0.0);
  std::vector<double> d(n, 0.0);
  const auto secant = [&](std::size_t i) { return (y_[i + 1] - y_[i]) / (x_[i + 1] - x_[i]); };
  if (first.clamped) {
    const double h = x_[1] - x_[0];
    b[0] = h / 3.0;
    c[0] = h / 6.0;
    d[0] = secant(0) - first.slope;
  }
  for (std::size_t i = 1; i + 1 < n; ++i) {
    const double h0 = x_[i] - x_[i - 1];
    const double h1 = x_[i + 1] - x_[i];
    a[i] = h0 / 6.0;
    b[i] = (h0 + h1) / 3.0;
    c[i] = h1 / 6.0;
    d[i] = secant(i) - secant(i - 1);
  }
  if (last.clamped) {
    const double h = x_[n - 1] - x_[n - 2];
    a[n - 1] = h / 6.0;
    b[n - 1] = h / 3.0;
    d[n - 1] = last.slope - secant(n - 2);
  }
  for (std::size_t i = 1; i < n; ++i) {
    const double w = a[i] / b[i - 1];
    b[i] -= w * c[i - 1];
    d[i] -= w * d[i - 1];
  }
  m_.assign(n, 0.0);
  m_[n - 1] = d[n - 1] / b[n - 1];
  for (std::size_t i = n - 1; i-- > 0;) m_[i] = (d[i] - c[i] * m_[i + 1]) / b[i];
}

std::size_t CubicSpline::interval(double x) const {
  const std::size_t n = x_.size();
  if (!(x > x_.front())) return 0;
  if (!(x < x_.back())) return n - 2;
  return static_cast<std::size_t>(std::upper_bound(x_.begin(), x_.end(), x) - x_.begin()) - 1;
}

CubicSpline::Local CubicSpline::local(double x) const {
  const std::size_t k = interval(x);
  const double t = std::clamp(x, x_.front(), x_.back());
  return {k, x_[k + 1] - x_[k], x_[k + 1] - t, t - x_[k]};
}

double CubicSpline::value(double x) const {
  const auto [k, h, u, v] = local(x);
  return (m_[k] * u * u * u + m_[k + 1] * v * v * v) / (6.0 * h) +
         (y_[k] / h - m_[k] * h / 6.0) * u + (y_[k + 1] / h - m_[k + 1] * h / 6.0) * v;
}

double CubicSpline::derivative(double x) const {
  const auto [k, h, u, v] = local(x);
  return (m_[k + 1] * v * v - m_[k] * u * u) / (2.0 * h) + (y_[k + 1] - y_[k]) / h -
         (m_[k + 1] - m_[k]) * h / 6.0;
}

}  // namespace k2sim::internal
