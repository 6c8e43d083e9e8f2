// k2sim/model/model.hpp: a runnable model: an OdeModel plus its outputs, its dosing targets and
// its parameter table. make_model() builds one by name ("pk-1cmt", ...).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "k2sim/engine/model.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim {

/// One output of the catalogue (INTERFACES.md): name, unit, meaning.
struct OutputSpec {
  std::string name;
  std::string unit;
  std::string meaning;
};

enum class Route { kOral, kIm, kSc, kIv };

[[nodiscard]] std::string_view to_string(Route r);

/// The meal a dose is taken with: fasting, a standard meal, a high-fat meal, or grams of fat.
/// A model turns the first three into grams with its own parameters.
enum class MealFat { kUnspecified, kFasting, kWithMeal, kHighFatMeal, kGrams };

/// What a dose is bound to: a supplement (capsule, tablet, oil), a mixed-micelle preparation
/// (absorbed without dietary fat, such as Konakion MM), or a food matrix (vegetables).
enum class Matrix { kSupplement, kMicelle, kVegetable };

[[nodiscard]] std::string_view to_string(Matrix m);

/// Everything about one dose that decides where it goes and how much is absorbed.
struct DoseContext {
  std::string_view substance;  ///< canonical substance name
  Route route = Route::kOral;
  Matrix matrix = Matrix::kSupplement;
  MealFat meal_fat = MealFat::kUnspecified;
  double meal_fat_g = 0.0;  ///< with MealFat::kGrams
};

/// Where a dose of a substance by a route goes: the state index and the fraction of the dose that
/// enters it (bioavailability where the model lumps it into the dose).
struct DoseTarget {
  std::size_t cmt = 0;
  double fraction = 1.0;
};

/// What a model needs to know of the subject (from the scenario's [subject]), canonical units.
/// Daily midday sun on the skin (subject key `sun`; docs/model.md eq. 56).
struct SunExposure {
  double latitude_deg = 0.0;     ///< north positive, south negative
  int skin_type = 2;             ///< Fitzpatrick I-VI as 1-6
  double minutes_per_day = 0.0;  ///< minutes around solar noon, every day
  double skin_exposed = -1.0;    ///< fraction of the body surface; < 0: the model's default
  int start_day_of_year = 1;     ///< calendar day (1 = 1 January) at the start of the run
};

/// A diet's daily intake of what a model may take as a continuous background (docs/diet.md).
struct DietInput {
  bool given = false;  ///< false: the model keeps its own background inputs
  double ca_mg_per_d = 0.0;
  double mg_mg_per_d = 0.0;
  double d3_ug_per_d = 0.0;
  double d2_ug_per_d = 0.0;
};

/// MESA risk factors (subject key `risk_factors`; docs/model.md eq. 64). Values below 0: the
/// reference population's (data/parameters/vascular.csv).
struct RiskFactors {
  bool smoker = false;
  bool diabetes = false;
  bool lipid_lowering = false;
  bool antihypertensive = false;
  bool family_history = false;
  double systolic_bp_mmHg = -1.0;
  double total_cholesterol_mg_per_dL = -1.0;
  double hdl_cholesterol_mg_per_dL = -1.0;
};

struct SubjectCovariates {
  double egfr = 5.4;            ///< L/h/1.73m2 (90 mL/min/1.73m2)
  double egfr_end = 5.4;        ///< with egfr_decline_h > 0: eGFR at the end of the decline
  double egfr_decline_h = 0.0;  ///< > 0: eGFR declines exponentially to egfr_end over this time
  bool dialysis = false;
  std::string vkorc1 = "GG";     ///< VKORC1 -1639G>A genotype: GG, GA or AA
  std::string cyp2c9 = "*1/*1";  ///< CYP2C9 diplotype: *1/*1, *1/*2, *1/*3, *2/*2, *2/*3, *3/*3
  bool newborn = false;          ///< a term newborn: the run starts at birth and the child grows
  double body_weight_kg = 70.0;  ///< at the start of the run (a newborn: birth weight, 3.5 kg)
  std::string feeding = "none";  ///< with newborn: "breast milk", "formula" or "none"
  double height_cm = 170.0;      ///< with body_weight_kg: body surface area (eGFR is per 1.73 m2)
  double age_y = 60.0;           ///< at the start of the run
  bool female = true;
  double menopause_age_y = -1.0;   ///< women: centre of the estrogen decline; < 0: none
  std::optional<SunExposure> sun;  ///< none: no skin synthesis beyond the background input
  bool cholestasis = false;        ///< newborn: bile flow impaired (fat-soluble vitamins)
  std::optional<double> cac_au;    ///< starting coronary calcium score (model full)
  double cac_percentile = 50.0;    ///< latent CAC percentile for age and sex (0-100)
  RiskFactors risk_factors;
  std::string life_table = "USA 2020";  ///< background mortality (model full)
};

class Model : public OdeModel {
 public:
  /// Adapts subject-specific values (kidney function, genotypes); the default ignores them.
  virtual void set_subject(const SubjectCovariates& /*subject*/) {}
  /// The state a run starts from (after any steady-state search), for outputs "relative to the
  /// start"; called by the run before it integrates. The default ignores it.
  virtual void set_start_state(std::span<const double> /*y0*/) {}
  /// Empty when `steady_state = true` doses (a periodic steady state) work with this model;
  /// otherwise the reason they do not.
  [[nodiscard]] virtual std::string periodic_steady_state_unsupported() const { return {}; }
  /// Empty when a `steady_state = true` dose of this substance works with this model; otherwise
  /// the reason. The default: periodic_steady_state_unsupported().
  [[nodiscard]] virtual std::string steady_state_dose_unsupported(
      std::string_view /*substance*/) const {
    return periodic_steady_state_unsupported();
  }
  /// The diet preset (data/foods/presets.toml) an arm without a [diet] gets; empty: none.
  [[nodiscard]] virtual std::string default_diet_preset() const { return {}; }
  [[nodiscard]] virtual std::string_view name() const = 0;
  [[nodiscard]] virtual const std::vector<OutputSpec>& outputs() const = 0;
  /// Output values at time t_h (h from the start of the run) and state y (out has
  /// outputs().size() entries), in the catalogue's units.
  virtual void compute_outputs(double t_h, const double* y, double* out) const = 0;
  /// Target of a dose; throws InputError naming the substance and route the model cannot take.
  [[nodiscard]] virtual DoseTarget dose_target(const DoseContext& dose) const = 0;
  /// The diet's daily calcium, magnesium and vitamin D as the model's background inputs (called
  /// for every arm, with `given` false when the arm has no diet). The default ignores it.
  virtual void set_diet(const DietInput& /*diet*/) {}
  /// Whether the model takes a [diet] at all (as doses or as background inputs).
  [[nodiscard]] virtual bool takes_diet() const { return !diet_substances().empty(); }
  /// Substances this model takes from a [diet] (docs/diet.md); others of the diet are reported
  /// (`k2sim diet`, intake outputs) but not dosed. The default takes none.
  [[nodiscard]] virtual std::vector<std::string> diet_substances() const { return {}; }
};

/// Names of the models that exist.
[[nodiscard]] std::vector<std::string> model_names();

/// Parameter module (data/parameters/<module>.csv) of a model.
[[nodiscard]] std::string parameter_module(std::string_view model_name);

/// Builds a model from its parameter table (canonical values are read once, here).
/// Throws InputError for an unknown model name, with the nearest name.
[[nodiscard]] std::unique_ptr<Model> make_model(std::string_view model_name,
                                                const ParameterTable& table);

}  // namespace k2sim
