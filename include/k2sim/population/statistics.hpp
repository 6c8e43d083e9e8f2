// k2sim/population/statistics.hpp: the statistics of cohort and trial analyses (docs/cohorts.md):
// quantile groups, risk ratios and odds ratios with Wald intervals on the log scale, the Cox
// proportional-hazards model with Efron's handling of ties, differences of means, and the
// E-value of a risk ratio.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace k2sim {

/// An estimate with its 95% interval.
struct Estimate {
  double value = 0.0;
  double low = 0.0;
  double high = 0.0;
};

/// Risk ratio of a/n1 against b/n0 with the Katz log interval; NaN members when a or b is 0.
[[nodiscard]] Estimate risk_ratio(double a, double n1, double b, double n0);

/// Odds ratio of (a events of n1) against (b of n0) with Woolf's log interval.
[[nodiscard]] Estimate odds_ratio(double a, double n1, double b, double n0);

/// Difference of means (x1 - x0) with Welch's standard error and a normal 95% interval.
[[nodiscard]] Estimate mean_difference(const std::vector<double>& x1,
                                       const std::vector<double>& x0);

/// The cut-offs between `groups` quantile groups (type 7 quantiles at k / groups) and each
/// value's group 0 .. groups-1 (a value at a cut-off goes to the lower group).
struct QuantileGroups {
  std::vector<double> cutoffs;
  std::vector<int> group;
};
[[nodiscard]] QuantileGroups quantile_groups(const std::vector<double>& x, int groups);

/// Cox proportional-hazards fit, Efron's approximation for tied event times, by Newton-Raphson
/// with step halving from beta = 0 (as R's survival::coxph). x: n rows of p covariates.
struct CoxFit {
  std::vector<double> beta;
  std::vector<double> se;  ///< from the inverse of the information matrix at beta
  double log_likelihood = 0.0;
  int iterations = 0;
  bool converged = false;
};
[[nodiscard]] CoxFit cox_efron(const std::vector<double>& time, const std::vector<int>& event,
                               const std::vector<std::vector<double>>& x, int max_iter = 30,
                               double tolerance = 1e-9);

/// exp(beta_j) with its Wald 95% interval.
[[nodiscard]] Estimate hazard_ratio(const CoxFit& fit, std::size_t j);

/// E-value of a risk ratio (VanderWeele & Ding 2017): the strength of association on the risk
/// ratio scale that an unmeasured confounder would need with both exposure and outcome to
/// explain it away; ratios below 1 are inverted first.
[[nodiscard]] double e_value(double rr);

}  // namespace k2sim
