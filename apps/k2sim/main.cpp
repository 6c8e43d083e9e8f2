// k2sim command-line interface: parses arguments, calls the library, maps errors to exit codes
// (INTERFACES.md): 0 success, 2 bad command line, 3 invalid scenario or data file, 4 numerical
// failure, 5 I/O error. No science here.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "k2sim/calibration/calibrate.hpp"
#include "k2sim/calibration/validation.hpp"
#include "k2sim/diet/foods.hpp"
#include "k2sim/diet/report.hpp"
#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"

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

int cmd_run(const std::string& scenario_path, std::string out_dir,
            const std::vector<std::string>& sets, bool quiet) {
  const k2sim::Scenario sc = k2sim::read_scenario(scenario_path);
  const k2sim::Overrides overrides = parse_sets(sets);
  if (out_dir.empty()) out_dir = "out/" + sc.name;
  // Progress on stderr for runs that take a while, when it is a terminal (never in pipes or CI).
  const bool show_progress = !quiet && ::isatty(::fileno(stderr)) != 0;
  const auto start = std::chrono::steady_clock::now();
  auto last_print = start;
  bool printed = false;
  k2sim::RunProgress progress;
  if (show_progress) {
    progress = [&](std::size_t arm, std::size_t arms, double fraction) {
      const auto now = std::chrono::steady_clock::now();
      if (now - start < std::chrono::seconds(1) ||
          now - last_print < std::chrono::milliseconds(100)) {
        return;
      }
      last_print = now;
      printed = true;
      fmt::print(stderr, "\r  arm {}/{}: {:5.1f}% of {:g} d simulated", arm + 1, arms,
                 100.0 * fraction, sc.duration_h / 24.0);
      std::fflush(stderr);
    };
  }
  const k2sim::RunResult result = k2sim::run_scenario(sc, overrides, progress);
  if (printed) fmt::print(stderr, "\r{:60}\r", "");
  k2sim::write_run_directory(sc, result, out_dir);
  if (!quiet) {
    fmt::print("k2sim {}: scenario '{}' (model {}), {:g} d, output every {:g} h\n",
               result.model_version, sc.name, sc.model, sc.duration_h / 24.0, sc.output_interval_h);
    for (const k2sim::ArmResult& a : result.arms) {
      fmt::print("\narm {}: {}, {} steps, {} RHS evaluations, {} restarts\n", a.name,
                 a.solve.ok() ? "ok" : "FAILED", a.solve.steps, a.solve.rhs_evals,
                 a.solve.restarts);
      if (!a.solve.ok()) {
        fmt::print("  {}\n", a.solve.message);
        continue;
      }
      fmt::print("  {:<32} {:<8} {:>12} {:>12} {:>12} {:>12}\n", "output", "unit", "start", "end",
                 "mean", "max");
      std::size_t zero = 0;
      for (std::size_t k = 0; k < a.outputs.size(); ++k) {
        const auto& s = a.stats[k];
        if (s.min == 0.0 && s.max == 0.0) {  // outputs that stay 0 are in the files only
          ++zero;
          continue;
        }
        fmt::print("  {:<32} {:<8} {:>12.4g} {:>12.4g} {:>12.4g} {:>12.4g}\n", a.outputs[k].name,
                   a.outputs[k].unit, s.start, s.end, s.mean, s.max);
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
                 const std::string& markdown, bool check) {
  const std::vector<k2sim::ValidationRow> rows = k2sim::run_validation(options);
  auto matches = [](const k2sim::ValidationRow& r) {
    return (r.status == "pass" && r.expected == "pass") ||
           (r.status == "fail" && r.expected == "known-fail") || r.status == r.expected;
  };
  std::map<std::string, std::map<std::string, int>> counts;  // role -> status -> n
  int changed = 0;
  std::string csv =
      "id,quantity,role,family,published,units,low,high,rule,model,status,expected,reason\n";
  std::string md = fmt::format(
      "# Validation\n\nLast full run of `k2sim validate` (model version {}). Generated; do not "
      "edit "
      "by hand.\nRoles: calibration targets were used to fit parameters, validation targets never."
      "\n\n| id | quantity | role | published | pass interval | model | status | expected | "
      "reason |\n|---|---|---|---|---|---|---|---|---|\n",
      k2sim::model_version());
  fmt::print("{:<7} {:<44} {:<11} {:>10} {:<12} {:>23} {:>10} {:<11} {}\n", "id", "quantity",
             "role", "published", "units", "pass interval", "model", "status", "expected");
  for (const auto& r : rows) {
    const bool ok = matches(r);
    if (!ok) ++changed;
    counts[r.role.empty() ? "-" : r.role][r.status]++;
    const bool ran = r.status == "pass" || r.status == "fail";
    const std::string interval =
        ran ? fmt::format("[{:.3g}, {:.3g}]", r.tolerance.low, r.tolerance.high) : "";
    const std::string model = ran ? fmt::format("{:.4g}", r.model) : "";
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

int main(int argc, char** argv) {
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
  bool full = false;
  std::vector<std::string> vsets;
  CLI::App* validate = app.add_subcommand("validate", "run the model against published targets");
  validate->add_option("--only", vopt.only_prefix, "only targets whose id starts with this");
  validate->add_option("--id", vopt.only_id, "report only this target (exact id)");
  validate->add_option("--out", validate_out, "write validation.csv into this folder");
  validate->add_option("--markdown", markdown, "write the table as Markdown (docs/validation.md)");
  validate->add_option("--data", vopt.data_dir, "data folder (parameters/, validation/)");
  validate->add_option("--set", vsets, "override PARAM=VALUE");
  validate->add_flag("--full", full, "full-size replicas (none yet: same as without)");
  validate->add_flag("--check", check,
                     "exit 1 when a status differs from data/validation/expected.csv");

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
    if (*run) return cmd_run(scenario_path, out_dir, sets, quiet);
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
      return cmd_validate(vopt, validate_out, markdown, check);
    }
  } catch (const k2sim::OptionError& e) {
    fmt::print(stderr, "k2sim: error: {}\n", e.what());
    return kExitUsage;
  } catch (const k2sim::InputError& e) {
    fmt::print(stderr, "k2sim: error: {}\n", e.what());
    return kExitInput;
  } catch (const k2sim::IoError& e) {
    fmt::print(stderr, "k2sim: I/O error: {}\n", e.what());
    return kExitIo;
  } catch (const std::exception& e) {  // a bug: say so rather than terminate
    fmt::print(stderr, "k2sim: internal error (please report): {}\n", e.what());
    return kExitNumerical;
  }
  return kExitUsage;
}
