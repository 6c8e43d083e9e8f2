// k2sim/engine/simulation.hpp: integrates an OdeModel through dose events and reports the state
// on a fixed output grid. SUNDIALS CVODES (BDF) does the work; this header does not expose it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "k2sim/engine/model.hpp"
#include "k2sim/events/dose.hpp"

namespace k2sim {

namespace internal {
class PatternStore;
}

/// Linear solver of the Newton iterations: dense LU, KLU on the Jacobian's probed sparsity pattern,
/// or auto (KLU where the pattern is sparse enough to pay, docs/engine.md).
enum class LinearSolver { kDense, kKlu, kAuto };

/// Linear multistep family: BDF (stiff, the default) or Adams-Moulton (non-stiff problems).
enum class Method { kBdf, kAdams };

/// Multi-rate integration of periodic regimens (docs/model.md "Multi-rate integration"): off (every
/// dose resolved), on (every periodic stretch of at least four periods), auto (periodic stretches
/// of at least a year, where it has been validated against full resolution).
enum class Multirate { kOff, kOn, kAuto };

/// Solver options (the `solver.*` keys of `--set`). Call validate() before use.
struct SimulationOptions {
  double rtol = 1e-8;       ///< relative tolerance (1)
  double atol = 1e-12;      ///< absolute tolerance (internal amount units: nmol or mmol)
  long max_steps = 500000;  ///< maximum internal steps between two discontinuities
  double max_step_h = 0.0;  ///< maximum step size in h; 0 = no limit
  LinearSolver linear_solver = LinearSolver::kAuto;
  Method method = Method::kBdf;
  double ss_tolerance = 1e-10;  ///< SS and steady-state searches: relative change that stops
  int ss_max_iterations = 50;   ///< SS and steady-state searches: Newton iterations at most
  bool closed_form = true;      ///< linear models (OdeModel::linear_matrix) propagated exactly
  Multirate multirate = Multirate::kAuto;
  double multirate_tol = 1e-4;  ///< multi-rate: relative local error of one jump of the slow states
  double multirate_max_jump_h = 180.0 * 24.0;  ///< multi-rate: longest jump (h)
  double multirate_slow_h = 30.0 * 24.0;  ///< multi-rate: time scale (h) from which a state is slow
  /// Jacobian patterns probed by an earlier run of the same model, for runs that follow (a
  /// cohort's subjects; docs/engine.md "Solver"). Null: each run probes its own. Not a `--set`
  /// option.
  std::shared_ptr<internal::PatternStore> patterns;

  /// The option names accepted by set(), in the order the docs list them.
  [[nodiscard]] static const std::vector<std::string>& names();

  /// Throws InputError naming the option, the value and the rule when an option is out of range.
  void validate() const;
  /// Sets an option by its `--set` name (names()); `value` is a number, a time with a unit
  /// (max_step, multirate_max_jump, multirate_slow) or a word (linear_solver, method, closed_form,
  /// multirate). Throws InputError.
  void set(const std::string& name, const std::string& value);
  /// Whether set() has set this option (a scenario's [solver], --set): a cohort's own defaults
  /// apply only to the others.
  [[nodiscard]] bool given(const std::string& name) const;

 private:
  void assign(const std::string& name, const std::string& value);
  std::vector<std::string> given_;  ///< the names set() has set
};

enum class SolveStatus { kOk, kSolverFailure, kSteadyStateNotFound, kModelError };

/// Outcome of a solve; numerical failures are reported here, not thrown.
struct [[nodiscard]] SolveSummary {
  SolveStatus status = SolveStatus::kOk;
  std::string message;   ///< empty when ok; otherwise what failed, where (t in h) and why
  long steps = 0;        ///< internal solver steps
  long rhs_evals = 0;    ///< right-hand-side evaluations (including Jacobian difference quotients)
  long restarts = 0;     ///< solver re-initialisations at discontinuities
  long periods = 0;      ///< multi-rate: regimen periods integrated in full (searches included)
  long jumps = 0;        ///< multi-rate: jumps of the slow states over skipped periods
  long lag_periods = 0;  ///< multi-rate: periods integrated again from the fast states' lag
  /// multi-rate: periods integrated from the actual fast states (a leftover transient)
  long leftover_periods = 0;
  /// multi-rate: leftover transients that were not one mode (back to settling)
  long leftover_resettles = 0;
  double jumped_h = 0.0;                    ///< multi-rate: time covered by jumps (h)
  std::vector<std::string> multirate_slow;  ///< multi-rate: the slow states (first stretch)
  /// The states carried in closed form as depots (solver.closed_form; the first piece of the run
  /// that had any), empty where the solver integrated every state.
  std::vector<std::string> closed_form_depots;
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

/// The first test of the multi-rate partition at state `y` and time `t_h`: 1 for a state whose own
/// time scale 1/|df_i/dy_i| is at least options.multirate_slow_h (an accumulator: infinite), 0 for
/// a fast one. Multi-rate mode also makes fast a state that receives doses or changes by more than
/// period / multirate_slow of its size over the first period.
[[nodiscard]] std::vector<char> multirate_slow_states(const OdeModel& model, double t_h,
                                                      std::span<const double> y,
                                                      const SimulationOptions& options);

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
