// Exact propagation of linear time-invariant models (docs/model.md "Closed-form linear kinetics").
#include "closed_form.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <Eigen/Dense>
#include <unsupported/Eigen/MatrixFunctions>

namespace k2sim::internal {

namespace {

bool same_time(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); }

/// exp(A d) and the integral of exp(A s) over [0, d], from the exponential of [[A d, I d], [0, 0]]
/// (Van Loan), kept for the intervals met so far (a run has few distinct ones).
class Propagator {
 public:
  explicit Propagator(Eigen::MatrixXd a) : a_(std::move(a)), n_(a_.rows()) {}

  /// y <- exp(A d) y + integral exp(A s) ds r, with `work` of the same size as y.
  void advance(double d, Eigen::VectorXd& y, const Eigen::VectorXd& r, Eigen::VectorXd& work) {
    if (d <= 0.0) return;
    const Entry& e = entry(d);
    work.noalias() = e.exp * y;
    if (has_rate(r)) work.noalias() += e.integral * r;
    y.swap(work);
  }
  [[nodiscard]] long matrices() const { return computed_; }

 private:
  struct Entry {
    double d;
    Eigen::MatrixXd exp;
    Eigen::MatrixXd integral;
  };
  static bool has_rate(const Eigen::VectorXd& r) { return r.cwiseAbs().maxCoeff() > 0.0; }
  const Entry& entry(double d) {
    for (const Entry& e : cache_) {
      if (e.d == d) return e;
    }
    Eigen::MatrixXd m = Eigen::MatrixXd::Zero(2 * n_, 2 * n_);
    m.topLeftCorner(n_, n_) = a_ * d;
    m.topRightCorner(n_, n_) = Eigen::MatrixXd::Identity(n_, n_) * d;
    const Eigen::MatrixXd em = m.exp();
    ++computed_;
    if (cache_.size() >= kCacheSize) cache_.erase(cache_.begin());
    cache_.push_back({d, em.topLeftCorner(n_, n_), em.topRightCorner(n_, n_)});
    return cache_.back();
  }
  static constexpr std::size_t kCacheSize = 64;
  Eigen::MatrixXd a_;
  Eigen::Index n_;
  std::vector<Entry> cache_;
  long computed_ = 0;
};

/// Whether f(y) = A y at y and at a second, fixed state (relative 1e-9 of the terms).
bool is_linear(const OdeModel& model, const Eigen::MatrixXd& a, std::span<const double> y) {
  const auto n = static_cast<Eigen::Index>(model.state_count());
  std::vector<double> probe(y.begin(), y.end());
  std::vector<double> f(static_cast<std::size_t>(n));
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      for (Eigen::Index i = 0; i < n; ++i)
        probe[static_cast<std::size_t>(i)] = 1.0 + 0.37 * static_cast<double>(i);
    }
    model.rhs(0.0, probe.data(), f.data());
    const Eigen::Map<const Eigen::VectorXd> v(probe.data(), n);
    const Eigen::VectorXd want = a * v;
    const Eigen::VectorXd terms = a.cwiseAbs() * v.cwiseAbs();
    for (Eigen::Index i = 0; i < n; ++i) {
      if (std::abs(f[static_cast<std::size_t>(i)] - want(i)) > 1e-9 * terms(i) + 1e-300) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

SolveSummary simulate_closed_form(const OdeModel& model, const std::vector<double>& a,
                                  std::span<const double> y0, double t0_h,
                                  const std::vector<DoseRecord>& doses,
                                  const std::vector<DoseEvent>& events,
                                  std::span<const double> output_times_h,
                                  const SimulationOptions& options, Trajectory& out,
                                  const std::function<void(double)>& progress) {
  const std::size_t n = model.state_count();
  const auto ni = static_cast<Eigen::Index>(n);
  Eigen::MatrixXd am(ni, ni);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) {
      am(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(j)) = a[i * n + j];
    }
  }
  if (!is_linear(model, am, y0)) {
    SimulationOptions solver = options;
    solver.closed_form = false;
    return simulate(model, y0, t0_h, doses, output_times_h, solver, out, progress);
  }
  SolveSummary summary;
  summary.rhs_evals = 2;
  Propagator prop(am);
  Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(y0.data(), ni);
  Eigen::VectorXd rates = Eigen::VectorXd::Zero(ni);
  Eigen::VectorXd work(ni);
  Eigen::VectorXd at(ni);
  auto record = [&](double time, const Eigen::VectorXd& v) {
    out.time_h.push_back(time);
    out.states.insert(out.states.end(), v.data(), v.data() + ni);
  };
  std::size_t n_infusions = 0;
  for (const DoseEvent& ev : events) n_infusions = std::max(n_infusions, ev.infusion + 1);
  std::vector<char> running(n_infusions, 0);
  std::vector<char> cancelled(n_infusions, 0);
  std::vector<double> y_ss(n);
  double last_reset_h = -1.0;
  const double t_last = output_times_h.back();
  std::size_t e = 0;
  std::size_t o = 0;
  double t = t0_h;
  while (true) {
    // Discontinuities at t (as in simulate()).
    while (e < events.size() && same_time(events[e].time_h, t)) {
      const DoseEvent& ev = events[e++];
      const auto c = static_cast<Eigen::Index>(ev.cmt);
      switch (ev.kind) {
        case EventKind::kBolus:
          y(c) += ev.value;
          break;
        case EventKind::kRateOn:
          rates(c) += ev.value;
          running[ev.infusion] = 1;
          break;
        case EventKind::kRateOff:
          running[ev.infusion] = 0;
          if (cancelled[ev.infusion]) break;
          rates(c) -= ev.value;
          if (std::abs(rates(c)) <= 1e-12 * ev.value) rates(c) = 0.0;
          break;
        case EventKind::kSsReset: {
          if (same_time(last_reset_h, t)) break;
          last_reset_h = t;
          std::vector<DoseRecord> group;
          for (const DoseRecord& d : doses) {
            if (d.ss == 1 && same_time(d.ss_time_h(), t)) group.push_back(d);
          }
          const SolveSummary ss = periodic_steady_state(model, group, options, y_ss);
          summary.steps += ss.steps;
          summary.rhs_evals += ss.rhs_evals;
          summary.restarts += ss.restarts;
          if (!ss.ok()) {
            summary.status = ss.status;
            summary.message = fmt::format("SS = 1 dose at {} h: {}", t, ss.message);
            return summary;
          }
          y = Eigen::Map<const Eigen::VectorXd>(y_ss.data(), ni);
          rates.setZero();
          for (std::size_t i = 0; i < n_infusions; ++i) {
            if (running[i]) cancelled[i] = 1;
            running[i] = 0;
          }
          break;
        }
      }
    }
    ++summary.restarts;
    while (o < output_times_h.size() && same_time(output_times_h[o], t)) {
      record(output_times_h[o++], y);
    }
    if (o == output_times_h.size()) break;
    const double t_next_event = e < events.size() ? events[e].time_h : t_last;
    const double t_stop = std::min(t_next_event, t_last);
    while (o < output_times_h.size() && output_times_h[o] < t_stop &&
           !same_time(output_times_h[o], t_stop)) {
      at = y;
      prop.advance(output_times_h[o] - t, at, rates, work);
      ++summary.steps;
      record(output_times_h[o++], at);
    }
    prop.advance(t_stop - t, y, rates, work);
    ++summary.steps;
    t = t_stop;
    if (progress) progress(t);
    if (e >= events.size() && same_time(t, t_last)) {
      while (o < output_times_h.size()) record(output_times_h[o++], y);
      break;
    }
  }
  return summary;
}

}  // namespace k2sim::internal
