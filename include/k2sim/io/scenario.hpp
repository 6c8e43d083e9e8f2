// k2sim/io/scenario.hpp: scenario files (TOML, INTERFACES.md "Scenario file"). Every quantity is a
// string with a unit; values are converted to canonical units here, at the edge. Errors are
// InputError with file:line, the key, the value and the rule broken (with the nearest valid key).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "k2sim/diet/diet.hpp"
#include "k2sim/engine/simulation.hpp"
#include "k2sim/io/source_location.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/hypotheses.hpp"
#include "k2sim/population/spec.hpp"

namespace k2sim {

/// [subject]: every key optional; omitted keys take the reference adult's values.
struct SubjectSpec {
  std::optional<double> age_y;
  std::optional<std::string> sex;  // "female" | "male"
  std::optional<bool> newborn;
  std::optional<double> body_weight_kg;
  std::optional<double> height_cm;
  std::optional<double> egfr_mL_per_min_173;
  std::optional<bool> dialysis;
  std::optional<double> menopause_age_y;      // women only
  std::optional<double> egfr_decline_to;      // mL/min/1.73m2, with egfr_decline_over_h
  std::optional<double> egfr_decline_over_h;  // h
  std::optional<std::string> vkorc1;          // "GG" | "GA" | "AA"
  std::optional<std::string> cyp2c9;          // "*1/*1" ... "*3/*3"
  std::optional<std::string> feeding;         // newborn: "breast milk" | "formula" | "none"
  std::optional<SunExposure> sun;             // skin synthesis inputs (replaced as a whole)
  std::optional<bool> cholestasis;            // newborn: impaired bile flow
  std::optional<double> cac_au;               // starting coronary calcium score, AU
  std::optional<double> cac_percentile;       // 0-100
  std::optional<RiskFactors> risk_factors;    // MESA risk factors (replaced as a whole)
  std::optional<std::string> life_table;      // background mortality

  /// The covariates a model reads (omitted keys: the reference values).
  [[nodiscard]] SubjectCovariates covariates() const;

  /// Keys set in `over` replace those here (arm and scenario overrides).
  void override_with(const SubjectSpec& over);
};

/// One [[dose]] entry (a supplement or drug), in canonical units.
struct DoseSpec {
  std::string substance;  // canonical substance name, e.g. "MK-7"
  double amount = 0.0;    // internal amount unit of the substance (nmol or mmol)
  Route route = Route::kOral;
  std::optional<double> every_h;  // omitted: a single dose
  double start_h = 0.0;
  std::optional<double> stop_h;  // omitted: end of the simulation
  Matrix matrix = Matrix::kSupplement;
  MealFat meal_fat = MealFat::kUnspecified;
  double meal_fat_g = 0.0;           // with MealFat::kGrams
  std::optional<double> rate_per_h;  // zero-order input, internal amount unit per h
  bool steady_state = false;
  /// With steady_state: the periodic steady state is set this long before `start` (a diet's meals
  /// share one at time 0; dose records' SS_LEAD).
  double ss_lead_h = 0.0;
  /// Amount chosen so that the mean INR over one interval at steady state is this (`amount` is
  /// the starting guess).
  std::optional<double> titrate_to_inr;
  SourceLocation where;
};

/// One [[arm]]: base scenario + its own doses (appended) and subject keys (overriding).
struct ArmSpec {
  std::string name;
  std::vector<DoseSpec> doses;
  SubjectSpec subject;
  SourceLocation where;
  DietSpec diet;  ///< resolved: the scenario's diet with the arm's over it
};

enum class Initialize { kSteadyState, kReference };

struct Scenario {
  std::string name;
  std::string model = "vitk";
  Initialize initialize = Initialize::kSteadyState;
  bool initialize_given = false;  // the key was in the file (a newborn run ignores the default)
  double duration_h = 0.0;
  double output_interval_h = 24.0;
  SubjectSpec subject;  // the scenario's [subject] over the reference adult
  std::vector<DoseSpec> doses;
  DietSpec diet;                              // [diet]
  std::vector<ArmSpec> arms;                  // empty: one arm "main"
  SimulationOptions solver;                   // [solver] table
  std::vector<HypothesisSetting> hypotheses;  // [hypotheses]: switches turned on or off
  std::optional<PopulationSpec> population;   // [population] (k2sim cohort)
  std::optional<AnalysisSpec> analysis;       // [analysis] (k2sim cohort)
  std::string file;
  nlohmann::json echo;  // the scenario as read, for summary.json

  /// The arms to run: {"main"} when the scenario has none, each with its merged doses and subject.
  [[nodiscard]] std::vector<ArmSpec> resolved_arms() const;
};

/// Reads and checks a scenario file. Throws IoError when it cannot be read, InputError otherwise.
[[nodiscard]] Scenario read_scenario(const std::string& path);

/// Parses scenario text; `file` names it in messages.
[[nodiscard]] Scenario parse_scenario(std::string_view text, const std::string& file);

/// Parses a scenario that carries one extra top-level table `extension` (for example a validation
/// protocol's `[protocol]`): the table is returned as JSON (quantities stay strings) and removed
/// before the scenario is read. Throws InputError when the table is missing. A file that holds
/// only that table has no scenario (`has_scenario` false; a protocol then names a scenario file).
struct ExtendedScenario {
  Scenario scenario;
  nlohmann::json extension;
  std::size_t extension_line = 0;
  bool has_scenario = true;
};
[[nodiscard]] ExtendedScenario parse_extended_scenario(std::string_view text,
                                                       const std::string& file,
                                                       const std::string& extension);

/// The reference adult (data/reference/subject.toml, compiled in).
[[nodiscard]] const SubjectSpec& reference_subject();

/// Turns doses into dose records for `model` (dose target, bioavailability, II/ADDL from
/// every/start/stop, SS from steady_state). Throws InputError with the dose's file:line when the
/// model cannot take a substance or route.
[[nodiscard]] std::vector<DoseRecord> dose_records(const Model& model,
                                                   const std::vector<DoseSpec>& doses,
                                                   double duration_h);

/// The meals of a diet as doses of the substances a model takes (docs/diet.md): each food eaten
/// at its time of day or split over kMealTimesH, every `every`, with the meal's fat from its
/// foods and vitamin K1 of vegetables in the vegetable matrix. With `steady_state` the doses
/// start at their periodic steady state (one reset at midnight, time 0).
[[nodiscard]] std::vector<DoseSpec> diet_doses(const DietSpec& diet, const FoodTable& table,
                                               const std::vector<std::string>& substances,
                                               bool steady_state);

}  // namespace k2sim
