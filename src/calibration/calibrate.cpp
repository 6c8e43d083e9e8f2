#include "k2sim/calibration/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <nlopt.hpp>

#include "k2sim/calibration/validation.hpp"
#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"

namespace k2sim {

namespace fs = std::filesystem;

namespace {

constexpr double kChi2Threshold = 3.84;  // 95%, 1 degree of freedom

struct FitTarget {
  Protocol protocol;
  Target target;
  Tolerance tolerance;
};

// One free parameter, optimised as x = log(value) when its lower bound is positive.
struct FreeParameter {
  std::size_t index = 0;
  bool log_scale = true;
  double lower = 0.0;
  double upper = 0.0;
  [[nodiscard]] double to_x(double v) const { return log_scale ? std::log(v) : v; }
  [[nodiscard]] double from_x(double x) const { return log_scale ? std::exp(x) : x; }
  [[nodiscard]] double x_lower() const { return to_x(lower); }
  [[nodiscard]] double x_upper() const { return to_x(upper); }
};

class Objective {
 public:
  Objective(std::vector<FitTarget> targets, ParameterTable table, std::vector<FreeParameter> free)
      : targets_(std::move(targets)), base_(std::move(table)), free_(std::move(free)) {}

  [[nodiscard]] const std::vector<FitTarget>& targets() const { return targets_; }
  [[nodiscard]] const std::vector<FreeParameter>& free() const { return free_; }
  [[nodiscard]] const ParameterTable& base() const { return base_; }

  [[nodiscard]] ParameterTable table_at(const std::vector<double>& x) const {
    ParameterTable t = base_;
    for (std::size_t i = 0; i < free_.size(); ++i) {
      const auto& p = t.parameters()[free_[i].index];
      t.set(p.name, fmt::format("{:.17g}", std::clamp(free_[i].from_x(x[i]), p.lower, p.upper)),
            "calibration");
    }
    return t;
  }

  /// Sum of squared standardised residuals; statistics per target in `stats` when given.
  double operator()(const std::vector<double>& x, std::vector<double>* stats = nullptr) const {
    const ParameterTable t = table_at(x);
    double sum = 0.0;
    for (const FitTarget& ft : targets_) {
      double m = 0.0;
      try {
        m = protocol_statistic(ft.protocol, t);
      } catch (const Error&) {
        m = std::numeric_limits<double>::quiet_NaN();
      }
      if (stats) stats->push_back(m);
      sum += residual2(ft, m);
    }
    return sum;
  }

 private:
  static double residual2(const FitTarget& ft, double m) {
    if (!std::isfinite(m)) return 1e6;
    const Tolerance& tol = ft.tolerance;
    if (!std::isfinite(tol.low)) {  // not detectable: one-sided, log scale, LOD at +2 SD
      if (m <= 0.0 || m < tol.high) return 0.0;
      const double r = (std::log(m) - std::log(tol.high)) / 0.25 + 2.0;
      return r * r;
    }
    // A target whose value is an end of its stated range (e.g. "10-40%, value = lower bound") is
    // fitted to the middle of the range.
    double v = ft.target.value;
    if (v == tol.low || v == tol.high) {
      v = (tol.low > 0.0) ? std::sqrt(tol.low * tol.high) : 0.5 * (tol.low + tol.high);
    }
    if (tol.low > 0.0 && v > 0.0 && m > 0.0) {
      const double sd = (std::log(tol.high) - std::log(tol.low)) / 4.0;
      const double r = (std::log(m) - std::log(v)) / sd;
      return r * r;
    }
    const double sd = (tol.high - tol.low) / 4.0;
    const double r = (m - v) / sd;
    return r * r;
  }

  std::vector<FitTarget> targets_;
  ParameterTable base_;
  std::vector<FreeParameter> free_;
};

struct Minimum {
  std::vector<double> x;
  double f = 0.0;
  int evaluations = 0;
};

// BOBYQA over the free parameters except `fixed` (index into free, or -1), from x0.
// With `progress`, prints the best objective so far (the start point included: BOBYQA may first
// move x0 away from a bound) every 10 evaluations on stderr.
Minimum minimise(const Objective& obj, std::vector<double> x0, int fixed, int max_evals,
                 bool progress = false) {
  const std::size_t n = x0.size();
  std::vector<std::size_t> active;
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<int>(i) != fixed) active.push_back(i);
  }
  Minimum best{x0, obj(x0), 1};
  if (active.empty()) return best;
  nlopt::opt opt(nlopt::LN_BOBYQA, static_cast<unsigned>(active.size()));
  std::vector<double> lb;
  std::vector<double> ub;
  std::vector<double> xa;
  for (std::size_t i : active) {
    lb.push_back(obj.free()[i].x_lower());
    ub.push_back(obj.free()[i].x_upper());
    xa.push_back(std::clamp(x0[i], lb.back(), ub.back()));
  }
  opt.set_lower_bounds(lb);
  opt.set_upper_bounds(ub);
  // First steps: a factor of e^0.5 for a log-scaled parameter, a tenth of the range otherwise
  // (NLopt's default, a quarter of the range, jumps decades on wide log bounds).
  std::vector<double> step;
  for (std::size_t k = 0; k < active.size(); ++k) {
    const double range = ub[k] - lb[k];
    step.push_back(obj.free()[active[k]].log_scale ? std::min(0.5, 0.25 * range) : 0.1 * range);
  }
  opt.set_initial_step(step);
  opt.set_maxeval(max_evals);
  opt.set_xtol_rel(1e-5);
  opt.set_ftol_abs(1e-6);
  struct Data {
    const Objective* obj;
    std::vector<double> full;
    const std::vector<std::size_t>* active;
    int evals = 0;
    bool progress = false;
    double best = std::numeric_limits<double>::infinity();  // includes the start point
  } data{&obj, x0, &active, 0, progress, best.f};
  opt.set_min_objective(
      [](const std::vector<double>& x_active, std::vector<double>&, void* d) {
        auto* state = static_cast<Data*>(d);
        for (std::size_t k = 0; k < x_active.size(); ++k) {
          state->full[(*state->active)[k]] = x_active[k];
        }
        ++state->evals;
        const double f = (*state->obj)(state->full);
        state->best = std::min(state->best, f);
        if (state->progress && state->evals % 10 == 0) {
          fmt::print(stderr, "  {} evaluations, best objective {:.4g}\n", state->evals,
                     state->best);
        }
        return f;
      },
      &data);
  double f = 0.0;
  try {
    (void)opt.optimize(xa, f);
  } catch (const nlopt::roundoff_limited&) {
  } catch (const std::runtime_error&) {
  }
  for (std::size_t k = 0; k < active.size(); ++k) best.x[active[k]] = xa[k];
  best.f = obj(best.x);
  best.evaluations = data.evals + 2;
  return best;
}

// Walks parameter i away from the optimum (direction +-1) until the re-optimised objective exceeds
// f_min + 3.84, then bisects; returns the boundary in x, or the bound when never exceeded.
double profile_side(const Objective& obj, const Minimum& opt_min, std::size_t i, int direction,
                    int evals_per_point, bool& at_bound) {
  const FreeParameter& fp = obj.free()[i];
  const double bound = direction > 0 ? fp.x_upper() : fp.x_lower();
  const double target = opt_min.f + kChi2Threshold;
  auto profile_at = [&](double xi) {
    std::vector<double> x = opt_min.x;
    x[i] = xi;
    return minimise(obj, x, static_cast<int>(i), evals_per_point).f;
  };
  double inside = opt_min.x[i];
  double step = fp.log_scale ? 0.1 : 0.05 * (fp.x_upper() - fp.x_lower());
  double outside = std::numeric_limits<double>::quiet_NaN();
  for (int k = 0; k < 12; ++k) {
    double probe = inside + direction * step;
    if ((direction > 0 && probe >= bound) || (direction < 0 && probe <= bound)) probe = bound;
    if (profile_at(probe) > target) {
      outside = probe;
      break;
    }
    inside = probe;
    if (probe == bound) break;
    step *= 2.0;
  }
  if (std::isnan(outside)) {
    at_bound = true;
    return bound;
  }
  for (int k = 0; k < 6; ++k) {
    const double mid = 0.5 * (inside + outside);
    (profile_at(mid) > target ? outside : inside) = mid;
  }
  at_bound = false;
  return 0.5 * (inside + outside);
}

std::string format_value(double v) { return fmt::format("{:.6g}", v); }

void write_table(const std::string& path, const std::map<std::string, CalibratedValue>& values,
                 bool intervals) {
  std::ifstream in(path);
  if (!in) throw IoError(fmt::format("{}: cannot open", path));
  std::ostringstream out;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header || line.empty() || line.front() == '#') {
      out << line << "\n";
      header = false;
      continue;
    }
    std::vector<std::string> f = split_csv_line(line);
    const auto it = values.find(f[0]);
    if (it != values.end()) {
      f[1] = format_value(it->second.value);
      // Without profiles the old interval no longer belongs to the new value: it is cleared.
      f[5] = intervals ? format_value(it->second.ci_low) : "";
      f[6] = intervals ? format_value(it->second.ci_high) : "";
    }
    for (std::size_t k = 0; k < f.size(); ++k) out << (k ? "," : "") << csv_field(f[k]);
    out << "\n";
  }
  write_file_atomically(path, out.str());
}

}  // namespace

CalibrationResult calibrate(const CalibrationOptions& options) {
  const fs::path vdir = fs::path(options.data_dir) / "validation";
  const std::string table_path =
      (fs::path(options.data_dir) / "parameters" / (options.module + ".csv")).string();
  const ParameterTable table = ParameterTable::from_file(table_path);
  const auto targets = read_targets((vdir / "targets.csv").string());

  // Calibration targets of this module whose expected status says they are simulated.
  std::vector<FitTarget> fit;
  std::ifstream expected(vdir / "expected.csv");
  std::string line;
  std::getline(expected, line);
  while (std::getline(expected, line)) {
    const std::vector<std::string> f = split_csv_line(line);
    if (f.size() < 2 || f[1] == "deferred" || f[1] == "not-covered") continue;
    const fs::path file = vdir / "protocols" / (f[0] + ".toml");
    if (!fs::exists(file)) continue;
    Protocol p = read_protocol(file.string());
    if (p.role != "calibration" || parameter_module(p.scenario.model) != options.module) continue;
    if (!options.targets.empty() &&
        std::find(options.targets.begin(), options.targets.end(), p.id) == options.targets.end()) {
      continue;
    }
    // Fits run at rtol 1e-6 (the validation tests recheck at the protocols' own tolerances).
    p.scenario.solver.rtol = std::max(p.scenario.solver.rtol, 1e-6);
    p.scenario.solver.atol = std::max(p.scenario.solver.atol, 1e-9);
    const auto found = targets.find(f[0]);
    if (found == targets.end()) {
      throw InputError(
          fmt::format("{}: id '{}' is not in targets.csv", (vdir / "expected.csv").string(), f[0]));
    }
    const Target& t = found->second;
    fit.push_back({p, t, tolerance_of(t, p.lod)});
  }
  for (const std::string& name : options.free) {
    if (table.at(name).provenance != Provenance::kCalibrated) {
      throw InputError(fmt::format("--free {}: the parameter is {}, not calibrated", name,
                                   to_string(table.at(name).provenance)));
    }
  }
  if (fit.empty()) {
    throw InputError(fmt::format("module '{}' has no calibration targets", options.module));
  }
  std::vector<FreeParameter> free;
  for (std::size_t i = 0; i < table.parameters().size(); ++i) {
    const Parameter& p = table.parameters()[i];
    if (p.provenance != Provenance::kCalibrated) continue;
    if (!options.free.empty() &&
        std::find(options.free.begin(), options.free.end(), p.name) == options.free.end()) {
      continue;
    }
    free.push_back({i, p.lower > 0.0, p.lower, p.upper});
  }
  const Objective obj(fit, table, free);
  std::vector<double> x0;
  for (const FreeParameter& fp : free) x0.push_back(fp.to_x(table.parameters()[fp.index].value));

  CalibrationResult result;
  std::vector<double> before;
  result.objective_start = obj(x0, &before);
  if (!options.quiet) {
    fmt::print("calibrating {} parameters of {} to {} targets; objective {:.4g}\n", free.size(),
               options.module, fit.size(), result.objective_start);
  }
  // Two passes of BOBYQA (the second restarts its trust region from the first's optimum).
  Minimum best = minimise(obj, x0, -1, options.max_evaluations, !options.quiet);
  Minimum second = minimise(obj, best.x, -1, options.max_evaluations / 2, !options.quiet);
  second.evaluations += best.evaluations;
  if (second.f <= best.f) best = second;
  result.objective_end = best.f;
  result.evaluations = best.evaluations;
  std::vector<double> after;
  (void)obj(best.x, &after);
  for (std::size_t k = 0; k < fit.size(); ++k) {
    result.targets.push_back({fit[k].protocol.id, fit[k].target.value, fit[k].tolerance.low,
                              fit[k].tolerance.high, before[k], after[k]});
  }
  for (std::size_t i = 0; i < free.size(); ++i) {
    const Parameter& p = table.parameters()[free[i].index];
    result.parameters.push_back(
        {p.name, p.unit, p.value, free[i].from_x(best.x[i]), p.lower, p.upper, true, true});
  }
  if (!options.quiet) {
    fmt::print("fit: objective {:.4g} after {} evaluations\n", best.f, best.evaluations);
  }
  if (options.profiles) {
    std::mutex print_mutex;
    std::size_t next = 0;
    std::mutex next_mutex;
    std::exception_ptr failed;  // the first exception of a worker, rethrown after the join
    std::function<void()> profile_loop;
    auto worker = [&] {
      try {
        profile_loop();
      } catch (...) {
        std::lock_guard<std::mutex> lock(next_mutex);
        if (!failed) failed = std::current_exception();
        next = free.size();  // the other workers stop too
      }
    };
    profile_loop = [&] {
      while (true) {
        std::size_t i = 0;
        {
          std::lock_guard<std::mutex> lock(next_mutex);
          if (next >= free.size()) return;
          i = next++;
        }
        bool lo_bound = false;
        bool hi_bound = false;
        const double lo = profile_side(obj, best, i, -1, options.profile_evaluations, lo_bound);
        const double hi = profile_side(obj, best, i, +1, options.profile_evaluations, hi_bound);
        CalibratedValue& cv = result.parameters[i];
        cv.ci_low = free[i].from_x(lo);
        cv.ci_high = free[i].from_x(hi);
        cv.ci_low_at_bound = lo_bound;
        cv.ci_high_at_bound = hi_bound;
        if (!options.quiet) {
          std::lock_guard<std::mutex> lock(print_mutex);
          fmt::print("  profile {:<24} {:.4g} [{:.4g}{}, {:.4g}{}]\n", cv.name, cv.value, cv.ci_low,
                     lo_bound ? " (bound)" : "", cv.ci_high, hi_bound ? " (bound)" : "");
        }
      }
    };
    std::vector<std::thread> pool;
    for (int k = 0; k < std::max(1, options.threads); ++k) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
    if (failed) std::rethrow_exception(failed);
  }
  if (options.write) {
    std::map<std::string, CalibratedValue> values;
    for (const auto& cv : result.parameters) values[cv.name] = cv;
    write_table(table_path, values, options.profiles);
  }
  return result;
}

}  // namespace k2sim
