#include "k2sim/uncertainty/analysis.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "k2sim/error.hpp"

namespace k2sim {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

unsigned thread_count(unsigned requested, std::size_t tasks) {
  unsigned n = requested > 0 ? requested : std::max(1U, std::thread::hardware_concurrency());
  return static_cast<unsigned>(std::min<std::size_t>(n, std::max<std::size_t>(tasks, 1)));
}

/// Runs task(i) for i < n on `threads` threads, each task taken from a shared counter. The result
/// of a task depends only on i, never on the thread that runs it. The first exception a task
/// throws stops the others from starting and is rethrown here once every thread has joined.
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& task,
                  const AnalysisProgress& progress) {
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done{0};
  std::mutex progress_mutex;
  std::exception_ptr failure;
  auto worker = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        task(i);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(progress_mutex);
        if (!failure) failure = std::current_exception();
        next = n;
        return;
      }
      const std::size_t d = ++done;
      if (progress) {
        const std::lock_guard<std::mutex> lock(progress_mutex);
        progress(d, n);
      }
    }
  };
  const unsigned t = thread_count(threads, n);
  if (t <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (unsigned i = 0; i < t; ++i) pool.emplace_back(worker);
    for (std::thread& th : pool) th.join();
  }
  if (failure) std::rethrow_exception(failure);
}

/// The quantities of one run (NaN where its arm failed), and why it failed ("" when it did not).
std::vector<double> quantities_of(const PreparedRun& run, const ParameterTable& table,
                                  const std::vector<Quantity>& qs, std::string& why) {
  std::vector<double> out(qs.size(), kNaN);
  try {
    const RunResult r = run_scenario(run.scenario, table, run.options);
    for (std::size_t i = 0; i < qs.size(); ++i) {
      const Quantity& q = qs[i];
      const ArmResult& a = r.arms.at(q.arm);
      if (!a.solve.ok()) {
        why = fmt::format("arm {}: {}", a.name, a.solve.message);
        continue;
      }
      out[i] = a.values[q.row * a.outputs.size() + q.output];
    }
  } catch (const std::exception& e) {
    why = e.what();
  }
  return out;
}

std::size_t parameter_index(const ParameterTable& table, const std::string& name) {
  try {
    return table.index(name);
  } catch (const InputError& e) {
    throw OptionError(e.what());
  }
}

}  // namespace

void add_ensemble(const PreparedRun& run, const EnsembleOptions& options, RunResult& central,
                  const AnalysisProgress& progress) {
  if (options.members < 2) {
    throw OptionError(
        fmt::format("--uncertainty {} (rule: at least 2 members; 100 or more for 5-95% bands)",
                    options.members));
  }
  const std::vector<ParameterSpread> spreads = parameter_spreads(run.table, run.held, options.vary);
  UncertaintyInfo info;
  info.members = options.members;
  info.seed = options.seed;
  info.vary = to_string(options.vary);
  for (const ParameterSpread& s : spreads) {
    if (s.spread != Spread::kFixed) {
      info.varied.push_back(
          fmt::format("{} ({} [{:g}, {:g}])", s.name, to_string(s.spread), s.lower, s.upper));
    }
  }
  const std::size_t n_arms = central.arms.size();
  const std::size_t m = options.members;
  // Member values as float: the bands need 7 digits, and an ensemble of a long run is large.
  std::vector<std::vector<std::vector<float>>> values(n_arms, std::vector<std::vector<float>>(m));
  std::vector<std::vector<std::vector<OutputStats>>> stats(
      n_arms, std::vector<std::vector<OutputStats>>(m));
  std::vector<std::string> why(m);
  parallel_for(
      m, options.threads,
      [&](std::size_t i) {
        try {
          const ParameterTable table =
              draw_parameters(run.table, spreads, member_seed(options.seed, i));
          const RunResult r = run_scenario(run.scenario, table, run.options);
          for (std::size_t a = 0; a < n_arms; ++a) {
            const ArmResult& arm = r.arms.at(a);
            if (!arm.solve.ok() || arm.values.size() != central.arms[a].values.size()) {
              why[i] += fmt::format("{}member {}, arm {}: {}", why[i].empty() ? "" : "; ", i,
                                    arm.name, arm.solve.message);
              continue;
            }
            values[a][i].assign(arm.values.begin(), arm.values.end());
            stats[a][i] = arm.stats;
          }
        } catch (const std::exception& e) {
          why[i] = fmt::format("member {}: {}", i, e.what());
        }
      },
      progress);
  for (const std::string& w : why) {
    if (!w.empty()) info.failures.push_back(w);
  }
  for (std::size_t a = 0; a < n_arms; ++a) {
    ArmResult& arm = central.arms[a];
    ArmBands b;
    std::vector<std::size_t> ok;
    for (std::size_t i = 0; i < m; ++i) {
      if (!values[a][i].empty()) ok.push_back(i);
    }
    b.members_ok = ok.size();
    const std::size_t n_points = arm.values.size();
    const std::size_t n_out = arm.outputs.size();
    if (!ok.empty()) {
      b.p05.resize(n_points);
      b.p50.resize(n_points);
      b.p95.resize(n_points);
      std::vector<double> v(ok.size());
      for (std::size_t p = 0; p < n_points; ++p) {
        for (std::size_t j = 0; j < ok.size(); ++j) v[j] = values[a][ok[j]][p];
        b.p05[p] = quantile_of(v, 0.05);
        b.p50[p] = quantile_of(v, 0.50);
        b.p95[p] = quantile_of(v, 0.95);
      }
      b.stats.resize(n_out);
      for (std::size_t k = 0; k < n_out; ++k) {
        for (double OutputStats::*field :
             {&OutputStats::start, &OutputStats::end, &OutputStats::mean, &OutputStats::min,
              &OutputStats::max}) {
          for (std::size_t j = 0; j < ok.size(); ++j) v[j] = stats[a][ok[j]][k].*field;
          b.stats[k][0].*field = quantile_of(v, 0.05);
          b.stats[k][1].*field = quantile_of(v, 0.50);
          b.stats[k][2].*field = quantile_of(v, 0.95);
        }
      }
    }
    // Paired differences from the reference arm: each member's arm minus the same member's
    // reference arm, so that the interval of an effect is not the difference of two intervals.
    const std::size_t ref = options.reference_arm;
    if (a != ref && ref < n_arms && central.arms[ref].values.size() == n_points) {
      std::vector<double> d;
      for (std::size_t i : ok) {
        if (!values[ref][i].empty()) d.push_back(0.0);
      }
      if (!d.empty()) {
        b.diff_p05.resize(n_points);
        b.diff_p50.resize(n_points);
        b.diff_p95.resize(n_points);
        for (std::size_t p = 0; p < n_points; ++p) {
          std::size_t j = 0;
          for (std::size_t i : ok) {
            if (!values[ref][i].empty()) {
              d[j++] = static_cast<double>(values[a][i][p]) - values[ref][i][p];
            }
          }
          b.diff_p05[p] = quantile_of(d, 0.05);
          b.diff_p50[p] = quantile_of(d, 0.50);
          b.diff_p95[p] = quantile_of(d, 0.95);
        }
      }
    }
    arm.bands = std::move(b);
  }
  central.uncertainty = std::move(info);
}

std::vector<Quantity> select_quantities(const RunResult& central,
                                        const std::vector<std::string>& outputs,
                                        const std::vector<double>& times_h) {
  std::vector<Quantity> out;
  if (central.arms.empty() || !central.arms[0].solve.ok()) {
    throw InputError("the run with the table's values failed; nothing to analyse");
  }
  const ArmResult& first = central.arms[0];
  std::vector<std::string> names;
  for (const OutputSpec& o : first.outputs) names.push_back(o.name);
  std::vector<std::size_t> chosen;
  auto choose = [&](std::size_t k) {
    if (std::find(chosen.begin(), chosen.end(), k) == chosen.end()) chosen.push_back(k);
  };
  if (outputs.empty()) {
    for (std::size_t k = 0; k < first.outputs.size(); ++k) {
      const OutputStats& s = first.stats[k];
      if (first.outputs[k].name.rfind("intake_", 0) == 0) continue;
      if (s.min == 0.0 && s.max == 0.0) continue;
      choose(k);
    }
  } else {
    for (const std::string& o : outputs) {
      const auto it = std::find(names.begin(), names.end(), o);
      if (it == names.end()) {
        throw OptionError(
            fmt::format("--outputs {} (rule: an output of model's catalogue, "
                        "`k2sim outputs`){}",
                        o, did_you_mean(o, names)));
      }
      choose(static_cast<std::size_t>(it - names.begin()));
    }
  }
  const std::vector<double>& grid = first.time_h;
  std::vector<std::size_t> rows;
  if (times_h.empty()) {
    rows.push_back(grid.size() - 1);
  } else {
    for (double t : times_h) {
      const auto it = std::find_if(grid.begin(), grid.end(), [&](double g) {
        return std::abs(g - t) <= 1e-9 * std::max(1.0, std::abs(t));
      });
      if (it == grid.end()) {
        throw OptionError(fmt::format(
            "--at {:g} d (rule: a time of the output grid, 0 to {:g} d every {:g} d)", t / 24.0,
            grid.back() / 24.0, grid.size() > 1 ? (grid[1] - grid[0]) / 24.0 : 0.0));
      }
      const auto row = static_cast<std::size_t>(it - grid.begin());
      if (std::find(rows.begin(), rows.end(), row) == rows.end()) rows.push_back(row);
    }
  }
  if (chosen.empty()) {
    throw OptionError(
        "no output to analyse: every output is 0 throughout the first arm (name "
        "some with --outputs)");
  }
  for (std::size_t a = 0; a < central.arms.size(); ++a) {
    const ArmResult& arm = central.arms[a];
    if (!arm.solve.ok()) {
      throw InputError(
          fmt::format("arm {} failed with the table's values: {}", arm.name, arm.solve.message));
    }
    for (std::size_t k : chosen) {
      for (std::size_t row : rows) {
        Quantity q;
        q.arm = a;
        q.output = k;
        q.row = row;
        q.arm_name = arm.name;
        q.output_name = arm.outputs[k].name;
        q.unit = arm.outputs[k].unit;
        q.time_h = arm.time_h[row];
        out.push_back(std::move(q));
      }
    }
  }
  return out;
}

SensitivityResult local_sensitivities(const PreparedRun& run, const RunResult& central,
                                      const std::vector<Quantity>& quantities,
                                      const SensitivityOptions& options,
                                      const AnalysisProgress& progress) {
  if (!(options.relative_step > 0.0 && options.relative_step < 0.5)) {
    throw OptionError(
        fmt::format("--step {} (rule: a relative step in (0, 0.5))", options.relative_step));
  }
  const auto& params = run.table.parameters();
  std::vector<std::size_t> which;
  if (options.parameters.empty()) {
    for (std::size_t j = 0; j < params.size(); ++j) which.push_back(j);
  } else {
    for (const std::string& name : options.parameters) {
      const std::size_t j = parameter_index(run.table, name);
      if (std::find(which.begin(), which.end(), j) == which.end()) which.push_back(j);
    }
  }
  SensitivityResult out;
  out.quantities = quantities;
  for (const Quantity& q : quantities) {
    const ArmResult& a = central.arms[q.arm];
    out.values.push_back(a.values[q.row * a.outputs.size() + q.output]);
  }
  // Two runs per parameter: below and above (the central run stands in at a bound).
  struct Plan {
    double lo = 0.0, hi = 0.0;
    bool lo_central = false, hi_central = false;
  };
  std::vector<Plan> plan(which.size());
  for (std::size_t j = 0; j < which.size(); ++j) {
    const Parameter& p = params[which[j]];
    const double h = p.value != 0.0 ? std::abs(p.value) * options.relative_step
                                    : (p.upper - p.lower) * options.relative_step;
    Plan& pl = plan[j];
    pl.lo = p.value - h;
    pl.hi = p.value + h;
    if (pl.lo < p.lower) {
      pl.lo = p.value;
      pl.lo_central = true;
    }
    if (pl.hi > p.upper) {
      pl.hi = p.value;
      pl.hi_central = true;
    }
  }
  std::vector<std::vector<double>> res(2 * which.size());
  std::vector<std::string> why(2 * which.size());
  parallel_for(
      2 * which.size(), options.threads,
      [&](std::size_t task) {
        const std::size_t j = task / 2;
        const bool upper = task % 2 == 1;
        const Plan& pl = plan[j];
        if (upper ? pl.hi_central : pl.lo_central) {
          res[task] = out.values;
          return;
        }
        ParameterTable table = run.table;
        table.set_value(which[j], upper ? pl.hi : pl.lo);
        res[task] = quantities_of(run, table, quantities, why[task]);
      },
      progress);
  out.runs = 0;
  for (const Plan& pl : plan) out.runs += (pl.lo_central ? 0 : 1) + (pl.hi_central ? 0 : 1);
  for (std::size_t t = 0; t < why.size(); ++t) {
    if (!why[t].empty()) {
      out.failures.push_back(
          fmt::format("{} {}: {}", params[which[t / 2]].name, t % 2 == 1 ? "up" : "down", why[t]));
    }
  }
  out.by_quantity.resize(quantities.size());
  for (std::size_t j = 0; j < which.size(); ++j) {
    const Parameter& p = params[which[j]];
    const Plan& pl = plan[j];
    for (std::size_t i = 0; i < quantities.size(); ++i) {
      Sensitivity s;
      s.parameter = p.name;
      s.value = p.value;
      s.unit = p.unit;
      s.one_sided = pl.lo_central || pl.hi_central;
      const double span = pl.hi - pl.lo;
      s.derivative = span > 0.0 ? (res[2 * j + 1][i] - res[2 * j][i]) / span : kNaN;
      const double q = out.values[i];
      if (p.value != 0.0) {
        s.normalized = q != 0.0 ? s.derivative * p.value / q : kNaN;
      } else {
        s.per_range = true;
        s.normalized = q != 0.0 ? s.derivative * (p.upper - p.lower) / q : kNaN;
      }
      out.by_quantity[i].push_back(s);
    }
  }
  return out;
}

ScreenResult screen(const PreparedRun& run, const RunResult& central,
                    const std::vector<Quantity>& quantities, const ScreenOptions& options,
                    const AnalysisProgress& progress) {
  (void)central;
  const std::vector<ParameterSpread> spreads = parameter_spreads(run.table, run.held, options.vary);
  ScreenResult out;
  out.quantities = quantities;
  if (options.parameters.empty()) {
    for (const ParameterSpread& s : spreads) {
      if (s.spread != Spread::kFixed) out.factors.push_back({s.name, s});
    }
  } else {
    std::vector<std::string> seen;
    for (const std::string& name : options.parameters) {
      if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
      seen.push_back(name);
      const ParameterSpread& s = spreads[parameter_index(run.table, name)];
      if (s.spread == Spread::kFixed) {
        throw OptionError(fmt::format(
            "--params {} (rule: a parameter with a spread: calibrated with a profile interval, "
            "assumed, or a hypothesis that is on; this one is fixed)",
            name));
      }
      out.factors.push_back({s.name, s});
    }
  }
  if (out.factors.empty()) throw OptionError("no parameter with a spread to screen");
  const std::size_t k = out.factors.size();
  MorrisDesign morris;
  SobolDesign sobol;
  const Design* points = nullptr;
  if (options.method == ScreenMethod::kMorris) {
    morris = morris_design(k, options.trajectories, options.levels, options.seed);
    points = &morris.points;
  } else {
    sobol = sobol_design(k, options.samples, options.seed);
    points = &sobol.points;
  }
  const std::size_t n = points->size();
  std::vector<std::vector<double>> res(n);
  std::vector<std::string> why(n);
  parallel_for(
      n, options.threads,
      [&](std::size_t i) {
        ParameterTable table = run.table;
        for (std::size_t f = 0; f < k; ++f) {
          const ParameterSpread& s = out.factors[f].spread;
          double u = (*points)[i][f];
          if (options.method == ScreenMethod::kMorris) u = 0.025 + 0.95 * u;
          u = std::clamp(u, 1e-12, 1.0 - 1e-12);
          table.set_value(s.index, std::clamp(s.quantile(u), s.bound_lower, s.bound_upper));
        }
        res[i] = quantities_of(run, table, quantities, why[i]);
      },
      progress);
  out.runs = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (!why[i].empty()) out.failures.push_back(fmt::format("point {}: {}", i, why[i]));
  }
  for (std::size_t q = 0; q < quantities.size(); ++q) {
    std::vector<double> y(n);
    for (std::size_t i = 0; i < n; ++i) y[i] = res[i][q];
    if (options.method == ScreenMethod::kMorris) {
      out.morris.push_back(morris_analyze(morris, y));
    } else {
      out.sobol.push_back(sobol_analyze(sobol, y, 200, options.seed));
    }
  }
  return out;
}

}  // namespace k2sim
