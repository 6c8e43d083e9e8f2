// The validation machinery against independent figures: statistics of known functions and the
// tolerance rules of VALIDATION.md.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <vector>

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

// Removes a temporary folder when the test ends, also after a failed ASSERT.
struct RemovedAtEnd {
  std::filesystem::path path;
  explicit RemovedAtEnd(std::filesystem::path p) : path(std::move(p)) {}
  RemovedAtEnd(const RemovedAtEnd&) = delete;
  RemovedAtEnd& operator=(const RemovedAtEnd&) = delete;
  ~RemovedAtEnd() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The Monte Carlo tolerance of a cohort estimate (VALIDATION.md "Time budget"), by hand: a CI95
// target widened on the log scale by 1.96 se sqrt(1 - n / N), se from the estimate's interval.
TEST(Validation, CohortToleranceWidensByTheMonteCarloError) {
  const Target t = target(0.43, 0.24, 0.77, "CI95", "RR");
  CohortEstimate e;
  e.value = 1.0;
  e.low = 0.5;
  e.high = 2.0;
  e.subjects = 1000;
  e.full_subjects = 4807;
  const double se = std::log(4.0) / (2 * 1.959963984540054);             // 0.35365
  const double w = 1.959963984540054 * se * std::sqrt(3807.0 / 4807.0);  // 0.61685
  Tolerance tol = cohort_tolerance(t, e);
  EXPECT_NEAR(tol.low, 0.24 * std::exp(-w), 1e-12);
  EXPECT_NEAR(tol.high, 0.77 * std::exp(w), 1e-12);
  EXPECT_NEAR(tol.high, 1.4269, 1e-4);  // 0.77 x e^0.61685 = 0.77 x 1.8531
  EXPECT_TRUE(cohort_passes(t, e, tol));
  e.value = 1.5;
  EXPECT_FALSE(cohort_passes(t, e, tol));
  // At the study's size the interval is the published one.
  e.subjects = 4807;
  tol = cohort_tolerance(t, e);
  EXPECT_DOUBLE_EQ(tol.low, 0.24);
  EXPECT_DOUBLE_EQ(tol.high, 0.77);
  // A null target passes when the estimate's interval contains the null value.
  const Target null = target(1, {}, {}, "none", "RR (null)");
  e = CohortEstimate{0.9, 0.6, 1.3, 1000, 4807};
  EXPECT_TRUE(cohort_passes(null, e, cohort_tolerance(null, e)));
  e = CohortEstimate{1.6, 1.1, 2.3, 1000, 4807};
  EXPECT_FALSE(cohort_passes(null, e, cohort_tolerance(null, e)));
  // ... and needs an interval.
  e = CohortEstimate{1.6};
  EXPECT_THROW((void)cohort_tolerance(null, e), InputError);
  // A point target (a cut-off) keeps the +- 25% rule.
  e = CohortEstimate{20.0, std::nan(""), std::nan(""), 1000, 4807};
  tol = cohort_tolerance(target(21.6, {}, {}, "none", "ug/d"), e);
  EXPECT_DOUBLE_EQ(tol.low, 16.2);
}

// A cohort protocol runs its population once into the cache and reads the analysis: the tertile
// cut-off equals the type-7 quantile of the observed exposure in the cached subjects.csv, and
// grouping by another intake uses that intake with the same food-frequency error.
TEST(Validation, CohortProtocolReadsItsCohort) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / fmt::format("k2sim_validation_cohort_{}", ::getpid());
  const RemovedAtEnd cleanup{dir};
  fs::create_directories(dir / "protocols");
  std::ofstream(dir / "cohort.toml")
      << "name = \"small\"\nmodel = \"full\"\nduration = \"1 y\"\noutput_interval = \"30 d\"\n"
         "[diet]\npreset = \"netherlands\"\nintake = \"continuous\"\n"
         "[population]\nsize = 40\nseed = 7\nage = { min = \"55 y\", max = \"80 y\" }\n"
         "diet_cv = 0.6\n"
         "[analysis]\nkind = \"cohort\"\nexposure = \"intake_mk_total_ug_per_d\"\n"
         "endpoints = [\"death\"]\nexposure_error_cv = 0.5\n";
  auto protocol = [&](const std::string& statistic) {
    std::ofstream(dir / "protocols" / "T2.toml")
        << "[protocol]\nid = \"T2\"\nrole = \"validation\"\ncomparison = \"replica\"\n"
           "scenario = \"../cohort.toml\"\nfast_size = 30\n[protocol.statistic]\n"
           "kind = \"cohort\"\n"
        << statistic;
    return read_protocol((dir / "protocols" / "T2.toml").string());
  };
  const Protocol p = protocol("measure = \"cutoff\"\ngroup = 1\nunit = \"ug/d\"\n");
  ValidationOptions options;
  options.cache_dir = (dir / "cache").string();
  options.threads = 1;
  const ParameterTable table = ParameterTable::builtin(parameter_module("full"));
  const CohortEstimate e = cohort_estimate(p, table, options);
  EXPECT_EQ(e.subjects, 30u);
  EXPECT_EQ(e.full_subjects, 40u);
  std::vector<fs::path> runs;
  for (const auto& entry : fs::directory_iterator(dir / "cache")) runs.push_back(entry.path());
  ASSERT_EQ(runs.size(), 1u);
  // The quantiles by hand from the cached file.
  std::ifstream in(runs[0] / "subjects.csv");
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> names = split_csv_line(line);
  auto column = [&](const std::string& name) {
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  };
  std::vector<double> observed;
  std::vector<double> k1_observed;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = split_csv_line(line);
    const double obs = std::stod(f[column("exposure_observed")]);
    observed.push_back(obs);
    k1_observed.push_back(std::stod(f[column("intake_k1_ug_per_d")]) * obs /
                          std::stod(f[column("exposure")]));
  }
  ASSERT_EQ(observed.size(), 30u);
  auto type7 = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    const double h = (static_cast<double>(v.size()) - 1.0) * q;
    const auto i = static_cast<std::size_t>(std::floor(h));
    return v[i] + (h - std::floor(h)) * (v[std::min(i + 1, v.size() - 1)] - v[i]);
  };
  EXPECT_NEAR(e.value, type7(observed, 1.0 / 3.0), 1e-9 * e.value);
  // Second protocol on the same run: read from the cache (the file is not rewritten).
  const auto written = fs::last_write_time(runs[0] / "subjects.csv");
  const CohortEstimate k1 = cohort_estimate(
      protocol("measure = \"cutoff\"\ngroup = 2\nexposure = \"intake_k1_ug_per_d\"\n"
               "unit = \"ug/d\"\n"),
      table, options);
  EXPECT_EQ(fs::last_write_time(runs[0] / "subjects.csv"), written);
  EXPECT_NEAR(k1.value, type7(k1_observed, 2.0 / 3.0), 1e-9 * k1.value);
  // Bad cohort statistics and protocols name the rule.
  auto refused = [&](const std::string& statistic, const std::string& rule) {
    try {
      (void)protocol(statistic);
      ADD_FAILURE() << "accepted: " << statistic;
    } catch (const InputError& err) {
      EXPECT_NE(std::string(err.what()).find(rule), std::string::npos) << err.what();
    }
  };
  refused("measure = \"odds_ratio\"\nendpoint = \"death\"\ngroup = 3\n", "severe_aac is an");
  refused("measure = \"hazard_ratio\"\nendpoint = \"death\"\ngroup = 1\n", "against group 1");
  refused("measure = \"hazard\"\nendpoint = \"death\"\ngroup = 3\n", "one of");
  refused("measure = \"cutoff\"\ngroup = 1\noutput = \"x\"\n", "a cohort statistic takes");
  refused("measure = \"hazard_ratio\"\nendpoint = \"chd_death\"\ngroup = 3\nunit = \"1\"\n",
          "one of the [analysis] endpoints");
  refused("measure = \"hazard_ratio\"\nendpoint = \"death\"\ngroup = 4\nunit = \"1\"\n",
          "exposure groups");
  refused("measure = \"cutoff\"\ngroup = 3\nunit = \"ug/d\"\n", "at most 2");
  refused("measure = \"cutoff\"\ngroup = 1\nunit = \"mg/d\"\n", "'ug/d'");
  refused(
      "measure = \"hazard_ratio\"\nendpoint = \"death\"\ngroup = 3\nunit = \"1\"\n"
      "confounded = true\n",
      "has a confounder");
  refused("measure = \"cutoff\"\ngroup = 1\nunit = \"ug/d\"\nexposure = \"dp_ucmgp\"\n",
          "an intake column");
  // Other parameter values are another run: a second folder in the cache, never the first.
  ParameterTable other = table;
  other.set_value(other.index("mgp_cac_effect"), 0.0);
  (void)cohort_estimate(p, other, options);
  std::size_t folders = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir / "cache")) ++folders;
  EXPECT_EQ(folders, 2u);
}

// run_validation on a small data folder: a cohort target runs at its fast size by default and at
// the scenario's size with `full`, where expected-full.csv replaces its expected status.
TEST(Validation, FullRunUsesTheStudySizeAndExpectedFull) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / fmt::format("k2sim_validation_full_{}", ::getpid());
  const RemovedAtEnd cleanup{dir};
  fs::create_directories(dir / "validation" / "protocols");
  fs::copy(fs::path(default_data_dir()) / "parameters", dir / "parameters",
           fs::copy_options::recursive);
  std::ofstream(dir / "validation" / "cohort.toml")
      << "name = \"small\"\nmodel = \"full\"\nduration = \"30 d\"\noutput_interval = \"30 d\"\n"
         "[diet]\npreset = \"netherlands\"\nintake = \"continuous\"\n"
         "[population]\nsize = 24\nseed = 3\ndiet_cv = 0.6\n"
         "[analysis]\nkind = \"cohort\"\nexposure = \"intake_k1_ug_per_d\"\n"
         "endpoints = [\"death\"]\n";
  std::ofstream(dir / "validation" / "protocols" / "T3.toml")
      << "[protocol]\nid = \"T3\"\nrole = \"validation\"\ncomparison = \"replica\"\n"
         "scenario = \"../cohort.toml\"\nfast_size = 12\n[protocol.statistic]\n"
         "kind = \"cohort\"\nmeasure = \"cutoff\"\ngroup = 1\nunit = \"ug/d\"\n";
  // A published cut-off of 10 mg/d of K1: no diet comes near it, so the model fails.
  std::ofstream(dir / "validation" / "targets.csv")
      << "id,quantity,value,low,high,spread_kind,units,population,n,regimen,duration,source,"
         "verified\nT3,K1 tertile cut-off,10000,,,none,ug/d,test,24,,,test,read\n";
  std::ofstream(dir / "validation" / "expected.csv")
      << "id,status,reason,issue\nT3,known-fail,fast,10\n";
  std::ofstream(dir / "validation" / "expected-full.csv")
      << "id,status,reason,issue\nT3,pass,full,10\n";
  ValidationOptions options;
  options.data_dir = dir.string();
  options.threads = 1;
  std::vector<ValidationRow> rows = run_validation(options);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "fail") << rows[0].reason;
  EXPECT_EQ(rows[0].expected, "known-fail");
  EXPECT_EQ(rows[0].subjects, 12u);
  EXPECT_DOUBLE_EQ(rows[0].tolerance.low, 7500.0);  // +- 25% of a point estimate
  options.full = true;
  rows = run_validation(options);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].status, "fail");
  EXPECT_EQ(rows[0].expected, "pass");  // from expected-full.csv
  EXPECT_EQ(rows[0].reason, "full");
  EXPECT_EQ(rows[0].subjects, 24u);
  // An id of expected-full.csv that expected.csv lacks is refused before anything runs.
  std::ofstream(dir / "validation" / "expected-full.csv")
      << "id,status,reason,issue\nT9,pass,full,10\n";
  EXPECT_THROW((void)run_validation(options), InputError);
}

}  // namespace
}  // namespace k2sim
