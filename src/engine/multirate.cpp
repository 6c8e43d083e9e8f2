// Multi-rate integration of periodic regimens (docs/model.md "Multi-rate integration").
//
// Where every dose repeats with one period P (meals and supplements once a day), the states split
// into slow ones (time scale of months or more, and the accumulators) and fast ones. For the slow
// state s at time t, the fast states are put on their periodic orbit with s frozen (Newton on the
// one-period map), and the same period gives the average of the slow derivatives over the orbit,
// g(s, t) (extra quadrature states, so the average is of the nonlinear fluxes, never of the
// concentrations). The slow states then follow ds/dt = g over steps of whole numbers of periods:
// the model's explicit dependence on time at fixed states by the trapezoid rule over the periods
// of the step, the rest by a variable-step second-order Adams-Bashforth method, with the step
// chosen so that its estimated local error stays within multirate_tol; the periods in between are
// not integrated. Outputs inside a step take the fast states from the orbit at the same phase of
// the period and the slow states on the step's own curve. Stretches that are not periodic are
// integrated in full.
#include "multirate.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <Eigen/Dense>
#include <unsupported/Eigen/MatrixFunctions>

#include "k2sim/error.hpp"

namespace k2sim::internal {

namespace {

bool same_time(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); }

/// Pieces of the period over which the Jacobian of the period map is built.
constexpr int kJacobianIntervals = 12;

/// The settling ends when the fast states are within this many settle tolerances of the orbit
/// (10 multirate_tol each: 10% by default); what is left of their transient, the leftover, is
/// carried by the steps where it is one decaying mode (step 1 in docs/model.md).
constexpr double kTransientExit = 100.0;

/// The leftover transient is one decaying mode when the period from it, delta_1, is rho delta_0
/// within this fraction of delta_1 (model full's MK-7 build-up: 1e-4 to 2e-4; vitamin D3 with
/// sun: 0.01 to 0.02, whose one-mode steps put 25(OH)D 0.3% off).
constexpr double kOneMode = 2e-3;

/// After the last look of the settling, the steps start from the actual fast states: a leftover
/// that is not one mode is integrated one period at a time, for at most this many periods.
constexpr int kLeftoverExact = 10;

/// Slow states whose own time scale is below this (and the slow states whose derivatives depend on
/// them) take the exponential step with L, the Jacobian of their period-averaged derivatives
/// through the orbit (docs/model.md step 5); the others the explicit step, stable for steps below
/// 0.9 of their own time scale (9 years and more).
constexpr double kExponentialTauH = 10.0 * 365.25 * 24.0;

/// The exponential step's linear system, for the change u = s(t + dt) - s(t) of the exponential
/// slow states: u' = L u + g + tau d1, u(0) = 0, exactly: with w = (u, g + tau d1, d1),
/// w' = B w, B = [[L, I, 0], [0, 0, I], [0, 0, 0]], so w(dt) = exp(dt B) w(0) (the first block of
/// exp(dt B) is exp(dt L), the others dt phi_1(dt L) and dt^2 phi_2(dt L)). The exponentials are
/// kept by dt (the steps and the outputs of a run take a few dozen different ones).
class ExponentialStep {
 public:
  void set(const Eigen::MatrixXd& l) {
    const Eigen::Index k = l.rows();
    b_ = Eigen::MatrixXd::Zero(3 * k, 3 * k);
    b_.topLeftCorner(k, k) = l;
    b_.block(0, k, k, k).setIdentity();
    b_.block(k, 2 * k, k, k).setIdentity();
    cache_.clear();
  }
  [[nodiscard]] Eigen::Index size() const { return b_.rows() / 3; }
  /// w(dt) from w(0).
  [[nodiscard]] Eigen::VectorXd advance(const Eigen::VectorXd& w, double dt) {
    return exp_of(dt) * w;
  }
  /// exp(dt L) v.
  [[nodiscard]] Eigen::VectorXd decay(const Eigen::VectorXd& v, double dt) {
    return exp_of(dt).topLeftCorner(size(), size()) * v;
  }

 private:
  const Eigen::MatrixXd& exp_of(double dt) {
    const auto key = std::llround(dt * 1e6);
    auto it = cache_.find(key);
    if (it == cache_.end()) {
      if (cache_.size() > 256) cache_.clear();
      it = cache_.emplace(key, Eigen::MatrixXd((dt * b_).exp())).first;
    }
    return it->second;
  }
  Eigen::MatrixXd b_;
  std::map<long long, Eigen::MatrixXd> cache_;
};

/// Relative tolerance of the period maps: a thousandth of multirate_tol (the slow derivatives are
/// differences of the fluxes they average), at most 1e-7, whatever rtol. 1e-7 by default; before,
/// min(rtol, 1e-7), which made k2sim run's maps 1e-8: on the benchmarks and the example
/// scenarios 1e-7 gives the same largest differences from full resolution in a quarter to a third
/// fewer steps (bench/README.md "Sixth session"); 1e-6 put sun.toml's rise in 25(OH)D 1.1% from
/// full resolution.
double map_rtol(const SimulationOptions& options) {
  return std::min(1e-7, 0.001 * options.multirate_tol);
}

/// The model's fast states with the slow ones frozen at given values, followed by the integrals
/// of the slow derivatives (so that a period gives their averages over the orbit).
class FrozenSlow : public OdeModel {
 public:
  FrozenSlow(const OdeModel& model, std::vector<std::size_t> fast, std::vector<std::size_t> slow)
      : model_(model),
        fast_(std::move(fast)),
        slow_(std::move(slow)),
        full_(model.state_count(), 0.0),
        dfull_(model.state_count(), 0.0) {}
  [[nodiscard]] std::size_t state_count() const override { return fast_.size() + slow_.size(); }
  [[nodiscard]] std::vector<std::string> state_names() const override {
    const std::vector<std::string> all = model_.state_names();
    std::vector<std::string> names;
    for (std::size_t i : fast_) names.push_back(all[i]);
    for (std::size_t i : slow_) names.push_back("integral of d/dt " + all[i]);
    return names;
  }
  void rhs(double t_h, const double* y, double* dydt) const override {
    for (std::size_t k = 0; k < fast_.size(); ++k) full_[fast_[k]] = y[k];
    model_.rhs(t_h, full_.data(), dfull_.data());
    for (std::size_t k = 0; k < fast_.size(); ++k) dydt[k] = dfull_[fast_[k]];
    for (std::size_t k = 0; k < slow_.size(); ++k) dydt[fast_.size() + k] = dfull_[slow_[k]];
  }
  void reset_state(std::span<double> y) const override { std::fill(y.begin(), y.end(), 0.0); }

  /// Freezes the slow states at their values in the full state `x`.
  void freeze(std::span<const double> x) {
    for (std::size_t i : slow_) full_[i] = x[i];
  }
  /// The full state `x` (slow states frozen) as this model's state, integrals at 0.
  void reduce(std::span<const double> x, std::vector<double>& r) const {
    r.assign(state_count(), 0.0);
    for (std::size_t k = 0; k < fast_.size(); ++k) r[k] = x[fast_[k]];
  }
  /// This model's state `r` as a full state (slow states at their frozen values) followed by the
  /// integrals.
  void expand(std::span<const double> r, double* x) const {
    const std::size_t n = full_.size();
    for (std::size_t i : slow_) x[i] = full_[i];
    for (std::size_t k = 0; k < fast_.size(); ++k) x[fast_[k]] = r[k];
    for (std::size_t k = 0; k < slow_.size(); ++k) x[n + k] = r[fast_.size() + k];
  }
  /// The Jacobian pattern of this model from the full model's: the fast block, the integrals' rows
  /// on the fast columns, and the diagonal (nothing depends on an integral).
  [[nodiscard]] SparsityPattern pattern_from(const SparsityPattern& full) const {
    const std::size_t n = state_count();
    const std::size_t nfull = full_.size();
    if (full.size() != nfull) throw std::logic_error("FrozenSlow: pattern of another model");
    std::vector<char> dense_full(nfull * nfull, 0);
    for (std::size_t j = 0; j < nfull; ++j) {
      for (std::size_t k = full.col_start[j]; k < full.col_start[j + 1]; ++k) {
        dense_full[full.row[k] * nfull + j] = 1;
      }
    }
    std::vector<char> depends(n * n, 0);
    for (std::size_t c = 0; c < fast_.size(); ++c) {
      for (std::size_t r = 0; r < fast_.size(); ++r) {
        depends[r * n + c] = dense_full[fast_[r] * nfull + fast_[c]];
      }
      for (std::size_t r = 0; r < slow_.size(); ++r) {
        depends[(fast_.size() + r) * n + c] = dense_full[slow_[r] * nfull + fast_[c]];
      }
    }
    return make_pattern(n, depends);
  }
  /// Where each state of the full model is in this one (doses go to fast states only).
  [[nodiscard]] std::vector<std::size_t> index_map() const {
    std::vector<std::size_t> map(full_.size(), 0);
    for (std::size_t k = 0; k < fast_.size(); ++k) map[fast_[k]] = k;
    return map;
  }

 private:
  const OdeModel& model_;
  std::vector<std::size_t> fast_;
  std::vector<std::size_t> slow_;
  mutable std::vector<double> full_;
  mutable std::vector<double> dfull_;
};

/// A stretch of the run: periodic when every dose in it belongs to a regimen that repeats with the
/// run's period over the whole stretch.
struct Stretch {
  double start_h = 0.0;
  double end_h = 0.0;
  bool periodic = false;
};

/// An infusion that is a constant input: one alone, or repeated back to back (each lasting its
/// interval, as a continuous diet); `end` is where it stops.
bool constant_input(const DoseRecord& r, double& end) {
  if (!(r.rate > 0.0) || r.ss == 1) return false;
  const double duration = r.amt / r.rate;
  if (r.addl == 0) {
    end = r.time_h + duration;
    return true;
  }
  if (!same_time(duration, r.ii_h)) return false;
  end = r.time_h + static_cast<double>(r.addl + 1) * r.ii_h;
  return true;
}

/// The period of the run's regimens (the longest interval, which every other must divide), or 0
/// when the run has no repeated dose, a repeated infusion, or intervals that do not divide. A
/// single infusion (a constant input, such as a continuous diet) is constant within a stretch.
double regimen_period(const std::vector<DoseRecord>& doses) {
  double period = 0.0;
  for (const DoseRecord& r : doses) {
    double end = 0.0;
    if (r.rate > 0.0 && !constant_input(r, end)) return 0.0;  // repeated infusions
    if (r.rate == 0.0 && r.addl >= 1) period = std::max(period, r.ii_h);
  }
  if (period <= 0.0) return 0.0;
  for (const DoseRecord& r : doses) {
    if ((r.addl < 1 && r.ss == 0) || r.rate > 0.0) continue;
    const double k = period / r.ii_h;
    if (std::abs(k - std::round(k)) > 1e-9 * k) return 0.0;
  }
  return period;
}

std::vector<Stretch> stretches(const std::vector<DoseRecord>& doses, double period, double t0,
                               double t_end) {
  std::vector<double> bounds = {t0, t_end};
  std::vector<std::pair<double, double>> irregular;  // one-off doses and SS resets
  for (const DoseRecord& r : doses) {
    if (r.ss == 1) {
      bounds.push_back(r.ss_time_h());
      bounds.push_back(r.ss_time_h() + period);
      irregular.emplace_back(r.ss_time_h(), r.ss_time_h() + period);
    }
    bounds.push_back(r.time_h);
    if (double end = 0.0; constant_input(r, end)) {  // constant between its start and end
      bounds.push_back(end);
      continue;
    }
    if (r.addl >= 1) {
      bounds.push_back(r.time_h + static_cast<double>(r.addl + 1) * r.ii_h);
    } else {
      bounds.push_back(r.time_h + period);
      irregular.emplace_back(r.time_h, r.time_h + period);
    }
  }
  std::sort(bounds.begin(), bounds.end());
  std::vector<double> b;
  for (double x : bounds) {
    if (x < t0 || x > t_end) continue;
    if (b.empty() || !same_time(b.back(), x)) b.push_back(x);
  }
  if (!same_time(b.back(), t_end)) b.push_back(t_end);
  b.back() = t_end;
  std::vector<Stretch> out;
  for (std::size_t i = 0; i + 1 < b.size(); ++i) {
    bool periodic = true;
    for (const auto& [a, e] : irregular) {
      if (a < b[i + 1] && !same_time(a, b[i + 1]) && e > b[i] && !same_time(e, b[i])) {
        periodic = false;
      }
    }
    if (!out.empty() && !periodic && !out.back().periodic) {
      out.back().end_h = b[i + 1];  // adjacent irregular stretches are integrated together
    } else {
      out.push_back({b[i], b[i + 1], periodic});
    }
  }
  return out;
}

/// Runs simulate() over pieces of the run and keeps the statistics.
class Pieces {
 public:
  Pieces(const OdeModel& model, const std::vector<DoseRecord>& doses,
         const SimulationOptions& options, SolveSummary& total, double t_from_h, double t_to_h)
      : model_(model), doses_(doses), events_(expand(doses)), total_(total) {
    options_ = options;
    options_.multirate = Multirate::kOff;
    map_options_ = options_;
    map_options_.rtol = map_rtol(options);
    // The Jacobian pattern is probed once for every piece (the frozen model's comes from it).
    if (may_use_sparse(options, model.state_count())) {
      pattern_ = jacobian_pattern(model, t_from_h, t_to_h, options.patterns.get());
      total_.rhs_evals += pattern_.probe_evals;
    }
  }

  /// The model's Jacobian pattern (empty with the dense solver).
  [[nodiscard]] const SparsityPattern& pattern() const { return pattern_; }
  /// The pattern of the frozen model of the stretch being integrated (set with each partition).
  void set_frozen_pattern(SparsityPattern p) { frozen_pattern_ = std::move(p); }

  /// Integrates `model` (the run's model or its frozen form, whose extra states get no doses)
  /// from state x at `a` through the doses in [a, b); `x` becomes the state at b before the doses
  /// at b, and `samples` holds the states at `times` (ascending, in [a, b)). False on failure
  /// (total_ then holds the status and message).
  bool run(const OdeModel& model, double a, double b, std::vector<double>& x,
           const std::vector<double>& times, Trajectory& samples,
           const std::vector<std::size_t>* cmt_map = nullptr) {
    // The period maps (cmt_map given) at their own relative tolerance (map_rtol).
    const SimulationOptions& options = cmt_map ? map_options_ : options_;
    std::vector<double> grid = times;
    grid.push_back(b);
    Trajectory traj;
    std::vector<DoseRecord> recs = records(a, b);
    if (cmt_map) {
      for (DoseRecord& r : recs) r.cmt = (*cmt_map)[r.cmt];
    }
    const SparsityPattern* pattern = nullptr;
    if (&model == &model_) {
      pattern = &pattern_;
    } else if (cmt_map) {
      pattern = &frozen_pattern_;
    }
    if (pattern && pattern->row.empty()) pattern = nullptr;
    const SolveSummary s = simulate_on_pattern(model, x, a, recs, grid, options, traj, {}, pattern);
    total_.steps += s.steps;
    total_.rhs_evals += s.rhs_evals;
    total_.restarts += s.restarts;
    if (total_.closed_form_depots.empty()) total_.closed_form_depots = s.closed_form_depots;
    if (!s.ok()) {
      total_.status = s.status;
      total_.message = s.message;
      return false;
    }
    const std::size_t n = traj.n_states;
    const std::size_t last = traj.time_h.size() - 1;
    x.assign(traj.states.begin() + static_cast<std::ptrdiff_t>(last * n), traj.states.end());
    samples.n_states = n;
    samples.time_h.assign(traj.time_h.begin(), traj.time_h.end() - 1);
    samples.states.assign(traj.states.begin(),
                          traj.states.begin() + static_cast<std::ptrdiff_t>(last * n));
    return true;
  }

  const OdeModel& model() const { return model_; }

 private:
  SparsityPattern pattern_;
  SparsityPattern frozen_pattern_;
  /// The doses in [a, b) as single records; an SS = 1 reset in [a, b) keeps its record (with its
  /// first dose only), so that simulate() sets the steady state as in a full run.
  std::vector<DoseRecord> records(double a, double b) const {
    std::vector<DoseRecord> recs;
    // Constant inputs: the part of each that runs in [a, b).
    for (const DoseRecord& d : doses_) {
      double end = 0.0;
      if (!constant_input(d, end)) continue;
      const double lo = std::max(a, d.time_h);
      const double hi = std::min(b, end);
      if (hi > lo && !same_time(hi, lo)) {
        DoseRecord r;
        r.time_h = lo;
        r.amt = d.rate * (hi - lo);
        r.rate = d.rate;
        r.cmt = d.cmt;
        recs.push_back(r);
      }
    }
    std::vector<std::size_t> ss_records;
    auto first = std::lower_bound(
        events_.begin(), events_.end(), a,
        [&](const DoseEvent& ev, double t) { return ev.time_h < t && !same_time(ev.time_h, t); });
    for (auto it = first; it != events_.end(); ++it) {
      if (it->time_h >= b || same_time(it->time_h, b)) break;
      if (it->kind == EventKind::kSsReset) {
        DoseRecord r = doses_[it->record];
        r.addl = 0;
        recs.push_back(r);
        ss_records.push_back(it->record);
      } else if (it->kind == EventKind::kBolus) {  // (infusion events: above)
        const DoseRecord& from = doses_[it->record];
        const bool in_ss =
            std::find(ss_records.begin(), ss_records.end(), it->record) != ss_records.end() &&
            same_time(it->time_h, from.time_h);
        if (in_ss) continue;
        DoseRecord r;
        r.time_h = it->time_h;
        r.amt = it->value;
        r.cmt = it->cmt;
        recs.push_back(r);
      }
    }
    return recs;
  }

  const OdeModel& model_;
  const std::vector<DoseRecord>& doses_;
  std::vector<DoseEvent> events_;
  SimulationOptions options_;
  SimulationOptions map_options_;
  SolveSummary& total_;
};

/// Adds the outputs in [a, b) from `samples` (which hold them) to `out`.
void record_exact(std::span<const double> outputs, std::size_t& o, double b,
                  const Trajectory& samples, std::size_t n, Trajectory& out) {
  std::size_t k = 0;
  while (o < outputs.size() && outputs[o] < b && !same_time(outputs[o], b)) {
    while (k < samples.time_h.size() && !same_time(samples.time_h[k], outputs[o])) ++k;
    if (k == samples.time_h.size()) return;  // not sampled (cannot happen)
    out.time_h.push_back(outputs[o++]);
    const double* row = &samples.states[k * samples.n_states];
    out.states.insert(out.states.end(), row, row + n);
  }
}

/// The connected components of the graph whose edges are the nonzero entries of `a` (square),
/// each as ascending indices; components ordered by their smallest index.
std::vector<std::vector<Eigen::Index>> components(const Eigen::MatrixXd& a) {
  const Eigen::Index m = a.rows();
  std::vector<Eigen::Index> parent(static_cast<std::size_t>(m));
  for (Eigen::Index i = 0; i < m; ++i) parent[static_cast<std::size_t>(i)] = i;
  auto root = [&](Eigen::Index i) {
    while (parent[static_cast<std::size_t>(i)] != i) {
      i = parent[static_cast<std::size_t>(i)] =
          parent[static_cast<std::size_t>(parent[static_cast<std::size_t>(i)])];
    }
    return i;
  };
  for (Eigen::Index c = 0; c < m; ++c) {
    for (Eigen::Index r = 0; r < m; ++r) {
      if (r != c && a(r, c) != 0.0) {
        const Eigen::Index x = root(r);
        const Eigen::Index y = root(c);
        if (x != y) parent[static_cast<std::size_t>(std::max(x, y))] = std::min(x, y);
      }
    }
  }
  std::vector<std::vector<Eigen::Index>> out;
  std::vector<std::ptrdiff_t> slot(static_cast<std::size_t>(m), -1);
  for (Eigen::Index i = 0; i < m; ++i) {
    const auto r = static_cast<std::size_t>(root(i));
    if (slot[r] < 0) {
      slot[r] = static_cast<std::ptrdiff_t>(out.size());
      out.emplace_back();
    }
    out[static_cast<std::size_t>(slot[r])].push_back(i);
  }
  return out;
}

}  // namespace

Eigen::MatrixXd period_map_jacobian(const OdeModel& model, const Trajectory& samples,
                                    double t_end_h, const std::vector<std::size_t>& index,
                                    const SimulationOptions& options, long& rhs_evals) {
  return period_map_sensitivities(model, samples, t_end_h, index, {}, options, rhs_evals);
}

Eigen::MatrixXd period_map_sensitivities(const OdeModel& model, const Trajectory& samples,
                                         double t_end_h, const std::vector<std::size_t>& index,
                                         const std::vector<std::size_t>& params,
                                         const SimulationOptions& options, long& rhs_evals) {
  const std::size_t n = model.state_count();
  const auto nx = static_cast<Eigen::Index>(index.size());
  const auto np = static_cast<Eigen::Index>(params.size());
  const Eigen::Index m = nx + 2 * np;
  // Columns: the states, then the parameters; rows: the states, the parameters (0), then the
  // integrals of the parameters' derivatives.
  std::vector<std::size_t> column(index);
  column.insert(column.end(), params.begin(), params.end());
  Eigen::MatrixXd phi = Eigen::MatrixXd::Identity(m, m);
  Eigen::MatrixXd jac = Eigen::MatrixXd::Zero(m, m);
  std::vector<double> f0(n);
  std::vector<double> f1(n);
  std::vector<double> xs(n);
  auto row_of = [&](Eigen::Index k) {
    return k < nx ? index[static_cast<std::size_t>(k)] : params[static_cast<std::size_t>(k - nx)];
  };
  for (std::size_t p = 0; p < samples.time_h.size(); ++p) {
    const double ta = samples.time_h[p];
    const double tb = p + 1 < samples.time_h.size() ? samples.time_h[p + 1] : t_end_h;
    const double* row = &samples.states[p * samples.n_states];
    std::copy(row, row + n, xs.begin());
    const double tm = 0.5 * (ta + tb);
    model.rhs(tm, xs.data(), f0.data());
    for (Eigen::Index c = 0; c < nx + np; ++c) {
      const std::size_t j = column[static_cast<std::size_t>(c)];
      const double saved = xs[j];
      const double h = 1e-7 * std::max(std::abs(saved), options.atol / options.rtol);
      xs[j] = saved + h;
      model.rhs(tm, xs.data(), f1.data());
      xs[j] = saved;
      for (Eigen::Index k = 0; k < nx + np; ++k) {
        const std::size_t i = row_of(k);
        jac(k < nx ? k : k + np, c) = (f1[i] - f0[i]) / h;
      }
    }
    rhs_evals += static_cast<long>(column.size()) + 1;
    // States that do not interact (the vitamin K and the calcium-bone modules of model full)
    // make a block-diagonal Jacobian up to a permutation, whose exponential is the exponentials
    // of its blocks: one per connected component of the nonzero entries among the states and
    // the parameters. The integrals depend on the states and parameters but nothing on them, so
    // the pieces of the extended matrix that belong to two components multiply to 0 and its
    // exponential is I + the sum over the components of (the exponential of the component with
    // the integrals' rows) - I: each component adds its part to the integrals.
    Eigen::MatrixXd top = jac.topLeftCorner(nx + np, nx + np);
    for (const std::vector<Eigen::Index>& block : components(top)) {
      const auto b = static_cast<Eigen::Index>(block.size());
      // The integrals that depend on this component.
      std::vector<Eigen::Index> integrals;
      for (Eigen::Index r = nx + np; r < m; ++r) {
        for (Eigen::Index c : block) {
          if (jac(r, c) != 0.0) {
            integrals.push_back(r);
            break;
          }
        }
      }
      const auto bi = static_cast<Eigen::Index>(integrals.size());
      if (b + bi == 1) {
        phi.row(block[0]) *= std::exp((tb - ta) * jac(block[0], block[0]));
        continue;
      }
      Eigen::MatrixXd jb = Eigen::MatrixXd::Zero(b + bi, b + bi);
      Eigen::MatrixXd rows(b, m);
      for (Eigen::Index r = 0; r < b; ++r) {
        for (Eigen::Index c = 0; c < b; ++c) jb(r, c) = jac(block[r], block[c]);
        rows.row(r) = phi.row(block[r]);
      }
      for (Eigen::Index r = 0; r < bi; ++r) {
        for (Eigen::Index c = 0; c < b; ++c) jb(b + r, c) = jac(integrals[r], block[c]);
      }
      const Eigen::MatrixXd e = ((tb - ta) * jb).exp();
      const Eigen::MatrixXd updated = e.topLeftCorner(b, b) * rows;
      for (Eigen::Index r = 0; r < bi; ++r) {
        phi.row(integrals[r]) += e.block(b + r, 0, 1, b) * rows;
      }
      for (Eigen::Index r = 0; r < b; ++r) phi.row(block[r]) = updated.row(r);
    }
  }
  return phi;
}

std::vector<double> state_time_scales_h(const OdeModel& model, double t_h,
                                        std::span<const double> y) {
  const std::size_t n = model.state_count();
  std::vector<double> x(y.begin(), y.end());
  std::vector<double> f0(n);
  std::vector<double> f1(n);
  model.rhs(t_h, x.data(), f0.data());
  double scale = 0.0;
  for (double v : x) scale = std::max(scale, std::abs(v));
  if (scale == 0.0) scale = 1.0;
  std::vector<double> tau(n, std::numeric_limits<double>::infinity());
  for (std::size_t i = 0; i < n; ++i) {
    const double saved = x[i];
    const double h = 1e-6 * std::max(std::abs(saved), 1e-6 * scale);
    x[i] = saved + h;
    model.rhs(t_h, x.data(), f1.data());
    x[i] = saved;
    const double d = std::abs((f1[i] - f0[i]) / h);
    if (d > 0.0 && std::isfinite(d)) tau[i] = 1.0 / d;
  }
  return tau;
}

SolveSummary simulate_multirate(const OdeModel& model, std::span<const double> y0, double t0_h,
                                const std::vector<DoseRecord>& doses,
                                std::span<const double> output_times_h,
                                const SimulationOptions& options, Trajectory& out,
                                const std::function<void(double)>& progress) {
  // simulate() has checked y0, the output times (ascending, at least one, from t0) and that no
  // dose comes before t0, and has cleared `out`.
  const std::size_t n = model.state_count();
  SolveSummary total;
  SimulationOptions resolved = options;
  resolved.multirate = Multirate::kOff;
  const double period = regimen_period(doses);
  // A period that is not short against the slow time scale (a dose every 6 months) leaves
  // nothing to average: full resolution.
  if (period <= 0.0 || period > options.multirate_slow_h / 4.0) {
    return simulate(model, y0, t0_h, doses, output_times_h, resolved, out, progress);
  }
  const double t_last = output_times_h.back();
  const double min_stretch_h = options.multirate == Multirate::kAuto ? 365.0 * 24.0 : 4.0 * period;

  const std::vector<Stretch> parts = stretches(doses, period, t0_h, t_last);
  if (std::none_of(parts.begin(), parts.end(), [&](const Stretch& st) {
        return st.periodic && st.end_h - st.start_h >= min_stretch_h * (1.0 - 1e-9);
      })) {
    return simulate(model, y0, t0_h, doses, output_times_h, resolved, out, progress);
  }
  Pieces pieces(model, doses, options, total, t0_h, output_times_h.back());
  std::vector<double> x(y0.begin(), y0.end());
  std::size_t o = 0;
  double t = t0_h;
  Trajectory samples;
  auto fail = [&]() {
    out.time_h.resize(o);
    out.states.resize(o * n);
    return total;
  };
  // Integrates [t, b) in full, recording its outputs, and leaves x at b.
  auto resolve_to = [&](double b) {
    std::vector<double> times;
    for (std::size_t k = o;
         k < output_times_h.size() && output_times_h[k] < b && !same_time(output_times_h[k], b);
         ++k) {
      times.push_back(output_times_h[k]);
    }
    if (!pieces.run(model, t, b, x, times, samples)) return false;
    record_exact(output_times_h, o, b, samples, n, out);
    t = b;
    if (progress) progress(t);
    return true;
  };

  // A dose into a state makes it fast (a frozen state would lose the dose).
  std::vector<char> dosed(n, 0);
  for (const DoseRecord& r : doses) dosed[r.cmt] = 1;

  for (const Stretch& st : parts) {
    if (!st.periodic || st.end_h - st.start_h < min_stretch_h * (1.0 - 1e-9)) {
      if (!resolve_to(st.end_h)) return fail();
      continue;
    }
    // The partition at the start of the stretch: slow are the states with a long own time scale
    // that also swing (beyond their net change) by less than P / multirate_slow of their size
    // over the first period, integrated in full here (a state whose elimination is saturated has
    // a long own time scale but follows the doses within the period).
    const std::vector<double> tau = state_time_scales_h(model, t, x);
    const std::vector<char> is_slow = multirate_slow_states(model, t, x, options);
    std::vector<double> low = x;
    std::vector<double> high = x;
    const std::vector<double> first = x;
    {
      std::vector<double> times;
      for (std::size_t k = o; k < output_times_h.size() && output_times_h[k] < t + period &&
                              !same_time(output_times_h[k], t + period);
           ++k) {
        times.push_back(output_times_h[k]);
      }
      for (int m = 1; m < kJacobianIntervals; ++m) {
        const double at = t + period * m / kJacobianIntervals;
        if (std::none_of(times.begin(), times.end(), [&](double v) { return same_time(v, at); })) {
          times.push_back(at);
        }
      }
      std::sort(times.begin(), times.end());
      if (!pieces.run(model, t, t + period, x, times, samples)) return fail();
      record_exact(output_times_h, o, t + period, samples, n, out);
      t += period;
      for (std::size_t m = 0; m <= samples.time_h.size(); ++m) {
        const double* row = m < samples.time_h.size() ? &samples.states[m * n] : x.data();
        for (std::size_t i = 0; i < n; ++i) {
          low[i] = std::min(low[i], row[i]);
          high[i] = std::max(high[i], row[i]);
        }
      }
    }
    std::vector<char> accumulator(n, 0);
    for (std::size_t a : model.accumulators()) accumulator[a] = 1;
    std::vector<std::size_t> slow;
    std::vector<std::size_t> fast;
    for (std::size_t i = 0; i < n; ++i) {
      // The excursion beyond the net change: none for a state that moves one way.
      const double swing = high[i] - low[i] - std::abs(x[i] - first[i]);
      const double size = std::max(std::abs(high[i]), std::abs(low[i]));
      const bool steady = (accumulator[i] && !std::isfinite(tau[i])) ||
                          swing <= period / options.multirate_slow_h * size + options.atol;
      if (!dosed[i] && is_slow[i] && steady) {
        slow.push_back(i);
      } else {
        fast.push_back(i);
      }
    }
    if (slow.empty()) {
      if (!resolve_to(st.end_h)) return fail();
      continue;
    }
    // The fast states' own transients (a regimen that starts here) are integrated in full, in
    // chunks of their longest own time scale, until the periodic orbit is within kTransientExit
    // settle tolerances of the state (checked with the first Newton step at the start of each
    // chunk; docs/model.md step 1).
    double tau_fast = 0.0;
    for (std::size_t i : fast) {
      if (std::isfinite(tau[i])) tau_fast = std::max(tau_fast, tau[i]);
    }
    bool settled = false;
    // The leftover transient ends the settling early only while it is one decaying mode; after
    // the first time it is not, the settling goes on in full to within settle_tol, and the
    // leftover at that last look goes one period at a time (at most kLeftoverExact).
    bool leftover_ok = true;
    int leftover_exact = 0;  // periods integrated from the actual state after the last look
    std::vector<double> settle_prev(fast.size());       // the orbit's start at the last look
    std::vector<double> settle_prev_slow(slow.size());  // the slow states at the last look
    double settle_prev_t = 0.0;
    bool have_settle_prev = false;
    // Chunks of one of the longest own time scales while a leftover can end the settling (at
    // kTransientExit), else of three. After 24 of those time scales the settling ends.
    const double settle_chunk = std::max(std::ceil(3.0 * tau_fast / period), 1.0) * period;
    const double settle_chunk_fine = std::max(std::ceil(tau_fast / period), 1.0) * period;
    const double settle_t0 = t;  // the first look (after the first period, integrated above)
    const double settle_end = settle_t0 + 8.0 * settle_chunk;
    const double settle_tol = 10.0 * options.multirate_tol;
    if (total.multirate_slow.empty()) {
      const std::vector<std::string> names = model.state_names();
      for (std::size_t i : slow) total.multirate_slow.push_back(names[i]);
    }
    // The explicit Adams-Bashforth step is stable for h below the time scale of a decaying slow
    // state: at most 0.9 of the shortest one. The slow states with an own time scale below
    // kExponentialTauH take the exponential step instead (`expo`, indices into `slow`) once L,
    // the Jacobian of their period-averaged derivatives through the orbit (step 5), is known.
    std::vector<std::size_t> expo_candidates;                   // indices into slow
    std::vector<std::size_t> expo_states;                       // the same, as states of the model
    double stable_h = std::numeric_limits<double>::infinity();  // for the explicit step now
    double stable_h_rest = std::numeric_limits<double>::infinity();  // the same, beside `expo`
    for (std::size_t k = 0; k < slow.size(); ++k) {
      const double tk = tau[slow[k]];
      if (!std::isfinite(tk)) continue;
      stable_h = std::min(stable_h, 0.9 * tk);
      if (tk < kExponentialTauH) {
        expo_candidates.push_back(k);
        expo_states.push_back(slow[k]);
      } else {
        stable_h_rest = std::min(stable_h_rest, 0.9 * tk);
      }
    }
    // The slow states whose derivatives depend on one of those take it too (their drive relaxes
    // within a step, which the explicit step follows only to its own tolerance: the coronary
    // vascular age, of 60 years, on the MGP carboxylated fraction).
    if (!expo_candidates.empty()) {
      std::vector<double> f0(n);
      std::vector<double> f1(n);
      std::vector<double> xp = x;
      model.rhs(t, x.data(), f0.data());
      std::vector<char> joins(slow.size(), 0);
      for (std::size_t c : expo_states) {
        xp[c] = x[c] + 1e-7 * std::max(std::abs(x[c]), options.atol / options.rtol);
        model.rhs(t, xp.data(), f1.data());
        ++total.rhs_evals;
        xp[c] = x[c];
        for (std::size_t k = 0; k < slow.size(); ++k) {
          if (f1[slow[k]] != f0[slow[k]]) joins[k] = 1;
        }
      }
      for (std::size_t k : expo_candidates) joins[k] = 0;
      for (std::size_t k = 0; k < slow.size(); ++k) {
        if (joins[k]) {
          expo_candidates.push_back(k);
          expo_states.push_back(slow[k]);
        }
      }
      stable_h_rest = std::numeric_limits<double>::infinity();
      for (std::size_t k = 0; k < slow.size(); ++k) {
        const double tk = tau[slow[k]];
        if (std::isfinite(tk) &&
            std::find(expo_candidates.begin(), expo_candidates.end(), k) == expo_candidates.end()) {
          stable_h_rest = std::min(stable_h_rest, 0.9 * tk);
        }
      }
    }
    const double stable_h_all = stable_h;    // the same without an exponential state
    bool want_l = !expo_candidates.empty();  // L is computed at the first orbit after settling
    std::vector<std::size_t> expo;           // the exponential states, once L is known
    ExponentialStep exp_step;
    Eigen::MatrixXd l_ee;        // L on the exponential states
    std::vector<double> s_prev;  // the slow states (period means) at the start of the last step
    FrozenSlow frozen(model, fast, slow);
    if (!pieces.pattern().row.empty())
      pieces.set_frozen_pattern(frozen.pattern_from(pieces.pattern()));
    const std::vector<std::size_t> cmt_map = frozen.index_map();
    std::vector<double> reduced;
    Trajectory reduced_samples;
    const std::size_t nf = fast.size();
    const std::size_t ns = slow.size();
    const double orbit_tol =
        std::max(100.0 * std::min(options.rtol, map_rtol(options)), 0.01 * options.multirate_tol);
    Eigen::PartialPivLU<Eigen::MatrixXd> lu;
    bool lu_valid = false;
    // What is left of the fast states' own transient when the settling ends, the leftover:
    // their distance from the start of the period the step uses (empty: none).
    Eigen::VectorXd leftover;
    // The fast states where the leftover is measured from the next orbit (empty: none): at the
    // end of the settling, and after a step of one period (whose end is known, while the orbit
    // moves on with the slow states).
    std::vector<double> leftover_at;
    std::vector<double> leftover_end;
    Trajectory leftover_samples;
    std::vector<double> g(ns);
    std::vector<double> g_prev(ns);
    std::vector<double> f_now(n);   // the right-hand side at the start of a step,
    std::vector<double> f_back(n);  // one step back and
    std::vector<double> f_end(n);   // at the start of a period within the step (state frozen)
    std::vector<double> d1(ns);     // the implicit slope of the slow derivatives
    std::vector<double> d1_prev(ns);
    std::vector<double> orbit_prev(nf);
    double h_prev = 0.0;
    double h_prev2 = 0.0;
    double orbit_prev_dt = 0.0;  // time from the orbit in orbit_prev to this step (0: none)
    int failures = 0;
    bool averaged = false;  // x holds the period means of the slow states (not their values)
    // Outputs of the last step whose fast states wait for the next orbit: row offset in
    // out.states, phase, fraction of the step.
    struct Pending {
      std::size_t row;
      double phase;
      double frac;
      std::vector<double> leftover;  // the fast states' leftover transient in the row (or empty)
    };
    std::vector<Pending> pending;
    std::vector<double> orbit_start(nf, 0.0);  // the fast states at the start of the last orbit
    std::vector<double> lagged;                // the lagging start of the fast states (full state)
    std::vector<double> orbit_estimate;        // the orbit's start after a last chord step
    std::vector<double> last_lag(nf, 0.0);     // the lag of the fast states at the last step
    // Without a next orbit: the fast states move as predicted for the start of the next step.
    auto flush_pending = [&]() {
      for (const Pending& p : pending) {
        for (std::size_t k = 0; k < nf; ++k) {
          out.states[p.row + fast[k]] += p.frac * (x[fast[k]] - orbit_start[k]);
        }
      }
      pending.clear();
    };
    // The leftover transient into the fast states (before they are integrated in full): the
    // actual fast states where they are known, else the leftover added.
    auto add_leftover = [&]() {
      if (!leftover_at.empty()) {
        for (std::size_t k = 0; k < nf; ++k) x[fast[k]] = leftover_at[k];
      } else {
        for (Eigen::Index k = 0; k < leftover.size(); ++k) {
          const std::size_t i = fast[static_cast<std::size_t>(k)];
          const double v = x[i] + leftover(k);
          if (v * x[i] >= 0.0) x[i] = v;
        }
      }
      leftover_at.clear();
      leftover.resize(0);
    };
    std::vector<double> q_mean(ns);
    std::vector<double> omega0(ns);
    // Before a period in full: the slow states' values at this phase, a fresh Jacobian, and the
    // steps' history (and the lag) started again.
    auto restart_history = [&]() {
      if (averaged) {
        for (std::size_t k = 0; k < ns; ++k) x[slow[k]] += omega0[k];
        averaged = false;
      }
      lu_valid = false;
      h_prev = h_prev2 = 0.0;
      orbit_prev_dt = 0.0;
      std::fill(last_lag.begin(), last_lag.end(), 0.0);
    };
    std::vector<double> s0(ns);
    for (std::size_t k = 0; k < ns; ++k) s0[k] = x[slow[k]];

    // The Jacobian of the period map along `samples` (the period from t) into lu, and with
    // want_l also L and the exponential states; false where it is not finite.
    auto build_jacobian = [&](bool with_l) {
      static const std::vector<std::size_t> none;
      const Eigen::MatrixXd psi = period_map_sensitivities(
          model, samples, t + period, fast, with_l ? expo_states : none, options, total.rhs_evals);
      const auto nfi = static_cast<Eigen::Index>(nf);
      const auto nei = static_cast<Eigen::Index>(with_l ? expo_states.size() : 0);
      const Eigen::MatrixXd system =
          Eigen::MatrixXd::Identity(nfi, nfi) - psi.topLeftCorner(nfi, nfi);
      lu.compute(system);
      lu_valid = true;
      if (!system.allFinite()) return false;
      if (with_l) {
        want_l = false;
        const Eigen::MatrixXd l =
            (psi.block(nfi + nei, nfi, nei, nei) +
             psi.block(nfi + nei, 0, nei, nfi) * lu.solve(psi.block(0, nfi, nfi, nei))) /
            period;
        if (!l.allFinite()) return true;
        expo = expo_candidates;
        l_ee = l;
        exp_step.set(l_ee);
        stable_h = stable_h_rest;
        h_prev2 = 0.0;  // (the last slope has no L term: no second difference with it)
      }
      return true;
    };

    // Macro steps while there is room for a full period after this one.
    while (t + 2.0 * period <= st.end_h * (1.0 + 1e-12)) {
      // Where outputs will be needed: the outputs of the coming period, and the phases of the
      // outputs that a step from here can reach.
      const double reach = std::min(st.end_h, t + options.multirate_max_jump_h + 2.0 * period);
      std::vector<double> times;
      for (std::size_t k = o; k < output_times_h.size() && output_times_h[k] < reach; ++k) {
        double phase = std::fmod(output_times_h[k] - t, period);
        if (same_time(phase, period) || phase < 0.0) phase = 0.0;
        const double at = t + phase;
        if (std::none_of(times.begin(), times.end(), [&](double v) { return same_time(v, at); })) {
          times.push_back(at);
        }
      }
      for (const Pending& p : pending) {  // the phases of the outputs left from the last step
        const double at = t + p.phase;
        if (std::none_of(times.begin(), times.end(), [&](double v) { return same_time(v, at); })) {
          times.push_back(at);
        }
      }
      std::sort(times.begin(), times.end());
      // The fast periodic orbit with the slow states frozen: Newton (chord) on the period map.
      std::vector<double> xe(n + ns, 0.0);
      std::copy(x.begin(), x.end(), xe.begin());
      std::vector<double> end;
      // One period of the frozen model from the full state `from`; `to` and the rows of `smp`
      // are full states followed by the integrals of the slow derivatives.
      auto map = [&](const std::vector<double>& from, std::vector<double>& to,
                     const std::vector<double>& at, Trajectory& smp) {
        frozen.freeze(from);
        frozen.reduce(from, reduced);
        ++total.periods;
        if (!pieces.run(frozen, t, t + period, reduced, at, reduced_samples, &cmt_map)) {
          return false;
        }
        to.assign(n + ns, 0.0);
        frozen.expand(reduced, to.data());
        const std::size_t nr = frozen.state_count();
        smp.n_states = n + ns;
        smp.time_h = reduced_samples.time_h;
        smp.states.assign(reduced_samples.time_h.size() * (n + ns), 0.0);
        for (std::size_t m = 0; m < smp.time_h.size(); ++m) {
          frozen.expand(std::span<const double>(&reduced_samples.states[m * nr], nr),
                        &smp.states[m * (n + ns)]);
        }
        return true;
      };
      // The pieces of the period for the Jacobian of the map.
      for (int m = 0; m < kJacobianIntervals; ++m) {
        const double at = t + period * m / kJacobianIntervals;
        if (std::none_of(times.begin(), times.end(), [&](double v) { return same_time(v, at); })) {
          times.push_back(at);
        }
      }
      std::sort(times.begin(), times.end());
      bool converged = false;
      bool transient = false;
      bool lag_used = false;  // the step uses the period from the lagging start
      for (int it = 0; it < 8; ++it) {
        if (!map(xe, end, times, samples)) return fail();
        // Converged when each fast state repeats within orbit_tol of its largest value over the
        // period, loosened by P / tau for the states that forget their start within the period
        // (their start changes the period averages by about tau / P of its error).
        Eigen::VectorXd residual(static_cast<Eigen::Index>(nf));
        double worst = 0.0;
        for (std::size_t k = 0; k < nf; ++k) {
          const std::size_t i = fast[k];
          const double r = end[i] - xe[i];
          residual(static_cast<Eigen::Index>(k)) = r;
          double scale = std::max(std::abs(end[i]), std::abs(xe[i]));
          for (std::size_t m = 0; m < samples.time_h.size(); ++m) {
            scale = std::max(scale, std::abs(samples.states[m * samples.n_states + i]));
          }
          const double w =
              orbit_tol * scale * std::max(1.0, period / tau[i]) + 100.0 * options.atol;
          worst = std::max(worst, std::abs(r) / w);
        }
        if (worst <= 1.0) {
          converged = true;
          // The map just integrated is accepted; one more (free) chord step still improves the
          // estimate of the orbit's start that the fast states' drift is measured on.
          if (lu_valid) {
            orbit_estimate = xe;
            const Eigen::VectorXd dy = lu.solve(residual);
            for (std::size_t k = 0; k < nf; ++k) {
              const double v = xe[fast[k]] + dy(static_cast<Eigen::Index>(k));
              if (std::isfinite(v) && v * xe[fast[k]] >= 0.0) orbit_estimate[fast[k]] = v;
            }
          } else {
            orbit_estimate = xe;
          }
          break;
        }
        if (!lu_valid || it == 3) {
          // Jacobian of the period map over the fast states (slow ones frozen), along this period.
          build_jacobian(false);
        }
        const Eigen::VectorXd dy = lu.solve(residual);
        if (!settled && it == 0) {
          // Far from the orbit: the fast states are still in a transient of their own. Their
          // distance from the orbit is measured beyond the lag they keep while the orbit moves
          // (estimated from the orbits found at the last two looks, step 3 below).
          Eigen::VectorXd lag = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(nf));
          if (have_settle_prev && t > settle_prev_t) {
            Eigen::VectorXd shift(static_cast<Eigen::Index>(nf));
            for (std::size_t k = 0; k < nf; ++k) {
              const auto kk = static_cast<Eigen::Index>(k);
              shift(kk) = period * (xe[fast[k]] + dy(kk) - settle_prev[k]) / (t - settle_prev_t);
            }
            lag = lu.solve(shift);
          }
          double distance = 0.0;
          for (std::size_t k = 0; k < nf; ++k) {
            const std::size_t i = fast[k];
            const auto kk = static_cast<Eigen::Index>(k);
            const double off = std::isfinite(lag(kk)) ? dy(kk) - lag(kk) : dy(kk);
            distance = std::max(
                distance, std::abs(off) / (settle_tol * std::abs(xe[i]) + 100.0 * options.atol));
          }
          if (have_settle_prev && t > settle_prev_t) {
            // The steps start with the orbit's drift since the last look (step 3).
            orbit_prev = settle_prev;
            orbit_prev_dt = t - settle_prev_t;
          }
          for (std::size_t k = 0; k < nf; ++k) {
            settle_prev[k] = xe[fast[k]] + dy(static_cast<Eigen::Index>(k));
          }
          // The leftover's first step is a period with the slow states frozen: where one moves
          // fast against its size and own time scale (an error of (P / tau) (P ds/dt) / 2 in it,
          // ds/dt from the last look), more than settle_tol of it, the settling goes on.
          bool slow_still = true;
          if (have_settle_prev && t > settle_prev_t) {
            for (std::size_t k = 0; k < ns; ++k) {
              const std::size_t i = slow[k];
              if (!std::isfinite(tau[i])) continue;
              const double change = period * (x[i] - settle_prev_slow[k]) / (t - settle_prev_t);
              if (0.5 * period / tau[i] * std::abs(change) >
                  settle_tol * std::abs(x[i]) + options.atol) {
                slow_still = false;
              }
            }
          } else {
            slow_still = false;
          }
          for (std::size_t k = 0; k < ns; ++k) settle_prev_slow[k] = x[slow[k]];
          settle_prev_t = t;
          have_settle_prev = true;
          // Within kTransientExit, what is left (the leftover) is carried by the steps. After 24
          // of the longest own time scales (by the diagonal) what is left is taken for the fast
          // states following a moving orbit, which the steps follow too.
          const double exit_at = leftover_ok && slow_still ? kTransientExit : 1.0;
          if (distance > exit_at && t < settle_end * (1.0 - 1e-12)) {
            transient = true;
            orbit_prev_dt = 0.0;
            break;
          }
          // The settling ends here: the first step starts from the actual fast states, their
          // leftover measured from the orbit it finds.
          leftover_at.resize(nf);
          for (std::size_t k = 0; k < nf; ++k) leftover_at[k] = x[fast[k]];
          if (distance > 1.0 && distance <= exit_at && leftover_ok) {
            // (No lag: the drift between two looks this far from the orbit is mostly the error
            // of the chord step.) A leftover that is not one mode sends it back to settling.
            orbit_prev_dt = 0.0;
          } else {
            leftover_ok = false;  // the last look: a leftover goes one period at a time
          }
        }
        for (std::size_t k = 0; k < nf; ++k) {
          if (!std::isfinite(dy(static_cast<Eigen::Index>(k)))) {
            lu_valid = false;
            break;
          }
          xe[fast[k]] += dy(static_cast<Eigen::Index>(k));
        }
        if (!lu_valid) break;
      }
      if (transient) {
        // The next chunk of the transient in full, then another look.
        // (Back to the coarse looks after a leftover that was not one mode: on their grid.)
        const double next_look =
            leftover_ok
                ? t + settle_chunk_fine
                : settle_t0 + std::ceil((t - settle_t0) / settle_chunk + 1e-9) * settle_chunk;
        const double chunk = std::min(next_look - t, st.end_h - 2.0 * period - t);
        if (chunk < period) break;
        if (!resolve_to(t + std::floor(chunk / period * (1.0 + 1e-9)) * period)) return fail();
        continue;
      }
      settled = true;
      if (converged && (!lu_valid || want_l)) {
        // Converged on the first period without a Jacobian yet, or the first orbit after the
        // settling: build it (and L) from this period (no extra period), for the lag below, the
        // next steps' Newton and the exponential step.
        const bool fresh = !lu_valid;
        if (build_jacobian(want_l)) {
          if (fresh)
            orbit_estimate = xe;  // (no chord step: the period just integrated starts here)
        } else {
          lu_valid = false;
        }
      }
      if (converged && lu_valid && orbit_prev_dt > 0.0) {
        // The fast states lag behind the slow ones: with the orbit's start y* drifting at dy*/dt,
        // the start that repeats one period later plus that drift is y* - (I - J)^-1 P dy*/dt
        // (J the Jacobian of the period map). Where that lag is more than 10 multirate_tol of a
        // state, the period is integrated again from there, and it is the one the step uses.
        Eigen::VectorXd shift(static_cast<Eigen::Index>(nf));
        for (std::size_t k = 0; k < nf; ++k) {
          shift(static_cast<Eigen::Index>(k)) =
              period * (orbit_estimate[fast[k]] - orbit_prev[k]) / orbit_prev_dt;
        }
        Eigen::VectorXd lag = lu.solve(shift);
        double size = 0.0;
        for (std::size_t k = 0; k < nf; ++k) {
          const std::size_t i = fast[k];
          double& e = lag(static_cast<Eigen::Index>(k));
          // No lag where it is not finite or would change the sign of a state (one near 0).
          if (!std::isfinite(e) || (xe[i] - e) * xe[i] < 0.0) e = 0.0;
          size = std::max(size, std::abs(e) / (10.0 * options.multirate_tol * std::abs(xe[i]) +
                                               100.0 * options.atol));
        }
        if (size > 1.0) {
          lag_used = true;
          lagged = xe;
          for (std::size_t k = 0; k < nf; ++k) {
            lagged[fast[k]] -= lag(static_cast<Eigen::Index>(k));
          }
          if (!map(lagged, end, times, samples)) return fail();
          ++total.lag_periods;
          for (std::size_t k = 0; k < nf; ++k) last_lag[k] = lag(static_cast<Eigen::Index>(k));
        } else {
          std::fill(last_lag.begin(), last_lag.end(), 0.0);
        }
      }
      if (converged) {
        // The fast states of the last step's outputs, between the two orbits at their phase
        // (and their leftover transient, which is not interpolated).
        for (const Pending& p : pending) {
          std::size_t m = 0;
          while (m < samples.time_h.size() && !same_time(samples.time_h[m], t + p.phase)) ++m;
          if (m == samples.time_h.size()) continue;  // cannot happen: every phase is sampled
          for (std::size_t k = 0; k < nf; ++k) {
            const std::size_t i = fast[k];
            double& v = out.states[p.row + i];
            const double d = p.leftover.empty() ? 0.0 : p.leftover[k];
            v += p.frac * (samples.states[m * samples.n_states + i] - (v - d));
          }
        }
        pending.clear();
      }
      if (!converged) {
        // No orbit here: this period in full, and the next try with a fresh Jacobian.
        flush_pending();
        restart_history();
        add_leftover();
        if (++failures >= 3) break;
        if (!resolve_to(t + period)) return fail();
        // (The next step measures what is left from the orbit it finds.)
        leftover_at.assign(nf, 0.0);
        for (std::size_t k = 0; k < nf; ++k) leftover_at[k] = x[fast[k]];
        continue;
      }
      failures = 0;
      // The start of the period the step uses (its slow states are values at this phase on the
      // first step of a stretch, period means after it).
      const std::vector<double> used_start = lag_used ? lagged : xe;
      if (!leftover_at.empty()) {
        leftover.resize(static_cast<Eigen::Index>(nf));
        double size = 0.0;
        for (std::size_t k = 0; k < nf; ++k) {
          const double d = leftover_at[k] - used_start[fast[k]];
          leftover(static_cast<Eigen::Index>(k)) = d;
          size = std::max(size, std::abs(d) / (settle_tol * std::abs(used_start[fast[k]]) +
                                               100.0 * options.atol));
        }
        if (!(size > 0.1)) leftover.resize(0);  // (none below multirate_tol)
        leftover_at.clear();
      }
      // What is left of the fast states' own transient (settling, step 1): the period from the
      // actual start, the orbit's plus the leftover delta_0, gives delta_1 at its end and the
      // transient's change of the slow integrals dI_0. Where delta_1 = rho delta_0 (one decaying
      // mode: 0 < rho < 1, the rest within kOneMode of delta_1) period j has rho^j of both;
      // else the step is this one period, integrated from the actual state.
      std::vector<double> left_dI(ns, 0.0);
      double rho = 0.0;
      bool one_mode = false;
      Eigen::VectorXd delta1;
      if (leftover.size() == static_cast<Eigen::Index>(nf)) {
        std::vector<double> actual = used_start;
        for (std::size_t k = 0; k < nf; ++k)
          actual[fast[k]] += leftover(static_cast<Eigen::Index>(k));
        if (!map(actual, leftover_end, times, leftover_samples)) return fail();
        ++total.leftover_periods;
        // Each fast state relative to its largest value over the orbit's period (a gut amount
        // before the day's dose is near 0).
        delta1.resize(static_cast<Eigen::Index>(nf));
        std::vector<double> weight(nf);
        double d00 = 0.0;
        double d10 = 0.0;
        for (std::size_t k = 0; k < nf; ++k) {
          const auto kk = static_cast<Eigen::Index>(k);
          const std::size_t i = fast[k];
          double scale = std::max(std::abs(used_start[i]), std::abs(end[i]));
          for (std::size_t m = 0; m < samples.time_h.size(); ++m) {
            scale = std::max(scale, std::abs(samples.states[m * samples.n_states + i]));
          }
          weight[k] = 1.0 / (scale + options.atol / settle_tol);
          delta1(kk) = leftover_end[i] - end[i];
          d00 += leftover(kk) * leftover(kk) * weight[k] * weight[k];
          d10 += delta1(kk) * leftover(kk) * weight[k] * weight[k];
        }
        rho = d00 > 0.0 ? d10 / d00 : 0.0;
        double off = 0.0;
        double size1 = 0.0;
        for (std::size_t k = 0; k < nf; ++k) {
          const auto kk = static_cast<Eigen::Index>(k);
          off = std::max(off, std::abs(delta1(kk) - rho * leftover(kk)) * weight[k]);
          size1 = std::max(size1, std::abs(delta1(kk)) * weight[k]);
        }
        one_mode = rho > 0.0 && rho < 1.0 && off <= kOneMode * size1 && delta1.allFinite();
        for (std::size_t k = 0; k < ns; ++k) {
          const double v = leftover_end[n + k] - end[n + k];
          left_dI[k] = std::isfinite(v) ? v : 0.0;
        }
      }
      const bool has_leftover = leftover.size() == static_cast<Eigen::Index>(nf);
      bool resettle = false;  // the leftover is not one mode: back to settling after this step
      // The average slow derivatives over the orbit, and the step.
      for (std::size_t k = 0; k < ns; ++k) g[k] = end[n + k] / period;
      // The slow states' own ripple over the period, omega(phase) = Q(phase) - mean(Q)
      // - g (phase - P/2), Q the integral of their derivative from the period's start: the steps
      // carry the period mean of each slow state (first-order averaging), and the ripple gives
      // its value at a phase. Mean of Q by the trapezoid rule over the samples.
      for (std::size_t k = 0; k < ns; ++k) {
        double area = 0.0;
        double t_prev = t;
        double q_prev = 0.0;
        for (std::size_t m = 0; m < samples.time_h.size(); ++m) {
          const double q = samples.states[m * samples.n_states + n + k];
          area += 0.5 * (q + q_prev) * (samples.time_h[m] - t_prev);
          t_prev = samples.time_h[m];
          q_prev = q;
        }
        area += 0.5 * (end[n + k] + q_prev) * (t + period - t_prev);
        q_mean[k] = area / period;
        omega0[k] = -q_mean[k] + 0.5 * g[k] * period;
      }
      if (!averaged) {  // from the state at this phase to the period mean
        for (std::size_t k = 0; k < ns; ++k) xe[slow[k]] -= omega0[k];
        averaged = true;
      }
      // The explicit time dependence of the slow derivatives (a life table's bands), at this
      // state: e(tau) = f(xe, tau) - f(xe, t), at the start of each period
      // (the same phase). The steps carry it by quadrature, and the Adams-Bashforth history
      // only the rest (the change that comes from the states): the implicit slope
      // d1 = (g - g_prev) / h_prev - (f(xe, t) - f(xe, t - h_prev)) / h_prev. A kink in a
      // hazard then costs no small steps, and a trend is not counted twice.
      model.rhs(t, xe.data(), f_now.data());
      ++total.rhs_evals;
      bool explicit_ok = std::all_of(slow.begin(), slow.end(),
                                     [&](std::size_t i) { return std::isfinite(f_now[i]); });
      if (h_prev > 0.0) {
        model.rhs(t - h_prev, xe.data(), f_back.data());
        ++total.rhs_evals;
        for (std::size_t k = 0; k < ns; ++k) {
          const std::size_t i = slow[k];
          const double e_back = (f_now[i] - f_back[i]) / h_prev;
          // (Not finite: no quadrature either, so that the trend is counted once, in d1.)
          explicit_ok = explicit_ok && std::isfinite(e_back);
          d1[k] = (g[k] - g_prev[k]) / h_prev - (std::isfinite(e_back) ? e_back : 0.0);
        }
        // The exponential states: the slope of what is left of g beyond L s.
        if (!expo.empty() && s_prev.size() == ns) {
          const auto ne = static_cast<Eigen::Index>(expo.size());
          Eigen::VectorXd ds(ne);
          for (Eigen::Index r = 0; r < ne; ++r) {
            const std::size_t k = expo[static_cast<std::size_t>(r)];
            ds(r) = xe[slow[k]] - s_prev[k];
          }
          const Eigen::VectorXd lds = l_ee * ds;
          for (Eigen::Index r = 0; r < ne; ++r)
            d1[expo[static_cast<std::size_t>(r)]] -= lds(r) / h_prev;
        }
      } else {
        std::fill(d1.begin(), d1.end(), 0.0);
      }
      // The error allowed in a step of slow state k: multirate_tol of its value, of its change
      // since the stretch began, or of g times the time since then, whichever is largest.
      auto tolerance = [&](std::size_t k) {
        const double sv = xe[slow[k]];
        const double scale = std::max({std::abs(sv), std::abs(sv - s0[k]),
                                       std::abs(g[k]) * std::max(period, t - st.start_h)});
        return options.multirate_tol * scale + options.atol;
      };
      // Step: whole periods, with the local error of the Adams-Bashforth step on the implicit
      // part, (5/12) h^3 |g''|, at most half the tolerance (|d1| h^2 / 2, the distance from an
      // Euler step, while there is no second difference yet).
      double h = period;
      if (h_prev > 0.0) {
        double worst = 0.0;
        for (std::size_t k = 0; k < ns; ++k) {
          const double w = tolerance(k);
          const double size = h_prev2 > 0.0
                                  ? 2.0 * std::abs(d1[k] - d1_prev[k]) / (h_prev + h_prev2)
                                  : std::abs(d1[k]);
          worst = std::max(worst, size / w);
        }
        double h_max = std::numeric_limits<double>::infinity();
        if (worst > 0.0) {
          h_max = h_prev2 > 0.0 ? std::cbrt(6.0 / (5.0 * worst)) : std::sqrt(1.0 / worst);
        }
        // (A step leaves room for one more orbit and period, so that the stretch ends on an
        // orbit that Newton has checked.)
        h_max = std::min({h_max, 2.0 * h_prev, options.multirate_max_jump_h, stable_h,
                          st.end_h - t - 2.0 * period});
        h = std::max(period, std::floor(h_max / period * (1.0 + 1e-9)) * period);
      }
      if (has_leftover && !one_mode) h = period;
      // The quadrature of e over the step: the trapezoid rule on the starts of the periods,
      // and on every other one; where they differ by more than half the tolerance (a change
      // within a period, such as a flux that doubles at an hour of a day), the step halves.
      std::vector<double> quad(ns, 0.0);
      std::vector<double> e;  // e[(j - 1) * ns + k]: slow derivative k at the start of period j
      auto e_at = [&](std::size_t j, std::size_t k) { return j == 0 ? 0.0 : e[(j - 1) * ns + k]; };
      while (true) {
        const auto m = static_cast<std::size_t>(std::llround(h / period));
        e.assign(m * ns, 0.0);
        for (std::size_t j = 1; j <= m && explicit_ok; ++j) {
          model.rhs(t + static_cast<double>(j) * period, xe.data(), f_end.data());
          ++total.rhs_evals;
          for (std::size_t k = 0; k < ns; ++k) {
            e[(j - 1) * ns + k] = f_end[slow[k]] - f_now[slow[k]];
            explicit_ok = explicit_ok && std::isfinite(e[(j - 1) * ns + k]);
          }
        }
        if (!explicit_ok) {  // the model cannot be evaluated there: one period, no quadrature
          h = period;
          std::fill(quad.begin(), quad.end(), 0.0);
          e.clear();  // (the outputs of the step read it)
          break;
        }
        const std::size_t m_even = m - m % 2;
        double worst = 0.0;
        for (std::size_t k = 0; k < ns; ++k) {
          double fine = 0.5 * e_at(m, k);
          for (std::size_t j = 1; j < m; ++j) fine += e_at(j, k);
          fine *= period;
          double coarse = 0.5 * e_at(m_even, k);
          for (std::size_t j = 2; j < m_even; j += 2) coarse += e_at(j, k);
          coarse *= 2.0 * period;
          if (m % 2 == 1) coarse += 0.5 * period * (e_at(m_even, k) + e_at(m, k));
          quad[k] = fine;
          if (m < 2) continue;
          worst = std::max(worst, std::abs(fine - coarse) / (0.5 * tolerance(k)));
        }
        if (worst <= 1.0 || h <= period) break;
        h = std::max(period, std::floor(0.5 * h / period * (1.0 + 1e-9)) * period);
      }
      const auto steps_m = static_cast<std::size_t>(std::llround(h / period));
      // The leftover's periods in the step, each rho times the last: sum of rho^j.
      double leftover_sum = 0.0;
      if (has_leftover) {
        leftover_sum =
            one_mode ? (1.0 - std::pow(rho, static_cast<double>(steps_m))) / (1.0 - rho) : 1.0;
      }
      // The step's change of the slow states from g and d1 after a time dt: h g + h^2 d1 / 2,
      // for the exponential states phi_1(dt L) dt g + phi_2(dt L) dt^2 d1.
      std::vector<double> drift(ns);
      Eigen::VectorXd w_out;  // the exponential states' w at the last output of the step
      double dt_w = 0.0;      // and its time from t
      auto step_drift = [&](double dt, bool output) {
        for (std::size_t k = 0; k < ns; ++k) drift[k] = dt * g[k] + 0.5 * dt * dt * d1[k];
        if (expo.empty() || dt <= 0.0) return;
        const Eigen::Index ne = exp_step.size();
        if (!output || w_out.size() == 0 || dt < dt_w) {
          w_out = Eigen::VectorXd::Zero(3 * ne);
          for (Eigen::Index r = 0; r < ne; ++r) {
            const std::size_t k = expo[static_cast<std::size_t>(r)];
            w_out(ne + r) = g[k];
            w_out(2 * ne + r) = d1[k];
          }
          dt_w = 0.0;
        }
        const Eigen::VectorXd w = exp_step.advance(w_out, dt - dt_w);
        if (output) {
          w_out = w;
          dt_w = dt;
        } else {
          w_out.resize(0);
        }
        for (Eigen::Index r = 0; r < ne; ++r) drift[expo[static_cast<std::size_t>(r)]] = w(r);
      };
      step_drift(h, false);
      // The leftover's change of the exponential states: the rho^j dI_0 of period j decays at L
      // for the rest of the step, acc_(j+1) = exp(P L) acc_j + rho^j dI_0 (left_acc[j]: after j
      // periods).
      std::vector<Eigen::VectorXd> left_acc;
      if (has_leftover && !expo.empty()) {
        const Eigen::Index ne = exp_step.size();
        Eigen::VectorXd di(ne);
        for (Eigen::Index r = 0; r < ne; ++r) di(r) = left_dI[expo[static_cast<std::size_t>(r)]];
        left_acc.assign(1, Eigen::VectorXd::Zero(ne));
        double rj = 1.0;
        for (std::size_t j = 0; j < steps_m; ++j) {
          left_acc.push_back(exp_step.decay(left_acc.back(), period) + rj * di);
          rj *= rho;
        }
      }
      std::vector<char> expo_row(ns, 0);         // slow state k (index into slow) is exponential
      std::vector<Eigen::Index> expo_at(ns, 0);  // and its place among them
      for (std::size_t r = 0; r < expo.size(); ++r) {
        expo_row[expo[r]] = 1;
        expo_at[expo[r]] = static_cast<Eigen::Index>(r);
      }
      // The quadrature of e for the exponential states decays at L over the rest of the step too:
      // by the trapezoid rule on each period with its start decayed, quad_acc[j] after j periods.
      const std::size_t e_periods = e.size() / ns;
      auto e_vec = [&](std::size_t j) {
        Eigen::VectorXd v(static_cast<Eigen::Index>(expo.size()));
        for (std::size_t r = 0; r < expo.size(); ++r)
          v(static_cast<Eigen::Index>(r)) = e_at(j, expo[r]);
        return v;
      };
      std::vector<Eigen::VectorXd> quad_acc;
      if (!expo.empty() && e_periods == steps_m) {
        quad_acc.assign(1, Eigen::VectorXd::Zero(static_cast<Eigen::Index>(expo.size())));
        for (std::size_t j = 0; j < steps_m; ++j) {
          quad_acc.push_back(exp_step.decay(quad_acc.back() + 0.5 * period * e_vec(j), period) +
                             0.5 * period * e_vec(j + 1));
        }
      }
      // The leftover's change of slow state k after j periods of the step.
      auto left_change = [&](std::size_t k, std::size_t j, double geometric) {
        if (!left_acc.empty() && expo_row[k]) return left_acc[j](expo_at[k]);
        return geometric * left_dI[k];
      };
      std::vector<double> s_next(ns);
      std::vector<double> step_change(ns);  // the slow states' change over the step, by g and e
      for (std::size_t k = 0; k < ns; ++k) {
        step_change[k] =
            drift[k] + (!quad_acc.empty() && expo_row[k] ? quad_acc[steps_m](expo_at[k]) : quad[k]);
        s_next[k] = xe[slow[k]] + step_change[k] + left_change(k, steps_m, leftover_sum);
      }
      // Outputs in [t, t + h): fast states from the orbit at their phase, slow states on the
      // step's curve.
      const double t_next = t + h;
      std::size_t k_sample = 0;
      while (o < output_times_h.size() && output_times_h[o] < t_next &&
             !same_time(output_times_h[o], t_next)) {
        const double tau_out = output_times_h[o];
        double phase = std::fmod(tau_out - t, period);
        if (same_time(phase, period) || phase < 0.0) phase = 0.0;
        k_sample = 0;
        while (k_sample < samples.time_h.size() && !same_time(samples.time_h[k_sample], t + phase))
          ++k_sample;
        if (k_sample == samples.time_h.size()) break;  // cannot happen: every phase is sampled
        const double* row = &samples.states[k_sample * samples.n_states];
        out.time_h.push_back(tau_out);
        const std::size_t base = out.states.size();
        out.states.insert(out.states.end(), row, row + n);
        double frac = (tau_out - t) / h;
        // The slow states along the step as the step itself: the implicit part on its parabola,
        // the explicit one by the quadrature of e up to here (linear within a period).
        const double dt_out = tau_out - t;
        step_drift(dt_out, true);
        const auto j0 = std::min(static_cast<std::size_t>(dt_out / period), e.size() / ns);
        const double within = dt_out - static_cast<double>(j0) * period;
        double progress_num = 0.0;
        double progress_den = 0.0;
        Eigen::VectorXd q_expo;  // the exponential states' quadrature up to here, decayed
        if (!quad_acc.empty()) {
          q_expo = quad_acc[j0];
          if (within > 0.0 && j0 < e_periods) {
            const Eigen::VectorXd e0 = e_vec(j0);
            const Eigen::VectorXd e_end = e0 + (e_vec(j0 + 1) - e0) * within / period;
            q_expo = exp_step.decay(q_expo + 0.5 * within * e0, within) + 0.5 * within * e_end;
          }
        }
        for (std::size_t k = 0; k < ns; ++k) {
          const double ripple = row[n + k] - q_mean[k] - g[k] * (phase - 0.5 * period);
          double q = 0.0;
          if (q_expo.size() > 0 && expo_row[k]) {
            q = q_expo(expo_at[k]);
          } else {
            for (std::size_t j = 1; j <= j0; ++j) {
              q += 0.5 * period * (e_at(j - 1, k) + e_at(j, k));
            }
            if (within > 0.0 && j0 < e_periods) {
              const double e_end = e_at(j0, k) + (e_at(j0 + 1, k) - e_at(j0, k)) * within / period;
              q += 0.5 * within * (e_at(j0, k) + e_end);
            }
          }
          out.states[base + slow[k]] = xe[slow[k]] + drift[k] + q + ripple;
          const double w = 1.0 / tolerance(k);
          progress_num += (drift[k] + q) * step_change[k] * w * w;
          progress_den += step_change[k] * step_change[k] * w * w;
        }
        // The fast states follow the slow ones: between the two orbits by the fraction of the
        // step's slow change made so far (weighted by the tolerances; the fraction of the time
        // for a straight trend, and exact for one relaxing mode), where that change is beyond
        // the tolerance.
        if (progress_den > 1.0) frac = std::clamp(progress_num / progress_den, 0.0, 1.0);
        std::vector<double> leftover_row;
        if (has_leftover) {
          // The leftover transient at the output: rho^j of its value at this phase in the
          // first period, and the slow change of the periods before and of this one so far.
          const auto periods_before = std::llround((dt_out - phase) / period);
          const std::size_t j = std::min(
              static_cast<std::size_t>(std::max<long long>(periods_before, 0)), steps_m - 1);
          const double rj = one_mode ? std::pow(rho, static_cast<double>(j)) : 1.0;
          const double* left_row = &leftover_samples.states[k_sample * leftover_samples.n_states];
          leftover_row.resize(nf);
          for (std::size_t k = 0; k < nf; ++k) {
            leftover_row[k] = rj * (left_row[fast[k]] - row[fast[k]]);
            out.states[base + fast[k]] += leftover_row[k];
          }
          const double before = one_mode ? (1.0 - rj) / (1.0 - rho) : 0.0;
          for (std::size_t k = 0; k < ns; ++k) {
            out.states[base + slow[k]] +=
                left_change(k, j, before) + rj * (left_row[n + k] - row[n + k]);
          }
        }
        if (frac > 0.0) pending.push_back({base, phase, frac, std::move(leftover_row)});
        ++o;
      }
      // The state at t + h: the fast states moved on by their drift between the starts of the last
      // two orbits (they follow the slow ones), and the new slow states.
      for (std::size_t k = 0; k < nf; ++k) {
        const std::size_t i = fast[k];
        const double y_star = orbit_estimate[i];
        double next = y_star;
        if (orbit_prev_dt > 0.0) {
          next = y_star + h * (y_star - orbit_prev[k]) / orbit_prev_dt;
          if (next * y_star < 0.0) next = y_star;
        }
        x[i] = next;
        orbit_prev[k] = y_star;
        orbit_start[k] = y_star;
      }
      for (std::size_t k = 0; k < ns; ++k) x[slow[k]] = s_next[k];
      if (has_leftover) {  // what is left of the transient; none below multirate_tol
        leftover = one_mode ? std::pow(rho, static_cast<double>(steps_m - 1)) * delta1 : delta1;
        double size = 0.0;
        for (std::size_t k = 0; k < nf; ++k) {
          size = std::max(size, std::abs(leftover(static_cast<Eigen::Index>(k))) /
                                    (settle_tol * std::abs(x[fast[k]]) + 100.0 * options.atol));
        }
        bool end_finite = true;
        for (std::size_t k = 0; k < nf; ++k)
          end_finite = end_finite && std::isfinite(leftover_end[fast[k]]);
        if (!one_mode && !leftover_ok) ++leftover_exact;
        if (size <= 0.1 || !end_finite || leftover_exact >= kLeftoverExact) {
          leftover.resize(0);
        } else if (!one_mode && leftover_ok) {
          // Not one mode: this period was integrated from the actual state; the settling goes
          // on in full from its end.
          flush_pending();
          for (std::size_t k = 0; k < nf; ++k) x[fast[k]] = leftover_end[fast[k]];
          leftover.resize(0);
          leftover_ok = false;
          resettle = true;
          ++total.leftover_resettles;
        } else if (steps_m == 1) {  // the next leftover from the actual end
          leftover_at.resize(nf);
          for (std::size_t k = 0; k < nf; ++k) leftover_at[k] = leftover_end[fast[k]];
          leftover.resize(0);
        }
      }
      if (h > period) {
        ++total.jumps;
        total.jumped_h += h - period;
      }
      g_prev = g;
      d1_prev = d1;
      s_prev.resize(ns);
      for (std::size_t k = 0; k < ns; ++k) s_prev[k] = xe[slow[k]];
      h_prev2 = h_prev;
      h_prev = h;
      orbit_prev_dt = h;
      t = t_next;
      if (progress) progress(t);
      if (resettle) {  // back to settling
        settled = false;
        // (L again at the next orbit; until then the explicit step for every slow state.)
        want_l = !expo_candidates.empty();
        expo.clear();
        stable_h = stable_h_all;
        s_prev.clear();
        have_settle_prev = false;
        restart_history();
      }
    }
    flush_pending();
    add_leftover();
    // The fast states keep their lag behind the orbit into the stretch's full-resolution end.
    for (std::size_t k = 0; k < fast.size(); ++k) {
      const double v = x[fast[k]] - last_lag[k];
      if (v * x[fast[k]] >= 0.0) x[fast[k]] = v;
    }
    if (averaged) {  // back to the slow states' values at this phase
      for (std::size_t k = 0; k < ns; ++k) x[slow[k]] += omega0[k];
    }
    if (!resolve_to(st.end_h)) return fail();
  }
  // The outputs at the end of the run, after the doses there.
  if (o < output_times_h.size()) {
    const std::vector<double> times(output_times_h.begin() + static_cast<std::ptrdiff_t>(o),
                                    output_times_h.end());
    const double beyond = t_last + 1e-7 * std::max(1.0, std::abs(t_last));
    if (!pieces.run(model, t, beyond, x, times, samples)) return fail();
    record_exact(output_times_h, o, beyond, samples, n, out);
  }
  return total;
}

}  // namespace k2sim::internal

namespace k2sim {

std::vector<char> multirate_slow_states(const OdeModel& model, double t_h,
                                        std::span<const double> y,
                                        const SimulationOptions& options) {
  const std::vector<double> tau = internal::state_time_scales_h(model, t_h, y);
  std::vector<char> slow(tau.size(), 0);
  for (std::size_t i = 0; i < tau.size(); ++i) slow[i] = tau[i] >= options.multirate_slow_h;
  return slow;
}

}  // namespace k2sim
