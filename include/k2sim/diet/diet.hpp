// k2sim/diet/diet.hpp: what a person eats ([diet] of a scenario, named presets) and what it
// gives: daily intakes per vitamer and mineral, and the meals as doses (docs/diet.md).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k2sim/diet/foods.hpp"
#include "k2sim/io/source_location.hpp"

namespace k2sim {

/// One food of a diet: an amount eaten every `every_h`, split over the day's three meals unless
/// `at_h` (a time of day) names one.
struct FoodItem {
  std::string food;
  double grams = 0.0;
  double every_h = 24.0;
  std::optional<double> at_h;  ///< time of day, 0 <= at < 24 h
  SourceLocation where;
};

/// [diet]: an optional named preset plus foods (added to it). An arm's diet replaces the preset
/// when it names one and appends its foods.
struct DietSpec {
  std::optional<std::string> preset;
  SourceLocation preset_where;
  std::vector<FoodItem> foods;
  /// Hypothesis (docs/diet.md): menaquinones of dairy, cheese, eggs, meat and offal times this
  /// factor, for animals fed on pasture. No measured comparison exists; 1 (no effect) unless set.
  std::optional<double> pasture_k2_factor;
  /// How the meals enter the model: as meals at their times of day (default), or "continuous":
  /// each meal's absorbed amount spread evenly over its interval (the same absorbed amount per
  /// day, its fat-dependent absorption kept; no dose events, docs/diet.md).
  std::optional<bool> continuous;

  [[nodiscard]] bool empty() const { return !preset && foods.empty(); }
  [[nodiscard]] double pasture_factor() const { return pasture_k2_factor.value_or(1.0); }
  [[nodiscard]] bool is_continuous() const { return continuous.value_or(false); }
  void override_with(const DietSpec& over);
};

/// A published mean intake a preset reproduces (tests check within 15%).
struct IntakeTarget {
  std::string nutrient;  ///< a nutrient key (k1, mk4, ..., ca), "mk_total", "k_total" or "d_total"
  double value = 0.0;    ///< ug/d (vitamins) or mg/d (minerals)
  std::string source;
};

struct DietPreset {
  std::string name;
  std::string description;
  std::vector<std::string> sources;
  std::vector<FoodItem> foods;
  std::vector<IntakeTarget> targets;
};

/// The built-in presets (data/foods/presets.toml, compiled in).
[[nodiscard]] const std::vector<DietPreset>& diet_presets();
/// The preset of this name, or InputError naming `where` and the presets there are.
[[nodiscard]] const DietPreset& find_preset(const std::string& name, const std::string& where);

/// Meals of a day: the times of day (h) over which a food without `at` is split evenly.
inline constexpr std::array<double, 3> kMealTimesH = {8.0, 12.5, 18.5};

/// A food's content of nutrient k per 100 g in this diet (the pasture hypothesis applied), or
/// nothing when not measured.
[[nodiscard]] std::optional<double> content(const Food& food, std::size_t k, const DietSpec& diet);

/// The foods of a diet: the preset's, then the diet's own.
[[nodiscard]] std::vector<FoodItem> diet_foods(const DietSpec& diet);

/// Daily intake of one food and of the whole diet (averaged over each food's `every`).
struct FoodIntake {
  const Food* food = nullptr;
  double grams_per_day = 0.0;
  std::array<double, kNutrientCount> per_day{};  ///< ug/d, mg/d, g/d (missing values count 0)
};
struct DietIntake {
  std::vector<FoodIntake> foods;
  std::array<double, kNutrientCount> per_day{};
  /// Foods of the diet with no value for a nutrient (counted as 0), per nutrient.
  std::array<std::vector<std::string>, kNutrientCount> missing;
};

/// Resolves the diet against the food table (InputError with file:line for an unknown food).
[[nodiscard]] DietIntake diet_intake(const DietSpec& diet, const FoodTable& table);

/// Sum of menaquinones (MK-4, MK-7, MK-8, MK-9 and the others), and of K1 + menaquinones.
[[nodiscard]] double menaquinones_per_day(const std::array<double, kNutrientCount>& per_day);
[[nodiscard]] double vitamin_k_per_day(const std::array<double, kNutrientCount>& per_day);
/// Daily intake by key: a nutrient key, "mk_total", "k_total" (K1 + menaquinones) or "d_total"
/// (D3 + D2). InputError for another key.
[[nodiscard]] double intake_of(const std::array<double, kNutrientCount>& per_day,
                               std::string_view key);

}  // namespace k2sim
