// The cubic spline against exact figures: a clamped spline reproduces a cubic polynomial, a
// natural one a straight line, and the natural spline of sin on [0, pi] (whose second derivative
// is 0 at both ends) converges at the fourth order.
#include <cmath>
#include <numbers>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>

#include "core/spline.hpp"

namespace k2sim {
namespace {

using internal::CubicSpline;

TEST(CubicSpline, ClampedReproducesACubic) {
  const auto f = [](double x) { return 2.0 - x + 0.5 * x * x - 0.25 * x * x * x; };
  const auto df = [](double x) { return -1.0 + x - 0.75 * x * x; };
  const std::vector<double> x = {-1.0, -0.3, 0.5, 0.6, 2.0, 3.5};  // uneven
  std::vector<double> y;
  for (double xi : x) y.push_back(f(xi));
  const CubicSpline s(x, y, {.clamped = true, .slope = df(-1.0)},
                      {.clamped = true, .slope = df(3.5)});
  for (double t = -1.0; t <= 3.5; t += 0.01) {
    EXPECT_NEAR(s.value(t), f(t), 1e-12) << t;
    EXPECT_NEAR(s.derivative(t), df(t), 1e-11) << t;
  }
  // Outside the knots: the nearest end.
  EXPECT_NEAR(s.value(-5.0), f(-1.0), 1e-12);
  EXPECT_NEAR(s.derivative(9.0), df(3.5), 1e-11);
  EXPECT_TRUE(std::isnan(s.value(std::nan(""))));
}

TEST(CubicSpline, NaturalReproducesALine) {
  const CubicSpline s({0.0, 1.0, 3.0, 4.0}, {1.0, 3.0, 7.0, 9.0});
  for (double t = 0.0; t <= 4.0; t += 0.1) {
    EXPECT_NEAR(s.value(t), 1.0 + 2.0 * t, 1e-13);
    EXPECT_NEAR(s.derivative(t), 2.0, 1e-13);
  }
}

TEST(CubicSpline, NaturalSplineOfSineConvergesAtFourthOrder) {
  const auto max_error = [](int n) {
    std::vector<double> x;
    std::vector<double> y;
    for (int i = 0; i <= n; ++i) {
      x.push_back(std::numbers::pi * i / n);
      y.push_back(std::sin(x.back()));
    }
    const CubicSpline s(x, y);
    double e = 0.0;
    for (int k = 0; k <= 1000; ++k) {
      const double t = std::numbers::pi * k / 1000.0;
      e = std::max(e, std::abs(s.value(t) - std::sin(t)));
    }
    return e;
  };
  const double e10 = max_error(10);
  const double e20 = max_error(20);
  // The error of a cubic spline is at most 5/384 h^4 max|f''''| for a clamped spline with exact
  // slopes; the natural one of sin matches it here (f'' = 0 at the ends).
  EXPECT_LT(e10, 5.0 / 384.0 * std::pow(std::numbers::pi / 10.0, 4));
  EXPECT_GT(e10 / e20, 12.0);  // 16 at the fourth order
}

TEST(CubicSpline, RefusesBadKnots) {
  EXPECT_THROW(CubicSpline({0.0}, {1.0}), std::invalid_argument);
  EXPECT_THROW(CubicSpline({0.0, 1.0}, {1.0}), std::invalid_argument);
  EXPECT_THROW(CubicSpline({0.0, 0.0, 1.0}, {1.0, 2.0, 3.0}), std::invalid_argument);
}

}  // namespace
}  // namespace k2sim
