// k2sim/calibration/validation.hpp: published targets, the protocols that turn each into a
// simulation and a statistic, and the pass/fail rules of VALIDATION.md.
#pragma once

#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim {

/// One row of data/validation/targets.csv (copied from the evidence with its source).
struct Target {
  std::string id;
  std::string quantity;
  double value = 0.0;
  std::optional<double> low;
  std::optional<double> high;
  std::string spread_kind;  // CI95 | SE | SD | range | none
  std::string units;
  std::optional<int> n;
  std::string source;
  std::string verified;
};

/// Reads targets.csv; throws InputError with file:line for a malformed row.
[[nodiscard]] std::map<std::string, Target> read_targets(const std::string& path);
/// The same from the text of such a file (`path` names it in errors).
[[nodiscard]] std::map<std::string, Target> parse_targets(std::string_view text,
                                                          const std::string& path);

/// What is computed from a run (VALIDATION.md "statistic"). Times in h, values in canonical units
/// until `unit` converts the result (with `substance` for mass-based units such as ng/mL).
/// last_detectable returns the last of `samples` (h) at which the output, in `unit`, is at or
/// above the protocol's LOD; time_to_fraction the first sample at which the output reaches
/// `fraction` of its value at the last sample, in `unit` (a time unit).
struct Statistic {
  std::string kind;  // value_at | max | min | tmax | mean | auc | half_life | last_detectable |
                     // time_to_fraction | ratio | percent_change (100 * (numerator/denominator -
                     // 1)) | difference (of - minus, both in `unit`) | reciprocal (scale / of) |
                     // lowest_dose | odds_ratio (odds of numerator over odds of denominator,
                     // both probabilities) | weighted_mean (of `terms`)
  std::string output;
  std::string arm = "main";
  double from_h = 0.0;
  double to_h = std::numeric_limits<double>::infinity();
  double at_h = 0.0;
  double fraction = 0.0;
  std::vector<double> samples_h;
  std::string unit = "1";
  std::string substance;
  double offset = 0.0;  ///< added to the converted result (e.g. a published baseline)
  double scale = 1.0;   ///< multiplies the converted result (e.g. 100 for a percentage)
  std::shared_ptr<Statistic> numerator;    ///< ratio, percent_change; `of` of a difference
                                           ///< or a reciprocal
  std::shared_ptr<Statistic> denominator;  ///< ratio, percent_change; `minus` of a difference
  /// weighted_mean: (weight, statistic) terms; the result is sum(w s) / sum(w).
  std::vector<std::pair<double, std::shared_ptr<Statistic>>> terms;
  // lowest_dose: the dose (in `unit`) of the first of `arms` (ascending doses) in which `output`
  // at `at` differs from its value at `baseline_at` by at least `threshold` (in `effect_unit`).
  std::vector<std::string> arms;
  std::vector<double> doses;
  double baseline_at_h = 0.0;
  double threshold = 0.0;
  std::string effect_unit = "1";
  // cohort: an estimate of the cohort analysis ([analysis] kind = "cohort") of the protocol's
  // population: `measure` (hazard_ratio | risk_ratio | odds_ratio | expected_risk_ratio) of
  // `endpoint` in exposure group `group` against the lowest, without (causal) or with the
  // confounder's hazard term (`confounded`); or measure cutoff: the `group`-th cut-off between
  // the exposure groups (in the exposure's unit). `exposure`: another intake column to group by.
  std::string measure;
  std::string endpoint;
  int group = 0;
  std::string exposure;
  bool confounded = false;
};

struct Protocol {
  std::string id;
  std::string file;
  std::string role;           // calibration | validation
  std::string comparison;     // typical | population | replica
  std::string family;         // empty: judged alone
  std::optional<double> lod;  ///< in the statistic's unit
  std::string notes;
  Statistic statistic;
  Scenario scenario;
  /// [protocol] scenario: the scenario file the protocol runs (relative to the protocol's
  /// folder), when the protocol file holds only [protocol]; empty when the file holds it.
  std::string scenario_file;
  /// [protocol] fast_size: the population size of a cohort protocol in a fast validation (the
  /// scenario's own size, the study's, runs with `k2sim validate --full`).
  std::optional<std::size_t> fast_size;
};

/// Reads one protocol file (a scenario with a [protocol] table). Throws InputError.
[[nodiscard]] Protocol read_protocol(const std::string& path);

/// Computes a statistic from a finished run. Throws InputError naming the protocol when an arm or
/// output does not exist or a window is empty.
[[nodiscard]] double compute_statistic(const Statistic& s, const RunResult& run,
                                       const std::string& where);

/// The interval a model value must fall in to pass (VALIDATION.md, by spread kind). For a target
/// of 0 with an LOD ("not detectable"), [-inf, lod).
struct Tolerance {
  double low = 0.0;
  double high = 0.0;
  std::string rule;
};
[[nodiscard]] Tolerance tolerance_of(const Target& t, const std::optional<double>& lod);

/// One row of the validation table.
struct ValidationRow {
  std::string id;
  std::string quantity;
  std::string role;
  std::string family;
  double published = 0.0;
  std::string units;
  Tolerance tolerance;
  double model = 0.0;
  /// The 95% interval of a cohort estimate (NaN otherwise), and the subjects it came from.
  double model_low = std::numeric_limits<double>::quiet_NaN();
  double model_high = std::numeric_limits<double>::quiet_NaN();
  std::size_t subjects = 0;
  std::string status;    // pass | fail | deferred | not-covered | error
  std::string expected;  // status in expected.csv
  std::string reason;    // expected.csv reason, or the error
};

struct ValidationOptions {
  std::string data_dir;  ///< folder holding parameters/ and validation/
  std::string only_prefix;
  std::string only_id;  ///< report only this target (all rows still run: families need them)
  Overrides overrides;
  /// Cohort protocols at the study's size (the scenario's [population] size) instead of their
  /// fast_size (VALIDATION.md "Time budget").
  bool full = false;
  /// A folder that keeps finished cohort runs (subjects.csv) for the protocols that share one:
  /// keyed by the scenario, size, parameters, options and the k2sim executable. Empty: none.
  std::string cache_dir;
  unsigned threads = 0;  ///< threads of a cohort run (0: the hardware's)
  /// Called before each target runs: targets done, targets in all, the id about to run.
  std::function<void(std::size_t, std::size_t, const std::string&)> progress;
};

/// Runs every protocol listed in validation/expected.csv (or those whose id starts with
/// only_prefix), judges families together, and compares with the expected status.
[[nodiscard]] std::vector<ValidationRow> run_validation(const ValidationOptions& options);

/// Runs protocols with a given parameter table (for calibration): the model statistic per id.
/// Throws InputError for a cohort protocol (see cohort_estimate).
[[nodiscard]] double protocol_statistic(const Protocol& p, const ParameterTable& table);

/// A cohort protocol's estimate with its 95% interval (NaN for a measure without one) from a
/// population of `subjects` out of the study's `full_subjects`.
struct CohortEstimate {
  double value = 0.0;
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
  std::size_t subjects = 0;
  std::size_t full_subjects = 0;
};
/// Runs the cohort of a protocol whose statistic is kind "cohort" (fast_size subjects unless
/// options.full; the run is reused from options.cache_dir when there) and reads its estimate.
/// `cohort_progress` gets (subjects done, subjects).
[[nodiscard]] CohortEstimate cohort_estimate(
    const Protocol& p, const ParameterTable& table, const ValidationOptions& options,
    const std::function<void(std::size_t, std::size_t)>& cohort_progress = {});

/// The pass interval of a cohort estimate against its target: a CI95 target's interval is widened
/// on the log scale by the estimate's Monte Carlo error beyond that of the full-size study,
/// 1.96 se sqrt(1 - subjects / full_subjects), se from the estimate's 95% interval (nothing at full
/// size); a null target ("(null)" in its units) passes when the estimate's interval contains the
/// null value; anything else as tolerance_of.
[[nodiscard]] Tolerance cohort_tolerance(const Target& t, const CohortEstimate& e);
/// Whether a cohort estimate passes its tolerance (the null rule on its interval).
[[nodiscard]] bool cohort_passes(const Target& t, const CohortEstimate& e, const Tolerance& tol);

/// Default data folder: $K2SIM_DATA_DIR, else the source tree's data/ recorded at build time.
[[nodiscard]] std::string default_data_dir();

}  // namespace k2sim
