// Exact propagation of linear time-invariant models between doses (internal to the engine;
// docs/model.md "Closed-form linear kinetics"). simulate() calls it for a model with a
// linear_matrix() when solver.closed_form is on.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "k2sim/engine/simulation.hpp"

namespace k2sim::internal {

/// simulate() for dy/dt = A y + r(t), r the zero-order inputs (piecewise constant): between
/// discontinuities y(t + d) = exp(A d) y(t) + (integral_0^d exp(A s) ds) r, the matrices cached per
/// interval d. Doses, infusions and SS = 1 resets follow simulate() exactly. Falls back to the
/// solver when the model's right-hand side does not match A (checked at two states).
SolveSummary simulate_closed_form(const OdeModel& model, const std::vector<double>& a,
                                  std::span<const double> y0, double t0_h,
                                  const std::vector<DoseRecord>& doses,
                                  const std::vector<DoseEvent>& events,
                                  std::span<const double> output_times_h,
                                  const SimulationOptions& options, Trajectory& out,
                                  const std::function<void(double)>& progress);

}  // namespace k2sim::internal
