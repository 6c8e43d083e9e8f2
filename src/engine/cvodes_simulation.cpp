// The only source file that includes SUNDIALS (STYLE.md). CVODES, BDF, Newton iteration with a
// dense (difference-quotient Jacobian) or KLU solver (difference quotients on the model's sparsity
// pattern, columns grouped so that one right-hand side gives several columns).
#include <cvodes/cvodes.h>
#include <klu.h>
#include <nvector/nvector_serial.h>
#include <sundials/sundials_context.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunlinsol/sunlinsol_klu.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <sunmatrix/sunmatrix_sparse.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <memory>
#include <stdexcept>

#include <fmt/format.h>
#include <Eigen/Dense>

#include "closed_form.hpp"
#include "k2sim/engine/simulation.hpp"
#include "k2sim/error.hpp"
#include "multirate.hpp"
#include "sparsity.hpp"

namespace k2sim {

namespace {

/// The one translation of SUNDIALS return flags into words.
std::string flag_message(int flag) {
  char* name = CVodeGetReturnFlagName(flag);  // malloc'ed by SUNDIALS
  std::string text = name ? name : "unknown flag";
  std::free(name);
  switch (flag) {
    case CV_TOO_MUCH_WORK:
      return text + ": too many steps before the next output or event (raise solver.max_steps)";
    case CV_TOO_MUCH_ACC:
      return text + ": the requested accuracy cannot be reached (loosen solver.rtol/atol)";
    case CV_ERR_FAILURE:
      return text + ": repeated error test failures (a stiff or discontinuous model?)";
    case CV_CONV_FAILURE:
      return text + ": repeated Newton convergence failures";
    case CV_RHSFUNC_FAIL:
    case CV_FIRST_RHSFUNC_ERR:
    case CV_REPTD_RHSFUNC_ERR:
    case CV_UNREC_RHSFUNC_ERR:
      return text + ": the model right-hand side failed";
    default:
      return text;
  }
}

/// A SUNDIALS call that should not fail did (setup or re-initialisation): a solver failure.
struct SolverSetupError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool same_time(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); }

/// Pieces of the period over which the Jacobian of a period map is built (period_map_jacobian).
constexpr int kJacobianPieces = 12;
/// Absolute tolerance of a depot in closed form: its weight in CVODES's norms is about 0.
constexpr double kIgnoredAtol = 1e100;

/// A state taken for a depot in closed form whose derivative broke the rule along the run.
class DepotBroken : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Owns one SUNContext and one CVODES memory (never shared between threads).
class Integrator {
 public:
  /// `pattern`: the model's Jacobian pattern, probed once for many runs; null: probed here over
  /// the run's times [t_from_h, t_to_h] when the solver may be sparse.
  Integrator(const OdeModel& model, const SimulationOptions& options,
             const internal::SparsityPattern* pattern, double t_from_h, double t_to_h, bool depots)
      : model_(model), options_(options), n_(model.state_count()), rates_(n_, 0.0) {
    if (pattern) {
      if (pattern->size() != n_) throw std::logic_error("Integrator: pattern of another model");
      pattern_ = *pattern;
    } else if (internal::may_use_sparse(options, n_)) {
      pattern_ = internal::jacobian_pattern(model_, t_from_h, t_to_h, options.patterns.get());
      pending_rhs_ += pattern_.probe_evals;
    }
    if (depots && options.closed_form && n_ >= internal::kSparseMinStates) {
      find_depots(t_from_h, t_to_h);
    }
    try {
      setup();
    } catch (...) {
      release();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  Integrator(const Integrator&) = delete;
  Integrator& operator=(const Integrator&) = delete;
  ~Integrator() { release(); }

 private:
  void setup() {
    const SimulationOptions& options = options_;
    check(SUNContext_Create(nullptr, &ctx_), "SUNContext_Create");
    y_ = N_VNew_Serial(static_cast<sunindextype>(n_), ctx_);
    fy_ = N_VNew_Serial(static_cast<sunindextype>(n_), ctx_);
    work_ = N_VNew_Serial(static_cast<sunindextype>(n_), ctx_);
    N_VConst(0.0, y_);
    mem_ = CVodeCreate(options.method == Method::kAdams ? CV_ADAMS : CV_BDF, ctx_);
    if (!y_ || !fy_ || !work_ || !mem_) throw std::bad_alloc();
    // Fused vector operations: one pass over the states for CVODES's linear combinations
    // (the predictor, the corrector's update of the history array) instead of one per term.
    // CVODES's own vectors are clones of this one and inherit them.
    check(N_VEnableFusedOps_Serial(y_, SUNTRUE), "N_VEnableFusedOps_Serial");
    check(CVodeInit(mem_, &Integrator::rhs_callback, 0.0, y_), "CVodeInit");
    check(CVodeSetUserData(mem_, this), "CVodeSetUserData");
    check(CVodeSetErrHandlerFn(mem_, &Integrator::error_callback, this), "CVodeSetErrHandlerFn");
    if (depots_.empty()) {
      check(CVodeSStolerances(mem_, options.rtol, options.atol), "CVodeSStolerances");
    } else {
      // The depots in closed form take no part in the error test: the model never reads
      // CVODES's own copy of them (eval() puts the exact amounts in its place), so their weight
      // is next to 0.
      N_Vector atol = N_VNew_Serial(static_cast<sunindextype>(n_), ctx_);
      if (!atol) throw std::bad_alloc();
      N_VConst(options.atol, atol);
      for (std::size_t i : depots_) N_VGetArrayPointer(atol)[i] = kIgnoredAtol;
      const int flag = CVodeSVtolerances(mem_, options.rtol, atol);
      N_VDestroy(atol);
      check(flag, "CVodeSVtolerances");
    }
    check(CVodeSetMaxNumSteps(mem_, options.max_steps), "CVodeSetMaxNumSteps");
    if (options.max_step_h > 0.0)
      check(CVodeSetMaxStep(mem_, options.max_step_h), "CVodeSetMaxStep");
    const auto n = static_cast<sunindextype>(n_);
    if (options.linear_solver == LinearSolver::kDense ||
        (options.linear_solver == LinearSolver::kAuto && !internal::sparse_pays(pattern_))) {
      pattern_ = {};
    }
    if (!pattern_.row.empty()) {
      matrix_ =
          SUNSparseMatrix(n, n, static_cast<sunindextype>(pattern_.row.size()), CSC_MAT, ctx_);
      solver_ = SUNLinSol_KLU(y_, matrix_, ctx_);
      check(CVodeSetLinearSolver(mem_, solver_, matrix_), "CVodeSetLinearSolver");
      check(CVodeSetJacFn(mem_, &Integrator::sparse_jacobian_callback), "CVodeSetJacFn");
      shift_.assign(n_, 0.0);
      saved_.assign(n_, 0.0);
    } else {
      matrix_ = SUNDenseMatrix(n, n, ctx_);
      solver_ = SUNLinSol_Dense(y_, matrix_, ctx_);
      check(CVodeSetLinearSolver(mem_, solver_, matrix_), "CVodeSetLinearSolver");
    }
  }

  void release() noexcept {
    if (mem_) CVodeFree(&mem_);
    if (solver_) SUNLinSolFree(solver_);
    if (matrix_) SUNMatDestroy(matrix_);
    if (y_) N_VDestroy(y_);
    if (fy_) N_VDestroy(fy_);
    if (work_) N_VDestroy(work_);
    if (ctx_) SUNContext_Free(&ctx_);
    mem_ = nullptr;
    solver_ = nullptr;
    matrix_ = nullptr;
    y_ = fy_ = work_ = nullptr;
  }

 public:
  double* state() { return N_VGetArrayPointer(y_); }
  /// Whether the Newton iterations use KLU on a probed pattern (else dense LU).
  [[nodiscard]] bool sparse() const { return !pattern_.row.empty(); }
  /// The names of the states carried in closed form as depots.
  [[nodiscard]] std::vector<std::string> depot_names() const {
    std::vector<std::string> names;
    if (depots_.empty()) return names;
    const std::vector<std::string> all = model_.state_names();
    for (std::size_t i : depots_) names.push_back(all[i]);
    return names;
  }
  std::vector<double>& rates() { return rates_; }

  /// Restarts the integration at t from the current state() (after a discontinuity).
  void restart(double t_h) {
    collect_stats();
    const double* y = state();
    for (std::size_t k = 0; k < depots_.size(); ++k) depot_start_[k] = y[depots_[k]];
    depot_t_ = t_h;
    check(CVodeReInit(mem_, t_h, y_), "CVodeReInit");
    ++restarts_;
  }

  /// Advances to `t_out` without passing `t_stop`; returns a CVODE flag (>= 0 on success).
  int advance(double t_out, double t_stop, double& t_reached) {
    int flag = CVodeSetStopTime(mem_, t_stop);
    if (flag < 0) return flag;
    flag = CVode(mem_, t_out, y_, &t_reached, CV_NORMAL);
    double* y = state();
    for (std::size_t k = 0; k < depots_.size(); ++k) y[depots_[k]] = depot_amount(k, t_reached);
    if (error_) {
      auto e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
    return flag;
  }

  /// CVODES's own words for the last error ("At t = ..., mxstep steps taken before reaching
  /// tout."), captured instead of printed to stderr.
  [[nodiscard]] const std::string& last_error() const { return last_error_; }

  void add_stats(SolveSummary& s) {
    collect_stats();
    s.steps += steps_;
    s.rhs_evals += rhs_evals_;
    s.restarts += restarts_;
    steps_ = rhs_evals_ = restarts_ = 0;
  }

 private:
  static void check(int flag, const char* what) {
    if (flag < 0) throw SolverSetupError(fmt::format("{} failed: {}", what, flag_message(flag)));
  }

  void collect_stats() {
    long nst = 0;
    // Called before each CVodeReInit, which resets the solver's own counter.
    if (CVodeGetNumSteps(mem_, &nst) == CV_SUCCESS) steps_ += nst;
    rhs_evals_ += pending_rhs_;
    pending_rhs_ = 0;
  }

  /// The amount in depot k at time t (after the last restart): exact for first-order
  /// elimination at rate constant k plus the zero-order input of its running infusions.
  [[nodiscard]] double depot_amount(std::size_t k, double t) const {
    const double rate = rates_[depots_[k]];
    const double decay = std::exp(-depot_k_[k] * (t - depot_t_));
    return depot_start_[k] * decay - rate / depot_k_[k] * std::expm1(-depot_k_[k] * (t - depot_t_));
  }

  /// Depots propagated in closed form (docs/model.md "Closed-form linear kinetics"): states whose
  /// derivative is -k y_i with a constant k > 0, whatever the other states and the time. Found
  /// with four right-hand sides: every state scaled by its own factor (a depot's derivative scales
  /// with its own only) and the same state at three times; eval() checks the rule at every
  /// right-hand side of the run (DepotBroken). The other states then see the exact amounts, and
  /// the error test no longer follows each depot's decay down to atol after every dose.
  void find_depots(double t_from_h, double t_to_h) {
    std::vector<double> a(n_, 0.0);
    model_.reset_state(a);
    std::vector<double> b(n_);
    for (std::size_t i = 0; i < n_; ++i) {
      a[i] = a[i] == 0.0 ? 1.0 : a[i];
      // Factors between 1.5 and 2.5, no two alike among neighbours (the golden ratio's steps).
      const double golden = 0.6180339887498949 * static_cast<double>(i + 1);
      b[i] = a[i] * (1.5 + (golden - std::floor(golden)));
    }
    std::vector<double> f_a(n_);
    std::vector<double> f_b(n_);
    std::vector<double> f_mid(n_);
    std::vector<double> f_end(n_);
    try {
      model_.rhs(t_from_h, a.data(), f_a.data());
      model_.rhs(t_from_h, b.data(), f_b.data());
      model_.rhs(0.5 * (t_from_h + t_to_h), a.data(), f_mid.data());
      model_.rhs(t_to_h, a.data(), f_end.data());
    } catch (const std::exception&) {
      return;  // (outside its domain: no depots; the run itself reports the model's errors)
    }
    pending_rhs_ += 4;
    const auto same = [](double x, double y) { return std::abs(x - y) <= 1e-12 * std::abs(y); };
    for (std::size_t i = 0; i < n_; ++i) {
      const double k = -f_a[i] / a[i];
      if (!(k > 0.0) || !std::isfinite(k)) continue;
      if (!same(f_b[i], -k * b[i]) || !same(f_mid[i], f_a[i]) || !same(f_end[i], f_a[i])) continue;
      depots_.push_back(i);
      depot_k_.push_back(k);
    }
    depot_start_.assign(depots_.size(), 0.0);
    scratch_.assign(n_, 0.0);
  }

  void eval(double t, const double* y, double* dydt) {
    if (!depots_.empty()) {
      std::copy(y, y + n_, scratch_.begin());
      for (std::size_t k = 0; k < depots_.size(); ++k) scratch_[depots_[k]] = depot_amount(k, t);
      y = scratch_.data();
    }
    model_.rhs(t, y, dydt);
    for (std::size_t k = 0; k < depots_.size(); ++k) {
      // The rule, at this state and time: a dependence the four probes did not see ends the
      // closed form (simulate_on_pattern runs again without it).
      const double want = -depot_k_[k] * y[depots_[k]];
      // (The floor: amounts within 1e-300 of 0, where the model's own order of operations
      // rounds otherwise.)
      if (!(std::abs(dydt[depots_[k]] - want) <= 1e-9 * std::abs(want) + 1e-300)) {
        throw DepotBroken(fmt::format("state {} is not a depot at t = {} h", depots_[k], t));
      }
    }
    for (std::size_t i = 0; i < n_; ++i) dydt[i] += rates_[i];
    ++pending_rhs_;
  }

  // Exceptions never cross into C: they are stored and rethrown after CVode returns.
  static int rhs_callback(sunrealtype t, N_Vector y, N_Vector ydot, void* user_data) {
    auto* self = static_cast<Integrator*>(user_data);
    try {
      self->eval(t, N_VGetArrayPointer(y), N_VGetArrayPointer(ydot));
      return 0;
    } catch (...) {
      self->error_ = std::current_exception();
      return -1;
    }
  }

  static void error_callback(int, const char*, const char*, char* msg, void* user_data) {
    try {
      static_cast<Integrator*>(user_data)->last_error_ = msg ? msg : "";
    } catch (...) {  // never let an exception into C
    }
  }

  // Difference-quotient Jacobian in CSC form for KLU, on the probed pattern: the columns of one
  // group share no row, so one right-hand side evaluation with all of them shifted gives them all.
  static int sparse_jacobian_callback(sunrealtype t, N_Vector y, N_Vector fy, SUNMatrix jac,
                                      void* user_data, N_Vector, N_Vector, N_Vector) {
    auto* self = static_cast<Integrator*>(user_data);
    const internal::SparsityPattern& p = self->pattern_;
    double* yd = N_VGetArrayPointer(y);
    std::size_t group = p.groups();  // the group whose columns are shifted now, if any
    try {
      const std::size_t n = self->n_;
      const double* f0 = N_VGetArrayPointer(fy);
      double* f1 = N_VGetArrayPointer(self->work_);
      sunindextype* colptrs = SUNSparseMatrix_IndexPointers(jac);
      sunindextype* rowvals = SUNSparseMatrix_IndexValues(jac);
      double* data = SUNSparseMatrix_Data(jac);
      // SUNMatZero cleared the structure too: write it back.
      for (std::size_t j = 0; j <= n; ++j) colptrs[j] = static_cast<sunindextype>(p.col_start[j]);
      for (std::size_t k = 0; k < p.row.size(); ++k) {
        rowvals[k] = static_cast<sunindextype>(p.row[k]);
      }
      const double floor = self->options_.atol / self->options_.rtol;
      std::vector<double>& shift = self->shift_;
      for (std::size_t g = 0; g + 1 < p.group_start.size(); ++g) {
        group = g;
        for (std::size_t c = p.group_start[g]; c < p.group_start[g + 1]; ++c) {
          const std::size_t j = p.group_cols[c];
          const double saved = yd[j];
          self->saved_[j] = saved;
          shift[j] =
              std::sqrt(std::numeric_limits<double>::epsilon()) * std::max(std::abs(saved), floor);
          yd[j] = saved + shift[j];
          shift[j] = yd[j] - saved;  // the step actually taken
        }
        self->eval(t, yd, f1);
        for (std::size_t c = p.group_start[g]; c < p.group_start[g + 1]; ++c) {
          const std::size_t j = p.group_cols[c];
          yd[j] = self->saved_[j];
          for (std::size_t k = p.col_start[j]; k < p.col_start[j + 1]; ++k) {
            data[k] = (f1[p.row[k]] - f0[p.row[k]]) / shift[j];
          }
        }
        group = p.groups();
      }
      return 0;
    } catch (...) {
      if (group < p.groups()) {  // CVODE's state back as it was
        for (std::size_t c = p.group_start[group]; c < p.group_start[group + 1]; ++c) {
          yd[p.group_cols[c]] = self->saved_[p.group_cols[c]];
        }
      }
      self->error_ = std::current_exception();
      return -1;
    }
  }

  const OdeModel& model_;
  const SimulationOptions& options_;
  std::size_t n_;
  std::vector<double> rates_;
  SUNContext ctx_ = nullptr;
  N_Vector y_ = nullptr;
  N_Vector fy_ = nullptr;
  N_Vector work_ = nullptr;
  void* mem_ = nullptr;
  SUNMatrix matrix_ = nullptr;
  SUNLinearSolver solver_ = nullptr;
  internal::SparsityPattern pattern_;  ///< empty: the dense solver
  std::vector<double> shift_;          ///< difference-quotient steps of one column group
  std::vector<double> saved_;          ///< the state before those steps
  std::vector<std::size_t> depots_;    ///< states propagated in closed form (find_depots)
  std::vector<double> depot_k_;        ///< their rate constants (1/h)
  std::vector<double> depot_start_;    ///< their amounts at the last restart
  double depot_t_ = 0.0;               ///< the time of the last restart (h)
  std::vector<double> scratch_;        ///< the state with the depots' exact amounts
  std::exception_ptr error_;
  std::string last_error_;
  long steps_ = 0;
  long rhs_evals_ = 0;
  long pending_rhs_ = 0;
  long restarts_ = 0;
};

SolveSummary failure(SolveStatus status, std::string message, SolveSummary s) {
  s.status = status;
  s.message = std::move(message);
  return s;
}

/// State after one period `period_h` of the regimens `recs` (each given SS_LEAD into the period
/// and every II after) from y0.
SolveSummary one_period(const OdeModel& model, const std::vector<DoseRecord>& recs, double period_h,
                        const SimulationOptions& options, std::span<const double> y0,
                        std::vector<double>& y1, Trajectory* samples = nullptr, int pieces = 0,
                        const internal::SparsityPattern* pattern = nullptr) {
  std::vector<DoseRecord> cycle;
  for (const DoseRecord& rec : recs) {
    DoseRecord single = rec;
    single.time_h = rec.ss_lead_h;
    single.ss = 0;
    single.ss_lead_h = 0.0;
    single.addl = static_cast<std::size_t>(std::llround(period_h / rec.ii_h)) - 1;
    cycle.push_back(single);
  }
  Trajectory traj;
  std::vector<double> grid;
  for (int k = 0; k < pieces; ++k) grid.push_back(period_h * k / pieces);
  grid.push_back(period_h);
  SimulationOptions resolved = options;
  resolved.multirate = Multirate::kOff;
  SolveSummary s =
      internal::simulate_on_pattern(model, y0, 0.0, cycle, grid, resolved, traj, {}, pattern);
  const std::size_t n = model.state_count();
  if (!s.ok()) return s;
  y1.assign(traj.states.end() - static_cast<std::ptrdiff_t>(n), traj.states.end());
  if (samples) {
    samples->n_states = n;
    samples->time_h.assign(traj.time_h.begin(), traj.time_h.end() - 1);
    samples->states.assign(traj.states.begin(), traj.states.end() - static_cast<std::ptrdiff_t>(n));
  }
  return s;
}

void accumulate(SolveSummary& total, const SolveSummary& part) {
  total.steps += part.steps;
  total.rhs_evals += part.rhs_evals;
  total.restarts += part.restarts;
  if (total.closed_form_depots.empty()) total.closed_form_depots = part.closed_form_depots;
}

}  // namespace

std::vector<double> output_grid(double t0_h, double t_end_h, double dt_h) {
  std::vector<double> grid;
  if (!(dt_h > 0.0) || t_end_h < t0_h) return grid;
  const double n = std::floor((t_end_h - t0_h) / dt_h * (1.0 + 1e-12) + 1e-9);
  for (double i = 0; i <= n; ++i) grid.push_back(t0_h + i * dt_h);
  if (!same_time(grid.back(), t_end_h)) grid.push_back(t_end_h);
  return grid;
}

SolveSummary simulate(const OdeModel& model, std::span<const double> y0, double t0_h,
                      const std::vector<DoseRecord>& doses, std::span<const double> output_times_h,
                      const SimulationOptions& options, Trajectory& out,
                      const std::function<void(double)>& progress) {
  return internal::simulate_on_pattern(model, y0, t0_h, doses, output_times_h, options, out,
                                       progress, nullptr);
}

namespace internal {

namespace {

/// Whether the events at one time, events[begin, end), change nothing the solver sees: only
/// infusions that hand over to others of the same rate in the same compartments (the blocks of a
/// continuous diet) and boluses of nothing. `cancelled`: the infusions whose end is void.
bool changes_nothing(const std::vector<DoseEvent>& events, std::size_t begin, std::size_t end,
                     const std::vector<char>& cancelled, std::vector<double>& delta) {
  for (std::size_t k = begin; k < end; ++k) {
    const DoseEvent& ev = events[k];
    if (ev.kind == EventKind::kSsReset || (ev.kind == EventKind::kBolus && ev.value != 0.0) ||
        (ev.kind == EventKind::kRateOff && cancelled[ev.infusion])) {
      return false;
    }
  }
  bool none = true;
  for (std::size_t k = begin; k < end; ++k) {  // the net change of each compartment's rate
    const DoseEvent& ev = events[k];
    if (ev.kind == EventKind::kRateOn) delta[ev.cmt] += ev.value;
    if (ev.kind == EventKind::kRateOff) delta[ev.cmt] -= ev.value;
  }
  for (std::size_t k = begin; k < end; ++k) {
    const DoseEvent& ev = events[k];
    if (ev.kind != EventKind::kRateOn && ev.kind != EventKind::kRateOff) continue;
    none = none && std::abs(delta[ev.cmt]) <= 1e-12 * std::abs(ev.value);
  }
  for (std::size_t k = begin; k < end; ++k) delta[events[k].cmt] = 0.0;
  return none;
}

/// simulate_on_pattern() without its retries; `sparse_used` tells whether the full-resolution
/// solver ran with KLU; `depots`: whether it may carry depots in closed form, and
/// `depot_broken` becomes true where one of them broke the rule (the run then failed).
SolveSummary simulate_once(const OdeModel& model, std::span<const double> y0, double t0_h,
                           const std::vector<DoseRecord>& doses,
                           std::span<const double> output_times_h, const SimulationOptions& options,
                           Trajectory& out, const std::function<void(double)>& progress,
                           const SparsityPattern* pattern, bool& sparse_used, bool depots,
                           bool& depot_broken) {
  const std::size_t n = model.state_count();
  SolveSummary summary;
  out.n_states = n;
  out.time_h.clear();
  out.states.clear();
  if (y0.size() != n) {
    throw std::invalid_argument(
        fmt::format("simulate: y0 has {} entries, model has {} states", y0.size(), n));
  }
  if (output_times_h.empty()) return summary;
  for (std::size_t i = 0; i < output_times_h.size(); ++i) {
    if (output_times_h[i] < t0_h || (i > 0 && output_times_h[i] < output_times_h[i - 1])) {
      throw InputError(
          fmt::format("output time {} h (rule: output times ascend and start at or after {} h)",
                      output_times_h[i], t0_h));
    }
  }
  const std::vector<DoseEvent> events = expand(doses);
  if (!events.empty() && events.front().time_h < t0_h && !same_time(events.front().time_h, t0_h)) {
    throw InputError(fmt::format("dose at {} h before the start of the run at {} h",
                                 events.front().time_h, t0_h));
  }
  // (The checks above hold for multi-rate too.)
  if (options.multirate != Multirate::kOff) {
    try {
      return internal::simulate_multirate(model, y0, t0_h, doses, output_times_h, options, out,
                                          progress);
    } catch (const Error&) {
      throw;
    } catch (const std::invalid_argument&) {
      throw;
    } catch (const std::exception& ex) {  // the model's, outside the solver
      return failure(SolveStatus::kModelError, fmt::format("model error: {}", ex.what()), {});
    }
  }
  if (options.closed_form) {
    const std::vector<double> a = model.linear_matrix();
    if (!a.empty()) {
      return internal::simulate_closed_form(model, a, y0, t0_h, doses, events, output_times_h,
                                            options, out, progress);
    }
  }
  out.time_h.reserve(output_times_h.size());
  out.states.reserve(output_times_h.size() * n);

  Integrator integ(model, options, pattern, t0_h, output_times_h.back(), depots);
  sparse_used = integ.sparse();
  summary.closed_form_depots = integ.depot_names();
  double* y = integ.state();
  std::copy(y0.begin(), y0.end(), y);
  std::vector<double>& rates = integ.rates();
  const double t_last = output_times_h.back();
  std::size_t e = 0;
  std::size_t o = 0;
  double t = t0_h;
  std::vector<double> y_ss(n);
  std::vector<double> rates_before(n);
  std::vector<double> delta(n, 0.0);
  // Infusions running now, and those a steady-state reset cancelled (their end events are void).
  std::size_t n_infusions = 0;
  for (const DoseEvent& ev : events) n_infusions = std::max(n_infusions, ev.infusion + 1);
  std::vector<char> running(n_infusions, 0);
  std::vector<char> cancelled(n_infusions, 0);
  double last_reset_h = -1.0;
  auto solver_failure = [&](int flag, double t_reached) {
    integ.add_stats(summary);
    const std::string detail = integ.last_error().empty() ? "" : " [" + integ.last_error() + "]";
    return failure(
        SolveStatus::kSolverFailure,
        fmt::format("CVODES failed near t = {} h: {}{}", t_reached, flag_message(flag), detail),
        summary);
  };

  try {
    while (true) {
      // Discontinuities at t, then the restart. An infusion that ends where the next of the same
      // rate begins (the blocks of a continuous diet) changes nothing: the solver goes on
      // without a restart, which would cost it its step size and order.
      bool jump = same_time(t, t0_h);
      rates_before.assign(rates.begin(), rates.end());
      // (Events before t changed nothing: the solver passed them without stopping.)
      while (e < events.size() && (events[e].time_h < t || same_time(events[e].time_h, t))) {
        const DoseEvent& ev = events[e++];
        switch (ev.kind) {
          case EventKind::kBolus:
            y[ev.cmt] += ev.value;
            jump = jump || ev.value != 0.0;
            break;
          case EventKind::kRateOn:
            rates[ev.cmt] += ev.value;
            running[ev.infusion] = 1;
            break;
          case EventKind::kRateOff:
            running[ev.infusion] = 0;
            if (cancelled[ev.infusion]) break;
            rates[ev.cmt] -= ev.value;
            if (std::abs(rates[ev.cmt]) <= 1e-12 * ev.value) rates[ev.cmt] = 0.0;
            break;
          case EventKind::kSsReset: {
            if (same_time(last_reset_h, t)) break;  // the group at this time is done
            last_reset_h = t;
            std::vector<DoseRecord> group;
            for (const DoseRecord& d : doses) {
              if (d.ss == 1 && same_time(d.ss_time_h(), t)) group.push_back(d);
            }
            SolveSummary ss = periodic_steady_state(model, group, options, y_ss);
            accumulate(summary, ss);
            if (!ss.ok()) {
              integ.add_stats(summary);
              return failure(ss.status, fmt::format("SS = 1 dose at {} h: {}", t, ss.message),
                             summary);
            }
            std::copy(y_ss.begin(), y_ss.end(), y);
            std::fill(rates.begin(), rates.end(), 0.0);
            jump = true;
            for (std::size_t i = 0; i < n_infusions; ++i) {
              if (running[i]) cancelled[i] = 1;
              running[i] = 0;
            }
            break;
          }
        }
      }
      for (std::size_t i = 0; i < n && !jump; ++i) {
        jump = std::abs(rates[i] - rates_before[i]) >
               1e-12 * std::max(std::abs(rates[i]), std::abs(rates_before[i]));
      }
      if (jump && !same_time(t, t_last)) {  // (at the end there is nothing left to integrate)
        integ.restart(t);
      }
      while (o < output_times_h.size() && same_time(output_times_h[o], t)) {
        out.time_h.push_back(output_times_h[o++]);
        out.states.insert(out.states.end(), y, y + n);
      }
      if (o == output_times_h.size()) break;
      // The next time at which the events change something: a stop there keeps the solver
      // from stepping over it; one where they change nothing would only shorten its step.
      std::size_t next = e;
      while (next < events.size()) {
        std::size_t group_end = next;
        while (group_end < events.size() &&
               same_time(events[group_end].time_h, events[next].time_h)) {
          ++group_end;
        }
        if (!changes_nothing(events, next, group_end, cancelled, delta)) break;
        next = group_end;
      }
      const double t_next_event = next < events.size() ? events[next].time_h : t_last;
      const double t_stop = std::min(t_next_event, t_last);
      while (o < output_times_h.size() && output_times_h[o] < t_stop &&
             !same_time(output_times_h[o], t_stop)) {
        double t_reached = 0.0;
        const int flag = integ.advance(output_times_h[o], t_stop, t_reached);
        if (flag < 0) return solver_failure(flag, t_reached);
        out.time_h.push_back(output_times_h[o++]);
        out.states.insert(out.states.end(), y, y + n);
      }
      // The solver's state sits at the last output; integrate on to the stop time.
      double t_reached = 0.0;
      const int flag = integ.advance(t_stop, t_stop, t_reached);
      if (flag < 0) return solver_failure(flag, t_reached);
      t = t_stop;
      if (progress) progress(t);
      if (e >= events.size() && same_time(t, t_last)) {
        // No event left: record the final outputs and stop.
        while (o < output_times_h.size()) {
          out.time_h.push_back(output_times_h[o++]);
          out.states.insert(out.states.end(), y, y + n);
        }
        break;
      }
    }
  } catch (const Error&) {
    throw;
  } catch (const DepotBroken& ex) {
    integ.add_stats(summary);
    depot_broken = true;
    return failure(SolveStatus::kModelError, ex.what(), summary);
  } catch (const SolverSetupError& ex) {
    integ.add_stats(summary);
    return failure(SolveStatus::kSolverFailure,
                   fmt::format("CVODES failed near t = {} h: {}", t, ex.what()), summary);
  } catch (const std::exception& ex) {
    integ.add_stats(summary);
    return failure(SolveStatus::kModelError,
                   fmt::format("model error near t = {} h: {}", t, ex.what()), summary);
  }
  integ.add_stats(summary);
  return summary;
}

}  // namespace

SolveSummary simulate_on_pattern(const OdeModel& model, std::span<const double> y0, double t0_h,
                                 const std::vector<DoseRecord>& doses,
                                 std::span<const double> output_times_h,
                                 const SimulationOptions& options, Trajectory& out,
                                 const std::function<void(double)>& progress,
                                 const SparsityPattern* pattern) {
  bool sparse_used = false;
  // One run, and where a state taken for a depot depends on others or on time somewhere the
  // probes did not look, the run again with every state in the solver.
  auto attempt = [&](const SimulationOptions& o, const SparsityPattern* p) {
    bool depot_broken = false;
    SolveSummary first = simulate_once(model, y0, t0_h, doses, output_times_h, o, out, progress, p,
                                       sparse_used, true, depot_broken);
    if (!depot_broken) return first;
    SolveSummary again = simulate_once(model, y0, t0_h, doses, output_times_h, o, out, progress, p,
                                       sparse_used, false, depot_broken);
    again.steps += first.steps;
    again.rhs_evals += first.rhs_evals;
    again.restarts += first.restarts;
    return again;
  };
  SolveSummary s = attempt(options, pattern);
  if (s.status != SolveStatus::kSolverFailure || !sparse_used ||
      options.linear_solver != LinearSolver::kAuto) {
    return s;
  }
  // A pattern entry the probes missed can make Newton fail where the dense Jacobian would not:
  // `auto` runs again with the dense solver (`klu`, asked for by name, keeps its failure).
  SimulationOptions dense = options;
  dense.linear_solver = LinearSolver::kDense;
  SolveSummary d = attempt(dense, nullptr);
  d.steps += s.steps;
  d.rhs_evals += s.rhs_evals;
  d.restarts += s.restarts;
  return d;
}

}  // namespace internal

SolveSummary periodic_steady_state(const OdeModel& model, const DoseRecord& record,
                                   const SimulationOptions& options, std::span<double> y_out) {
  return periodic_steady_state(model, std::vector<DoseRecord>{record}, options, y_out);
}

SolveSummary periodic_steady_state(const OdeModel& model, const std::vector<DoseRecord>& records,
                                   const SimulationOptions& options, std::span<double> y_out) {
  const std::size_t n = model.state_count();
  SolveSummary total;
  double period = 0.0;
  double amount_scale = 0.0;
  for (const DoseRecord& r : records) {
    period = std::max(period, r.ii_h);
    amount_scale = std::max(amount_scale, r.amt);
  }
  for (const DoseRecord& r : records) {
    const double k = period / r.ii_h;
    if (std::abs(k - std::round(k)) > 1e-9 * k) {
      return failure(SolveStatus::kSteadyStateNotFound,
                     fmt::format("steady-state regimens with intervals {} h and {} h: the shorter "
                                 "must divide the longer",
                                 r.ii_h, period),
                     total);
    }
  }
  std::vector<double> y(n);
  model.reset_state(y);
  const std::vector<std::size_t> accumulators = model.periodic_held();
  std::vector<char> held(n, 0);
  for (std::size_t a : accumulators) held[a] = 1;
  std::vector<double> p(n);
  std::vector<double> p_pert(n);
  Eigen::MatrixXd jac(n, n);
  Eigen::PartialPivLU<Eigen::MatrixXd> lu;

  // The Jacobian pattern, probed once for every period run below.
  internal::SparsityPattern pattern;
  if (internal::may_use_sparse(options, n)) {
    pattern = internal::jacobian_pattern(model, 0.0, period, options.patterns.get());
    total.rhs_evals += pattern.probe_evals;
  }
  auto one = [&](std::span<const double> from, std::vector<double>& to,
                 Trajectory* samples = nullptr) {
    SolveSummary s =
        one_period(model, records, period, options, from, to, samples,
                   samples ? kJacobianPieces : 0, pattern.row.empty() ? nullptr : &pattern);
    accumulate(total, s);
    return s;
  };
  // The scale of the solved states (held ones, such as a composed model's bone calcium, would
  // set a step and a tolerance far too coarse for the regimen's states).
  auto scale_of = [&](const std::vector<double>& v) {
    double s = amount_scale;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!held[i]) s = std::max(s, std::abs(v[i]));
    }
    return s > 0.0 ? s : 1.0;
  };

  std::vector<std::size_t> all_states(n);
  for (std::size_t i = 0; i < n; ++i) all_states[i] = i;
  for (int iter = 0; iter < options.ss_max_iterations; ++iter) {
    // Jacobian of the one-period map, refreshed every 4 iterations: the product of the
    // exponentials of the model's Jacobian along the period (no extra period), or, when that has
    // not converged in 12 iterations, forward differences (one period per free state).
    const bool refresh = iter % 4 == 0;
    const bool along_orbit = refresh && iter < 12;
    Trajectory samples;
    if (SolveSummary s = one(y, p, along_orbit ? &samples : nullptr); !s.ok()) {
      return failure(s.status, s.message, total);
    }
    const double scale = scale_of(p);
    if (refresh) {
      if (along_orbit) {
        jac = internal::period_map_jacobian(model, samples, period, all_states, options,
                                            total.rhs_evals);
      }
      if (!along_orbit || !jac.allFinite()) {
        for (std::size_t j = 0; j < n; ++j) {
          // A held state's column multiplies dy_j = 0: no one-period run is needed for it.
          if (held[j]) {
            jac.col(static_cast<Eigen::Index>(j)).setZero();
            continue;
          }
          std::vector<double> yp = y;
          const double h = 1e-4 * std::max(std::abs(y[j]), scale);
          yp[j] += h;
          if (SolveSummary s = one(yp, p_pert); !s.ok()) {
            return failure(s.status, s.message, total);
          }
          for (std::size_t i = 0; i < n; ++i) jac(i, j) = (p_pert[i] - p[i]) / h;
        }
      }
      Eigen::MatrixXd system = Eigen::MatrixXd::Identity(n, n) - jac;
      for (std::size_t a : accumulators) {  // held: dy_a = 0
        system.row(static_cast<Eigen::Index>(a)).setZero();
        system(static_cast<Eigen::Index>(a), static_cast<Eigen::Index>(a)) = 1.0;
      }
      lu.compute(system);
    }
    Eigen::VectorXd residual(n);
    for (std::size_t i = 0; i < n; ++i) residual(i) = p[i] - y[i];
    for (std::size_t a : accumulators) residual(static_cast<Eigen::Index>(a)) = 0.0;
    const Eigen::VectorXd dy = lu.solve(residual);
    double change = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(dy(i))) {
        return failure(SolveStatus::kSteadyStateNotFound,
                       "periodic steady state: singular Newton system", total);
      }
      y[i] += dy(i);
      change = std::max(change, std::abs(dy(i)));
    }
    if (change <= options.ss_tolerance * scale) {
      std::copy(y.begin(), y.end(), y_out.begin());
      return total;
    }
  }
  return failure(SolveStatus::kSteadyStateNotFound,
                 fmt::format("periodic steady state not reached in {} Newton iterations",
                             options.ss_max_iterations),
                 total);
}

namespace {

/// KLU (SuiteSparse) on a Jacobian pattern's entries, for the Newton iterations of an
/// equilibrium: the ordering once, a numeric factorization per iteration. (Eigen's SparseLU took
/// 6% of a cohort's time on these systems of 48 and 116 states with a few hundred entries.)
class SparseNewtonLu {
 public:
  SparseNewtonLu() { klu_defaults(&common_); }
  SparseNewtonLu(const SparseNewtonLu&) = delete;
  SparseNewtonLu& operator=(const SparseNewtonLu&) = delete;
  ~SparseNewtonLu() {
    if (numeric_) klu_free_numeric(&numeric_, &common_);
    if (symbolic_) klu_free_symbolic(&symbolic_, &common_);
  }

  /// The solution of A x = b, A given by its entries on the pattern (in the pattern's order);
  /// empty when the factorization fails (a singular matrix).
  Eigen::VectorXd solve(const internal::SparsityPattern& p, const std::vector<double>& entries,
                        const Eigen::VectorXd& b) {
    const auto n = static_cast<int>(p.size());
    if (!symbolic_) {
      col_start_.assign(p.col_start.begin(), p.col_start.end());
      row_.assign(p.row.begin(), p.row.end());
      symbolic_ = klu_analyze(n, col_start_.data(), row_.data(), &common_);
      if (!symbolic_) return {};
    }
    values_ = entries;  // (KLU takes a non-const pointer)
    if (numeric_) klu_free_numeric(&numeric_, &common_);
    numeric_ = klu_factor(col_start_.data(), row_.data(), values_.data(), symbolic_, &common_);
    if (!numeric_) return {};
    Eigen::VectorXd x = b;
    if (klu_solve(symbolic_, numeric_, n, 1, x.data(), &common_) != 1) return {};
    return x;
  }

 private:
  klu_common common_{};
  klu_symbolic* symbolic_ = nullptr;
  klu_numeric* numeric_ = nullptr;
  std::vector<int> col_start_;
  std::vector<int> row_;
  std::vector<double> values_;
};

// Newton on f(y) = 0 from `y` (held states fixed), with positivity-preserving damping. With a
// pattern (pattern.size() == n), the difference quotients perturb a group of columns that share
// no row at a time; otherwise one column at a time.
SolveSummary newton_equilibrium(const OdeModel& model, const SimulationOptions& options,
                                std::vector<double> y, std::span<double> y_out, SolveSummary& total,
                                const internal::SparsityPattern& pattern) {
  const std::size_t n = model.state_count();
  const std::vector<std::size_t> accumulators = model.accumulators();
  const bool grouped = pattern.size() == n;
  std::vector<double> f(n);
  std::vector<double> f_pert(n);
  std::vector<double> h(n);
  Eigen::MatrixXd jac(n, n);
  SparseNewtonLu sparse_lu;
  std::vector<double> values(grouped ? pattern.row.size() : 0);  // the pattern's entries
  std::vector<double> row_max(n);
  std::vector<double> row_abs(n);
  std::vector<char> held(n, 0);
  for (std::size_t a : accumulators) {
    if (a < n) held[a] = 1;
  }
  double previous_change = 0.0;
  for (int iter = 0; iter < options.ss_max_iterations; ++iter) {
    model.rhs(0.0, y.data(), f.data());
    ++total.rhs_evals;
    double scale = 0.0;
    for (double x : y) scale = std::max(scale, std::abs(x));
    if (scale == 0.0) scale = 1.0;
    // Relative to the state itself, so that small states (cells near 1e-3 beside bone calcium
    // near 1e4) get a step of their own size.
    for (std::size_t j = 0; j < n; ++j) h[j] = 1e-7 * std::max(std::abs(y[j]), 1e-6 * scale);
    std::vector<double> yp = y;
    if (grouped) {
      for (std::size_t g = 0; g < pattern.groups(); ++g) {
        for (std::size_t k = pattern.group_start[g]; k < pattern.group_start[g + 1]; ++k) {
          yp[pattern.group_cols[k]] += h[pattern.group_cols[k]];
        }
        model.rhs(0.0, yp.data(), f_pert.data());
        ++total.rhs_evals;
        for (std::size_t k = pattern.group_start[g]; k < pattern.group_start[g + 1]; ++k) {
          const std::size_t j = pattern.group_cols[k];
          yp[j] = y[j];
          for (std::size_t e = pattern.col_start[j]; e < pattern.col_start[j + 1]; ++e) {
            values[e] = (f_pert[pattern.row[e]] - f[pattern.row[e]]) / h[j];
          }
        }
      }
    } else {
      for (std::size_t j = 0; j < n; ++j) {
        yp[j] += h[j];
        model.rhs(0.0, yp.data(), f_pert.data());
        yp[j] = y[j];
        ++total.rhs_evals;
        for (std::size_t i = 0; i < n; ++i) {
          jac(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) =
              (f_pert[i] - f[i]) / h[j];
        }
      }
    }
    Eigen::VectorXd rhs_vec(n);
    for (std::size_t i = 0; i < n; ++i) rhs_vec(i) = -f[i];
    // The states span many orders of magnitude (cells near 1e-3 beside bone calcium near 1e4),
    // so the system is equilibrated first: columns scaled by the states' sizes, rows by their
    // largest entries. Partial pivoting on it (an order of magnitude cheaper than full pivoting
    // at 116 states); full pivoting where its solution is not finite or leaves a relative
    // residual above 1e-9 (an exactly singular matrix; a nearly singular one passes the test,
    // and Newton's damping and convergence test take care of a poor step).
    Eigen::VectorXd col_scale(n);
    for (std::size_t j = 0; j < n; ++j) {
      col_scale(static_cast<Eigen::Index>(j)) = std::max(std::abs(y[j]), 1e-6 * scale);
    }
    Eigen::VectorXd dy;
    if (grouped) {
      // The same on the pattern's entries alone (O(entries), where the dense matrix is O(n^2)),
      // and KLU; the dense path below where KLU fails or its solution does not pass the test.
      std::vector<double> a = values;
      Eigen::VectorXd b = rhs_vec;
      std::fill(row_max.begin(), row_max.end(), 0.0);
      for (std::size_t j = 0; j < n; ++j) {
        for (std::size_t e = pattern.col_start[j]; e < pattern.col_start[j + 1]; ++e) {
          const std::size_t i = pattern.row[e];
          if (held[i]) a[e] = i == j ? 1.0 : 0.0;  // held: dy_i = 0
          a[e] *= col_scale(static_cast<Eigen::Index>(j));
          row_max[i] = std::max(row_max[i], std::abs(a[e]));
        }
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (held[i]) b(static_cast<Eigen::Index>(i)) = 0.0;
        if (!(row_max[i] > 0.0 && std::isfinite(row_max[i]))) row_max[i] = 1.0;
        b(static_cast<Eigen::Index>(i)) /= row_max[i];
      }
      for (std::size_t e = 0; e < a.size(); ++e) a[e] /= row_max[pattern.row[e]];
      dy = sparse_lu.solve(pattern, a, b);  // empty where KLU fails
      if (dy.size() == static_cast<Eigen::Index>(n) && dy.allFinite()) {
        // The residual test of the dense path, on the entries.
        std::fill(row_abs.begin(), row_abs.end(), 0.0);
        Eigen::VectorXd r = -b;
        for (std::size_t j = 0; j < n; ++j) {
          for (std::size_t e = pattern.col_start[j]; e < pattern.col_start[j + 1]; ++e) {
            r(static_cast<Eigen::Index>(pattern.row[e])) += a[e] * dy(static_cast<Eigen::Index>(j));
            row_abs[pattern.row[e]] += std::abs(a[e]);
          }
        }
        const double size =
            *std::max_element(row_abs.begin(), row_abs.end()) * dy.cwiseAbs().maxCoeff() +
            b.cwiseAbs().maxCoeff();
        if (!(r.cwiseAbs().maxCoeff() <= 1e-9 * size)) dy.resize(0);
      } else {
        dy.resize(0);
      }
      if (dy.size() == 0) {  // the dense matrix for the dense path
        jac.setZero();
        for (std::size_t j = 0; j < n; ++j) {
          for (std::size_t e = pattern.col_start[j]; e < pattern.col_start[j + 1]; ++e) {
            jac(static_cast<Eigen::Index>(pattern.row[e]), static_cast<Eigen::Index>(j)) =
                values[e];
          }
        }
      }
    }
    if (dy.size() != static_cast<Eigen::Index>(n)) {
      for (std::size_t a : accumulators) {  // held: dy_a = 0
        jac.row(static_cast<Eigen::Index>(a)).setZero();
        jac(static_cast<Eigen::Index>(a), static_cast<Eigen::Index>(a)) = 1.0;
        rhs_vec(static_cast<Eigen::Index>(a)) = 0.0;
      }
      jac *= col_scale.asDiagonal();
      for (Eigen::Index i = 0; i < jac.rows(); ++i) {
        const double m = jac.row(i).cwiseAbs().maxCoeff();
        if (m > 0.0 && std::isfinite(m)) {
          jac.row(i) /= m;
          rhs_vec(i) /= m;
        }
      }
      const auto solved = [&](const Eigen::VectorXd& x) {
        if (!x.allFinite()) return false;
        const double size = jac.cwiseAbs().rowwise().sum().maxCoeff() * x.cwiseAbs().maxCoeff() +
                            rhs_vec.cwiseAbs().maxCoeff();
        return (jac * x - rhs_vec).cwiseAbs().maxCoeff() <= 1e-9 * size;
      };
      dy = Eigen::PartialPivLU<Eigen::MatrixXd>(jac).solve(rhs_vec);
      if (!solved(dy)) dy = jac.fullPivLu().solve(rhs_vec);
    }
    dy = dy.cwiseProduct(col_scale);
    // Positivity-preserving damping: a full step that would take a positive state (an amount,
    // a concentration, a cell count) below zero is shortened so that it keeps at least a tenth of
    // its value; otherwise Newton can land on a root with negative amounts.
    double alpha = 1.0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!std::isfinite(dy(i))) {
        return failure(SolveStatus::kSteadyStateNotFound, "equilibrium: singular Jacobian", total);
      }
      // (A state heading for 0 that overshoots by rounding, less than atol, is not damped.)
      if (y[i] > 0.0 && y[i] + dy(i) < -options.atol) {
        alpha = std::min(alpha, 0.9 * y[i] / -dy(i));
      }
    }
    // The step in units of what each state must reach: ss_tolerance of its own size
    // (col_scale), or the integrator's absolute tolerance (an equilibrium at 0).
    double change = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
      const double step = std::abs(alpha * dy(i));
      y[i] += alpha * dy(i);
      change = std::max(
          change, step / std::max(options.ss_tolerance * col_scale(static_cast<Eigen::Index>(i)),
                                  options.atol));
    }
    // With a pattern, a missed entry makes Newton's matrix wrong and its convergence linear: a
    // small step is then no proof of a small error (the error is the step times rate / (1 -
    // rate)). So the steps must also shrink at least tenfold, as they do near the root with the
    // right matrix; otherwise the iteration runs out and the full Jacobian is tried.
    const bool fast = !grouped || iter == 0 || change <= 0.1 * previous_change;
    previous_change = change;
    // A damped step has not converged.
    if (alpha == 1.0 && change <= 1.0 && fast) {
      model.rhs(0.0, y.data(), f.data());
      ++total.rhs_evals;
      for (std::size_t i = 0; i < n; ++i) {
        if (!std::isfinite(f[i]) || !std::isfinite(y[i])) {
          return failure(SolveStatus::kSteadyStateNotFound,
                         "equilibrium: the Newton iteration reached a state where the model "
                         "is not finite",
                         total);
        }
      }
      std::copy(y.begin(), y.end(), y_out.begin());
      return total;
    }
  }
  return failure(
      SolveStatus::kSteadyStateNotFound,
      fmt::format("equilibrium not reached in {} Newton iterations", options.ss_max_iterations),
      total);
}

}  // namespace

SolveSummary equilibrium(const OdeModel& model, const SimulationOptions& options,
                         std::span<double> y_out) {
  const std::size_t n = model.state_count();
  SolveSummary total;
  std::vector<double> y(n);
  model.reset_state(y);
  const std::vector<double> reset = y;
  // A cohort's stored pattern of this model (docs/engine.md "Solver") makes the Jacobian's
  // difference quotients a few right-hand sides instead of one per state. A pattern that misses
  // an entry here makes Newton's matrix wrong and its convergence linear, which its convergence
  // test refuses; the full Jacobian is then tried.
  const internal::SparsityPattern none;
  const internal::SparsityPattern stored =
      internal::may_use_sparse(options, n) ? internal::stored_pattern(model, options.patterns.get())
                                           : internal::SparsityPattern{};
  if (stored.size() == n) {
    SolveSummary sparse = newton_equilibrium(model, options, y, y_out, total, stored);
    if (sparse.ok()) return sparse;
  }
  SolveSummary first = newton_equilibrium(model, options, y, y_out, total, none);
  if (first.ok()) return first;
  // Fallback (pseudo-transient continuation): let the model relax without doses for 20 years
  // ending at time 0, put the held states back at their reset values, and start Newton there.
  constexpr double kRelax_h = 20.0 * 365.25 * 24.0;
  const std::vector<double> grid = {-kRelax_h, 0.0};
  Trajectory traj;
  SimulationOptions resolved = options;
  resolved.multirate = Multirate::kOff;
  SolveSummary relax = simulate(model, reset, -kRelax_h, {}, grid, resolved, traj);
  accumulate(total, relax);
  if (!relax.ok()) return first;
  for (std::size_t i = 0; i < n; ++i) y[i] = traj.at(1, i);
  for (std::size_t a : model.accumulators()) y[a] = reset[a];
  SolveSummary second = newton_equilibrium(model, options, y, y_out, total, none);
  if (!second.ok())
    second.message = first.message + "; after 20 years of relaxation: " + second.message;
  return second;
}

}  // namespace k2sim
