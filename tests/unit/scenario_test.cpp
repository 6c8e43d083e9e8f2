#include <string>

#include <gtest/gtest.h>

#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/units/substances.hpp"

namespace k2sim {
namespace {

// Parses `text` as "test.toml" and expects an InputError whose message contains each fragment.
void expect_error(const std::string& text, const std::vector<std::string>& fragments) {
  try {
    (void)parse_scenario(text, "test.toml");
    ADD_FAILURE() << "no error for:\n" << text;
  } catch (const InputError& e) {
    for (const auto& f : fragments) {
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "missing '" << f << "' in: " << e.what();
    }
  }
}

constexpr const char* kGood = R"(name = "mk7-180"
duration = "90 d"
output_interval = "12 h"
[subject]
age = "50 y"
sex = "male"
[[dose]]
substance = "MK-7"
amount = "180 ug"
every = "1 d"
meal_fat = "20 g"
)";

TEST(Scenario, ReadsAGoodScenario) {
  const Scenario sc = parse_scenario(kGood, "good.toml");
  EXPECT_EQ(sc.name, "mk7-180");
  EXPECT_EQ(sc.model, "vitk");
  EXPECT_DOUBLE_EQ(sc.duration_h, 90 * 24.0);
  EXPECT_DOUBLE_EQ(sc.output_interval_h, 12.0);
  ASSERT_EQ(sc.doses.size(), 1u);
  EXPECT_NEAR(sc.doses[0].amount, 180.0 / 649.016 * 1e3, 1e-9);
  EXPECT_DOUBLE_EQ(*sc.doses[0].every_h, 24.0);
  EXPECT_EQ(sc.doses[0].meal_fat, MealFat::kGrams);
  EXPECT_DOUBLE_EQ(sc.doses[0].meal_fat_g, 20.0);
  EXPECT_EQ(sc.doses[0].where.line, 7u);
  const auto arms = sc.resolved_arms();
  ASSERT_EQ(arms.size(), 1u);
  EXPECT_EQ(arms[0].name, "main");
  EXPECT_DOUBLE_EQ(*arms[0].subject.age_y, 50.0);
  EXPECT_EQ(*arms[0].subject.sex, "male");
  // Omitted keys come from the reference adult (data/reference/subject.toml).
  EXPECT_DOUBLE_EQ(*arms[0].subject.egfr_mL_per_min_173, 90.0);
  EXPECT_EQ(sc.echo["dose"][0]["amount"], "180 ug");
}

TEST(Scenario, ArmsAppendDosesAndOverrideSubjectKeys) {
  const Scenario sc = parse_scenario(std::string(kGood) + R"(
[[arm]]
name = "placebo"
[[arm]]
name = "double"
dose = [ { substance = "MK-7", amount = "180 ug", every = "1 d" } ]
subject = { age = "70 y" }
)",
                                     "arms.toml");
  const auto arms = sc.resolved_arms();
  ASSERT_EQ(arms.size(), 2u);
  EXPECT_EQ(arms[0].doses.size(), 1u);
  EXPECT_EQ(arms[1].doses.size(), 2u);
  EXPECT_DOUBLE_EQ(*arms[0].subject.age_y, 50.0);
  EXPECT_DOUBLE_EQ(*arms[1].subject.age_y, 70.0);
  EXPECT_EQ(*arms[1].subject.sex, "male");
}

TEST(Scenario, UnknownKeySuggestsTheNearest) {
  expect_error(
      "name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"MK-7\"\namont = \"1 mg\"\n",
      {"test.toml:5", "unknown key 'dose[0].amont'", "did you mean 'amount'?"});
  expect_error("name = \"x\"\ndurration = \"1 d\"\n", {"test.toml:2", "did you mean 'duration'?"});
}

TEST(Scenario, MissingUnitIsAnError) {
  expect_error("name = \"x\"\nduration = 90\n",
               {"test.toml:2", "duration = 90", "a quantity is a string with a unit"});
  expect_error("name = \"x\"\nduration = \"90\"\n", {"test.toml:2", "missing unit"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"MK-7\"\namount = 180\n",
               {"test.toml:5", "dose[0].amount = 180", "with a unit"});
}

TEST(Scenario, NegativeAmountIsAnError) {
  expect_error(
      "name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"MK-7\"\namount = \"-180 ug\"\n",
      {"test.toml:5", "dose[0].amount = \"-180 ug\"", "an amount > 0"});
}

TEST(Scenario, UnknownSubstanceIsAnError) {
  expect_error(
      "name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"MK7x\"\namount = \"1 mg\"\n",
      {"test.toml:4", "unknown substance 'MK7x'", "did you mean 'MK-7'?"});
}

TEST(Scenario, StopBeforeStartIsAnError) {
  expect_error(
      "name = \"x\"\nduration = \"10 d\"\n[[dose]]\nsubstance = \"MK-7\"\namount = \"1 mg\"\n"
      "every = \"1 d\"\nstart = \"5 d\"\nstop = \"2 d\"\n",
      {"test.toml:8", "dose[0].stop = \"2 d\"", "stop after start"});
}

TEST(Scenario, OtherRules) {
  expect_error("name = \"x\"\nduration = \"1 ug\"\n", {"test.toml:2", "wrong dimension"});
  expect_error("name = \"x\"\nduration = \"-1 d\"\n", {"test.toml:2", "a duration > 0"});
  expect_error("name = \"x\"\nduration = \"1 d\"\nmodel = \"pk-1cmtt\"\n",
               {"test.toml:3", "did you mean 'pk-1cmt'?"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[population]\nsize = 0\n",
               {"test.toml:4", "population.size = 0", "an integer from 1"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[population]\nsize = 9\nage = \"70\"\n",
               {"test.toml:5", "population.age"});
  expect_error(
      "name = \"x\"\nduration = \"1 d\"\n[population]\nsize = 9\n[analysis]\nkind = \"cohrt\"\n",
      {"test.toml:6", "did you mean 'cohort'?"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[diet]\nintake = \"meal\"\n",
               {"test.toml:4", "did you mean 'meals'?"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[subject]\nsex = \"F\"\n",
               {"test.toml:4", "female | male"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"D3\"\namount = \"1 h\"\n",
               {"test.toml:5", "D3 given in units of h"});
  expect_error(
      "name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"MK-7\"\namount = \"1 mg\"\n"
      "route = \"orl\"\n",
      {"test.toml:6", "did you mean 'oral'?"});
  expect_error("name = \"a b\"\nduration = \"1 d\"\n", {"test.toml:1", "letters, digits"});
  expect_error("duration = \"1 d\"\n", {"missing key 'name'"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[solver]\nrtol = 5\n", {"test.toml:4", "rtol"});
  expect_error("name = \"x\"\nduration = = \"1 d\"\n", {"test.toml:2", "TOML syntax error"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[[arm]]\nname = \"a\"\n[[arm]]\nname = \"a\"\n",
               {"test.toml:6", "unique"});
  expect_error("name = \"x\"\nduration = \"1 d\"\n[subject]\nwarfarin_genotype = \"VKORC1 GT\"\n",
               {"test.toml:4", "VKORC1 GG|GA|AA"});
  expect_error(
      "name = \"x\"\nduration = \"1 d\"\n[subject]\nwarfarin_genotype = \"CYP2C9 *1/*4\"\n",
      {"test.toml:4", "CYP2C9 *1/*1"});
  const std::string vka =
      "name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"warfarin\"\n"
      "amount = \"5 mg\"\nevery = \"1 d\"\n";
  expect_error(vka + "titrate_to_inr = 2.0\n", {"test.toml:7", "steady_state = true"});
  const std::string newborn = "name = \"x\"\nduration = \"1 d\"\n[subject]\nnewborn = true\n";
  expect_error(newborn + "age = \"1 y\"\n", {"test.toml:5", "age", "starts at birth"});
  expect_error(newborn + "body_weight = \"9 kg\"\n", {"test.toml:5", "2 to 5.5 kg"});
  expect_error(newborn + "feeding = \"cow milk\"\n", {"test.toml:5", "breast milk"});
  expect_error(vka + "steady_state = true\ntitrate_to_inr = \"2\"\n",
               {"test.toml:8", "a number (INR has no unit)"});
  expect_error(vka + "steady_state = true\ntitrate_to_inr = 0.5\n", {"test.toml:8", "above 1"});
  expect_error(
      "name = \"x\"\nduration = \"1 d\"\n[[dose]]\nsubstance = \"MK-7\"\namount = \"5 mg\"\n"
      "every = \"1 d\"\nsteady_state = true\ntitrate_to_inr = 2.0\n",
      {"test.toml:8", "warfarin or acenocoumarol"});
}

TEST(Scenario, ReadsWarfarinGenotypeAndDialysis) {
  const Scenario sc = parse_scenario(
      "name = \"x\"\nduration = \"1 d\"\n[subject]\n"
      "warfarin_genotype = \"VKORC1 AA, CYP2C9 *2/*3\"\ndialysis = true\n",
      "test.toml");
  const SubjectCovariates c = sc.resolved_arms()[0].subject.covariates();
  EXPECT_EQ(c.vkorc1, "AA");
  EXPECT_EQ(c.cyp2c9, "*2/*3");
  EXPECT_TRUE(c.dialysis);
  EXPECT_NEAR(c.egfr, 90.0 * 60.0 / 1000.0, 1e-12);  // the reference adult's 90 mL/min/1.73m2
}

TEST(Scenario, MissingFileIsAnIoError) {
  EXPECT_THROW((void)read_scenario("no/such/scenario.toml"), IoError);
}

// Doses are given strictly before the end of the run, whatever `stop` says.
TEST(Scenario, DoseRecordsStopAtTheEndOfTheRun) {
  const Scenario sc = parse_scenario(
      "name = \"x\"\nduration = \"7 d\"\n[[dose]]\nsubstance = \"MK-7\"\namount = \"1 mg\"\n"
      "every = \"1 d\"\nstop = \"8 d\"\n[[dose]]\nsubstance = \"K1\"\namount = \"1 mg\"\n"
      "start = \"9 d\"\n",
      "t.toml");
  const auto table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  const auto records = dose_records(*model, sc.doses, sc.duration_h);
  ASSERT_EQ(records.size(), 1u);   // the K1 dose after the end is never given
  EXPECT_EQ(records[0].addl, 6u);  // MK-7 at 0, 1, ..., 6 d
  EXPECT_DOUBLE_EQ(records[0].ii_h, 24.0);
}

// The message of the InputError a run of `sc` throws ("" when it runs).
std::string run_error(const Scenario& sc) {
  try {
    (void)run_scenario(sc);
  } catch (const InputError& e) {
    return e.what();
  }
  return {};
}

// The message of the InputError that parsing `text` (as bad.toml) raises, or "" when none.
std::string error_of(const std::string& text) {
  try {
    (void)parse_scenario(text, "bad.toml");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Subject keys of the calcium-bone model: egfr_decline (both keys, units) and menopause_age
// (women only), with errors that name the file, the line and the rule.
TEST(Scenario, EgfrDeclineAndMenopauseAge) {
  const Scenario ok = parse_scenario(R"(name = "x"
model = "calcium-bone"
duration = "1 y"
[subject]
egfr = "80 mL/min/1.73m2"
egfr_decline = { to = "40 mL/min/1.73m2", over = "10 y" }
menopause_age = "50 y"
)",
                                     "ok.toml");
  const SubjectCovariates c = ok.resolved_arms()[0].subject.covariates();
  EXPECT_NEAR(c.egfr, 4.8, 1e-12);      // L/h/1.73m2
  EXPECT_NEAR(c.egfr_end, 2.4, 1e-12);  // L/h/1.73m2
  EXPECT_DOUBLE_EQ(c.egfr_decline_h, 10 * 8766.0);
  EXPECT_DOUBLE_EQ(c.menopause_age_y, 50.0);
  const std::string head = "name = \"x\"\nduration = \"1 y\"\n[subject]\n";
  EXPECT_NE(error_of(head + "egfr_decline = { to = \"40 mL/min/1.73m2\" }\n").find("bad.toml:4"),
            std::string::npos);
  EXPECT_NE(
      error_of(head + "egfr_decline = { to = \"40 mL/min/1.73m2\", over = \"10\" }\n").find("unit"),
      std::string::npos);
  EXPECT_NE(error_of(head + "sex = \"male\"\nmenopause_age = \"50 y\"\n").find("women only"),
            std::string::npos);
  EXPECT_NE(error_of(head + "menopause_age = \"20 y\"\n").find("30 to 70 y"), std::string::npos);
}

// The subject key sun (eq. 56): latitude, skin type and minutes are needed, skin_exposed and
// start_date are optional; errors name the file, the line and the rule.
TEST(Scenario, SunKey) {
  const Scenario ok = parse_scenario(R"(name = "x"
model = "calcium-bone"
duration = "1 y"
[subject]
sun = { latitude = "-33.9 deg", skin_type = 4, minutes_midday = "0.25 h", skin_exposed = 0.1, start_date = "03-01" }
)",
                                     "ok.toml");
  const SubjectCovariates c = ok.resolved_arms()[0].subject.covariates();
  ASSERT_TRUE(c.sun.has_value());
  EXPECT_DOUBLE_EQ(c.sun->latitude_deg, -33.9);
  EXPECT_EQ(c.sun->skin_type, 4);
  EXPECT_DOUBLE_EQ(c.sun->minutes_per_day, 15.0);
  EXPECT_DOUBLE_EQ(c.sun->skin_exposed, 0.1);
  EXPECT_EQ(c.sun->start_day_of_year, 60);
  const std::string head = "name = \"x\"\nduration = \"1 y\"\n[subject]\n";
  const std::string good = "latitude = \"52 deg\", skin_type = 2, minutes_midday = \"15 min\"";
  auto sun = [&](const std::string& body) { return error_of(head + "sun = { " + body + " }\n"); };
  EXPECT_EQ(sun(good), "");
  EXPECT_NE(sun("latitude = \"52 deg\", skin_type = 2").find("bad.toml:4"), std::string::npos);
  EXPECT_NE(sun("latitude = \"52 deg\", skin_type = 2").find("minutes_midday"), std::string::npos);
  EXPECT_NE(sun("latitude = \"95 deg\", skin_type = 2, minutes_midday = \"15 min\"")
                .find("-90 to 90 deg"),
            std::string::npos);
  EXPECT_NE(
      sun("latitude = \"52 deg\", skin_type = 7, minutes_midday = \"15 min\"").find("Fitzpatrick"),
      std::string::npos);
  EXPECT_NE(sun("latitude = \"52 deg\", skin_type = 2, minutes_midday = 15").find("unit"),
            std::string::npos);
  EXPECT_NE(sun(good + ", start_date = \"02-30\"").find("MM-DD"), std::string::npos);
  EXPECT_NE(sun(good + ", skin_exposed = 1.5").find("fraction"), std::string::npos);
  EXPECT_NE(sun(good + ", skin_type_ = 2").find("unknown key"), std::string::npos);
  EXPECT_NE(error_of(head + "sun = \"yes\"\n").find("bad.toml:4"), std::string::npos);
}

// The calcium-bone model refuses steady_state doses, naming the dose and the reason.
TEST(Scenario, CalciumBoneRefusesSteadyStateDoses) {
  const Scenario sc = parse_scenario(R"(name = "x"
model = "calcium-bone"
duration = "10 d"
[[dose]]
substance = "teriparatide"
amount = "20 ug"
route = "SC"
every = "1 d"
steady_state = true
)",
                                     "ss.toml");
  const std::string e = run_error(sc);
  EXPECT_NE(e.find("ss.toml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("periodic steady state"), std::string::npos) << e;
}

// A run hands the model its start state: a woman after the menopause starts at her own steady
// state, where BMD relative to the start is 1 and BMD relative to the published reference state
// is not (eq. 53); and a subject the model cannot take is refused naming the file and the arm.
TEST(Scenario, CalciumBoneBmdIsRelativeToTheStart) {
  const Scenario sc = parse_scenario(R"(name = "x"
model = "calcium-bone"
duration = "30 d"
output_interval = "30 d"
[subject]
age = "72 y"
menopause_age = "51 y"
)",
                                     "bmd.toml");
  const RunResult r = run_scenario(sc);
  ASSERT_EQ(r.arms.size(), 1u);
  const ArmResult& a = r.arms[0];
  ASSERT_TRUE(a.solve.ok()) << a.solve.message;
  auto column = [&](const std::string& name) {
    for (std::size_t k = 0; k < a.outputs.size(); ++k) {
      if (a.outputs[k].name == name) return k;
    }
    throw std::runtime_error("no output " + name);
  };
  const std::size_t n = a.outputs.size();
  EXPECT_DOUBLE_EQ(a.values[column("bmd_femoral_neck_rel")], 1.0);
  EXPECT_LT(a.values[column("bmd_femoral_neck_ref")], 0.95);  // below the premenopausal state
  EXPECT_NEAR(a.values[n + column("bmd_femoral_neck_rel")], 1.0, 1e-3);  // steady over 30 d

  const Scenario dialysis = parse_scenario(R"(name = "x"
model = "calcium-bone"
duration = "30 d"
[subject]
dialysis = true
)",
                                           "dialysis.toml");
  const std::string e = run_error(dialysis);
  EXPECT_NE(e.find("dialysis.toml: arm 'main'"), std::string::npos) << e;
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// Found by fuzz/fuzz_scenario: toml++ 3.3 reaches __builtin_unreachable() (undefined behaviour)
// on a non-ASCII character where it looks for whitespace. The reader refuses such text with
// file:line first, and keeps non-ASCII text in comments and strings.
TEST(ScenarioReader, NonAsciiOutsideStringsAndCommentsIsAnErrorNotACrash) {
  const std::string base = "name = \"u\"\nduration = \"1 d\"\noutput_interval = \"1 h\"\n";
  auto message = [&](const std::string& text) -> std::string {
    try {
      (void)parse_scenario(text, "u.toml");
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  };
  // A bare key with U+038D (the fuzzer's input, reduced), and U+00E9 starting a line.
  EXPECT_NE(
      message(base + "[[dose]]\nsubstance = \"K1\"\namount = \"1 mg\"\ne_oral_\xce\x8dg = 1\n")
          .find("u.toml:7: non-ASCII character outside a string or comment"),
      std::string::npos);
  EXPECT_NE(message(base + "\xc3\xa9t\xc3\xa9 = 1\n").find("u.toml:4: non-ASCII"),
            std::string::npos);
  // A quote where no string can start (after '+') opens no string: toml++ reads on as a number.
  EXPECT_NE(message(base + "[subject]\nage =+\"@@\xc6\xbf@@\"\n").find("u.toml:5: non-ASCII"),
            std::string::npos);
  // tomlplusplus issue 190: U+00A7 after the line-ending backslash of a multi-line string.
  EXPECT_NE(message(base + "x = \"\"\"\\\n\xc2\xa7\"\"\"\n")
                .find("after the line-ending backslash of a multi-line string"),
            std::string::npos);
  // From review: after a backslash in a multi-line string, and inside toml++'s look-ahead over a
  // number (a quote there opens no string).
  for (const char* bad :
       {"x = \"\"\"\\\xc3\xa9\"\"\"\n", "x = \"\"\"\\ \xc3\xa9\"\"\"\n", "age = 1=\"\xc3\xa9\"\n",
        "age = 1.\"\xc3\xa9\"\n", "age = -{'\xc3\xa9'\n", "x = \"\\\xc3\xa9\"\n"}) {
    EXPECT_NE(message(base + bad).find("u.toml:4: non-ASCII"), std::string::npos) << bad;
  }
  // A byte order mark is no character of the file.
  EXPECT_EQ(message("\xEF\xBB\xBF" + base), "");
  // Comments and strings may hold any UTF-8.
  EXPECT_EQ(message("# \xc2\xb5g, \xe2\x89\xa5, M\xc3\xbcller\n" + base +
                    "[subject]\nage = \"60 y\"  # \xc3\xa9t\xc3\xa9\n"
                    "[[dose]]\nsubstance = \"K1\"\namount = \"150 \xc2\xb5g\"\n"),
            "");
}

}  // namespace
}  // namespace k2sim
