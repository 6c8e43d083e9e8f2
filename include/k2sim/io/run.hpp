// k2sim/io/run.hpp: runs a scenario (every arm) and writes its run directory: trajectory.csv
// (or trajectory_<arm>.csv) and summary.json, as INTERFACES.md "Run directory" specifies.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "k2sim/engine/simulation.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/model/model.hpp"

namespace k2sim {

/// `--set NAME=VALUE` overrides: model parameters by table name (in the table's unit) or solver
/// options as `solver.NAME`.
using Overrides = std::vector<std::pair<std::string, std::string>>;

/// Summary statistics of one output over the run (time-weighted mean by the trapezoid rule).
struct OutputStats {
  double start = 0.0;
  double end = 0.0;
  double mean = 0.0;
  double min = 0.0;
  double max = 0.0;
};

/// A dose amount found by titration (dose key titrate_to_inr).
struct Titration {
  std::string substance;
  double amount = 0.0;  ///< per dose, internal amount unit (nmol)
  double target_inr = 0.0;
  double achieved_inr = 0.0;  ///< mean INR over one interval at steady state
};

/// 5%, 50% and 95% quantiles over the members of an ensemble (`--uncertainty N`), laid out as
/// ArmResult::values, and the same quantiles of each summary statistic.
struct ArmBands {
  std::size_t members_ok = 0;  ///< members whose run of this arm succeeded
  std::vector<double> p05, p50, p95;
  std::vector<std::array<OutputStats, 3>> stats;  ///< per output: p05, p50, p95 of each statistic
  /// Paired differences from the reference arm (member by member), as `values`; empty for the
  /// reference arm itself.
  std::vector<double> diff_p05, diff_p50, diff_p95;
};

/// How an ensemble was drawn (summary.json "uncertainty").
struct UncertaintyInfo {
  std::size_t members = 0;
  std::uint64_t seed = 0;
  std::string vary;                   ///< "all", "calibrated" or "assumed"
  std::vector<std::string> varied;    ///< "name (spread)" of each parameter drawn
  std::vector<std::string> failures;  ///< "member i, arm a: message"
};

struct ArmResult {
  std::string name;
  std::vector<double> time_h;
  std::vector<double> values;  ///< values[i * outputs.size() + k]: output k at time_h[i]
  std::vector<OutputSpec> outputs;
  std::vector<OutputStats> stats;
  std::vector<Titration> titrations;
  SolveSummary solve;
  std::optional<ArmBands> bands;  ///< with an ensemble
};

struct RunResult {
  std::string model_version;
  std::vector<ArmResult> arms;
  std::optional<UncertaintyInfo> uncertainty;
  [[nodiscard]] bool ok() const;
};

/// Applies overrides to a parameter table and solver options; throws OptionError for an unknown
/// name or a bad value, naming the option.
void apply_overrides(const Overrides& sets, ParameterTable& table, SimulationOptions& options);

/// What a run of a scenario uses: the model's built-in table with the scenario's hypotheses and
/// then `sets` applied, the solver options, and the scenario with a diet hypothesis (pasture) put
/// into its diet. `held`: parameters an ensemble keeps fixed (those `sets` gives, and those of
/// hypotheses that are off). Throws OptionError / InputError.
struct PreparedRun {
  Scenario scenario;
  ParameterTable table;
  SimulationOptions options;
  std::vector<std::string> held;
};
[[nodiscard]] PreparedRun prepare_run(const Scenario& scenario, const Overrides& sets = {});
/// The same from a given parameter table instead of the model's built-in one.
[[nodiscard]] PreparedRun prepare_run(const Scenario& scenario, const Overrides& sets,
                                      const ParameterTable& table);

/// Puts a diet hypothesis that is on (pasture_k2) into the scenario's diet, unless the diet sets
/// the factor itself (then the switch records that value). Throws InputError (OptionError for a
/// command-line setting) for a factor outside (0, 20].
void apply_diet_hypotheses(Scenario& scenario);

/// Runs every arm of the scenario. Numerical failures are in each arm's `solve`; bad input throws.
/// `progress`, when given, is called with (arm index, number of arms, fraction of the arm done).
using RunProgress = std::function<void(std::size_t, std::size_t, double)>;
[[nodiscard]] RunResult run_scenario(const Scenario& scenario, const Overrides& sets = {},
                                     const RunProgress& progress = {});

/// Runs every arm with an explicit parameter table and solver options (validation, calibration).
[[nodiscard]] RunResult run_scenario(const Scenario& scenario, const ParameterTable& table,
                                     const SimulationOptions& options,
                                     const RunProgress& progress = {});

/// Writes trajectory CSV(s) and summary.json into `dir` (created if needed); each file goes to a
/// temporary name first and is renamed when complete. A failed arm gets no trajectory file; its
/// status and message are in summary.json. Throws IoError.
void write_run_directory(const Scenario& scenario, const RunResult& result, const std::string& dir);

/// summary.json content.
[[nodiscard]] nlohmann::json summary_json(const Scenario& scenario, const RunResult& result);

/// Writes `content` to `path` through a temporary file renamed when complete. Throws IoError.
void write_file_atomically(const std::string& path, const std::string& content);

/// The model version string (project version).
[[nodiscard]] std::string model_version();

}  // namespace k2sim
