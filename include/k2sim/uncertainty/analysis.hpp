// k2sim/uncertainty/analysis.hpp: uncertainty of a scenario's answers (docs/sensitivity.md):
// ensembles of parameter sets (5-50-95% bands), local sensitivities of outputs to parameters,
// and global screening (Morris) and variance decomposition (Sobol) over the parameters' spreads.
// Every run is a whole run of the scenario (steady-state start, diet, titration included), so a
// parameter acts through everything that depends on it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "k2sim/io/run.hpp"
#include "k2sim/uncertainty/gsa.hpp"
#include "k2sim/uncertainty/sampling.hpp"

namespace k2sim {

/// Called with (runs done, runs in all) from the thread that finished a run; must be cheap.
using AnalysisProgress = std::function<void(std::size_t, std::size_t)>;

struct EnsembleOptions {
  std::size_t members = 100;
  VarySet vary = VarySet::kAll;
  std::size_t reference_arm = 0;  ///< arms get paired-difference bands against this one
  std::uint64_t seed = 1;
  unsigned threads = 0;  ///< 0: the hardware's
};

/// Runs `options.members` parameter sets drawn from `parameter_spreads(run.table, run.held)` and
/// adds to `central` (the run with the table's values) each arm's 5-50-95% bands and the
/// summary.json "uncertainty" record. A member that fails is recorded, not fatal. The members and
/// so the bands are the same for a seed whatever the number of threads.
void add_ensemble(const PreparedRun& run, const EnsembleOptions& options, RunResult& central,
                  const AnalysisProgress& progress = {});

/// One answer of a scenario: an output of an arm at an output time.
struct Quantity {
  std::size_t arm = 0;
  std::size_t output = 0;
  std::size_t row = 0;  ///< row of the output grid
  std::string arm_name, output_name, unit;
  double time_h = 0.0;
};

/// The quantities named by `outputs` (empty: every output that is not 0 throughout in the first
/// arm, intake columns left out) at `times_h` (empty: the end; each must be on the output grid),
/// for every arm of `central`. Throws OptionError naming an unknown output or a time off the grid.
[[nodiscard]] std::vector<Quantity> select_quantities(const RunResult& central,
                                                      const std::vector<std::string>& outputs,
                                                      const std::vector<double>& times_h);

struct SensitivityOptions {
  std::vector<std::string> parameters;  ///< empty: every parameter of the table
  double relative_step = 1e-3;          ///< perturbation, relative to the value (or range)
  unsigned threads = 0;
};

/// d quantity / d parameter by central differences of whole runs at value * (1 +- step), or at
/// value +- step * (upper - lower) for a parameter at 0; one-sided at a bound.
struct Sensitivity {
  std::string parameter;
  double value = 0.0;       ///< table unit
  std::string unit;         ///< the parameter's table unit
  double derivative = 0.0;  ///< quantity unit per parameter unit
  /// (p / q) dq/dp, the relative change of the quantity per relative change of the parameter;
  /// for a parameter at 0: (upper - lower) / q dq/dp (per_range).
  double normalized = 0.0;
  bool per_range = false;
  bool one_sided = false;
};

struct SensitivityResult {
  std::vector<Quantity> quantities;
  std::vector<double> values;                         ///< per quantity, at the table's values
  std::vector<std::vector<Sensitivity>> by_quantity;  ///< per quantity, per parameter
  std::vector<std::string> failures;                  ///< "parameter: message" for failed runs
  std::size_t runs = 0;
};

[[nodiscard]] SensitivityResult local_sensitivities(const PreparedRun& run,
                                                    const RunResult& central,
                                                    const std::vector<Quantity>& quantities,
                                                    const SensitivityOptions& options,
                                                    const AnalysisProgress& progress = {});

enum class ScreenMethod { kMorris, kSobol };

struct ScreenOptions {
  ScreenMethod method = ScreenMethod::kMorris;
  std::vector<std::string> parameters;  ///< empty: every parameter with a spread in `vary`
  VarySet vary = VarySet::kAll;
  std::size_t trajectories = 10;  ///< Morris
  int levels = 4;                 ///< Morris grid levels
  std::size_t samples = 64;       ///< Sobol base samples n (runs: n (k + 2))
  std::uint64_t seed = 1;
  unsigned threads = 0;
};

struct ScreenFactor {
  std::string parameter;
  ParameterSpread spread;
};

struct ScreenResult {
  std::vector<Quantity> quantities;
  std::vector<ScreenFactor> factors;
  std::vector<MorrisResult> morris;  ///< per quantity (Morris)
  std::vector<SobolResult> sobol;    ///< per quantity (Sobol)
  std::vector<std::string> failures;
  std::size_t runs = 0;
};

/// Morris elementary effects (levels spanning the central 95% of each spread) or Sobol indices
/// (the full spreads) of the quantities over the factors; throws OptionError for a named
/// parameter that has no spread (fixed) or does not exist.
[[nodiscard]] ScreenResult screen(const PreparedRun& run, const RunResult& central,
                                  const std::vector<Quantity>& quantities,
                                  const ScreenOptions& options,
                                  const AnalysisProgress& progress = {});

}  // namespace k2sim
