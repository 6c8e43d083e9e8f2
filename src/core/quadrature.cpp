#include "core/quadrature.hpp"

#include <cmath>
#include <stdexcept>

#include <Eigen/Dense>

namespace k2sim::internal {

std::vector<NormalNode> normal_quadrature(std::size_t n) {
  if (n == 0) throw std::invalid_argument("normal_quadrature: at least one node");
  // The probabilists' Hermite polynomials satisfy He_k+1 = z He_k - k He_k-1: the Jacobi matrix
  // is symmetric tridiagonal with zero diagonal and sqrt(k) beside it; the nodes are its
  // eigenvalues, each weight the squared first component of the normalized eigenvector.
  const auto m = static_cast<Eigen::Index>(n);
  Eigen::MatrixXd jacobi = Eigen::MatrixXd::Zero(m, m);
  for (Eigen::Index k = 1; k < m; ++k) {
    jacobi(k, k - 1) = jacobi(k - 1, k) = std::sqrt(static_cast<double>(k));
  }
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eigen(jacobi);
  std::vector<NormalNode> nodes(n);
  for (Eigen::Index k = 0; k < m; ++k) {
    const double v = eigen.eigenvectors()(0, k);
    nodes[static_cast<std::size_t>(k)] = {eigen.eigenvalues()(k), v * v};
  }
  return nodes;
}

}  // namespace k2sim::internal
