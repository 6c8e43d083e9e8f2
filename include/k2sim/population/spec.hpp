// k2sim/population/spec.hpp: the [population] and [analysis] tables of a cohort, population or
// trial scenario (docs/cohorts.md), in canonical units. Read by io/scenario.cpp.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "k2sim/io/source_location.hpp"

namespace k2sim {

/// A covariate's distribution over the population, drawn by inverse CDF from one uniform.
struct Distribution {
  enum class Kind { kFixed, kNormal, kLogNormal, kUniform };
  Kind kind = Kind::kFixed;
  double a = 0.0;  ///< fixed: the value; normal: mean; log-normal: median; uniform: lower end
  double b = 0.0;  ///< normal: SD; log-normal: coefficient of variation; uniform: upper end
  double min = -std::numeric_limits<double>::infinity();  ///< truncation (normal, log-normal)
  double max = std::numeric_limits<double>::infinity();
  SourceLocation where;
  /// The value at uniform quantile u in (0, 1), within [min, max].
  [[nodiscard]] double at(double u) const;
};

/// A latent confounder (docs/cohorts.md "Confounding"): U ~ N(0, 1) per subject raises the
/// amounts of the foods whose names contain `foods` by exp(log_effect_per_sd * U) and multiplies
/// every event hazard by hazard_ratio_per_sd^U. The endpoints are reported with and without the
/// hazard term, so the same subjects give the causal and the confounded association.
struct ConfounderSpec {
  std::vector<std::string> foods;
  double log_effect_per_sd = 0.0;
  double hazard_ratio_per_sd = 1.0;
  SourceLocation where;
};

/// [population]: who the subjects are. Omitted covariates take the scenario's [subject] value.
struct PopulationSpec {
  std::size_t size = 0;
  std::uint64_t seed = 1;
  std::optional<Distribution> age_y;
  std::optional<Distribution> body_weight_kg;
  std::optional<Distribution> egfr_mL_per_min;  ///< mL/min/1.73m2
  std::optional<Distribution> systolic_bp_mmHg;
  std::optional<Distribution> cac_percentile;  ///< default: uniform 0-100
  std::optional<double> female;                ///< fraction of women
  std::optional<double> smoker;                ///< fractions (MESA risk factors)
  std::optional<double> diabetes;
  std::optional<double> statin;  ///< atorvastatin 20 mg daily
  std::optional<double> vka;     ///< warfarin users: once a day, titrated to INR 2.5
  std::vector<std::pair<std::string, double>> vkorc1;       ///< genotype frequencies
  double diet_cv = 0.0;                                     ///< default CV of each food's amount
  double diet_correlation = 0.0;                            ///< between foods (shared factor)
  std::vector<std::pair<std::string, double>> food_cv;      ///< food name part -> CV
  std::vector<std::pair<std::string, double>> variability;  ///< parameter -> CV (log-normal)
  std::optional<ConfounderSpec> confounder;
  SourceLocation where;
};

/// [analysis]: what is computed from the subjects.
struct AnalysisSpec {
  enum class Kind { kCohort, kTrial };
  Kind kind = Kind::kCohort;
  // Cohort: exposure groups by quantile and the endpoints' relative risks and hazard ratios.
  std::string exposure;  ///< intake_<key>_ug_per_d (diet at baseline) or an output at baseline
  int groups = 3;        ///< 3: tertiles, 4: quartiles, 5: quintiles
  std::vector<std::string> endpoints;  ///< chd_event, chd_death, death, severe_aac
  std::vector<std::string> adjust;     ///< age, sex, smoker, diabetes, statin, vka, egfr
  double exposure_error_cv = 0.0;      ///< food-frequency measurement error (log-normal)
  double severe_aac_score = 5.0;       ///< AAC-24 score at or above which AAC is "severe"
  std::vector<std::pair<std::string, double>> published;  ///< endpoint -> published RR/HR/OR
  // Trial: changes from baseline by arm, randomized 1:1 (or as many arms as the scenario has).
  std::vector<std::string> outcomes;  ///< outputs whose change from baseline is compared
  std::vector<std::size_t> power_sizes;
  std::size_t power_replicates = 400;
  double alpha = 0.05;
  SourceLocation where;
};

}  // namespace k2sim
