// k2sim/engine/simulation.hpp: integrates an OdeModel through dose events and reports the state
// on a fixed output grid. SUNDIALS CVODES (BDF) does the work; this header does not expose it.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "k2sim/engine/model.hpp"
#include "k2sim/events/dose.hpp"

namespace k2sim {

enum class LinearSolver { kDense, kKlu };

/// Linear multistep family: BDF (stiff, the default) or Adams-Moulton (non-stiff problems).
enum class Method { kBdf, kAdams };

/// Solver options (the `solver.*` keys of `--set`). Call validate() before use.
struct SimulationOptions {
  double rtol = 1e-8;       ///< relative tolerance (1)
  double atol = 1e-12;      ///< absolute tolerance (internal amount units: nmol or mmol)
  long max_steps = 500000;  ///< maximum internal steps between two discontinuities
  double max_step_h = 0.0;  ///< maximum step size in h; 0 = no limit
  LinearSolver linear_solver = LinearSolver::kDense;
  Method method = Method::kBdf;
  double ss_tolerance = 1e-10;  ///< SS and steady-state searches: relative change that stops
  int ss_max_iterations = 50;   ///< SS and steady-state searches: Newton iterations at most

  /// Throws InputError naming the option, the value and the rule when an option is out of range.
  void validate() const;
  /// Sets an option by its `--set` name ("rtol", "atol", "max_steps", "max_step", "linear_solver",
  /// "method", "ss_tolerance"); `value` is a number, or a time with a unit for max_step. Throws
  /// InputError.
  void set(const std::string& name, const std::string& value);

 private:
  void assign(const std::string& name, const std::string& value);
};

enum class SolveStatus { kOk, kSolverFailure, kSteadyStateNotFound, kModelError };

/// Outcome of a solve; numerical failures are reported here, not thrown.
struct [[nodiscard]] SolveSummary {
  SolveStatus status = SolveStatus::kOk;
  std::string message;  ///< empty when ok; otherwise what failed, where (t in h) and why
  long steps = 0;       ///< internal solver steps
  long rhs_evals = 0;   ///< right-hand-side evaluations (including Jacobian difference quotients)
  long restarts = 0;    ///< solver re-initialisations at discontinuities
  [[nodiscard]] bool ok() const { return status == SolveStatus::kOk; }
};

/// States at the output times: `states[i * n + j]` is state j at `time_h[i]`.
struct Trajectory {
  std::size_t n_states = 0;
  std::vector<double> time_h;
  std::vector<double> states;
  [[nodiscard]] double at(std::size_t i, std::size_t j) const { return states[i * n_states + j]; }
};

/// Integrates `model` from `y0` at `t0_h` through the events of `doses` and records the state at
/// each of `output_times_h` (ascending, >= t0_h). A dose at an output time is applied before the
/// state is recorded (NONMEM order). Records must be valid (DoseRecord::validate).
/// Each call creates its own solver context, so calls on different threads are independent.
/// `progress`, when given, is called with the time reached (h) after each discontinuity; it must
/// be cheap (the CLI throttles its own printing).
SolveSummary simulate(const OdeModel& model, std::span<const double> y0, double t0_h,
                      const std::vector<DoseRecord>& doses, std::span<const double> output_times_h,
                      const SimulationOptions& options, Trajectory& out,
                      const std::function<void(double)>& progress = {});

/// The periodic steady state of one regimen (`record` given every `record.ii_h` from a reset):
/// the state just before a dose, found by Newton iteration on the one-period map. Used for SS = 1.
SolveSummary periodic_steady_state(const OdeModel& model, const DoseRecord& record,
                                   const SimulationOptions& options, std::span<double> y_out);

/// The same for several regimens given together (SS = 1 records that start at the same time):
/// the period is the longest interval, which every other interval must divide; otherwise the
/// status is kSteadyStateNotFound with a message saying so.
SolveSummary periodic_steady_state(const OdeModel& model, const std::vector<DoseRecord>& records,
                                   const SimulationOptions& options, std::span<double> y_out);

/// The equilibrium f(y) = 0 of the undosed model near its reset state (Newton on the RHS with a
/// difference-quotient Jacobian, then a check by integration). Used by initialize = steady-state.
SolveSummary equilibrium(const OdeModel& model, const SimulationOptions& options,
                         std::span<double> y_out);

/// A fixed output grid: t0, t0 + dt, ..., up to and including t_end (within 1e-9 relative).
[[nodiscard]] std::vector<double> output_grid(double t0_h, double t_end_h, double dt_h);

}  // namespace k2sim
