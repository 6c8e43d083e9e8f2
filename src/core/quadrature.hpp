// Gauss-Hermite quadrature for expectations over a standard normal variable.
#pragma once

#include <cstddef>
#include <vector>

namespace k2sim::internal {

/// A node z and its weight w: sum of w f(z) over the nodes approximates E[f(Z)], Z ~ N(0, 1).
struct NormalNode {
  double z = 0.0;
  double w = 0.0;
};

/// The n-point Gauss-Hermite rule for the standard normal density (probabilists' Hermite
/// polynomials), by the eigenvalues of its Jacobi matrix (Golub & Welsch, Math Comput
/// 1969;23:221-30): exact for polynomials of degree up to 2n - 1, weights summing to 1, nodes
/// ascending. Throws std::invalid_argument for n = 0.
[[nodiscard]] std::vector<NormalNode> normal_quadrature(std::size_t n);

}  // namespace k2sim::internal
