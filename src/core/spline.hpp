// A cubic spline through tabulated points, for functions that the solver must see without kinks
// (the life table's hazard, the other-cause hazard of model full).
#pragma once

#include <cstddef>
#include <vector>

namespace k2sim::internal {

/// An end of a CubicSpline: natural (second derivative 0) or clamped (a given first derivative).
struct SplineEnd {
  bool clamped = false;  ///< false: natural
  double slope = 0.0;    ///< the first derivative there, when clamped
};

/// The cubic spline through (x_i, y_i), x strictly ascending (at least 2 points): twice
/// continuously differentiable, each end natural or clamped. Outside [x_0, x_n-1], x is taken at
/// the nearest end.
class CubicSpline {
 public:
  using End = SplineEnd;
  CubicSpline() = default;
  /// Throws std::invalid_argument for fewer than 2 points, sizes that differ, or x not strictly
  /// ascending.
  CubicSpline(std::vector<double> x, std::vector<double> y, End first = {}, End last = {});
  [[nodiscard]] double value(double x) const;
  [[nodiscard]] double derivative(double x) const;
  [[nodiscard]] const std::vector<double>& knots() const { return x_; }

 private:
  /// The interval [x_k, x_k+1] that holds x (the first or last one outside, and for NaN).
  [[nodiscard]] std::size_t interval(double x) const;
  /// x in its interval k: its width h, and x's distances to its right (u) and left (v) knots.
  struct Local {
    std::size_t k;
    double h, u, v;
  };
  [[nodiscard]] Local local(double x) const;
  std::vector<double> x_;
  std::vector<double> y_;
  std::vector<double> m_;  // second derivatives at the knots
};

}  // namespace k2sim::internal
