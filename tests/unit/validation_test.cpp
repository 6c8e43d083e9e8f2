// The validation machinery against independent figures: statistics of known functions and the
// tolerance rules of VALIDATION.md.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <gtest/gtest.h>

#include "k2sim/calibration/validation.hpp"
#include "k2sim/error.hpp"

namespace k2sim {
namespace {

// A run whose single output is c(t) = 10 exp(-k t) + a bump, on a 0.01 h grid.
RunResult synthetic_run(double k) {
  RunResult run;
  ArmResult arm;
  arm.name = "main";
  arm.outputs = {{"conc", "nmol/L", "test"}};
  for (int i = 0; i <= 4800; ++i) {
    const double t = 0.01 * i;
    arm.time_h.push_back(t);
    arm.values.push_back(10.0 * std::exp(-k * t) * (1.0 - std::exp(-5.0 * t)));
  }
  run.arms.push_back(arm);
  return run;
}

Statistic stat(const std::string& kind) {
  Statistic s;
  s.kind = kind;
  s.output = "conc";
  return s;
}

TEST(Validation, StatisticsOfAKnownCurve) {
  const double k = 0.1;
  const RunResult run = synthetic_run(k);
  Statistic hl = stat("half_life");
  hl.from_h = 10.0;
  hl.to_h = 40.0;
  hl.unit = "h";
  EXPECT_NEAR(compute_statistic(hl, run, "test"), std::log(2.0) / k, 1e-6);
  // tmax of 10 (e^-kt - e^-(k+5)t): ln((k+5)/k) / 5
  Statistic tmax = stat("tmax");
  tmax.unit = "h";
  EXPECT_NEAR(compute_statistic(tmax, run, "test"), std::log(5.1 / 0.1) / 5.0, 0.01);
  // AUC over 0-48 h: 10 [(1 - e^-48k)/k - (1 - e^-48(k+5))/(k+5)]
  Statistic auc = stat("auc");
  auc.to_h = 48.0;
  auc.unit = "nmol*h/L";
  const double exact = 10.0 * ((1 - std::exp(-4.8)) / k - 1.0 / (k + 5.0));
  EXPECT_NEAR(compute_statistic(auc, run, "test"), exact, 1e-3 * exact);
  // Unit conversion through the molar mass: nmol/L of MK-7 -> ng/mL (649.016 g/mol).
  Statistic at = stat("value_at");
  at.at_h = 20.0;
  at.unit = "ng/mL";
  at.substance = "MK-7";
  const double c20 = 10.0 * std::exp(-2.0) * (1.0 - std::exp(-100.0));
  EXPECT_NEAR(compute_statistic(at, run, "test"), c20 * 0.649016, 1e-9);
  // A ratio of two statistics, scaled.
  Statistic ratio = stat("ratio");
  ratio.numerator = std::make_shared<Statistic>(at);
  ratio.denominator = std::make_shared<Statistic>(at);
  ratio.scale = 100.0;
  EXPECT_NEAR(compute_statistic(ratio, run, "test"), 100.0, 1e-12);
  // A difference: the value at 20 h minus the value at 10 h, in ng/mL.
  Statistic at10 = at;
  at10.at_h = 10.0;
  Statistic diff = stat("difference");
  diff.numerator = std::make_shared<Statistic>(at);
  diff.denominator = std::make_shared<Statistic>(at10);
  const double c10 = 10.0 * std::exp(-1.0) * (1.0 - std::exp(-50.0));
  EXPECT_NEAR(compute_statistic(diff, run, "test"), (c20 - c10) * 0.649016, 1e-9);
  Statistic missing = stat("max");
  missing.output = "nope";
  EXPECT_THROW((void)compute_statistic(missing, run, "test"), InputError);
}

Target target(double value, std::optional<double> low, std::optional<double> high,
              const std::string& kind, const std::string& units, std::optional<int> n = {}) {
  Target t;
  t.value = value;
  t.low = low;
  t.high = high;
  t.spread_kind = kind;
  t.units = units;
  t.n = n;
  return t;
}

TEST(Validation, ToleranceRulesOfValidationMd) {
  // CI95 and range: [low, high]
  Tolerance t = tolerance_of(target(5, 4, 7, "CI95", "h"), {});
  EXPECT_DOUBLE_EQ(t.low, 4);
  EXPECT_DOUBLE_EQ(t.high, 7);
  // SE: value +- 2 SE
  t = tolerance_of(target(0, {}, 0.77, "SE", "ng/mL"), {});
  EXPECT_DOUBLE_EQ(t.low, -1.54);
  EXPECT_DOUBLE_EQ(t.high, 1.54);
  // SD: mean +- 2 SD / sqrt(n)
  t = tolerance_of(target(27.55, {}, 10.08, "SD", "nmol*h/L", 8), {});
  EXPECT_NEAR(t.high - 27.55, 2 * 10.08 / std::sqrt(8.0), 1e-12);
  // point estimate: +- 25%; fractions in %: +- 0.1 absolute
  t = tolerance_of(target(68, {}, {}, "none", "h"), {});
  EXPECT_DOUBLE_EQ(t.low, 51);
  EXPECT_DOUBLE_EQ(t.high, 85);
  t = tolerance_of(target(13, {}, {}, "none", "%"), {});
  EXPECT_DOUBLE_EQ(t.low, 3);
  EXPECT_DOUBLE_EQ(t.high, 23);
  // not detectable: below the LOD
  t = tolerance_of(target(0, {}, {}, "none", "ng/mL"), 0.1);
  EXPECT_EQ(t.low, -std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(t.high, 0.1);
}

// A protocol whose statistic is `statistic` (TOML lines of [protocol.statistic] and below).
std::filesystem::path protocol_file(const std::string& statistic) {
  const auto dir = std::filesystem::temp_directory_path() / "k2sim_validation_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "T1.toml";  // the id must be the file name
  std::ofstream(path) << "name = \"p\"\nmodel = \"vitk\"\nduration = \"1 d\"\n"
                         "output_interval = \"1 h\"\n[protocol]\nid = \"T1\"\n"
                         "role = \"validation\"\ncomparison = \"typical\"\n"
                      << statistic;
  return path;
}

// The rules of a difference: `of` and `minus` are required, and the three units are one.
TEST(Validation, DifferenceRules) {
  const std::string of =
      "[protocol.statistic.of]\nkind = \"value_at\"\noutput = \"inr\"\nat = \"1 d\"\n"
      "unit = \"1\"\n";
  const std::string minus =
      "[protocol.statistic.minus]\nkind = \"value_at\"\noutput = \"inr\"\nat = \"0 d\"\n";
  auto read = [](const std::string& text) {
    const auto path = protocol_file(text);
    try {
      (void)read_protocol(path.string());
    } catch (...) {
      std::filesystem::remove(path);
      throw;
    }
    std::filesystem::remove(path);
  };
  const std::string head = "[protocol.statistic]\nkind = \"difference\"\nunit = \"1\"\n";
  EXPECT_NO_THROW(read(head + of + minus + "unit = \"1\"\n"));
  try {
    read(head + of + minus + "unit = \"%\"\n");
    ADD_FAILURE() << "units that differ were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("share one unit"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read(head + of), InputError);  // no `minus`
  // `of` on a simple kind is refused, not ignored.
  EXPECT_THROW(read("[protocol.statistic]\nkind = \"value_at\"\noutput = \"inr\"\n"
                    "at = \"1 d\"\nunit = \"1\"\n" +
                    of),
               InputError);
}

}  // namespace
}  // namespace k2sim
