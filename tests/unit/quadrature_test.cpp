// The Gauss-Hermite rule against exact moments of the standard normal: E[Z^2k] = (2k - 1)!!
// (exact up to degree 2n - 1), E[exp(a Z)] = exp(a^2 / 2), E[|Z|] = sqrt(2 / pi) (not a
// polynomial: the rule converges slowly there).
#include <cmath>
#include <numbers>
#include <stdexcept>

#include <gtest/gtest.h>

#include "core/quadrature.hpp"

namespace k2sim {
namespace {

using internal::normal_quadrature;

TEST(NormalQuadrature, ExactForPolynomialsUpToDegreeTwoNMinusOne) {
  for (std::size_t n : {1U, 2U, 5U, 12U}) {
    const auto nodes = normal_quadrature(n);
    ASSERT_EQ(nodes.size(), n);
    for (std::size_t degree = 0; degree < 2 * n; ++degree) {
      double sum = 0.0;
      double scale = 0.0;  // the sum of the terms' sizes: what rounding is relative to
      for (const auto& node : nodes) {
        sum += node.w * std::pow(node.z, static_cast<double>(degree));
        scale += node.w * std::pow(std::abs(node.z), static_cast<double>(degree));
      }
      double exact = degree % 2 == 1 ? 0.0 : 1.0;  // (degree - 1)!!
      for (std::size_t k = degree; k > 1 && degree % 2 == 0; k -= 2)
        exact *= static_cast<double>(k - 1);
      EXPECT_NEAR(sum, exact, 1e-12 * std::max(1.0, scale)) << n << " points, degree " << degree;
    }
    for (std::size_t k = 1; k < n; ++k) {
      EXPECT_LT(nodes[k - 1].z, nodes[k].z);
      EXPECT_NEAR(nodes[k].z, -nodes[n - 1 - k].z, 1e-12);  // symmetric
    }
  }
  EXPECT_THROW((void)normal_quadrature(0), std::invalid_argument);
}

TEST(NormalQuadrature, ConvergesForSmoothFunctions) {
  const auto nodes = normal_quadrature(40);
  for (double a : {0.5, 1.0, 2.0}) {
    double sum = 0.0;
    for (const auto& node : nodes) sum += node.w * std::exp(a * node.z);
    EXPECT_NEAR(sum, std::exp(0.5 * a * a), 1e-12 * std::exp(0.5 * a * a)) << a;
  }
  double abs_mean = 0.0;
  for (const auto& node : nodes) abs_mean += node.w * std::abs(node.z);
  EXPECT_NEAR(abs_mean, std::sqrt(2.0 / std::numbers::pi), 1e-2);
}

}  // namespace
}  // namespace k2sim
