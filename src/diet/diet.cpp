#include "k2sim/diet/diet.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "k2sim/error.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/units/substances.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim {

namespace internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}

namespace {

constexpr std::string_view kPresetsFile = "data/foods/presets.toml";

[[noreturn]] void fail_at(const toml::node& n, const std::string& what) {
  throw InputError(fmt::format("{}:{}: {}", kPresetsFile,
                               static_cast<std::size_t>(n.source().begin.line), what));
}

std::string text_of(const toml::table& t, std::string_view key) {
  const toml::node* n = t.get(key);
  if (n == nullptr || !n->is_string()) fail_at(t, fmt::format("'{}' (rule: a string)", key));
  return n->as_string()->get();
}

double quantity_in(const toml::node& n, std::string_view unit, std::string_view key) {
  if (!n.is_string()) fail_at(n, fmt::format("{} (rule: a quantity with a unit)", key));
  try {
    return units::to_unit(
        units::parse_quantity(n.as_string()->get(), units::parse_unit(unit).dimension), unit);
  } catch (const UnitError& e) {
    fail_at(n, fmt::format("{} = \"{}\" ({})", key, n.as_string()->get(), e.what()));
  }
}

std::vector<DietPreset> parse_presets(std::string_view text) {
  toml::table doc;
  try {
    doc = toml::parse(text, kPresetsFile);
  } catch (const toml::parse_error& e) {
    throw InputError(
        fmt::format("{}:{}: {}", kPresetsFile, e.source().begin.line, e.description()));
  }
  std::vector<DietPreset> out;
  const toml::array* presets = doc["preset"].as_array();
  if (presets == nullptr) throw InputError(fmt::format("{}: no [[preset]]", kPresetsFile));
  for (const toml::node& pn : *presets) {
    if (!pn.is_table()) fail_at(pn, "[[preset]] (rule: a table)");
    const toml::table& t = *pn.as_table();
    DietPreset p;
    p.name = text_of(t, "name");
    p.description = text_of(t, "description");
    if (const toml::array* srcs = t["sources"].as_array()) {
      for (const toml::node& s : *srcs) p.sources.push_back(s.value_or(std::string()));
    }
    const toml::array* foods = t["foods"].as_array();
    if (foods == nullptr) fail_at(t, fmt::format("preset '{}': foods (rule: an array)", p.name));
    for (const toml::node& fn : *foods) {
      if (!fn.is_table() || fn.as_table()->get("amount") == nullptr) {
        fail_at(fn,
                fmt::format("preset '{}': a food (rule: a table with food and amount)", p.name));
      }
      const toml::table& f = *fn.as_table();
      FoodItem item;
      item.food = text_of(f, "food");
      item.grams = quantity_in(*f.get("amount"), "g", "amount");
      if (!(item.grams > 0.0)) fail_at(f, "amount (rule: more than 0 g)");
      if (const toml::node* every = f.get("every")) {
        item.every_h = quantity_in(*every, "h", "every");
        const double days = item.every_h / 24.0;
        if (!(days >= 1.0 && std::abs(days - std::round(days)) < 1e-9)) {
          fail_at(*every, "every (rule: a whole number of days)");
        }
      }
      if (const toml::node* at = f.get("at")) {
        item.at_h = quantity_in(*at, "h", "at");
        if (!(*item.at_h >= 0.0 && *item.at_h < 24.0)) fail_at(*at, "at (rule: 0 to 24 h)");
      }
      item.where = {std::string(kPresetsFile), static_cast<std::size_t>(f.source().begin.line)};
      p.foods.push_back(item);
    }
    if (const toml::array* targets = t["targets"].as_array()) {
      for (const toml::node& tn : *targets) {
        if (!tn.is_table() || tn.as_table()->get("value") == nullptr) {
          fail_at(tn, "a target (rule: a table with nutrient, value and source)");
        }
        const toml::table& tt = *tn.as_table();
        IntakeTarget target;
        target.nutrient = text_of(tt, "nutrient");
        const bool mineral = target.nutrient == "ca" || target.nutrient == "mg";
        target.value = quantity_in(*tt.get("value"), mineral ? "mg/d" : "ug/d", "value");
        target.source = text_of(tt, "source");
        try {
          (void)intake_of({}, target.nutrient);
        } catch (const InputError& e) {
          fail_at(tt, e.what());
        }
        p.targets.push_back(target);
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace

void DietSpec::override_with(const DietSpec& over) {
  if (over.pasture_k2_factor) pasture_k2_factor = over.pasture_k2_factor;
  if (over.continuous) continuous = over.continuous;
  if (over.preset) {
    preset = over.preset;
    preset_where = over.preset_where;
  }
  foods.insert(foods.end(), over.foods.begin(), over.foods.end());
}

const std::vector<DietPreset>& diet_presets() {
  static const std::vector<DietPreset> kPresets =
      parse_presets(internal::embedded_file(kPresetsFile));
  return kPresets;
}

const DietPreset& find_preset(const std::string& name, const std::string& where) {
  std::vector<std::string> names;
  for (const DietPreset& p : diet_presets()) {
    if (p.name == name) return p;
    names.push_back(p.name);
  }
  throw InputError(fmt::format("{}: preset = \"{}\" (rule: one of {}){}", where, name,
                               fmt::join(names, ", "), did_you_mean(name, names)));
}

std::optional<double> content(const Food& food, std::size_t k, const DietSpec& diet) {
  if (!food.per_100g[k]) return std::nullopt;
  const auto n = static_cast<Nutrient>(k);
  const bool menaquinone = n == Nutrient::kMk4 || n == Nutrient::kMk7 || n == Nutrient::kMk8 ||
                           n == Nutrient::kMk9 || n == Nutrient::kMkOther;
  const bool animal = food.group == "dairy" || food.group == "cheese" || food.group == "eggs" ||
                      food.group == "meat" || food.group == "offal";
  return *food.per_100g[k] * (menaquinone && animal ? diet.pasture_factor() : 1.0);
}

std::vector<FoodItem> diet_foods(const DietSpec& diet) {
  std::vector<FoodItem> out;
  if (diet.preset) {
    const DietPreset& p = find_preset(*diet.preset, diet.preset_where.str());
    out = p.foods;
  }
  out.insert(out.end(), diet.foods.begin(), diet.foods.end());
  return out;
}

DietIntake diet_intake(const DietSpec& diet, const FoodTable& table) {
  DietIntake in;
  for (const FoodItem& item : diet_foods(diet)) {
    const Food& food = table.at(item.food, item.where.str());
    FoodIntake fi;
    fi.food = &food;
    fi.grams_per_day = item.grams * 24.0 / item.every_h;
    for (std::size_t k = 0; k < kNutrientCount; ++k) {
      const std::optional<double> c = content(food, k, diet);
      if (!c) {
        const auto& m = in.missing[k];
        if (std::find(m.begin(), m.end(), food.name) == m.end()) in.missing[k].push_back(food.name);
        continue;
      }
      fi.per_day[k] = *c * fi.grams_per_day / 100.0;
      in.per_day[k] += fi.per_day[k];
    }
    in.foods.push_back(fi);
  }
  return in;
}

double menaquinones_per_day(const std::array<double, kNutrientCount>& d) {
  return d[static_cast<std::size_t>(Nutrient::kMk4)] + d[static_cast<std::size_t>(Nutrient::kMk7)] +
         d[static_cast<std::size_t>(Nutrient::kMk8)] + d[static_cast<std::size_t>(Nutrient::kMk9)] +
         d[static_cast<std::size_t>(Nutrient::kMkOther)];
}

double vitamin_k_per_day(const std::array<double, kNutrientCount>& d) {
  return d[static_cast<std::size_t>(Nutrient::kK1)] + menaquinones_per_day(d);
}

double intake_of(const std::array<double, kNutrientCount>& d, std::string_view key) {
  if (key == "mk_total") return menaquinones_per_day(d);
  if (key == "k_total") return vitamin_k_per_day(d);
  if (key == "d_total") {
    return d[static_cast<std::size_t>(Nutrient::kD3)] + d[static_cast<std::size_t>(Nutrient::kD2)];
  }
  for (std::size_t k = 0; k < kNutrientCount; ++k) {
    if (nutrient_info()[k].key == key) return d[k];
  }
  throw InputError(fmt::format(
      "intake '{}' (rule: a nutrient key such as k1 or ca, mk_total, k_total or d_total)", key));
}

namespace {
/// The blocks of a continuous diet's infusions (the solver passes from one to the next without a
/// restart; longer blocks are fewer events to sort and step through).
constexpr double kContinuousBlockH = 364.0 * 24.0;
}  // namespace

std::vector<DoseSpec> diet_doses(const DietSpec& diet, const FoodTable& table,
                                 const std::vector<std::string>& substances, bool steady_state) {
  // Each food's amount is eaten every `every` at the time `at`, or split evenly over the three
  // meals of kMealTimesH. Per meal (period, time of day), one dose per substance and matrix; the
  // meal's fat is the fat of its foods (per day, averaged over each food's period).
  struct Slot {
    double every_h;
    double at_h;
    auto operator<=>(const Slot&) const = default;
  };
  std::map<double, double> fat_at;  // time of day -> g of fat per meal
  struct Amount {
    double ug = 0.0;
    SourceLocation where;
  };
  std::map<std::tuple<Slot, std::string, int>, Amount> amounts;
  const std::vector<FoodItem> foods = diet_foods(diet);
  // The meals share one periodic steady state over the longest interval, which every other
  // interval must divide.
  double period_h = 0.0;
  for (const FoodItem& item : foods) period_h = std::max(period_h, item.every_h);
  for (const FoodItem& item : foods) {
    const double k = period_h / item.every_h;
    if (std::abs(k - std::round(k)) > 1e-9 * k) {
      throw InputError(
          fmt::format("{}: {} every {} d (rule: the intervals of a diet divide the longest, {} d)",
                      item.where.str(), item.food, item.every_h / 24.0, period_h / 24.0));
    }
  }
  for (const FoodItem& item : foods) {
    const Food& food = table.at(item.food, item.where.str());
    std::vector<std::pair<double, double>> slots;  // time of day, share
    if (item.at_h) {
      slots.emplace_back(*item.at_h, 1.0);
    } else {
      for (double t : kMealTimesH) slots.emplace_back(t, 1.0 / kMealTimesH.size());
    }
    for (const auto& [t, share] : slots) {
      const double grams = item.grams * share;
      if (const auto& fat = food.per_100g[static_cast<std::size_t>(Nutrient::kFat)]) {
        fat_at[t] += *fat * grams / 100.0 * 24.0 / item.every_h;
      }
      for (std::size_t k = 0; k < kNutrientCount; ++k) {
        const std::string substance(nutrient_info()[k].substance);
        const std::optional<double> c = content(food, k, diet);
        if (substance.empty() || !c) continue;
        if (std::find(substances.begin(), substances.end(), substance) == substances.end())
          continue;
        // Vitamin K1 bound in leaves and vegetables is absorbed less (eq. 12); other foods
        // count as fat-borne, as a supplement taken with the meal.
        const int matrix =
            (static_cast<Nutrient>(k) == Nutrient::kK1 && food.matrix == FoodMatrix::kVegetable)
                ? static_cast<int>(Matrix::kVegetable)
                : static_cast<int>(Matrix::kSupplement);
        Amount& a = amounts[{Slot{item.every_h, t}, substance, matrix}];
        const double per_100g = *c;
        // ug for vitamins; minerals are in mg per 100 g: kept in ug here.
        a.ug += per_100g * grams / 100.0 * (nutrient_info()[k].unit == "mg" ? 1e3 : 1.0);
        if (a.where.file.empty()) a.where = item.where;
      }
    }
  }
  std::vector<DoseSpec> doses;
  for (const auto& [key, a] : amounts) {
    const auto& [slot, substance, matrix] = key;
    if (!(a.ug > 0.0)) continue;
    DoseSpec d;
    d.substance = substance;
    d.amount = units::to_internal_amount(units::find_substance(substance),
                                         units::Quantity{a.ug, units::dim::mass()});
    d.route = Route::kOral;
    d.every_h = slot.every_h;
    d.start_h = slot.at_h;
    d.matrix = static_cast<Matrix>(matrix);
    d.meal_fat = MealFat::kGrams;
    d.meal_fat_g = fat_at.count(slot.at_h) ? fat_at.at(slot.at_h) : 0.0;
    d.steady_state = steady_state;
    d.ss_lead_h = steady_state ? slot.at_h : 0.0;
    if (diet.is_continuous()) {
      // An infusion over the whole interval from midnight: the meal's absorption fraction (its
      // fat) still applies to the dose; the input is constant, so the solver sees no event
      // within a day. The infusion runs in blocks of whole diet periods of at least
      // kContinuousBlockH; the solver goes on from one block to the next without a restart.
      // With steady_state, the first period is a steady-state regimen of its own (its periodic
      // state is found over one period, which is cheaper than over a block); without, the run
      // starts from the equilibrium with these inputs (io/run.cpp).
      const double per_h = d.amount / slot.every_h;
      d.rate_per_h = per_h;
      d.start_h = 0.0;
      d.ss_lead_h = 0.0;
      if (steady_state) {
        DoseSpec first = d;
        first.amount = per_h * period_h;
        first.every_h = period_h;
        first.stop_h = period_h;
        first.where = a.where;
        doses.push_back(first);
        d.steady_state = false;
        d.start_h = period_h;
      }
      const double blocks = std::ceil(kContinuousBlockH / period_h - 1e-9);
      d.every_h = period_h * blocks;
      d.amount = per_h * *d.every_h;
    }
    d.where = a.where;
    doses.push_back(d);
  }
  return doses;
}

}  // namespace k2sim
