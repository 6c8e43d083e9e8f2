// k2sim/population/cohort.hpp: virtual populations, observational cohorts and randomized trials
// in silico (`k2sim cohort`, docs/cohorts.md). Each subject is drawn from a random stream derived
// from (seed, subject id) alone, runs every arm of the scenario, and becomes one row of
// subjects.csv; rows are written in id order into a journal (subjects.csv.partial) as subjects
// finish, so memory does not grow with the number of subjects and an interrupted run resumes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"

namespace k2sim {

/// One subject's draws: covariates, diet and parameter factors, the latent confounder, and the
/// uniform and exponential draws of its events (common to every arm).
struct SubjectDraw {
  std::size_t id = 0;
  double age_y = 0.0;
  bool female = false;
  double body_weight_kg = 0.0;
  double egfr_mL_per_min = 0.0;
  double systolic_bp_mmHg = 0.0;
  double cac_percentile = 50.0;
  bool smoker = false;
  bool diabetes = false;
  bool statin = false;
  bool vka = false;  ///< takes warfarin (titrated to INR 2.5)
  std::string vkorc1;
  double confounder_z = 0.0;    ///< U ~ N(0, 1)
  double exposure_error = 1.0;  ///< multiplicative food-frequency error of the exposure
  double e_chd = 1.0;           ///< Exp(1) for the first coronary event
  double e_other = 1.0;         ///< Exp(1) for death from other causes
  double u_fatal = 0.5;         ///< uniform: a first coronary event is fatal when below the
                                ///< fatal fraction
  double u_arm = 0.5;           ///< uniform: the arm of a randomized trial
  Scenario scenario;            ///< the scenario for this subject (subject keys, scaled diet)
  ParameterTable table;         ///< with the subject's parameter variability
};

/// Draws subject `id` of the scenario's population from (seed, id): the same subject for any
/// number of threads or ranks. Throws InputError for a [population] that does not fit the model.
[[nodiscard]] SubjectDraw draw_subject(const PreparedRun& run, std::size_t id);

/// A subject's events over a run (times in years since the start; censored at death from other
/// causes or the end).
struct SubjectEvents {
  bool chd_event = false, chd_death = false, death = false;
  double chd_event_time_y = 0.0, chd_death_time_y = 0.0, death_time_y = 0.0;
};

/// Draws the events of one subject by inverse cumulative hazard: the first coronary event when
/// multiplier * H_chd(t) reaches e_chd, death from other causes when multiplier * H_other(t)
/// reaches e_other (H linear between output times), the event fatal when u_fatal is below the
/// fatal fraction. In expectation this is model full's multi-state outcome model (eq. 65).
[[nodiscard]] SubjectEvents draw_events(const std::vector<double>& time_h,
                                        const std::vector<double>& chd_hazard,
                                        const std::vector<double>& other_hazard, double multiplier,
                                        double e_chd, double e_other, double u_fatal,
                                        double fatal_fraction);

struct CohortOptions {
  std::string out_dir;
  unsigned threads = 0;  ///< 0: the hardware's
  bool resume = false;
  /// The parameter table the subjects start from (before hypotheses and sets); none: the
  /// built-in one of the scenario's model.
  std::optional<ParameterTable> table;
  /// Called with (subjects done, subjects to do) in this run (a resumed run counts from where it
  /// resumed) from the writing thread of rank 0.
  std::function<void(std::size_t, std::size_t)> progress;
};

struct CohortSummary {
  std::size_t subjects = 0;
  std::size_t failed = 0;
  std::size_t resumed_from = 0;  ///< subjects already in the journal when resumed
  nlohmann::json analysis;
};

/// Whether this process was started by mpirun (OpenMPI or a PMI launcher): `k2sim cohort` then
/// initializes MPI and splits the subjects over the ranks; rank 0 writes the files.
[[nodiscard]] bool mpi_launched();

/// Runs the cohort of `scenario` ([population] required) into options.out_dir: subjects.csv
/// (through subjects.csv.partial), then summary.json with the analysis. Throws InputError,
/// OptionError or IoError; a subject whose run fails is a row with its status.
[[nodiscard]] CohortSummary run_cohort(const Scenario& scenario, const Overrides& sets,
                                       const CohortOptions& options);

/// The analysis of a finished subjects.csv (cohort: exposure groups, relative risks, Cox hazard
/// ratios, bias analysis; trial: effects and power), as summary.json "analysis". `exposure`, when
/// given, names another column of subjects.csv (an intake, e.g. intake_k1_ug_per_d) to group by
/// instead of [analysis] exposure, observed with the same food-frequency error.
[[nodiscard]] nlohmann::json analyse_subjects(const Scenario& scenario,
                                              const std::string& subjects_csv,
                                              const std::string& exposure = "");

}  // namespace k2sim
