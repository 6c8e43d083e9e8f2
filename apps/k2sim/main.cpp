// k2sim command-line interface: parses arguments, calls the library, maps errors to exit codes
// (INTERFACES.md): 0 success, 2 bad command line, 3 invalid scenario or data file, 4 numerical
// failure, 5 I/O error. No science here.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <mpi.h>
#include <CLI/CLI.hpp>

#include "k2sim/calibration/calibrate.hpp"
#include "k2sim/calibration/validation.hpp"
#include "k2sim/diet/foods.hpp"
#include "k2sim/diet/report.hpp"
#include "k2sim/error.hpp"
#include "k2sim/io/report.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/hypotheses.hpp"
#include "k2sim/params/parameter_table.hpp"
#include "k2sim/population/cohort.hpp"
#include "k2sim/uncertainty/analysis.hpp"
#include "k2sim/units/units.hpp"
#include "progress.hpp"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 2;
constexpr int kExitInput = 3;
constexpr int kExitNumerical = 4;
constexpr int kExitIo = 5;

k2sim::Overrides parse_sets(const std::vector<std::string>& sets) {
  k2sim::Overrides out;
  for (const std::string& s : sets) {
    const auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw k2sim::OptionError(
          fmt::format("--set {} (rule: NAME=VALUE, e.g. --set k_mk7_elim=0.01)", s));
    }
    out.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  return out;
}

using k2sim::csv_field;

/// `--hypothesis NAME` (on at its stated strength), `NAME=off`, or `NAME=VALUE` (table unit):
/// replaces the scenario's [hypotheses] entry of that name.
void apply_cli_hypotheses(k2sim::Scenario& sc, const std::vector<std::string>& items) {
  for (const std::string& item : items) {
    const auto eq = item.find('=');
    const std::string name = item.substr(0, eq);
    const k2sim::Hypothesis* h = nullptr;
    try {
      h = &k2sim::hypothesis(name);
    } catch (const k2sim::InputError& e) {
      throw k2sim::OptionError(fmt::format("--hypothesis {}: {}", item, e.what()));
    }
    k2sim::HypothesisSetting s{h->name, true, h->strength, "--hypothesis " + item};
    if (eq != std::string::npos) {
      const std::string v = item.substr(eq + 1);
      if (v == "off" || v == "false") {
        s.on = false;
        s.value = h->neutral;
      } else if (v != "on" && v != "true") {
        try {
          std::size_t used = 0;
          s.value = std::stod(v, &used);
          if (used != v.size() || !std::isfinite(s.value)) throw std::invalid_argument(v);
        } catch (const std::exception&) {
          throw k2sim::OptionError(fmt::format(
              "--hypothesis {} (rule: NAME, NAME=off or NAME=VALUE in {}; stated strength {})",
              item, h->unit, h->strength));
        }
      }
    }
    std::erase_if(sc.hypotheses, [&](const auto& x) { return x.name == s.name; });
    sc.hypotheses.push_back(s);
  }
}

/// Progress of the runs of an analysis (ensemble, sensitivity, screen): see progress.hpp. The
/// last copy of the returned function prints the total time when it goes.
k2sim::AnalysisProgress analysis_progress(bool quiet, const char* what) {
  auto p = std::make_shared<k2sim::cli::Progress>(quiet, what, "runs");
  return [p](std::size_t done, std::size_t total) {
    p->update(static_cast<double>(done), static_cast<double>(total));
  };
}

/// Progress of a scenario's central run: days simulated over all arms.
k2sim::RunProgress run_progress(k2sim::cli::Progress& p, const k2sim::Scenario& sc) {
  const double days = sc.duration_h / 24.0;
  return [&p, days](std::size_t arm, std::size_t arms, double fraction) {
    p.update((static_cast<double>(arm) + fraction) * days, static_cast<double>(arms) * days,
             fmt::format("arm {}/{}", arm + 1, arms));
  };
}

std::string hypotheses_on(const k2sim::Scenario& sc) {
  std::vector<std::string> on;
  for (const auto& h : sc.hypotheses) {
    if (h.on) on.push_back(fmt::format("{} = {:g}", h.name, h.value));
  }
  return on.empty() ? "none (all neutral)" : fmt::format("{}", fmt::join(on, ", "));
}

struct UncertaintyArgs {
  std::size_t members = 0;
  std::string vary = "all";
  std::uint64_t seed = 1;
  unsigned threads = 0;
};

/// The parameter set an ensemble or screen varies, from its --vary name (checked by CLI11).
k2sim::VarySet vary_set(const std::string& name) {
  if (name == "calibrated") return k2sim::VarySet::kCalibrated;
  if (name == "assumed") return k2sim::VarySet::kAssumed;
  return k2sim::VarySet::kAll;
}

k2sim::EnsembleOptions ensemble_options(const UncertaintyArgs& unc, std::size_t reference_arm) {
  k2sim::EnsembleOptions eo;
  eo.members = unc.members;
  eo.seed = unc.seed;
  eo.threads = unc.threads;
  eo.vary = vary_set(unc.vary);
  eo.reference_arm = reference_arm;
  return eo;
}

/// `--at` times ("end" or a time with a unit) in h.
std::vector<double> parse_times(const std::vector<std::string>& at, double duration_h) {
  std::vector<double> times_h;
  for (const std::string& t : at) {
    try {
      times_h.push_back(t == "end"
                            ? duration_h
                            : k2sim::units::parse_quantity(t, k2sim::units::dim::time()).value);
    } catch (const k2sim::InputError& e) {
      throw k2sim::OptionError(fmt::format("--at {}: {}", t, e.what()));
    }
  }
  return times_h;
}

/// Prints the analysis of a cohort or trial (summary.json "analysis") as tables.
void print_analysis(const nlohmann::json& a) {
  auto ci = [](const nlohmann::json& e) {
    if (!e["value"].is_number()) return std::string("-");
    return fmt::format("{:.3g} [{:.3g}, {:.3g}]", e["value"].get<double>(),
                       e["ci95"][0].is_number() ? e["ci95"][0].get<double>() : NAN,
                       e["ci95"][1].is_number() ? e["ci95"][1].get<double>() : NAN);
  };
  fmt::print("subjects: {} ok, {} failed\n", a.value("subjects_ok", 0),
             a.value("failed_subjects", 0));
  if (a.value("kind", "") == "cohort") {
    fmt::print("exposure {} in {} groups; cut-offs {}\n", a["exposure"].get<std::string>(),
               a["groups"].get<int>(), a["cutoffs"].dump());
    if (a.contains("confounder_exposure_correlation")) {
      fmt::print("correlation of the confounder with log exposure: {:.3f}\n",
                 a["confounder_exposure_correlation"].get<double>());
    }
    for (const auto& [name, e] : a["endpoints"].items()) {
      for (const char* key : {"causal", "confounded"}) {
        if (!e.contains(key)) continue;
        const auto& r = e[key];
        fmt::print("\n{} ({}):\n", name, key);
        const bool hr = r.contains("hazard_ratio");
        const auto& col = hr ? r["hazard_ratio"] : r["odds_ratio"];
        for (std::size_t g = 0; g < col.size(); ++g) {
          fmt::print("  group {}: {} {}, {} {}", g + 1,
                     hr ? r["events"][g].get<double>() : r["cases"][g].get<double>(),
                     hr ? "events" : "cases", hr ? "HR" : "OR", ci(col[g]));
          if (r.contains("expected_risk")) {
            fmt::print("; model risk {:.4f} (ratio {:.3f})", r["expected_risk"][g].get<double>(),
                       r["expected_risk_ratio"][g].get<double>());
          }
          fmt::print("\n");
        }
      }
      if (e.contains("bias_analysis")) {
        const auto& b = e["bias_analysis"];
        fmt::print(
            "  published {:.3g}; model (causal) {:.3g}; bias needed {:.3g} (E-value {:.3g})\n",
            b["published"].get<double>(),
            b["model_causal"].is_number() ? b["model_causal"].get<double>() : NAN,
            b["bias_needed"].is_number() ? b["bias_needed"].get<double>() : NAN,
            b["e_value_of_bias"].is_number() ? b["e_value_of_bias"].get<double>() : NAN);
      }
    }
  } else if (a.value("kind", "") == "trial") {
    for (const auto& [name, o] : a["outcomes"].items()) {
      fmt::print("\n{}: mean change {}\n", name, o["mean_change"].dump());
      if (!o.contains("effect_vs_reference")) continue;
      for (const auto& [arm, e] : o["effect_vs_reference"].items()) {
        fmt::print("  {} vs {}: {} (population effect {:.4g})\n", arm,
                   a["reference_arm"].get<std::string>(), ci(e),
                   e["population_effect"].is_number() ? e["population_effect"].get<double>() : NAN);
        if (o.contains("power") && o["power"].contains(arm)) {
          for (const auto& pw : o["power"][arm]) {
            fmt::print("    power with {} per arm: {:.2f}\n", pw["per_arm"].get<std::size_t>(),
                       pw["power"].get<double>());
          }
        }
      }
    }
  }
}

int cmd_cohort(const std::string& scenario_path, std::string out_dir,
               const std::vector<std::string>& sets, const std::vector<std::string>& hyps,
               std::size_t size, unsigned threads, bool resume, bool quiet) {
  k2sim::Scenario sc = k2sim::read_scenario(scenario_path);
  apply_cli_hypotheses(sc, hyps);
  if (!sc.population) {
    throw k2sim::InputError(fmt::format(
        "{}: no [population] table (rule: k2sim cohort runs a population; use k2sim run for one "
        "subject)",
        scenario_path));
  }
  if (size > 0) sc.population->size = size;
  if (out_dir.empty()) out_dir = "out/" + sc.name;
  k2sim::CohortOptions opt;
  opt.out_dir = out_dir;
  opt.threads = threads;
  opt.resume = resume;
  k2sim::CohortSummary summary;
  {
    k2sim::cli::Progress progress(quiet, "cohort " + sc.name, "subjects");
    opt.progress = [&](std::size_t done, std::size_t total) {
      progress.update(static_cast<double>(done), static_cast<double>(total));
    };
    summary = k2sim::run_cohort(sc, parse_sets(sets), opt);
  }
  if (!quiet) {
    fmt::print(
        "k2sim {}: cohort '{}' (model {}), {} subjects{}, {:g} y; wrote {}/subjects.csv "
        "and summary.json\n",
        k2sim::model_version(), sc.name, sc.model, summary.subjects,
        summary.resumed_from > 0 ? fmt::format(" (resumed after {})", summary.resumed_from)
                                 : std::string(),
        sc.duration_h / 8766.0, out_dir);
    print_analysis(summary.analysis);
  }
  return kExitOk;
}

int cmd_run(const std::string& scenario_path, std::string out_dir,
            const std::vector<std::string>& sets, const std::vector<std::string>& hyps,
            const UncertaintyArgs& unc, bool quiet) {
  if (unc.members == 1) {
    throw k2sim::OptionError(
        "--uncertainty 1 (rule: at least 2 members; 100 or more for 5-95% bands)");
  }
  k2sim::Scenario sc = k2sim::read_scenario(scenario_path);
  apply_cli_hypotheses(sc, hyps);
  const k2sim::Overrides overrides = parse_sets(sets);
  const k2sim::PreparedRun prepared = k2sim::prepare_run(sc, overrides);
  if (out_dir.empty()) out_dir = "out/" + sc.name;
  k2sim::RunResult result;
  {
    k2sim::cli::Progress progress(quiet, "run " + sc.name, "d");
    result = k2sim::run_scenario(prepared.scenario, prepared.table, prepared.options,
                                 run_progress(progress, sc));
  }
  if (unc.members > 0 && result.ok()) {
    k2sim::add_ensemble(prepared, ensemble_options(unc, 0), result,
                        analysis_progress(quiet, "ensemble"));
  }
  k2sim::write_run_directory(prepared.scenario, result, out_dir);
  if (!quiet) {
    fmt::print("k2sim {}: scenario '{}' (model {}), {:g} d, output every {:g} h\n",
               result.model_version, sc.name, sc.model, sc.duration_h / 24.0, sc.output_interval_h);
    fmt::print("hypotheses on: {}\n", hypotheses_on(prepared.scenario));
    if (result.uncertainty) {
      const auto& u = *result.uncertainty;
      fmt::print(
          "ensemble: {} members (seed {}), {} parameters varied, {} members failed; "
          "columns p05/p95 are the 5-95% band\n",
          u.members, u.seed, u.varied.size(), u.failures.size());
    }
    for (const k2sim::ArmResult& a : result.arms) {
      fmt::print("\narm {}: {}, {} steps, {} RHS evaluations, {} restarts\n", a.name,
                 a.solve.ok() ? "ok" : "FAILED", a.solve.steps, a.solve.rhs_evals,
                 a.solve.restarts);
      if (!a.solve.ok()) {
        fmt::print("  {}\n", a.solve.message);
        continue;
      }
      const bool bands = a.bands && a.bands->members_ok > 0;
      fmt::print("  {:<32} {:<8} {:>12} {:>12} {:>12} {:>12}{}\n", "output", "unit", "start", "end",
                 "mean", "max", bands ? fmt::format(" {:>12} {:>12}", "end p05", "end p95") : "");
      std::size_t zero = 0;
      for (std::size_t k = 0; k < a.outputs.size(); ++k) {
        const auto& s = a.stats[k];
        if (s.min == 0.0 && s.max == 0.0) {  // outputs that stay 0 are in the files only
          ++zero;
          continue;
        }
        fmt::print("  {:<32} {:<8} {:>12.4g} {:>12.4g} {:>12.4g} {:>12.4g}{}\n", a.outputs[k].name,
                   a.outputs[k].unit, s.start, s.end, s.mean, s.max,
                   bands ? fmt::format(" {:>12.4g} {:>12.4g}", a.bands->stats[k][0].end,
                                       a.bands->stats[k][2].end)
                         : "");
      }
      if (zero > 0) fmt::print("  ({} more outputs stay 0 throughout; see the files)\n", zero);
    }
    fmt::print("\nwrote {}/ ({}summary.json)\n", out_dir,
               !result.ok()      ? "trajectories of the arms that succeeded, "
               : sc.arms.empty() ? "trajectory.csv, "
                                 : "trajectory_<arm>.csv, ");
  }
  if (!result.ok()) {
    for (const auto& a : result.arms) {
      if (!a.solve.ok()) fmt::print(stderr, "k2sim: arm {}: {}\n", a.name, a.solve.message);
    }
    return kExitNumerical;
  }
  return kExitOk;
}

/// What `sensitivity` and `screen` share: the scenario with its switches and overrides, the run
/// with the table's values, and the quantities to analyse.
struct AnalysisArgs {
  std::string scenario_path;
  std::string out_dir;
  std::vector<std::string> sets;
  std::vector<std::string> hypotheses;
  std::vector<std::string> outputs;
  std::vector<std::string> at;
  std::vector<std::string> params;
  unsigned threads = 0;
  std::size_t top = 10;
  bool quiet = false;
};

struct AnalysisSetup {
  k2sim::PreparedRun prepared;
  k2sim::RunResult central;
  std::vector<k2sim::Quantity> quantities;
};

/// Reads the scenario, prepares the run and runs it with the table's values; nullopt (after
/// printing why) when that run failed. The output folder is created first, so that a folder that
/// cannot be written fails before hours of runs.
std::optional<AnalysisSetup> analysis_setup(const AnalysisArgs& args) {
  k2sim::Scenario sc = k2sim::read_scenario(args.scenario_path);
  apply_cli_hypotheses(sc, args.hypotheses);
  AnalysisSetup s{k2sim::prepare_run(sc, parse_sets(args.sets)), {}, {}};
  // Differences between runs with nearby parameter values: at full resolution unless the user
  // asks for multi-rate (its step choices would change with the parameters, by about
  // multirate_tol, and swamp a difference quotient).
  if (s.prepared.options.multirate == k2sim::Multirate::kAuto) {
    s.prepared.options.multirate = k2sim::Multirate::kOff;
  }
  const std::vector<double> times_h = parse_times(args.at, s.prepared.scenario.duration_h);
  if (!args.out_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(args.out_dir, ec);
    if (ec) {
      throw k2sim::IoError(
          fmt::format("{}: cannot create the output folder: {}", args.out_dir, ec.message()));
    }
  }
  {
    k2sim::cli::Progress progress(args.quiet, "central run", "d");
    s.central = k2sim::run_scenario(s.prepared.scenario, s.prepared.table, s.prepared.options,
                                    run_progress(progress, s.prepared.scenario));
  }
  if (!s.central.ok()) {
    for (const auto& a : s.central.arms) {
      if (!a.solve.ok()) {
        fmt::print(stderr, "k2sim: arm {} (the table's values): {}\n", a.name, a.solve.message);
      }
    }
    return std::nullopt;
  }
  s.quantities = k2sim::select_quantities(s.central, args.outputs, times_h);
  return s;
}

void write_csv(const std::string& dir, const std::string& file, const std::string& csv) {
  if (dir.empty()) return;
  k2sim::write_file_atomically((std::filesystem::path(dir) / file).string(), csv);
  fmt::print("wrote {}\n", (std::filesystem::path(dir) / file).string());
}

std::string quantity_title(const k2sim::Quantity& q, double value) {
  return fmt::format("{} at {:g} d, arm {}: {:.6g} {}", q.output_name, q.time_h / 24.0, q.arm_name,
                     value, q.unit);
}

int cmd_sensitivity(const AnalysisArgs& args, double step) {
  if (!(step > 0.0 && step < 0.5)) {
    throw k2sim::OptionError(fmt::format("--step {} (rule: a relative step in (0, 0.5))", step));
  }
  const std::optional<AnalysisSetup> setup = analysis_setup(args);
  if (!setup) return kExitNumerical;
  const AnalysisSetup& s = *setup;
  k2sim::SensitivityOptions so;
  so.parameters = args.params;
  so.relative_step = step;
  so.threads = args.threads;
  const k2sim::SensitivityResult r = k2sim::local_sensitivities(
      s.prepared, s.central, s.quantities, so, analysis_progress(args.quiet, "sensitivity"));
  std::string csv =
      "arm,output,unit,time_d,value,parameter,parameter_value,parameter_unit,derivative,"
      "normalized,per_range,one_sided\n";
  fmt::print(
      "k2sim {}: local sensitivities of scenario '{}' (model {}), {} runs, central "
      "differences at a relative step of {:g}; hypotheses on: {}\n",
      k2sim::model_version(), s.prepared.scenario.name, s.prepared.scenario.model, r.runs, step,
      hypotheses_on(s.prepared.scenario));
  fmt::print(
      "normalized = (p / y) dy/dp; [range] = (upper - lower) / y dy/dp for a parameter at "
      "0; * = one-sided at a bound\n");
  for (std::size_t i = 0; i < r.quantities.size(); ++i) {
    const k2sim::Quantity& q = r.quantities[i];
    std::vector<k2sim::Sensitivity> rows = r.by_quantity[i];
    for (const auto& x : rows) {
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", q.arm_name, q.output_name,
                         csv_field(q.unit), q.time_h / 24.0, r.values[i], x.parameter, x.value,
                         csv_field(x.unit), x.derivative, x.normalized, x.per_range, x.one_sided);
    }
    std::stable_sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      const double x = std::isfinite(a.normalized) ? std::abs(a.normalized) : -1.0;
      const double y = std::isfinite(b.normalized) ? std::abs(b.normalized) : -1.0;
      return x > y;
    });
    fmt::print("\n{}\n", quantity_title(q, r.values[i]));
    if (r.values[i] == 0.0) {
      fmt::print("  0 at this time: no relative sensitivity (derivatives in the CSV)\n");
      continue;
    }
    // Parameters at a value ranked by (p / y) dy/dp; those at 0, whose entry is per whole range
    // (a first-order extrapolation, not comparable), after them.
    fmt::print("  {:<30} {:>12} {:<10} {:>12} {:>14}\n", "parameter", "value", "unit", "normalized",
               "dy/dp");
    std::size_t shown = 0;
    for (const auto& x : rows) {
      if (x.per_range || shown >= args.top) continue;
      ++shown;
      fmt::print("  {:<30} {:>12.5g} {:<10} {:>12.4g} {:>14.5g}{}\n", x.parameter, x.value, x.unit,
                 x.normalized, x.derivative, x.one_sided ? " *" : "");
    }
    std::string at_zero;
    std::size_t listed = 0;
    for (const auto& x : rows) {
      if (!x.per_range || !std::isfinite(x.normalized) || x.normalized == 0.0 || listed >= 3) {
        continue;
      }
      ++listed;
      at_zero +=
          fmt::format("{}{} {:+.3g}", at_zero.empty() ? "" : ", ", x.parameter, x.normalized);
    }
    if (!at_zero.empty()) fmt::print("  at 0, per whole range: {}\n", at_zero);
  }
  for (const std::string& f : r.failures) fmt::print(stderr, "k2sim: failed run: {}\n", f);
  write_csv(args.out_dir, "sensitivity.csv", csv);
  return r.failures.empty() ? kExitOk : kExitNumerical;
}

int cmd_screen(const AnalysisArgs& args, const k2sim::ScreenOptions& base) {
  if (base.method == k2sim::ScreenMethod::kMorris &&
      (base.levels < 2 || base.levels % 2 != 0 || base.trajectories < 1)) {
    throw k2sim::OptionError(fmt::format(
        "--levels {} --trajectories {} (rule: an even number of levels >= 2 and at least one "
        "trajectory; Saltelli et al. 2008 suggest 4 levels and 10 or more trajectories)",
        base.levels, base.trajectories));
  }
  if (base.method == k2sim::ScreenMethod::kSobol && base.samples < 2) {
    throw k2sim::OptionError(
        fmt::format("--samples {} (rule: at least 2 base samples; 64 or more)", base.samples));
  }
  const std::optional<AnalysisSetup> setup = analysis_setup(args);
  if (!setup) return kExitNumerical;
  const AnalysisSetup& s = *setup;
  k2sim::ScreenOptions so = base;
  so.parameters = args.params;
  so.threads = args.threads;
  const bool morris = so.method == k2sim::ScreenMethod::kMorris;
  const k2sim::ScreenResult r = k2sim::screen(s.prepared, s.central, s.quantities, so,
                                              analysis_progress(args.quiet, "screen"));
  fmt::print(
      "k2sim {}: {} of scenario '{}' (model {}), {} factors, {} runs, seed {}; hypotheses "
      "on: {}\n",
      k2sim::model_version(),
      morris
          ? fmt::format("Morris screening ({} trajectories, {} levels)", so.trajectories, so.levels)
          : fmt::format("Sobol indices ({} base samples)", so.samples),
      s.prepared.scenario.name, s.prepared.scenario.model, r.factors.size(), r.runs, so.seed,
      hypotheses_on(s.prepared.scenario));
  std::string csv = morris ? "arm,output,unit,time_d,parameter,spread,mu,mu_star,sigma,effects\n"
                           : "arm,output,unit,time_d,parameter,spread,first,first_low,first_high,"
                             "total,total_low,total_high,samples\n";
  for (std::size_t i = 0; i < r.quantities.size(); ++i) {
    const k2sim::Quantity& q = r.quantities[i];
    const auto& central_arm = s.central.arms[q.arm];
    const double v = central_arm.values[q.row * central_arm.outputs.size() + q.output];
    std::vector<std::size_t> order(r.factors.size());
    for (std::size_t f = 0; f < order.size(); ++f) order[f] = f;
    auto key = [&](std::size_t f) {
      const double x = morris ? r.morris[i].mu_star[f] : r.sobol[i].total[f];
      return std::isfinite(x) ? x : -1.0;
    };
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return key(a) > key(b); });
    fmt::print("\n{}\n", quantity_title(q, v));
    if (morris) {
      fmt::print("  {:<30} {:>12} {:>12} {:>12}  (per whole 95% range, {})\n", "parameter", "mu*",
                 "mu", "sigma", q.unit);
    } else {
      fmt::print("  {:<30} {:>20} {:>20}  (variance {:.4g} {}^2, {} samples)\n", "parameter",
                 "first order [95%]", "total [95%]", r.sobol[i].variance, q.unit,
                 r.sobol[i].samples);
    }
    for (std::size_t j = 0; j < order.size(); ++j) {
      const std::size_t f = order[j];
      const auto& fac = r.factors[f];
      const std::string spread = k2sim::to_string(fac.spread.spread);
      if (morris) {
        const auto& m = r.morris[i];
        if (j < args.top) {
          fmt::print("  {:<30} {:>12.4g} {:>12.4g} {:>12.4g}\n", fac.parameter, m.mu_star[f],
                     m.mu[f], m.sigma[f]);
        }
        csv += fmt::format("{},{},{},{},{},{},{},{},{},{}\n", q.arm_name, q.output_name,
                           csv_field(q.unit), q.time_h / 24.0, fac.parameter, spread, m.mu[f],
                           m.mu_star[f], m.sigma[f], m.effects[f]);
      } else {
        const auto& so2 = r.sobol[i];
        if (j < args.top) {
          fmt::print("  {:<30} {:>6.3f} [{:.2f}, {:.2f}] {:>6.3f} [{:.2f}, {:.2f}]\n",
                     fac.parameter, so2.first[f], so2.first_low[f], so2.first_high[f], so2.total[f],
                     so2.total_low[f], so2.total_high[f]);
        }
        csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", q.arm_name, q.output_name,
                           csv_field(q.unit), q.time_h / 24.0, fac.parameter, spread, so2.first[f],
                           so2.first_low[f], so2.first_high[f], so2.total[f], so2.total_low[f],
                           so2.total_high[f], so2.samples);
      }
    }
  }
  for (const std::string& f : r.failures) fmt::print(stderr, "k2sim: failed run: {}\n", f);
  write_csv(args.out_dir, morris ? "morris.csv" : "sobol.csv", csv);
  return r.failures.empty() ? kExitOk : kExitNumerical;
}

/// `k2sim compare`: runs every arm and prints, per output, the arms side by side at chosen times
/// (default: each whole year and the end) with the difference and ratio to a reference arm; with
/// --uncertainty, 5-95% intervals of each value and of each paired difference.
int cmd_compare(const std::string& scenario_path, std::string out_dir,
                const std::vector<std::string>& sets, const std::vector<std::string>& hyps,
                const UncertaintyArgs& unc, const std::vector<std::string>& outputs,
                const std::vector<std::string>& at, const std::string& reference, bool quiet) {
  if (unc.members == 1) {
    throw k2sim::OptionError(
        "--uncertainty 1 (rule: at least 2 members; 100 or more for 5-95% bands)");
  }
  k2sim::Scenario sc = k2sim::read_scenario(scenario_path);
  if (sc.arms.size() < 2) {
    throw k2sim::InputError(
        fmt::format("{}: {} [[arm]] (rule: compare needs at least two arms; `k2sim run` runs one)",
                    sc.file, sc.arms.size()));
  }
  apply_cli_hypotheses(sc, hyps);
  const k2sim::PreparedRun prepared = k2sim::prepare_run(sc, parse_sets(sets));
  std::size_t ref = 0;
  if (!reference.empty()) {
    std::vector<std::string> names;
    for (const auto& a : sc.arms) names.push_back(a.name);
    const auto it = std::find(names.begin(), names.end(), reference);
    if (it == names.end()) {
      throw k2sim::OptionError(fmt::format("--reference {} (rule: an arm of the scenario: {}){}",
                                           reference, fmt::join(names, ", "),
                                           k2sim::did_you_mean(reference, names)));
    }
    ref = static_cast<std::size_t>(it - names.begin());
  }
  std::vector<double> times_h = parse_times(at, sc.duration_h);
  if (out_dir.empty()) out_dir = "out/" + sc.name;
  k2sim::RunResult result;
  {
    k2sim::cli::Progress progress(quiet, "run " + sc.name, "d");
    result = k2sim::run_scenario(prepared.scenario, prepared.table, prepared.options,
                                 run_progress(progress, sc));
  }
  if (!result.ok()) {
    k2sim::write_run_directory(prepared.scenario, result, out_dir);
    for (const auto& a : result.arms) {
      if (!a.solve.ok()) fmt::print(stderr, "k2sim: arm {}: {}\n", a.name, a.solve.message);
    }
    return kExitNumerical;
  }
  if (unc.members > 0) {
    k2sim::add_ensemble(prepared, ensemble_options(unc, ref), result,
                        analysis_progress(quiet, "ensemble"));
  }
  if (times_h.empty()) {  // each whole year on the output grid (nearest row), and the end
    const std::vector<double>& grid = result.arms[0].time_h;
    for (double y = 8766.0; y < sc.duration_h - 1e-6; y += 8766.0) {
      const auto it = std::min_element(grid.begin(), grid.end(), [&](double a, double b) {
        return std::abs(a - y) < std::abs(b - y);
      });
      if (times_h.empty() || times_h.back() != *it) times_h.push_back(*it);
    }
    if (times_h.empty() || times_h.back() != grid.back()) times_h.push_back(grid.back());
  }
  const std::vector<k2sim::Quantity> qs = k2sim::select_quantities(result, outputs, times_h);
  k2sim::write_run_directory(prepared.scenario, result, out_dir);
  const bool bands = result.uncertainty.has_value();
  std::string csv =
      "arm,output,unit,time_d,value,p05,p95,reference,difference,difference_p05,"
      "difference_p95,ratio\n";
  if (!quiet) {
    fmt::print(
        "k2sim {}: compare '{}' (model {}), {} arms, reference arm {}; hypotheses on: {}{}\n",
        result.model_version, sc.name, sc.model, result.arms.size(), result.arms[ref].name,
        hypotheses_on(prepared.scenario),
        bands ? fmt::format("; [5-95%] from {} members ({})", result.uncertainty->members,
                            result.uncertainty->vary)
              : "");
  }
  auto cell = [](double v) { return fmt::format("{:.4g}", v); };
  const int width = bands ? 44 : 26;
  std::string last_output;
  for (const k2sim::Quantity& q : qs) {
    if (q.arm != 0) continue;  // one row per output and time, arms side by side
    if (!quiet && q.output_name != last_output) {
      last_output = q.output_name;
      std::string head = fmt::format("\n{} ({})\n  {:>9}", q.output_name, q.unit, "time_d");
      for (const auto& a : result.arms) {
        head += fmt::format(" {:>{}}", a.name + (&a == &result.arms[ref] ? " (ref)" : ""), width);
      }
      fmt::print("{}\n", head);
    }
    std::string line = fmt::format("  {:>9.6g}", q.time_h / 24.0);
    const std::size_t n_out = result.arms[ref].outputs.size();
    const std::size_t idx = q.row * n_out + q.output;
    const double y_ref = result.arms[ref].values[idx];
    // A ratio to a reference that is 0 up to solver noise (-5e-41 nmol/L of a vitamer nobody
    // takes) means nothing: none below 1e-9 of the largest value of the arms.
    double scale = 0.0;
    for (const auto& arm : result.arms) scale = std::max(scale, std::abs(arm.values[idx]));
    const bool ratio = std::abs(y_ref) > 1e-9 * scale;
    for (std::size_t a = 0; a < result.arms.size(); ++a) {
      const k2sim::ArmResult& arm = result.arms[a];
      const double y = arm.values[idx];
      const bool has_band = bands && arm.bands && arm.bands->members_ok > 0;
      const bool has_diff = has_band && !arm.bands->diff_p05.empty();
      std::string c = cell(y);
      if (a != ref) {
        c += fmt::format(" ({}{}", y - y_ref >= 0 ? "+" : "", cell(y - y_ref));
        if (has_diff) {
          c += fmt::format(" [{}, {}]", cell(arm.bands->diff_p05[idx]),
                           cell(arm.bands->diff_p95[idx]));
        }
        c += ratio ? fmt::format(", x{:.3g})", y / y_ref) : ")";
      } else if (has_band) {
        c += fmt::format(" [{}, {}]", cell(arm.bands->p05[idx]), cell(arm.bands->p95[idx]));
      }
      line += fmt::format(" {:>{}}", c, width);
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{}\n", arm.name, q.output_name,
                         csv_field(q.unit), q.time_h / 24.0, y,
                         has_band ? cell(arm.bands->p05[idx]) : "",
                         has_band ? cell(arm.bands->p95[idx]) : "", result.arms[ref].name,
                         y - y_ref, has_diff ? cell(arm.bands->diff_p05[idx]) : "",
                         has_diff ? cell(arm.bands->diff_p95[idx]) : "",
                         ratio ? fmt::format("{}", y / y_ref) : "");
    }
    if (!quiet) fmt::print("{}\n", line);
  }
  k2sim::write_file_atomically((std::filesystem::path(out_dir) / "compare.csv").string(), csv);
  if (!quiet)
    fmt::print("\nwrote {}/ (compare.csv, trajectory_<arm>.csv, summary.json)\n", out_dir);
  return kExitOk;
}

int cmd_outputs() {
  fmt::print("{:<32} {:<8} {:<10} {}\n", "name", "unit", "model", "meaning");
  for (const std::string& m : k2sim::model_names()) {
    const auto table = k2sim::ParameterTable::builtin(k2sim::parameter_module(m));
    const auto model = k2sim::make_model(m, table);
    for (const auto& o : model->outputs()) {
      fmt::print("{:<32} {:<8} {:<10} {}\n", o.name, o.unit, m, o.meaning);
    }
  }
  return kExitOk;
}

int cmd_params(const std::string& query, bool csv) {
  if (csv) {
    fmt::print("module,name,value,unit,lower,upper,ci_low,ci_high,provenance,source,meaning\n");
  }
  // Each module's table once (a composed model's module "a+b" lists its parts).
  std::vector<std::string> modules;
  for (const std::string& m : k2sim::model_names()) {
    const std::string composed = k2sim::parameter_module(m);
    std::size_t pos = 0;
    while (pos <= composed.size()) {
      const std::size_t plus = std::min(composed.find('+', pos), composed.size());
      const std::string part = composed.substr(pos, plus - pos);
      if (std::find(modules.begin(), modules.end(), part) == modules.end()) {
        modules.push_back(part);
      }
      pos = plus + 1;
    }
  }
  for (const std::string& module : modules) {
    const auto table = k2sim::ParameterTable::builtin(module);
    for (const auto& p : table.parameters()) {
      if (!query.empty() && p.name.find(query) == std::string::npos &&
          p.meaning.find(query) == std::string::npos) {
        continue;
      }
      if (csv) {
        fmt::print("{},{},{:.10g},{},{:.10g},{:.10g},{},{},{},{},{}\n", module, p.name, p.value,
                   csv_field(p.unit), p.lower, p.upper,
                   p.ci_low ? fmt::format("{:.10g}", *p.ci_low) : "",
                   p.ci_high ? fmt::format("{:.10g}", *p.ci_high) : "",
                   k2sim::to_string(p.provenance), csv_field(p.source), csv_field(p.meaning));
      } else {
        fmt::print("{:<14} {:>12.6g} {:<6} [{:g}, {:g}]  {}  ({})\n    {}\n", p.name, p.value,
                   p.unit, p.lower, p.upper, k2sim::to_string(p.provenance), p.meaning, p.source);
      }
    }
  }
  return kExitOk;
}

std::string markdown_cell(std::string s) {
  std::replace(s.begin(), s.end(), '|', '/');
  return s;
}

int cmd_validate(const k2sim::ValidationOptions& options, const std::string& out_dir,
                 const std::string& markdown, bool check, bool quiet) {
  std::vector<k2sim::ValidationRow> rows;
  {
    k2sim::cli::Progress progress(quiet, "validation", "targets");
    k2sim::ValidationOptions with_progress = options;
    with_progress.progress = [&progress](std::size_t done, std::size_t total,
                                         const std::string& id) {
      progress.update(static_cast<double>(done), static_cast<double>(total), id);
    };
    rows = k2sim::run_validation(with_progress);
  }
  auto matches = [](const k2sim::ValidationRow& r) {
    return (r.status == "pass" && r.expected == "pass") ||
           (r.status == "fail" && r.expected == "known-fail") || r.status == r.expected;
  };
  std::map<std::string, std::map<std::string, int>> counts;  // role -> status -> n
  int changed = 0;
  std::string csv =
      "id,quantity,role,family,published,units,low,high,rule,model,status,expected,reason\n";
  std::string md = fmt::format(
      "# Validation\n\nLast run of `k2sim validate{}` on {:%Y-%m-%d} (model version {}). "
      "Generated; do not edit by hand.\nRoles: calibration targets were used to fit parameters, "
      "validation targets never."
      "\nCohort targets (CO) run a virtual population: {}; the model column gives the estimate "
      "and its 95% interval."
      "\n\n| id | quantity | role | published | pass interval | model | status | expected | "
      "reason |\n|---|---|---|---|---|---|---|---|---|\n",
      fmt::format("{}{}", options.full ? " --full" : "",
                  options.only_prefix.empty() ? "" : " --only " + options.only_prefix),
      fmt::gmtime(std::time(nullptr)), k2sim::model_version(),
      options.full ? "at the study's size"
                   : "at their fast size, with pass intervals widened for the Monte Carlo error "
                     "(`k2sim validate --full` runs them at the study's size)");
  fmt::print("{:<7} {:<44} {:<11} {:>10} {:<12} {:>23} {:>10} {:<11} {}\n", "id", "quantity",
             "role", "published", "units", "pass interval", "model", "status", "expected");
  for (const auto& r : rows) {
    const bool ok = matches(r);
    if (!ok) ++changed;
    counts[r.role.empty() ? "-" : r.role][r.status]++;
    const bool ran = r.status == "pass" || r.status == "fail";
    // A null target (cohorts) passes when the model's interval contains the null value.
    const bool null_rule = r.tolerance.rule.rfind("null rule", 0) == 0;
    const std::string interval =
        !ran        ? ""
        : null_rule ? fmt::format("contains {:g}", r.tolerance.low)
                    : fmt::format("[{:.3g}, {:.3g}]", r.tolerance.low, r.tolerance.high);
    std::string model = ran ? fmt::format("{:.4g}", r.model) : "";
    if (ran && std::isfinite(r.model_low)) {
      model += fmt::format(" [{:.3g}, {:.3g}]", r.model_low, r.model_high);
    }
    fmt::print("{:<7} {:<44.44} {:<11} {:>10.4g} {:<12.12} {:>23} {:>10} {:<11} {}{}\n", r.id,
               r.quantity, r.role, r.published, r.units, interval, model, r.status, r.expected,
               ok ? "" : "   <-- CHANGED");
    if (!ran && r.status != "deferred" && r.status != "not-covered") {
      fmt::print("        {}\n", r.reason);
    }
    csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{}\n", r.id, csv_field(r.quantity),
                       r.role, r.family, r.published, csv_field(r.units),
                       ran ? fmt::format("{}", r.tolerance.low) : "",
                       ran ? fmt::format("{}", r.tolerance.high) : "", csv_field(r.tolerance.rule),
                       model, r.status, r.expected, csv_field(r.reason));
    md += fmt::format("| {} | {} | {} | {:g} {} | {} | {} | {} | {} | {} |\n", r.id,
                      markdown_cell(r.quantity), r.role, r.published, markdown_cell(r.units),
                      interval, model, r.status, r.expected,
                      markdown_cell(ran && r.tolerance.rule.rfind("family", 0) == 0
                                        ? r.tolerance.rule
                                        : (ran ? r.tolerance.rule : r.reason)));
  }
  fmt::print("\ncounts by role and status:\n");
  md += "\n## Counts\n\n| role | status | n |\n|---|---|---|\n";
  for (const auto& [role, by_status] : counts) {
    for (const auto& [status, n] : by_status) {
      fmt::print("  {:<12} {:<12} {}\n", role, status, n);
      md += fmt::format("| {} | {} | {} |\n", role, status, n);
    }
  }
  fmt::print("{} of {} rows {} the expected status (data/validation/expected.csv)\n",
             changed == 0 ? rows.size() : rows.size() - changed, rows.size(),
             changed == 0 ? "match" : "match; the others CHANGED from");
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    k2sim::write_file_atomically((std::filesystem::path(out_dir) / "validation.csv").string(), csv);
  }
  if (!markdown.empty()) k2sim::write_file_atomically(markdown, md);
  return (check && changed > 0) ? 1 : kExitOk;
}

int cmd_calibrate(const k2sim::CalibrationOptions& options, const std::string& out_dir) {
  const k2sim::CalibrationResult r = k2sim::calibrate(options);
  if (!out_dir.empty()) {
    std::string csv =
        "kind,name,published_or_start,low,high,before_or_fitted,after_or_ci_low,ci_high\n";
    for (const auto& t : r.targets) {
      csv += fmt::format("target,{},{},{},{},{},{},\n", t.id, t.published, t.low, t.high, t.before,
                         t.after);
    }
    for (const auto& p : r.parameters) {
      csv += fmt::format("parameter,{},{},,,{},{},{}\n", p.name, p.start, p.value,
                         options.profiles ? fmt::format("{}", p.ci_low) : "",
                         options.profiles ? fmt::format("{}", p.ci_high) : "");
    }
    std::filesystem::create_directories(out_dir);
    k2sim::write_file_atomically((std::filesystem::path(out_dir) / "calibration.csv").string(),
                                 csv);
  }
  fmt::print("\n{:<8} {:>12} {:>25} {:>12} {:>12}\n", "target", "published", "pass interval",
             "before", "after");
  for (const auto& t : r.targets) {
    fmt::print("{:<8} {:>12.4g} {:>25} {:>12.4g} {:>12.4g}\n", t.id, t.published,
               fmt::format("[{:.3g}, {:.3g}]", t.low, t.high), t.before, t.after);
  }
  fmt::print("\n{:<26} {:>12} {:>12} {:>27}\n", "parameter", "start", "fitted",
             "95% profile interval");
  for (const auto& p : r.parameters) {
    fmt::print("{:<26} {:>12.4g} {:>12.4g} {:>27}\n", p.name, p.start, p.value,
               options.profiles ? fmt::format("[{:.4g}, {:.4g}]", p.ci_low, p.ci_high) : "-");
  }
  fmt::print("\nobjective {:.4g} -> {:.4g} in {} evaluations{}\n", r.objective_start,
             r.objective_end, r.evaluations,
             options.write ? "; parameter table updated" : " (--dry-run: table unchanged)");
  return kExitOk;
}

int cmd_foods(const std::string& query, std::size_t limit) {
  fmt::print("{}", k2sim::foods_report(k2sim::FoodTable::builtin(), query, limit));
  return kExitOk;
}

int cmd_diet(const std::string& scenario_path, std::size_t top) {
  const k2sim::Scenario sc = k2sim::read_scenario(scenario_path);
  fmt::print("{}", k2sim::diet_report(sc, top));
  return kExitOk;
}

}  // namespace

/// MPI for `k2sim cohort` under mpirun: initialized on demand, finalized when main returns.
struct MpiSession {
  bool active = false;
  int rank = 0;
  void init(int* argc, char*** argv) {
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    active = true;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  MpiSession() = default;
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    if (active) MPI_Finalize();
  }
};

int main(int argc, char** argv) {
  MpiSession mpi;
  CLI::App app{"k2sim: simulator of the vitamin K - calcium system of the human body"};
  app.require_subcommand(1);
  app.set_version_flag("--version", k2sim::model_version());

  std::string scenario_path;
  std::string out_dir;
  std::vector<std::string> sets;
  bool quiet = false;
  CLI::App* run = app.add_subcommand("run", "run a scenario and write its run directory");
  run->add_option("scenario", scenario_path, "scenario file (TOML)")->required();
  run->add_option("--out", out_dir, "output folder (default: out/<scenario name>)");
  run->add_option("--set", sets, "override PARAM=VALUE (table unit) or solver.OPTION=VALUE")
      ->allow_extra_args(false);
  run->add_flag("--quiet,-q", quiet, "print nothing on success");

  std::vector<std::string> run_hyps;
  UncertaintyArgs unc;
  run->add_option("--hypothesis", run_hyps,
                  "switch a hypothesis on: NAME (stated strength), NAME=VALUE or NAME=off")
      ->allow_extra_args(false);
  CLI::Option* unc_opt = run->add_option("--uncertainty", unc.members,
                                         "add 5-50-95% bands from an ensemble of N parameter sets");
  run->add_option("--seed", unc.seed, "seed of the ensemble (default 1)")->needs(unc_opt);
  run->add_option("--threads", unc.threads, "threads for the ensemble (default: all cores)")
      ->needs(unc_opt);
  run->add_option("--vary", unc.vary,
                  "parameters the ensemble varies: all (default), calibrated (profile intervals) "
                  "or assumed (assumed and hypothesis ranges)")
      ->check(CLI::IsMember({"all", "calibrated", "assumed"}))
      ->needs(unc_opt);

  AnalysisArgs aargs;
  auto analysis_options = [&](CLI::App* c) {
    c->add_option("scenario", aargs.scenario_path, "scenario file (TOML)")->required();
    c->add_option("--out", aargs.out_dir, "write the table as CSV into this folder");
    c->add_option("--set", aargs.sets, "override PARAM=VALUE (table unit)")
        ->allow_extra_args(false);
    c->add_option("--hypothesis", aargs.hypotheses, "switch a hypothesis on (as for run)")
        ->allow_extra_args(false);
    c->add_option("--outputs", aargs.outputs,
                  "outputs (comma-separated; default: every output that is not 0)")
        ->delimiter(',');
    c->add_option("--at", aargs.at, "times with a unit, e.g. \"1 y,3 y\" (default: the end)")
        ->delimiter(',');
    c->add_option("--params", aargs.params, "parameters (comma-separated; default: all)")
        ->delimiter(',');
    c->add_option("--threads", aargs.threads, "threads (default: all cores)");
    c->add_option("--top", aargs.top, "parameters printed per quantity (default 10)");
    c->add_flag("--quiet,-q", aargs.quiet, "no progress line");
  };
  double sens_step = 1e-3;
  CLI::App* sensitivity = app.add_subcommand(
      "sensitivity", "local normalized sensitivities of outputs to parameters, ranked");
  analysis_options(sensitivity);
  sensitivity->add_option("--step", sens_step, "relative step of the central differences (1e-3)");
  k2sim::ScreenOptions screen_opt;
  std::string screen_method = "morris";
  CLI::App* screen = app.add_subcommand(
      "screen", "global sensitivity: Morris elementary effects or Sobol indices");
  analysis_options(screen);
  screen->add_option("--method", screen_method, "morris (default) or sobol")
      ->check(CLI::IsMember({"morris", "sobol"}));
  screen->add_option("--trajectories", screen_opt.trajectories, "Morris trajectories (10)");
  screen->add_option("--levels", screen_opt.levels, "Morris grid levels (4)");
  screen->add_option("--samples", screen_opt.samples, "Sobol base samples n; runs n (k + 2)");
  screen->add_option("--seed", screen_opt.seed, "seed (default 1)");
  std::string screen_vary = "all";
  screen->add_option("--vary", screen_vary, "all (default), calibrated or assumed parameters")
      ->check(CLI::IsMember({"all", "calibrated", "assumed"}));

  std::string cmp_path;
  std::string cmp_out;
  std::vector<std::string> cmp_sets;
  std::vector<std::string> cmp_hyps;
  std::vector<std::string> cmp_outputs;
  std::vector<std::string> cmp_at;
  std::string cmp_reference;
  bool cmp_quiet = false;
  UncertaintyArgs cmp_unc;
  CLI::App* compare = app.add_subcommand(
      "compare", "all arms side by side: values, differences and ratios to a reference arm");
  compare->add_option("scenario", cmp_path, "scenario file (TOML) with two or more [[arm]]s")
      ->required();
  compare->add_option("--out", cmp_out, "output folder (default: out/<scenario name>)");
  compare->add_option("--set", cmp_sets, "override PARAM=VALUE (table unit)")
      ->allow_extra_args(false);
  compare->add_option("--hypothesis", cmp_hyps, "switch a hypothesis on (as for run)")
      ->allow_extra_args(false);
  compare->add_option("--outputs", cmp_outputs, "outputs (comma-separated; default: all not 0)")
      ->delimiter(',');
  compare->add_option("--at", cmp_at, "times with a unit (default: each whole year and the end)")
      ->delimiter(',');
  compare->add_option("--reference", cmp_reference, "the arm compared against (default: first)");
  CLI::Option* cmp_unc_opt = compare->add_option(
      "--uncertainty", cmp_unc.members, "5-95% intervals from an ensemble of N parameter sets");
  compare->add_option("--seed", cmp_unc.seed, "seed of the ensemble (default 1)")
      ->needs(cmp_unc_opt);
  compare->add_option("--threads", cmp_unc.threads, "threads for the ensemble")->needs(cmp_unc_opt);
  compare->add_option("--vary", cmp_unc.vary, "all (default), calibrated or assumed")
      ->check(CLI::IsMember({"all", "calibrated", "assumed"}))
      ->needs(cmp_unc_opt);
  compare->add_flag("--quiet,-q", cmp_quiet, "print nothing on success");

  CLI::App* report = app.add_subcommand(
      "report", "self-contained HTML report with plots of a run directory (opens offline)");
  std::string report_dir;
  std::string report_out;
  k2sim::ReportOptions report_opt;
  bool report_quiet = false;
  report->add_option("dir", report_dir, "run directory written by run or compare")->required();
  report->add_option("--out", report_out, "HTML file to write (default: DIR/report.html)");
  report
      ->add_option("--max-points", report_opt.max_points,
                   "at most this many times per plotted series (default 2000)")
      ->check(CLI::Range(2, 1000000));
  report->add_flag("--quiet,-q", report_quiet, "print nothing on success");

  CLI::App* cohort = app.add_subcommand(
      "cohort", "run a population, cohort or trial ([population], [analysis]) subject by subject");
  std::string cohort_path;
  std::string cohort_out;
  std::vector<std::string> cohort_sets;
  std::vector<std::string> cohort_hyps;
  std::size_t cohort_size = 0;
  unsigned cohort_threads = 0;
  bool cohort_resume = false;
  bool cohort_quiet = false;
  cohort->add_option("scenario", cohort_path, "scenario file with a [population] table")
      ->required();
  cohort->add_option("--out", cohort_out, "output folder (default: out/<scenario name>)");
  cohort->add_option("--set", cohort_sets, "override PARAM=VALUE or solver.OPTION=VALUE")
      ->allow_extra_args(false);
  cohort->add_option("--hypothesis", cohort_hyps, "switch a hypothesis on (as for run)")
      ->allow_extra_args(false);
  cohort->add_option("--size", cohort_size, "number of subjects (overrides population.size)")
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000000}));
  cohort->add_option("--threads", cohort_threads, "threads (default: all cores)");
  cohort->add_flag("--resume", cohort_resume,
                   "continue an interrupted run from its journal (subjects.csv.partial)");
  cohort->add_flag("--quiet,-q", cohort_quiet, "print nothing on success");

  CLI::App* outputs = app.add_subcommand("outputs", "list the outputs: name, unit, meaning");
  std::string query;
  bool csv = false;
  CLI::App* params = app.add_subcommand("params", "list the parameters: value, unit, source");
  params->add_option("query", query, "show only parameters whose name or meaning contains this");
  params->add_flag("--csv", csv, "print as CSV");

  std::string food_query;
  std::size_t food_limit = 5;
  CLI::App* foods =
      app.add_subcommand("foods", "search the food table: per 100 g, per portion, sources");
  foods->add_option("query", food_query, "words of the food's name (fuzzy); none: list all foods");
  foods->add_option("--limit", food_limit, "show at most this many foods (default 5)");
  std::string diet_path;
  std::size_t diet_top = 4;
  CLI::App* diet = app.add_subcommand("diet", "daily intake per vitamer of a scenario's diet");
  diet->add_option("scenario", diet_path, "scenario file (TOML)")->required();
  diet->add_option("--top", diet_top, "foods shown per vitamer (default 4)");

  k2sim::ValidationOptions vopt;
  vopt.data_dir = k2sim::default_data_dir();
  std::string validate_out;
  std::string markdown;
  bool check = false;
  std::vector<std::string> vsets;
  CLI::App* validate = app.add_subcommand("validate", "run the model against published targets");
  validate->add_option("--only", vopt.only_prefix,
                       "only targets whose id starts with this (comma-separated: any of these)");
  validate->add_option("--id", vopt.only_id, "report only this target (exact id)");
  validate->add_option("--out", validate_out, "write validation.csv into this folder");
  validate->add_option("--markdown", markdown, "write the table as Markdown (docs/validation.md)");
  validate->add_option("--data", vopt.data_dir, "data folder (parameters/, validation/)");
  validate->add_option("--set", vsets, "override PARAM=VALUE");
  bool validate_quiet = false;
  validate->add_flag("--quiet,-q", validate_quiet, "no progress lines");
  validate->add_flag("--full", vopt.full,
                     "cohort protocols at the study's size (minutes) instead of their fast_size");
  validate->add_option("--cache", vopt.cache_dir,
                       "keep cohort runs in this folder for the protocols that share them");
  validate->add_option("--threads", vopt.threads, "threads of a cohort run (default: all cores)");
  validate->add_flag("--check", check,
                     "exit 1 when a status differs from data/validation/expected.csv (with --full: "
                     "expected-full.csv where it lists the target)");

  k2sim::CalibrationOptions copt;
  copt.data_dir = k2sim::default_data_dir();
  bool dry_run = false;
  bool no_profiles = false;
  CLI::App* calibrate = app.add_subcommand("calibrate", "fit a module's calibrated parameters");
  calibrate->add_option("module", copt.module, "parameter module, e.g. vitk")->required();
  calibrate->add_option("--data", copt.data_dir, "data folder (parameters/, validation/)");
  std::string calibrate_out;
  calibrate->add_option("--out", calibrate_out, "write calibration.csv into this folder");
  calibrate->add_option("--max-evals", copt.max_evaluations, "objective evaluations of the fit");
  calibrate->add_option("--threads", copt.threads, "threads for the profiles");
  calibrate->add_option("--profile-evals", copt.profile_evaluations,
                        "re-optimisation budget at each point of a profile (default 150)");
  calibrate->add_option("--free", copt.free, "fit only these parameters (comma-separated)")
      ->delimiter(',');
  calibrate->add_option("--targets", copt.targets, "fit only to these targets (comma-separated)")
      ->delimiter(',');
  calibrate->add_flag("--dry-run", dry_run, "fit and print, but leave the table unchanged");
  calibrate->add_flag(
      "--no-profiles", no_profiles,
      "skip the profile-likelihood intervals (the refitted parameters' old ones are cleared)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (*run) return cmd_run(scenario_path, out_dir, sets, run_hyps, unc, quiet);
    if (*sensitivity) return cmd_sensitivity(aargs, sens_step);
    if (*cohort) {
      // Under mpirun the ranks share the subjects; rank 0 writes and prints.
      if (k2sim::mpi_launched()) mpi.init(&argc, &argv);
      return cmd_cohort(cohort_path, cohort_out, cohort_sets, cohort_hyps, cohort_size,
                        cohort_threads, cohort_resume, cohort_quiet || mpi.rank != 0);
    }
    if (*report) {
      if (report_out.empty())
        report_out = (std::filesystem::path(report_dir) / "report.html").string();
      k2sim::write_report(report_dir, report_out, report_opt);
      if (!report_quiet)
        fmt::print("wrote {} (open it in a browser; it needs no network)\n", report_out);
      return kExitOk;
    }
    if (*compare) {
      return cmd_compare(cmp_path, cmp_out, cmp_sets, cmp_hyps, cmp_unc, cmp_outputs, cmp_at,
                         cmp_reference, cmp_quiet);
    }
    if (*screen) {
      screen_opt.method =
          screen_method == "sobol" ? k2sim::ScreenMethod::kSobol : k2sim::ScreenMethod::kMorris;
      screen_opt.vary = vary_set(screen_vary);
      return cmd_screen(aargs, screen_opt);
    }
    if (*outputs) return cmd_outputs();
    if (*foods) return cmd_foods(food_query, food_limit);
    if (*diet) return cmd_diet(diet_path, diet_top);
    if (*params) return cmd_params(query, csv);
    if (*calibrate) {
      copt.write = !dry_run;
      copt.profiles = !no_profiles;
      return cmd_calibrate(copt, calibrate_out);
    }
    if (*validate) {
      vopt.overrides = parse_sets(vsets);
      return cmd_validate(vopt, validate_out, markdown, check, validate_quiet);
    }
  } catch (const k2sim::OptionError& e) {
    if (mpi.rank == 0) fmt::print(stderr, "k2sim: error: {}\n", e.what());
    return kExitUsage;
  } catch (const k2sim::InputError& e) {
    if (mpi.rank == 0) fmt::print(stderr, "k2sim: error: {}\n", e.what());
    return kExitInput;
  } catch (const k2sim::IoError& e) {
    if (mpi.rank == 0) fmt::print(stderr, "k2sim: I/O error: {}\n", e.what());
    return kExitIo;
  } catch (const std::exception& e) {  // a bug: say so rather than terminate
    fmt::print(stderr, "k2sim: internal error (please report): {}\n", e.what());
    return kExitNumerical;
  }
  return kExitUsage;
}
