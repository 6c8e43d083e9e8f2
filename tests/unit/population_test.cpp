// Populations, cohorts and their statistics (docs/cohorts.md): each statistic against a figure
// computed by hand or by R's survival package, the event draws against the model's own outcome
// probabilities, and the population's intake spread against Prospect-EPIC.
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "k2sim/diet/diet.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/population/cohort.hpp"
#include "k2sim/population/statistics.hpp"

namespace k2sim {
namespace {

namespace fs = std::filesystem;

TEST(Statistics, RiskAndOddsRatiosMatchTheirFormulas) {
  // 10/100 against 20/100: RR 0.5, SE of log RR sqrt(1/10 - 1/100 + 1/20 - 1/100) = sqrt(0.13).
  const Estimate rr = risk_ratio(10, 100, 20, 100);
  EXPECT_NEAR(rr.value, 0.5, 1e-12);
  EXPECT_NEAR(rr.low, 0.5 * std::exp(-1.959963984540054 * std::sqrt(0.13)), 1e-9);
  EXPECT_NEAR(rr.high, 0.5 * std::exp(1.959963984540054 * std::sqrt(0.13)), 1e-9);
  // OR (10/90) / (20/80) = 0.4444.., Woolf SE sqrt(1/10 + 1/90 + 1/20 + 1/80).
  const Estimate odds = odds_ratio(10, 100, 20, 100);
  EXPECT_NEAR(odds.value, (10.0 / 90.0) / (20.0 / 80.0), 1e-12);
  EXPECT_NEAR(std::log(odds.high / odds.value),
              1.959963984540054 * std::sqrt(0.1 + 1.0 / 90 + 0.05 + 1.0 / 80), 1e-9);
  EXPECT_TRUE(std::isnan(risk_ratio(0, 100, 20, 100).value));
  // E-value (VanderWeele & Ding 2017): RR 0.43 -> 1/0.43 + sqrt(1/0.43 (1/0.43 - 1)) = 4.081.
  EXPECT_NEAR(e_value(0.43), 4.0814, 1e-4);
  EXPECT_NEAR(e_value(2.0), 2.0 + std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(e_value(1.0), 1.0, 1e-12);
  // Welch: means 2 and 1 of {1,2,3} and {0,1,2}: SE sqrt(1/3 + 1/3).
  const Estimate md = mean_difference({1, 2, 3}, {0, 1, 2});
  EXPECT_NEAR(md.value, 1.0, 1e-12);
  EXPECT_NEAR(md.high - md.value, 1.959963984540054 * std::sqrt(2.0 / 3.0), 1e-9);
}

TEST(Statistics, TertilesAreType7QuantileGroups) {
  const QuantileGroups q = quantile_groups({9, 1, 8, 2, 7, 3, 6, 4, 5}, 3);
  ASSERT_EQ(q.cutoffs.size(), 2u);
  EXPECT_NEAR(q.cutoffs[0], 1.0 + 8.0 / 3.0, 1e-12);  // R: quantile(1:9, 1/3)
  EXPECT_NEAR(q.cutoffs[1], 1.0 + 16.0 / 3.0, 1e-12);
  const std::vector<int> expected = {2, 0, 2, 0, 2, 0, 1, 1, 1};
  EXPECT_EQ(q.group, expected);
}

/// Output of a shell command and its exit status.
std::pair<int, std::string> shell(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return {-1, out};
  std::array<char, 4096> buf{};
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Cox with Efron ties against R's survival::coxph (Debian r-cran-survival, installed by
// scripts/install-deps) on the same data: tied times, censoring, a binary and a continuous
// covariate.
TEST(Statistics, CoxEfronMatchesRSurvival) {
  std::vector<double> time;
  std::vector<int> event;
  std::vector<std::vector<double>> x;
  std::uint64_t s = 12345;
  auto u = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(s >> 11) * 0x1.0p-53;
  };
  for (int i = 0; i < 300; ++i) {
    const double g = u() < 0.5 ? 1.0 : 0.0;
    const double age = 55.0 + 30.0 * u();
    const double rate = 0.05 * std::exp(-0.7 * g + 0.04 * (age - 70.0));
    const double t = -std::log(u()) / rate;
    const double c = 10.0 * u();
    // Times rounded to whole years: many ties.
    time.push_back(std::ceil(std::min(t, c)));
    event.push_back(t <= c ? 1 : 0);
    x.push_back({g, age});
  }
  const CoxFit fit = cox_efron(time, event, x);
  ASSERT_TRUE(fit.converged);
  const fs::path dir = fs::temp_directory_path() / fmt::format("k2sim_cox_{}", ::getpid());
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "d.csv");
    f << "time,event,g,age\n";
    for (std::size_t i = 0; i < time.size(); ++i) {
      f << fmt::format("{:.17g},{},{:.17g},{:.17g}\n", time[i], event[i], x[i][0], x[i][1]);
    }
  }
  std::ofstream(dir / "fit.R")
      << "library(survival)\nd <- read.csv('" << (dir / "d.csv").string() << "')\n"
      << "f <- coxph(Surv(time, event) ~ g + age, data = d, ties = 'efron',\n"
      << "           control = coxph.control(eps = 1e-10, iter.max = 50))\n"
      << "cat(sprintf('%.12g', c(coef(f), sqrt(diag(vcov(f))), f$loglik[2])), sep = '\\n')\n";
  const auto [code, out] = shell("Rscript " + (dir / "fit.R").string());
  fs::remove_all(dir);
  ASSERT_EQ(code, 0) << "Rscript with survival is needed (scripts/install-deps): " << out;
  std::istringstream in(out);
  std::vector<double> r;
  double v = 0.0;
  while (in >> v) r.push_back(v);
  ASSERT_EQ(r.size(), 5u) << out;
  EXPECT_NEAR(fit.beta[0], r[0], 1e-6);
  EXPECT_NEAR(fit.beta[1], r[1], 1e-6);
  EXPECT_NEAR(fit.se[0], r[2], 1e-6);
  EXPECT_NEAR(fit.se[1], r[3], 1e-6);
  EXPECT_NEAR(fit.log_likelihood, r[4], 1e-6);
}

TEST(Population, DistributionsByInverseCdf) {
  Distribution n;
  n.kind = Distribution::Kind::kNormal;
  n.a = 67.5;
  n.b = 7.8;
  EXPECT_NEAR(n.at(0.5), 67.5, 1e-9);
  EXPECT_NEAR(n.at(0.975), 67.5 + 1.959963984540054 * 7.8, 1e-6);
  n.min = 55.0;
  n.max = 95.0;
  EXPECT_GE(n.at(1e-9), 55.0);
  EXPECT_NEAR(n.at(0.0), 55.0, 1e-6);
  Distribution l;
  l.kind = Distribution::Kind::kLogNormal;
  l.a = 73.0;
  l.b = 0.16;
  EXPECT_NEAR(l.at(0.5), 73.0, 1e-9);
  const double sigma = std::sqrt(std::log1p(0.16 * 0.16));
  EXPECT_NEAR(l.at(0.8413447460685429), 73.0 * std::exp(sigma), 1e-6);
  Distribution un;
  un.kind = Distribution::Kind::kUniform;
  un.a = 0.0;
  un.b = 100.0;
  EXPECT_NEAR(un.at(0.25), 25.0, 1e-12);
}

// Prospect-EPIC (CO12, CO13; 16,057 Dutch women): menaquinones 29.1 +- 12.8 ug/d, phylloquinone
// 211.7 +- 100.3 ug/d. The Rotterdam population's diet spread must give SDs within a factor 1.5
// (VALIDATION.md "SD"); the means are the preset's (tests/unit/diet_test.cpp, within 15%).
TEST(Population, IntakeSpreadMatchesProspectEpic) {
  const Scenario sc = read_scenario(std::string(K2SIM_SOURCE_DIR) + "/scenarios/rotterdam.toml");
  const PreparedRun run = prepare_run(sc);
  const int n = 2000;
  double s_mk = 0, ss_mk = 0, s_k1 = 0, ss_k1 = 0;
  for (int i = 0; i < n; ++i) {
    const SubjectDraw d = draw_subject(run, static_cast<std::size_t>(i));
    const DietIntake in = diet_intake(d.scenario.diet, FoodTable::builtin());
    const double mk = intake_of(in.per_day, "mk_total");
    const double k1 = intake_of(in.per_day, "k1");
    s_mk += mk;
    ss_mk += mk * mk;
    s_k1 += k1;
    ss_k1 += k1 * k1;
  }
  const double m_mk = s_mk / n;
  const double sd_mk = std::sqrt(ss_mk / n - m_mk * m_mk);
  const double m_k1 = s_k1 / n;
  const double sd_k1 = std::sqrt(ss_k1 / n - m_k1 * m_k1);
  EXPECT_NEAR(m_mk, 29.1, 0.15 * 29.1);
  EXPECT_NEAR(m_k1, 211.7, 0.15 * 211.7);
  EXPECT_GT(sd_mk, 12.8 / 1.5);
  EXPECT_LT(sd_mk, 12.8 * 1.5);
  EXPECT_GT(sd_k1, 100.3 / 1.5);
  EXPECT_LT(sd_k1, 100.3 * 1.5);
  // Subjects are drawn from (seed, id) alone.
  const SubjectDraw a = draw_subject(run, 17);
  const SubjectDraw b = draw_subject(run, 17);
  EXPECT_EQ(a.age_y, b.age_y);
  EXPECT_EQ(a.e_chd, b.e_chd);
  EXPECT_NE(a.age_y, draw_subject(run, 18).age_y);
  EXPECT_GE(a.age_y, 55.0);
}

// The Rotterdam tertile cut-offs of menaquinone intake (CO08 21.6 and CO09 32.7 ug/d, recalled
// from Geleijnse 2004, not read): the population's observed exposure (with its food-frequency
// error) gives cut-offs within the +-25% of a point estimate (VALIDATION.md).
TEST(Population, RotterdamTertileCutoffsNearThePublished) {
  const Scenario sc = read_scenario(std::string(K2SIM_SOURCE_DIR) + "/scenarios/rotterdam.toml");
  const PreparedRun run = prepare_run(sc);
  std::vector<double> x;
  for (std::size_t i = 0; i < 3000; ++i) {
    const SubjectDraw d = draw_subject(run, i);
    const DietIntake in = diet_intake(d.scenario.diet, FoodTable::builtin());
    x.push_back(intake_of(in.per_day, "mk_total") * d.exposure_error);
  }
  const QuantileGroups q = quantile_groups(x, 3);
  EXPECT_NEAR(q.cutoffs[0], 21.6, 0.25 * 21.6);
  EXPECT_NEAR(q.cutoffs[1], 32.7, 0.25 * 32.7);
}

// The events drawn per subject reproduce, over many draws, model full's own multi-state outcome
// probabilities (eq. 65) for the same subject: an independent check of the event logic.
TEST(Population, EventDrawsReproduceTheModelsOutcomeProbabilities) {
  const Scenario sc = parse_scenario(R"(
name = "events"
model = "full"
duration = "7 y"
output_interval = "30 d"
[subject]
age = "80 y"
sex = "male"
risk_factors = { smoker = true, diabetes = true }
[diet]
preset = "netherlands"
intake = "continuous"
)",
                                     "events.toml");
  const RunResult r = run_scenario(sc);
  ASSERT_TRUE(r.ok());
  const ArmResult& a = r.arms.front();
  auto column = [&](const std::string& name) {
    std::vector<double> v;
    std::size_t k = 0;
    while (a.outputs[k].name != name) ++k;
    for (std::size_t i = 0; i < a.time_h.size(); ++i)
      v.push_back(a.values[i * a.outputs.size() + k]);
    return v;
  };
  const std::vector<double> he = column("chd_cum_hazard");
  const std::vector<double> ho = column("other_death_cum_hazard");
  const double pf = 0.4;  // chd_fatal_fraction in data/parameters/vascular.csv
  std::uint64_t s = 99;
  auto u = [&] {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (static_cast<double>(s >> 11) + 0.5) * 0x1.0p-53;
  };
  const int n = 200000;
  double ev = 0, cd = 0, de = 0;
  for (int i = 0; i < n; ++i) {
    const SubjectEvents e =
        draw_events(a.time_h, he, ho, 1.0, -std::log(u()), -std::log(u()), u(), pf);
    ev += e.chd_event;
    cd += e.chd_death;
    de += e.death;
  }
  const double p_ev = column("chd_event_cum_prob").back();
  const double p_cd = column("chd_death_cum_prob").back();
  const double p_de = column("death_cum_prob").back();
  auto tol = [&](double p) { return 4.0 * std::sqrt(p * (1.0 - p) / n) + 2e-3 * p; };
  EXPECT_GT(p_ev, 0.05);
  EXPECT_NEAR(ev / n, p_ev, tol(p_ev));
  EXPECT_NEAR(cd / n, p_cd, tol(p_cd));
  EXPECT_NEAR(de / n, p_de, tol(p_de));
}

// [diet] intake = "continuous" gives the slow outputs of meal-by-meal input: model full, 1 y,
// the netherlands preset, both starting at the diet's steady state.
TEST(Population, ContinuousIntakeMatchesMealsOnSlowOutputs) {
  const std::string base = R"(
name = "c"
model = "full"
duration = "1 y"
output_interval = "30 d"
[subject]
age = "70 y"
[diet]
preset = "netherlands"
)";
  const RunResult meals = run_scenario(parse_scenario(base, "meals.toml"));
  const RunResult cont = run_scenario(parse_scenario(base + "intake = \"continuous\"\n", "c.toml"));
  ASSERT_TRUE(meals.ok());
  ASSERT_TRUE(cont.ok());
  const ArmResult& m = meals.arms.front();
  const ArmResult& c = cont.arms.front();
  EXPECT_LT(c.solve.steps * 20, m.solve.steps);
  for (const char* name : {"dp_ucmgp_pmol_per_L", "cac_agatston", "death_cum_prob", "ucoc_percent",
                           "mgp_carboxylated_fraction"}) {
    std::size_t k = 0;
    while (m.outputs[k].name != name) ++k;
    EXPECT_NEAR(c.stats[k].end, m.stats[k].end, 1e-3 * std::abs(m.stats[k].end)) << name;
    EXPECT_NEAR(c.stats[k].start, m.stats[k].start, 1e-3 * std::abs(m.stats[k].start)) << name;
  }
}

// VKA users ([population] vka) take warfarin once a day, titrated to INR 2.5 for their genotype
// and diet: both genotypes reach the target on the same diet, and VKORC1 AA needs less warfarin
// than GG (about half, as in the IWPC dosing algorithm, NEJM 2009;360:753).
TEST(Population, VkaUsersAreTitratedToTheirInr) {
  const Scenario sc = parse_scenario(R"(
name = "vka"
model = "vitk"
duration = "2 d"
output_interval = "1 d"
[diet]
preset = "netherlands"
intake = "continuous"
[population]
size = 50
seed = 1
vka = 1.0
vkorc1 = { GG = 0.5, AA = 0.5 }
)",
                                     "vka.toml");
  const PreparedRun run = prepare_run(sc);
  std::map<std::string, double> amount_mg;
  for (std::size_t i = 0; i < 50 && amount_mg.size() < 2; ++i) {
    const SubjectDraw d = draw_subject(run, i);
    ASSERT_TRUE(d.vka);
    const std::string g = d.scenario.subject.vkorc1.value_or("");
    if (amount_mg.count(g)) continue;
    const RunResult r = run_scenario(d.scenario, d.table, run.options);
    ASSERT_TRUE(r.ok()) << r.arms[0].solve.message;
    ASSERT_EQ(r.arms[0].titrations.size(), 1u);
    const Titration& t = r.arms[0].titrations[0];
    EXPECT_NEAR(t.achieved_inr, 2.5, 0.01) << g;
    // nmol -> mg (warfarin 308.33 g/mol)
    amount_mg[g] = t.amount * 308.33e-6;
  }
  ASSERT_EQ(amount_mg.size(), 2u);
  EXPECT_LT(amount_mg["AA"], 0.75 * amount_mg["GG"])
      << "AA " << amount_mg["AA"] << " mg, GG " << amount_mg["GG"] << " mg";
  EXPECT_GT(amount_mg["AA"], 0.25 * amount_mg["GG"]);
}

// A steady-state regimen that is a constant input (atorvastatin 20 mg/d as rate) starts, with a
// continuous diet, from the equilibrium with it: the same state as the periodic steady state
// that the meals' path finds; without steady_state it starts from 0.
TEST(Population, ConstantSteadyStateInputStartsAtItsEquilibrium) {
  const std::string base = R"(
name = "s"
model = "full"
duration = "2 d"
output_interval = "1 d"
[diet]
preset = "netherlands"
)";
  const std::string statin = R"(
[[dose]]
substance = "atorvastatin"
amount = "20 mg"
every = "1 d"
rate = "0.8333333333333333 mg/h"
)";
  auto start_of = [](const RunResult& r, const std::string& name) {
    const ArmResult& a = r.arms.front();
    std::size_t k = 0;
    while (a.outputs[k].name != name) ++k;
    return a.stats[k].start;
  };
  const RunResult cont = run_scenario(
      parse_scenario(base + "intake = \"continuous\"\n" + statin + "steady_state = true\n", "c"));
  const RunResult periodic =
      run_scenario(parse_scenario(base + statin + "steady_state = true\n", "m"));
  const RunResult cold =
      run_scenario(parse_scenario(base + "intake = \"continuous\"\n" + statin, "z"));
  ASSERT_TRUE(cont.ok());
  ASSERT_TRUE(periodic.ok());
  ASSERT_TRUE(cold.ok());
  const double eq = start_of(cont, "plasma_atorvastatin_nmol_per_L");
  EXPECT_GT(eq, 1.0);
  EXPECT_NEAR(eq, start_of(periodic, "plasma_atorvastatin_nmol_per_L"), 1e-3 * eq);
  EXPECT_EQ(start_of(cold, "plasma_atorvastatin_nmol_per_L"), 0.0);
}

}  // namespace
}  // namespace k2sim
