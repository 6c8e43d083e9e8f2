// Multi-rate integration of periodic regimens (internal to the engine; docs/model.md "Multi-rate
// integration"). simulate() calls it when options.multirate is not off.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include <Eigen/Dense>

#include "k2sim/engine/simulation.hpp"
#include "sparsity.hpp"

namespace k2sim::internal {

/// simulate() in multi-rate mode (called by it, after its checks of the arguments): stretches where
/// the doses repeat with one period are integrated as a slow system driven by the period averages
/// of its fluxes over the fast periodic orbit; everything else is integrated in full by simulate()
/// with multi-rate off.
SolveSummary simulate_multirate(const OdeModel& model, std::span<const double> y0, double t0_h,
                                const std::vector<DoseRecord>& doses,
                                std::span<const double> output_times_h,
                                const SimulationOptions& options, Trajectory& out,
                                const std::function<void(double)>& progress);

/// simulate(), with the Jacobian pattern of `model` given (probed once for the many pieces of a
/// multi-rate run) instead of probed for this run; null: probed here. simulate() is this with null.
SolveSummary simulate_on_pattern(const OdeModel& model, std::span<const double> y0, double t0_h,
                                 const std::vector<DoseRecord>& doses,
                                 std::span<const double> output_times_h,
                                 const SimulationOptions& options, Trajectory& out,
                                 const std::function<void(double)>& progress,
                                 const SparsityPattern* pattern);

/// Own time scale of each state at (t_h, y): 1 / |df_i/dy_i| in h (infinite for a state its own
/// derivative does not depend on).
[[nodiscard]] std::vector<double> state_time_scales_h(const OdeModel& model, double t_h,
                                                      std::span<const double> y);

/// Jacobian of a one-period map with respect to the states `index` (the others held at their
/// values), as the product of the exponentials of the model's Jacobian (difference quotients)
/// over the pieces of the period: `samples` holds the states (rows of samples.n_states entries, the
/// first model.state_count() of them the model's) at the starts of the pieces, after any dose
/// there, and `t_end_h` is the end of the last piece. Exact for linear kinetics; for nonlinear
/// ones, a Newton iteration's approximation. `rhs_evals` counts the model evaluations.
[[nodiscard]] Eigen::MatrixXd period_map_jacobian(const OdeModel& model, const Trajectory& samples,
                                                  double t_end_h,
                                                  const std::vector<std::size_t>& index,
                                                  const SimulationOptions& options,
                                                  long& rhs_evals);

/// The same map with the states `params` held as parameters and the integrals of their
/// derivatives over the period appended: the derivative of (the states `index`, the states
/// `params`, the integrals) at the end of the period by the same at its start, a square matrix of
/// index.size() + 2 params.size() rows in that order (the rows of `params` and the columns of
/// the integrals are the identity's). With no `params`, period_map_jacobian.
[[nodiscard]] Eigen::MatrixXd period_map_sensitivities(const OdeModel& model,
                                                       const Trajectory& samples, double t_end_h,
                                                       const std::vector<std::size_t>& index,
                                                       const std::vector<std::size_t>& params,
                                                       const SimulationOptions& options,
                                                       long& rhs_evals);

}  // namespace k2sim::internal
