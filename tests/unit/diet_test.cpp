// The food table (data/foods/), diet presets and [diet] in scenarios (docs/diet.md).
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "k2sim/diet/diet.hpp"
#include "k2sim/diet/foods.hpp"
#include "k2sim/diet/report.hpp"
#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/units/substances.hpp"

namespace k2sim {
namespace {

std::string header() {
  std::string h = "food,group,matrix,portion_g,portion";
  for (const NutrientInfo& ni : nutrient_info()) {
    h += fmt::format(",{0}_{1}_per_100g,{0}_source", ni.key, ni.unit);
  }
  return h + ",unverified,notes\n";
}

// A row with K1 and calcium (the other nutrients empty).
std::string row(const std::string& name, const std::string& k1, const std::string& ca,
                const std::string& unverified = "") {
  std::string r = fmt::format("{},vegetables,vegetable,30,1 cup", name);
  for (const NutrientInfo& ni : nutrient_info()) {
    if (ni.key == "k1") {
      r += fmt::format(",{},src: NDB 1", k1);
    } else if (ni.key == "ca") {
      r += fmt::format(",{},src", ca);
    } else {
      r += ",,";
    }
  }
  return r + fmt::format(",{},\n", unverified);
}

// The message of the InputError that parsing `text` (as diet.toml) raises, or "" when none.
std::string scenario_error(const std::string& text) {
  try {
    (void)parse_scenario(text, "diet.toml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

const std::string kSources = "key,citation,licence,url\nsrc,A table,public domain,\n";

std::string parse_error(const std::string& foods) {
  try {
    (void)FoodTable::parse(foods, "foods.csv", kSources, "sources.csv");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(FoodTable, ParsesValuesSourcesAndUnits) {
  const FoodTable t = FoodTable::parse(header() + row("kale", "704.8", "150", "k1"), "foods.csv",
                                       kSources, "sources.csv");
  ASSERT_EQ(t.foods().size(), 1u);
  const Food& f = t.foods()[0];
  EXPECT_EQ(f.matrix, FoodMatrix::kVegetable);
  EXPECT_DOUBLE_EQ(*f.per_100g[static_cast<std::size_t>(Nutrient::kK1)], 704.8);
  EXPECT_DOUBLE_EQ(*f.per_100g[static_cast<std::size_t>(Nutrient::kCa)], 150.0);
  EXPECT_FALSE(f.per_100g[static_cast<std::size_t>(Nutrient::kMk7)].has_value());  // empty, not 0
  EXPECT_TRUE(f.unverified[static_cast<std::size_t>(Nutrient::kK1)]);
  EXPECT_FALSE(f.unverified[static_cast<std::size_t>(Nutrient::kCa)]);
  EXPECT_EQ(t.source_of(f.source[0]).citation, "A table");
  // A value column in another mass unit is converted: calcium in g per 100 g.
  std::string h = header();
  h.replace(h.find("ca_mg_per_100g"), 14, "ca_g_per_100g");
  const FoodTable g =
      FoodTable::parse(h + row("kale", "704.8", "0.15"), "foods.csv", kSources, "sources.csv");
  EXPECT_NEAR(*g.foods()[0].per_100g[static_cast<std::size_t>(Nutrient::kCa)], 150.0, 1e-9);
}

TEST(FoodTable, MalformedInputNamesFileLineAndRule) {
  const std::string ok = row("kale", "704.8", "150");
  // Wrong number of fields, line 3.
  std::string e = parse_error(header() + ok + "spinach,vegetables,vegetable,30\n");
  EXPECT_NE(e.find("foods.csv:3"), std::string::npos) << e;
  // Duplicate names (case does not matter).
  e = parse_error(header() + ok + row("Kale", "1", "2"));
  EXPECT_NE(e.find("foods.csv:3"), std::string::npos) << e;
  EXPECT_NE(e.find("each food once"), std::string::npos) << e;
  // A unit that is not a mass in a value column's name.
  std::string h = header();
  h.replace(h.find("k1_ug_per_100g"), 14, "k1_mL_per_100g");
  e = parse_error(h + ok);
  EXPECT_NE(e.find("foods.csv:1"), std::string::npos) << e;
  EXPECT_NE(e.find("k1_mL_per_100g"), std::string::npos) << e;
  // Negative values, text in a number, an unknown source, unverified without a value.
  EXPECT_NE(parse_error(header() + row("kale", "-1", "150")).find("'-1'"), std::string::npos);
  EXPECT_NE(parse_error(header() + row("kale", "lots", "150")).find("'lots'"), std::string::npos);
  std::string unknown = ok;
  unknown.replace(unknown.find("src: NDB 1"), 3, "usda");
  e = parse_error(header() + unknown);
  EXPECT_NE(e.find("foods.csv:2"), std::string::npos) << e;
  EXPECT_NE(e.find("sources.csv"), std::string::npos) << e;
  EXPECT_NE(parse_error(header() + row("kale", "1", "2", "mk7")).find("unverified"),
            std::string::npos);
  // A matrix other than vegetable | other.
  std::string bad_matrix = ok;
  bad_matrix.replace(bad_matrix.find(",vegetable,"), 11, ",leafy,");
  EXPECT_NE(parse_error(header() + bad_matrix).find("vegetable | other"), std::string::npos);
}

// The built-in table: at least 60 foods, the ones the diet issue names, every value sourced.
TEST(FoodTable, BuiltinTableHasTheFoodsThatMatter) {
  const FoodTable& t = FoodTable::builtin();
  EXPECT_GE(t.foods().size(), 60u);
  for (const char* name : {"natto",
                           "cheese, Gouda",
                           "cheese, Edam",
                           "cheese, Brie",
                           "butter, salted",
                           "cream, heavy whipping",
                           "milk, whole 3.25%",
                           "egg yolk",
                           "chicken, breast",
                           "chicken liver",
                           "beef, ground",
                           "pork, loin",
                           "sauerkraut",
                           "miso",
                           "kale, raw",
                           "spinach, raw",
                           "broccoli, raw",
                           "lettuce, iceberg",
                           "soybean oil",
                           "margarine, 80% fat",
                           "salmon, wild",
                           "herring"}) {
    EXPECT_NE(t.find(name), nullptr) << name;
  }
  for (const Food& f : t.foods()) {
    for (std::size_t k = 0; k < kNutrientCount; ++k) {
      if (f.per_100g[k]) {
        EXPECT_FALSE(f.source[k].empty()) << f.name;
      }
    }
  }
}

TEST(FoodTable, FuzzySearch) {
  const FoodTable& t = FoodTable::builtin();
  ASSERT_FALSE(t.search("gouda").empty());
  EXPECT_EQ(t.search("gouda")[0]->name, "cheese, Gouda");
  ASSERT_FALSE(t.search("spinch").empty());  // a typo
  EXPECT_EQ(t.search("spinch")[0]->name.substr(0, 7), "spinach");
  EXPECT_EQ(t.search("natto")[0]->name, "natto");
  EXPECT_TRUE(t.search("xylophone").empty());
  const std::string report = foods_report(t, "natto");
  EXPECT_NE(report.find("kamao2007"), std::string::npos);
  EXPECT_NE(report.find("per 40 g"), std::string::npos);
}

// Each preset meets the published mean intakes it names, within 15%.
TEST(DietPresets, MeetTheirPublishedMeans) {
  std::vector<std::string> names;
  for (const DietPreset& p : diet_presets()) {
    names.push_back(p.name);
    EXPECT_FALSE(p.targets.empty()) << p.name;
    DietSpec d;
    d.preset = p.name;
    const DietIntake in = diet_intake(d, FoodTable::builtin());
    for (const IntakeTarget& t : p.targets) {
      const double v = intake_of(in.per_day, t.nutrient);
      EXPECT_NEAR(v / t.value, 1.0, 0.15) << p.name << " " << t.nutrient << ": " << v << " vs "
                                          << t.value << " (" << t.source << ")";
    }
  }
  for (const char* required :
       {"netherlands", "united-states", "japan-with-natto", "vegan-no-natto"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), required), names.end()) << required;
  }
}

// The pasture hypothesis (off by default): menaquinones of animal foods times the factor; K1,
// calcium and the menaquinones of natto unchanged.
TEST(DietPresets, PastureFactorScalesAnimalMenaquinonesOnly) {
  DietSpec d;
  d.foods.push_back({"cheese, Gouda", 30.0, 24.0, std::nullopt, {"x", 1}});
  d.foods.push_back({"natto", 40.0, 24.0, std::nullopt, {"x", 2}});
  const DietIntake base = diet_intake(d, FoodTable::builtin());
  d.pasture_k2_factor = 2.0;
  const DietIntake pasture = diet_intake(d, FoodTable::builtin());
  const auto at = [](const DietIntake& in, Nutrient n) {
    return in.per_day[static_cast<std::size_t>(n)];
  };
  EXPECT_DOUBLE_EQ(at(pasture, Nutrient::kMk9), 2.0 * at(base, Nutrient::kMk9));  // cheese only
  EXPECT_DOUBLE_EQ(at(pasture, Nutrient::kMk7) - at(base, Nutrient::kMk7),
                   at(base, Nutrient::kMk7) - 0.4 * 939.0);  // natto's MK-7 unchanged
  EXPECT_DOUBLE_EQ(at(pasture, Nutrient::kK1), at(base, Nutrient::kK1));
  EXPECT_DOUBLE_EQ(at(pasture, Nutrient::kCa), at(base, Nutrient::kCa));
  EXPECT_NE(scenario_error("name = \"d\"\nduration = \"1 d\"\n[diet]\npasture_k2_factor = \"2\"\n")
                .find("hypothesis"),
            std::string::npos);
}

TEST(DietScenario, ErrorsNameFileLineAndRule) {
  const std::string head = "name = \"d\"\nduration = \"1 d\"\n[diet]\n";
  std::string e = scenario_error(head + "foods = [ { food = \"gouda\", amount = \"30 g\" } ]\n");
  EXPECT_NE(e.find("diet.toml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("cheese, Gouda"), std::string::npos) << e;  // the closest names
  e = scenario_error(head + "foods = [ { food = \"natto\", amount = \"40\" } ]\n");
  EXPECT_NE(e.find("unit"), std::string::npos) << e;
  e = scenario_error(head +
                     "foods = [ { food = \"natto\", amount = \"40 g\", every = \"36 h\" } ]\n");
  EXPECT_NE(e.find("whole number of days"), std::string::npos) << e;
  e = scenario_error(head + "foods = [ { food = \"natto\", amount = \"40 g\", at = \"25 h\" } ]\n");
  EXPECT_NE(e.find("time of day"), std::string::npos) << e;
  e = scenario_error(head + "preset = \"netherland\"\n");
  EXPECT_NE(e.find("diet.toml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("netherlands"), std::string::npos) << e;
  e = scenario_error(head + "presets = \"netherlands\"\n");
  EXPECT_NE(e.find("unknown key"), std::string::npos) << e;
}

// Meals as doses: a food without `at` is split over the three meals, each meal carries the fat
// of its foods, K1 of vegetables is in the vegetable matrix; with steady_state the doses share
// one reset at time 0.
TEST(DietScenario, MealsBecomeDoses) {
  DietSpec d;
  d.foods.push_back({"spinach, raw", 90.0, 24.0, std::nullopt, {"x", 1}});
  d.foods.push_back({"butter, salted", 30.0, 24.0, std::nullopt, {"x", 2}});
  d.foods.push_back({"natto", 40.0, 7 * 24.0, 8.0, {"x", 3}});
  const FoodTable& t = FoodTable::builtin();
  const std::vector<DoseSpec> doses =
      diet_doses(d, t, {"K1", "MK-4", "MK-7", "MK-8", "MK-9", "DHP"}, true);
  auto fat = [&](const char* food) {
    return *t.find(food)->per_100g[static_cast<std::size_t>(Nutrient::kFat)] / 100.0;
  };
  // Fat per meal: a third of the butter and the spinach; at breakfast (8 h) also the natto, a
  // 40 g pack a week counted at its daily mean.
  const double meal_fat = (30.0 * fat("butter, salted") + 90.0 * fat("spinach, raw")) / 3.0;
  const double natto_fat = 40.0 * fat("natto") / 7.0;
  int spinach_k1 = 0;
  for (const DoseSpec& x : doses) {
    EXPECT_TRUE(x.steady_state);
    EXPECT_DOUBLE_EQ(x.ss_lead_h, x.start_h);
    EXPECT_EQ(x.meal_fat, MealFat::kGrams);
    if (x.substance == "K1" && x.matrix == Matrix::kVegetable) {
      ++spinach_k1;
      EXPECT_DOUBLE_EQ(*x.every_h, 24.0);
      EXPECT_NEAR(x.meal_fat_g, meal_fat + (x.start_h == 8.0 ? natto_fat : 0.0), 1e-9);
    }
    if (x.substance == "MK-7") {
      EXPECT_DOUBLE_EQ(*x.every_h, 168.0);
      EXPECT_DOUBLE_EQ(x.start_h, 8.0);
    }
  }
  EXPECT_EQ(spinach_k1, 3);
  // The model's substances only: none of calcium or vitamin D for this list.
  for (const DoseSpec& x : doses) EXPECT_NE(x.substance, "calcium");
}

// A natto eater (40 g a day) reaches plasma MK-7 at least ten times that of the Dutch diet
// (Schurgers & Vermeer 2000; Kaneki 2001: 5.26 against 0.37 ng/mL, Tokyo against the UK), and
// the intake outputs report the diet.
TEST(DietScenario, NattoRaisesPlasmaMk7AnOrderOfMagnitude) {
  const Scenario sc = parse_scenario(R"(name = "natto"
duration = "3 d"
output_interval = "6 h"
[diet]
preset = "netherlands"
[[arm]]
name = "dutch"
[[arm]]
name = "natto"
diet = { foods = [ { food = "natto", amount = "40 g", at = "8 h" } ] }
)",
                                     "natto.toml");
  const RunResult r = run_scenario(sc);
  ASSERT_TRUE(r.ok());
  auto column = [&](const ArmResult& a, const std::string& name) {
    for (std::size_t k = 0; k < a.outputs.size(); ++k) {
      if (a.outputs[k].name == name) return k;
    }
    throw std::runtime_error("no output " + name);
  };
  auto mean_of = [&](const ArmResult& a, const std::string& name) {
    const std::size_t k = column(a, name);
    const std::size_t n = a.outputs.size();
    double s = 0.0;
    for (std::size_t i = 0; i < a.time_h.size(); ++i) s += a.values[i * n + k];
    return s / static_cast<double>(a.time_h.size());
  };
  const double dutch = mean_of(r.arms[0], "plasma_mk7_nmol_per_L");
  const double natto = mean_of(r.arms[1], "plasma_mk7_nmol_per_L");
  EXPECT_GT(natto, 10.0 * dutch);
  DietSpec nl;
  nl.preset = "netherlands";
  const double k1 = diet_intake(nl, FoodTable::builtin()).per_day[0];
  EXPECT_NEAR(mean_of(r.arms[0], "intake_k1_ug_per_d"), k1, 1e-9 * k1);
  EXPECT_NEAR(mean_of(r.arms[1], "intake_mk7_ug_per_d") - mean_of(r.arms[0], "intake_mk7_ug_per_d"),
              0.4 * 939.0, 1e-6);
  // `k2sim diet` names the foods that give most.
  const std::string report = diet_report(sc);
  EXPECT_NE(report.find("arm 'natto'"), std::string::npos);
  EXPECT_NE(report.find("natto 9"), std::string::npos) << report;  // natto gives > 90% of MK-7
}

// The message of the InputError that running `sc` raises, or "" when none.
std::string run_error_of(const Scenario& sc) {
  try {
    (void)run_scenario(sc);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Values of one output of one arm over time.
std::vector<double> series(const RunResult& r, std::size_t arm, const std::string& name) {
  const ArmResult& a = r.arms[arm];
  std::size_t k = 0;
  while (k < a.outputs.size() && a.outputs[k].name != name) ++k;
  if (k == a.outputs.size()) throw std::runtime_error("no output " + name);
  std::vector<double> v;
  for (std::size_t i = 0; i < a.time_h.size(); ++i) v.push_back(a.values[i * a.outputs.size() + k]);
  return v;
}

// A steady-state supplement taken at breakfast joins the diet's steady state at time 0: it does
// not reset the natto eater's plasma MK-7 when it is first taken; a regimen that starts after its
// first interval, on a diet, is refused with file and line.
TEST(DietScenario, SteadyStateSupplementJoinsTheDiet) {
  const std::string base = R"(name = "s"
duration = "1 d"
output_interval = "1 h"
[diet]
foods = [ { food = "natto", amount = "40 g", at = "8 h" }, { food = "spinach, raw", amount = "50 g" } ]
)";
  const std::string dose =
      "[[dose]]\nsubstance = \"MK-4\"\namount = \"1 mg\"\nevery = \"1 d\"\nstart = \"8 h\"\n"
      "steady_state = true\n";
  const RunResult without = run_scenario(parse_scenario(base, "s.toml"));
  const RunResult with = run_scenario(parse_scenario(base + dose, "s.toml"));
  ASSERT_TRUE(without.ok() && with.ok());
  const std::vector<double> a = series(without, 0, "plasma_mk7_nmol_per_L");
  const std::vector<double> b = series(with, 0, "plasma_mk7_nmol_per_L");
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(b[i], a[i], 1e-3 * a[i]) << i;
  std::string late = base + dose;
  late.replace(late.find("start = \"8 h\""), 13, "start = \"2 d\"");
  late.replace(late.find("duration = \"1 d\""), 16, "duration = \"3 d\"");
  EXPECT_NE(run_error_of(parse_scenario(late, "late.toml")).find("late.toml:"), std::string::npos);
}

// A run shorter than a day keeps all of the day's meals in the steady state it starts from.
TEST(DietScenario, ShortRunsStartAtTheDietsSteadyState) {
  auto start_k1 = [](const std::string& duration) {
    const RunResult r = run_scenario(parse_scenario(
        "name = \"s\"\nduration = \"" + duration + "\"\n[diet]\npreset = \"netherlands\"\n",
        "s.toml"));
    EXPECT_TRUE(r.ok());
    return series(r, 0, "plasma_k1_nmol_per_L").front();
  };
  const double day = start_k1("2 d");
  EXPECT_GT(day, 0.1);
  EXPECT_NEAR(start_k1("6 h"), day, 1e-6 * day);
  EXPECT_NEAR(start_k1("12 h"), day, 1e-6 * day);
}

// Foods eaten every 2 and every 3 days have no common period the steady state could use.
TEST(DietScenario, IntervalsMustDivideTheLongest) {
  const Scenario sc = parse_scenario(R"(name = "s"
duration = "7 d"
[diet]
foods = [ { food = "natto", amount = "40 g", every = "2 d" }, { food = "kale, raw", amount = "50 g", every = "3 d" } ]
)",
                                     "odd.toml");
  const std::string e = run_error_of(sc);
  EXPECT_NE(e.find("odd.toml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("divide the longest"), std::string::npos) << e;
}

// A model that takes no diet refuses one rather than ignoring it.
TEST(DietScenario, ModelWithoutDietRefusesIt) {
  const Scenario sc = parse_scenario(
      "name = \"s\"\nmodel = \"pk-1cmt\"\nduration = \"1 d\"\n[diet]\npreset = \"netherlands\"\n",
      "pk.toml");
  EXPECT_NE(run_error_of(sc).find("takes no diet"), std::string::npos);
}

// Intake outputs report a titrated dose at its titrated amount, beside the diet.
TEST(DietScenario, IntakeOutputsShowTitratedAmounts) {
  const RunResult r = run_scenario(parse_scenario(R"(name = "t"
duration = "1 d"
output_interval = "6 h"
[diet]
foods = [ { food = "spinach, raw", amount = "50 g", at = "8 h" } ]
[[dose]]
substance = "warfarin"
amount = "1 mg"
every = "1 d"
steady_state = true
titrate_to_inr = 2.5
)",
                                                  "t.toml"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.arms[0].titrations.size(), 1u);
  const double ug = units::internal_amount_to_ug(units::find_substance("warfarin"),
                                                 r.arms[0].titrations[0].amount);
  EXPECT_GT(std::abs(ug - 1000.0), 1.0);  // the titration moved the amount
  EXPECT_NEAR(series(r, 0, "intake_warfarin_ug_per_d").back(), ug, 1e-6 * ug);
}

// With `sun`, an arm without a diet after one with a diet starts where it starts alone (the
// model serves arm after arm).
TEST(DietScenario, ArmsDoNotInheritEachOthersDiet) {
  const std::string head = R"(name = "s"
model = "calcium-bone"
duration = "2 d"
[subject]
sun = { latitude = "52 deg", skin_type = 2, minutes_midday = "15 min" }
)";
  const RunResult two =
      run_scenario(parse_scenario(head + "[[arm]]\nname = \"fish\"\ndiet = { foods = [ { food = "
                                         "\"eel\", amount = \"300 g\" } ] }\n"
                                         "[[arm]]\nname = \"nodiet\"\n",
                                  "two.toml"));
  const RunResult one = run_scenario(parse_scenario(head, "one.toml"));
  ASSERT_TRUE(two.ok() && one.ok());
  const double alone = series(one, 0, "serum_25ohd_nmol_per_L").front();
  EXPECT_NEAR(series(two, 1, "serum_25ohd_nmol_per_L").front(), alone, 1e-6 * alone);
  EXPECT_GT(series(two, 0, "serum_25ohd_nmol_per_L").front(), alone + 5.0);
}

}  // namespace
}  // namespace k2sim
