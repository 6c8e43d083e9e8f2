// k2sim/uncertainty/sampling.hpp: what is uncertain about each parameter of a table, and how a
// parameter set is drawn from it reproducibly (docs/sensitivity.md "Ensembles").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "k2sim/params/parameter_table.hpp"

namespace k2sim {

/// How one parameter varies in an ensemble.
enum class Spread {
  kFixed,          ///< held at its value (literature values, calibrated ones without interval)
  kProfile,        ///< calibrated: median = value, 2.5% and 97.5% quantiles = the profile interval
  kTriangular,     ///< assumed or hypothesis: mode = value over [lower, upper]
  kLogTriangular,  ///< the same on a log scale (positive ranges spanning 10-fold or more)
};

[[nodiscard]] std::string to_string(Spread s);

struct ParameterSpread {
  std::string name;
  std::size_t index = 0;  ///< in the table
  Spread spread = Spread::kFixed;
  double value = 0.0;  ///< table unit
  double lower = 0.0;  ///< the range drawn from (table unit): the bounds, or the profile interval
  double upper = 0.0;
  double bound_lower = 0.0;  ///< the table's bounds, which truncate every draw
  double bound_upper = 0.0;
  bool log_scale = false;  ///< kProfile: split log-normal (positive values) or split normal
  /// The value at quantile u in (0, 1) of the parameter's distribution (table unit).
  [[nodiscard]] double quantile(double u) const;
};

/// Which parameters an ensemble or a screen varies: all with a spread, only the calibrated ones
/// (within their profile intervals: the uncertainty the data leave, given the assumptions), or
/// only the assumed and hypothesis ones (the uncertainty of the assumptions).
enum class VarySet { kAll, kCalibrated, kAssumed };

[[nodiscard]] std::string to_string(VarySet v);

/// The spread of every parameter of `table`: calibrated parameters with a profile interval vary
/// within it, assumed and hypothesis parameters over their bounds, everything else is fixed.
/// Parameters named in `held` (set by --set, or hypotheses switched off) and those outside
/// `vary` are fixed.
[[nodiscard]] std::vector<ParameterSpread> parameter_spreads(const ParameterTable& table,
                                                             const std::vector<std::string>& held,
                                                             VarySet vary = VarySet::kAll);

/// Seed of member `i` of an ensemble drawn with `seed` (SplitMix64 of both): members are the same
/// whatever the number of threads and the order in which they run.
[[nodiscard]] std::uint64_t member_seed(std::uint64_t seed, std::uint64_t i);

/// Draws one parameter set: every varying spread of `spreads` at a uniform quantile from a
/// generator seeded with `seed`; returns the table with those values.
[[nodiscard]] ParameterTable draw_parameters(const ParameterTable& table,
                                             const std::vector<ParameterSpread>& spreads,
                                             std::uint64_t seed);

/// Standard normal quantile (inverse CDF) for p in (0, 1), to full double precision.
[[nodiscard]] double normal_quantile(double p);

/// Quantile q in [0, 1] of `v` by linear interpolation between order statistics (Hyndman & Fan
/// type 7, the default of R and NumPy); `v` is sorted in place. NaN for an empty vector.
[[nodiscard]] double quantile_of(std::vector<double>& v, double q);

}  // namespace k2sim
