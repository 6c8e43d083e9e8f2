// k2sim/calibration/calibrate.hpp: reproducible fit of a module's `calibrated` parameters to its
// calibration targets (never its validation targets), with profile-likelihood intervals.
#pragma once

#include <string>
#include <vector>

namespace k2sim {

struct CalibrationOptions {
  std::string data_dir;           ///< folder holding parameters/ and validation/
  std::string module;             ///< parameter module, e.g. "vitk"
  int max_evaluations = 3000;     ///< objective evaluations of the main fit
  bool profiles = true;           ///< compute 95% profile-likelihood intervals
  int threads = 2;                ///< threads for the profiles
  int profile_evaluations = 150;  ///< re-optimisation budget at each point of a profile
  bool write = true;              ///< write values and intervals into data/parameters/<module>.csv
  bool quiet = false;
  std::vector<std::string> free;     ///< fit only these calibrated parameters (empty: all)
  std::vector<std::string> targets;  ///< fit only to these calibration targets (empty: all)
};

struct CalibrationTargetFit {
  std::string id;
  double published = 0.0;
  double low = 0.0;  ///< pass interval (VALIDATION.md)
  double high = 0.0;
  double before = 0.0;
  double after = 0.0;
};

struct CalibratedValue {
  std::string name;
  std::string unit;
  double start = 0.0;
  double value = 0.0;
  double ci_low = 0.0;
  double ci_high = 0.0;
  bool ci_low_at_bound = false;
  bool ci_high_at_bound = false;
};

struct CalibrationResult {
  double objective_start = 0.0;
  double objective_end = 0.0;
  int evaluations = 0;
  std::vector<CalibratedValue> parameters;
  std::vector<CalibrationTargetFit> targets;
};

/// Fits the module's parameters with provenance `calibrated` (NLopt BOBYQA on log-parameters within
/// the table's bounds) to the protocols with role `calibration` whose expected status is not
/// deferred or not-covered. Objective: sum of squared standardised residuals, where each target's
/// pass interval is +-2 standard deviations (on a log scale for positive quantities); a "not
/// detectable" target adds a penalty only above its LOD. Profiles: each parameter is moved
/// until the re-optimised objective rises by 3.84 (chi-square, 1 df). Throws InputError / IoError.
[[nodiscard]] CalibrationResult calibrate(const CalibrationOptions& options);

}  // namespace k2sim
