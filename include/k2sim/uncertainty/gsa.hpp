// k2sim/uncertainty/gsa.hpp: global sensitivity analysis on the unit hypercube: Morris elementary
// effects (screening) and Sobol indices (variance decomposition). Each method is a design (the
// points to evaluate, u in [0, 1]^k) and an analysis of the values found there, so the caller
// evaluates the points however it likes (in parallel, in a simulator); docs/sensitivity.md.
#pragma once

#include <cstdint>
#include <vector>

namespace k2sim {

/// Points to evaluate: `points[i]` has k coordinates in [0, 1].
using Design = std::vector<std::vector<double>>;

/// Morris (1991) one-at-a-time trajectories on a grid of `levels` levels, with the step
/// delta = levels / (2 (levels - 1)) of Saltelli et al. (2008, ch. 3).
struct MorrisDesign {
  std::size_t k = 0;
  std::size_t trajectories = 0;
  double delta = 0.0;
  Design points;                   ///< trajectories * (k + 1) points
  std::vector<std::size_t> moved;  ///< per step (trajectories * k): the factor that moved
  std::vector<int> sign;           ///< per step: +1 or -1
};

[[nodiscard]] MorrisDesign morris_design(std::size_t k, std::size_t trajectories, int levels,
                                         std::uint64_t seed);

/// Elementary-effect statistics of one output, per factor: mean, mean of absolute values
/// (mu*, Campolongo 2007) and standard deviation, in output units per whole range of the factor.
struct MorrisResult {
  std::vector<double> mu;
  std::vector<double> mu_star;
  std::vector<double> sigma;
  std::vector<std::size_t> effects;  ///< elementary effects used (steps with finite values)
};

/// `values[i]` is the output at design point i (NaN where the evaluation failed: the steps next
/// to it are left out).
[[nodiscard]] MorrisResult morris_analyze(const MorrisDesign& design,
                                          const std::vector<double>& values);

/// Saltelli (2010) design: matrices A and B of n rows, and A with column i from B (AB_i).
struct SobolDesign {
  std::size_t k = 0;
  std::size_t n = 0;
  Design points;  ///< A (n rows), B (n rows), then AB_1 ... AB_k (n rows each): n (k + 2)
};

[[nodiscard]] SobolDesign sobol_design(std::size_t k, std::size_t n, std::uint64_t seed);

/// First-order (Saltelli 2010, eq. b) and total (Jansen 1999) indices per factor, with 95%
/// bootstrap intervals.
struct SobolResult {
  std::vector<double> first;
  std::vector<double> total;
  std::vector<double> first_low, first_high;
  std::vector<double> total_low, total_high;
  double variance = 0.0;
  std::size_t samples = 0;  ///< rows used (rows with a failed evaluation are left out)
};

[[nodiscard]] SobolResult sobol_analyze(const SobolDesign& design,
                                        const std::vector<double>& values,
                                        std::size_t bootstrap = 200, std::uint64_t seed = 1);

}  // namespace k2sim
