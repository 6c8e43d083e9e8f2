// Text reports of the food table (`k2sim foods`) and of a scenario's diets (`k2sim diet`).
#include "k2sim/diet/report.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "k2sim/diet/diet.hpp"
#include "k2sim/diet/foods.hpp"
#include "k2sim/io/scenario.hpp"

namespace k2sim {

namespace {

std::string amount(double v) {
  if (v == 0.0) return "0";
  if (std::abs(v) >= 100.0) return fmt::format("{:.0f}", v);
  if (std::abs(v) >= 10.0) return fmt::format("{:.1f}", v);
  return fmt::format("{:.2g}", v);
}

std::string food_block(const Food& f, const FoodTable& table) {
  std::string out = fmt::format("{}  [{}; K1 matrix: {}]\n", f.name, f.group,
                                f.matrix == FoodMatrix::kVegetable ? "vegetable" : "other");
  out += fmt::format("  portion: {:g} g ({})\n", f.portion_g,
                     f.portion.empty() ? "typical portion" : f.portion);
  out += fmt::format("  {:<12} {:>12} {:>14}  {}\n", "nutrient", "per 100 g",
                     fmt::format("per {:g} g", f.portion_g), "source");
  for (std::size_t k = 0; k < kNutrientCount; ++k) {
    const NutrientInfo& ni = nutrient_info()[k];
    if (!f.per_100g[k]) {
      out += fmt::format("  {:<12} {:>12} {:>14}  {}\n", ni.label, "-", "-", "not measured");
      continue;
    }
    const double v = *f.per_100g[k];
    const FoodSource& src = table.source_of(f.source[k]);
    const std::string locator =
        f.source[k].find(':') == std::string::npos ? "" : f.source[k].substr(f.source[k].find(':'));
    out += fmt::format("  {:<12} {:>12} {:>14}  {}{}{}\n", ni.label,
                       fmt::format("{} {}", amount(v), ni.unit),
                       fmt::format("{} {}", amount(v * f.portion_g / 100.0), ni.unit),
                       src.key + locator, f.unverified[k] ? " (unverified)" : "", "");
  }
  if (!f.notes.empty()) out += fmt::format("  notes: {}\n", f.notes);
  return out;
}

}  // namespace

std::string foods_report(const FoodTable& table, std::string_view query, std::size_t limit) {
  std::string out;
  if (query.empty()) {
    out += fmt::format("{} foods ({}); `k2sim foods QUERY` shows one with its sources\n",
                       table.foods().size(), table.file());
    std::string group;
    for (const Food& f : table.foods()) {
      if (f.group != group) {
        group = f.group;
        out += fmt::format("\n{}:\n", group);
      }
      out += fmt::format("  {}\n", f.name);
    }
    return out;
  }
  const std::vector<const Food*> hits = table.search(query, limit);
  if (hits.empty()) {
    return fmt::format("no food matches '{}' (`k2sim foods` lists them all)\n", query);
  }
  for (const Food* f : hits) out += food_block(*f, table) + "\n";
  out += "Sources:\n";
  std::vector<std::string> seen;
  for (const Food* f : hits) {
    for (std::size_t k = 0; k < kNutrientCount; ++k) {
      if (!f->per_100g[k]) continue;
      const FoodSource& s = table.source_of(f->source[k]);
      if (std::find(seen.begin(), seen.end(), s.key) != seen.end()) continue;
      seen.push_back(s.key);
      out += fmt::format("  {}: {} [{}]{}\n", s.key, s.citation, s.licence,
                         s.url.empty() ? "" : " " + s.url);
    }
  }
  return out;
}

std::string diet_report(const Scenario& scenario, std::size_t top) {
  const FoodTable& table = FoodTable::builtin();
  std::string out;
  bool any = false;
  for (const ArmSpec& arm : scenario.resolved_arms()) {
    if (arm.diet.empty()) continue;
    any = true;
    const DietIntake in = diet_intake(arm.diet, table);
    out += fmt::format("arm '{}': {}{} foods\n", arm.name,
                       arm.diet.preset ? "preset " + *arm.diet.preset + ", " : "", in.foods.size());
    out += fmt::format("  {:<12} {:>12}   {}\n", "nutrient", "per day", "main foods (share)");
    auto line = [&](std::string_view label, double total, std::string_view unit,
                    const std::function<double(const FoodIntake&)>& of, std::size_t k) {
      std::vector<std::pair<double, std::string>> parts;
      for (const FoodIntake& fi : in.foods) {
        const double v = of(fi);
        if (v > 0.0) parts.emplace_back(v, fi.food->name);
      }
      std::sort(parts.begin(), parts.end(), std::greater<>());
      std::string list;
      for (std::size_t i = 0; i < parts.size() && i < top; ++i) {
        list += fmt::format("{}{} {:.0f}%", i ? "; " : "", parts[i].second,
                            100.0 * parts[i].first / total);
      }
      std::string missing;
      if (k < kNutrientCount && !in.missing[k].empty()) {
        missing = fmt::format(" [no value for {} of the foods]", in.missing[k].size());
      }
      out += fmt::format("  {:<12} {:>12}   {}{}\n", label,
                         fmt::format("{} {}", amount(total), unit), list, missing);
    };
    for (std::size_t k = 0; k < kNutrientCount; ++k) {
      const NutrientInfo& ni = nutrient_info()[k];
      line(
          ni.label, in.per_day[k], fmt::format("{}/d", ni.unit),
          [k](const FoodIntake& fi) { return fi.per_day[k]; }, k);
    }
    line(
        "MK total", menaquinones_per_day(in.per_day), "ug/d",
        [](const FoodIntake& fi) { return menaquinones_per_day(fi.per_day); }, kNutrientCount);
    line(
        "K total", vitamin_k_per_day(in.per_day), "ug/d",
        [](const FoodIntake& fi) { return vitamin_k_per_day(fi.per_day); }, kNutrientCount);
    const bool preset_alone =
        arm.diet.preset && arm.diet.foods.empty() && arm.diet.pasture_factor() == 1.0;
    if (arm.diet.preset && !preset_alone) {
      out += fmt::format(
          "  (the published means of preset '{}' apply to the preset alone, not to this arm's "
          "additions)\n",
          *arm.diet.preset);
    }
    if (preset_alone) {
      const DietPreset& p = find_preset(*arm.diet.preset, arm.diet.preset_where.str());
      if (!p.targets.empty()) {
        out += fmt::format("  preset '{}' against the published means it reproduces:\n", p.name);
        for (const IntakeTarget& t : p.targets) {
          const double v = intake_of(in.per_day, t.nutrient);
          const bool mineral = t.nutrient == "ca" || t.nutrient == "mg";
          out += fmt::format("    {:<10} {:>10} published {:>10} ({:+.0f}%)  {}\n", t.nutrient,
                             amount(v),
                             fmt::format("{} {}", amount(t.value), mineral ? "mg/d" : "ug/d"),
                             100.0 * (v / t.value - 1.0), t.source);
        }
      }
    }
    out += "\n";
  }
  if (!any) out = fmt::format("{}: no [diet] in the scenario or its arms\n", scenario.file);
  return out;
}

}  // namespace k2sim
