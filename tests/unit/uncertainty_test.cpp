// Uncertainty: sampling, global sensitivity (Morris, Sobol) against exact values, local
// sensitivities against the closed-form derivatives of the one-compartment model, ensembles
// reproducible across thread counts, and the hypotheses switch.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <random>

#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/params/hypotheses.hpp"
#include "k2sim/uncertainty/analysis.hpp"
#include "k2sim/uncertainty/gsa.hpp"
#include "k2sim/uncertainty/sampling.hpp"

namespace k2sim {
namespace {

TEST(Sampling, NormalQuantileMatchesKnownValues) {
  // Reference values: Wichura (1988) AS241 test values / R qnorm.
  EXPECT_NEAR(normal_quantile(0.975), 1.959963984540054, 1e-14);
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-15);
  EXPECT_NEAR(normal_quantile(0.025), -1.959963984540054, 1e-14);
  EXPECT_NEAR(normal_quantile(1e-10), -6.361340902404056, 1e-11);
  EXPECT_NEAR(normal_quantile(0.9), 1.2815515655446004, 1e-14);
  for (double p : {1e-300, 1e-20, 0.001, 0.3, 0.77, 0.999999}) {
    const double x = normal_quantile(p);
    EXPECT_NEAR(0.5 * std::erfc(-x / std::sqrt(2.0)) / p, 1.0, 1e-12) << p;
  }
  EXPECT_TRUE(std::isnan(normal_quantile(1.5)));
}

TEST(Sampling, ProfileSpreadHasTheIntervalAsItsQuantiles) {
  ParameterSpread s;
  s.spread = Spread::kProfile;
  s.value = 2.0;
  s.lower = 1.0;  // asymmetric profile interval
  s.upper = 8.0;
  s.bound_lower = 1e-6;
  s.bound_upper = 1e6;
  s.log_scale = true;
  // Truncation at bounds this far out moves the quantiles by less than 1e-12.
  EXPECT_NEAR(s.quantile(0.5), 2.0, 1e-9);
  EXPECT_NEAR(s.quantile(0.025), 1.0, 1e-9);
  EXPECT_NEAR(s.quantile(0.975), 8.0, 1e-8);
  // Truncated at a bound: every draw stays inside.
  s.bound_upper = 4.0;
  for (double u : {0.6, 0.9, 0.999999}) EXPECT_LE(s.quantile(u), 4.0);
}

TEST(Sampling, TriangularDrawsHaveTheExactMean) {
  ParameterSpread s;
  s.spread = Spread::kTriangular;
  s.value = 0.3;
  s.lower = 0.0;
  s.upper = 1.0;
  std::mt19937_64 gen(7);
  double sum = 0.0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) sum += s.quantile((static_cast<double>(gen() >> 11) + 0.5) * 0x1p-53);
  // Mean (a + b + c) / 3; the standard error of the mean is 0.21 / sqrt(n) = 4.7e-4.
  EXPECT_NEAR(sum / n, (0.0 + 1.0 + 0.3) / 3.0, 2.5e-3);
}

TEST(Sampling, SpreadsFollowProvenance) {
  const ParameterTable t = ParameterTable::builtin("vitk");
  const auto spreads = parameter_spreads(t, {"w_dhp"});
  auto of = [&](const std::string& n) { return spreads[t.index(n)]; };
  EXPECT_EQ(of("ka_k1").spread, Spread::kProfile);  // calibrated with a profile interval
  EXPECT_DOUBLE_EQ(of("ka_k1").lower, *t.at("ka_k1").ci_low);
  EXPECT_EQ(of("ka_mk7").spread, Spread::kFixed);              // calibrated, no interval
  EXPECT_EQ(of("k_deg_ii").spread, Spread::kFixed);            // literature
  EXPECT_EQ(of("w_dhp").spread, Spread::kFixed);               // held
  EXPECT_EQ(of("hill_liver").spread, Spread::kLogTriangular);  // assumed, 0.3-4
  const auto calibrated = parameter_spreads(t, {}, VarySet::kCalibrated);
  EXPECT_EQ(calibrated[t.index("hill_liver")].spread, Spread::kFixed);
  EXPECT_EQ(calibrated[t.index("ka_k1")].spread, Spread::kProfile);
  const auto assumed = parameter_spreads(t, {}, VarySet::kAssumed);
  EXPECT_EQ(assumed[t.index("ka_k1")].spread, Spread::kFixed);
  EXPECT_EQ(assumed[t.index("w_dhp")].spread, Spread::kTriangular);
  const ParameterTable a = draw_parameters(t, spreads, member_seed(5, 3));
  const ParameterTable b = draw_parameters(t, spreads, member_seed(5, 3));
  const ParameterTable c = draw_parameters(t, spreads, member_seed(5, 4));
  EXPECT_EQ(a.at("ka_k1").value, b.at("ka_k1").value);
  EXPECT_NE(a.at("ka_k1").value, c.at("ka_k1").value);
  EXPECT_EQ(a.at("k_deg_ii").value, t.at("k_deg_ii").value);
}

TEST(Gsa, MorrisOfALinearFunctionIsExact) {
  // f(u) = sum c_i u_i: every elementary effect is c_i, so mu = c_i, mu* = |c_i|, sigma = 0.
  const std::vector<double> c = {3.0, -2.0, 0.0, 0.5};
  const MorrisDesign d = morris_design(c.size(), 12, 4, 9);
  std::vector<double> y;
  for (const auto& u : d.points) {
    double f = 0.0;
    for (std::size_t i = 0; i < c.size(); ++i) {
      EXPECT_GE(u[i], 0.0);
      EXPECT_LE(u[i], 1.0 + 1e-12);
      f += c[i] * u[i];
    }
    y.push_back(f);
  }
  const MorrisResult r = morris_analyze(d, y);
  for (std::size_t i = 0; i < c.size(); ++i) {
    EXPECT_NEAR(r.mu[i], c[i], 1e-12);
    EXPECT_NEAR(r.mu_star[i], std::abs(c[i]), 1e-12);
    EXPECT_NEAR(r.sigma[i], 0.0, 1e-12);
    EXPECT_EQ(r.effects[i], 12U);
  }
  // A failed point drops the two steps next to it, nothing else.
  y[1] = std::nan("");
  const MorrisResult r2 = morris_analyze(d, y);
  std::size_t used = 0;
  for (std::size_t e : r2.effects) used += e;
  EXPECT_EQ(used, 12U * c.size() - 2U);
}

double ishigami(const std::vector<double>& u) {
  const double pi = std::numbers::pi;
  const double x1 = -pi + 2.0 * pi * u[0];
  const double x2 = -pi + 2.0 * pi * u[1];
  const double x3 = -pi + 2.0 * pi * u[2];
  return std::sin(x1) + 7.0 * std::sin(x2) * std::sin(x2) + 0.1 * std::pow(x3, 4) * std::sin(x1);
}

TEST(Gsa, SobolIndicesOfIshigamiMatchTheExactValues) {
  // Exact indices for a = 7, b = 0.1 (Ishigami & Homma 1990; Saltelli et al. 2008 p. 179):
  // V = a^2/8 + b pi^4/5 + b^2 pi^8/18 + 1/2, V1 = (1 + b pi^4/5)^2 / 2, V2 = a^2/8,
  // V13 = b^2 pi^8 (1/18 - 1/50).
  const double pi = std::numbers::pi;
  const double a = 7.0;
  const double b = 0.1;
  const double v = a * a / 8.0 + b * std::pow(pi, 4) / 5.0 + b * b * std::pow(pi, 8) / 18.0 + 0.5;
  const double v1 = 0.5 * std::pow(1.0 + b * std::pow(pi, 4) / 5.0, 2);
  const double v2 = a * a / 8.0;
  const double v13 = b * b * std::pow(pi, 8) * (1.0 / 18.0 - 1.0 / 50.0);
  const std::vector<double> s1 = {v1 / v, v2 / v, 0.0};
  const std::vector<double> st = {(v1 + v13) / v, v2 / v, v13 / v};
  const SobolDesign d = sobol_design(3, 50000, 11);
  std::vector<double> y;
  for (const auto& u : d.points) y.push_back(ishigami(u));
  const SobolResult r = sobol_analyze(d, y, 100, 3);
  EXPECT_NEAR(r.variance, v, 0.03 * v);
  for (std::size_t i = 0; i < 3; ++i) {
    // Monte Carlo error of these estimators at n = 50000 is below 0.01.
    EXPECT_NEAR(r.first[i], s1[i], 0.02) << i;
    EXPECT_NEAR(r.total[i], st[i], 0.02) << i;
    EXPECT_LE(r.first_low[i], r.first[i]);
    EXPECT_GE(r.first_high[i], r.first[i]);
  }
}

// One oral dose of MK-7 in the one-compartment model: C(t) = F D ka / (V (ka - k)) (e^-kt -
// e^-ka t), whose normalized sensitivities are known in closed form.
constexpr const char* kPkScenario = R"(
name = "pk"
model = "pk-1cmt"
initialize = "reference"
duration = "48 h"
output_interval = "1 h"
[[dose]]
substance = "MK-7"
amount = "1000 ug"
)";

TEST(LocalSensitivity, MatchesTheClosedFormOfTheOneCompartmentModel) {
  const Scenario sc = parse_scenario(kPkScenario, "pk.toml");
  const PreparedRun run = prepare_run(sc, {{"solver.rtol", "1e-11"}, {"solver.atol", "1e-14"}});
  const RunResult central = run_scenario(run.scenario, run.table, run.options);
  const std::vector<Quantity> qs =
      select_quantities(central, {"plasma_mk7_nmol_per_L"}, {6.0, 24.0});
  ASSERT_EQ(qs.size(), 2U);
  SensitivityOptions so;
  so.threads = 2;
  so.relative_step = 1e-4;
  const SensitivityResult r = local_sensitivities(run, central, qs, so);
  ASSERT_TRUE(r.failures.empty());
  const double ka = run.table.at("ka_mk7").value;
  const double k = run.table.at("k_mk7_elim").value;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    const double t = qs[i].time_h;
    const double g = std::exp(-k * t) - std::exp(-ka * t);
    const double s_ka = ka * (1.0 / ka - 1.0 / (ka - k) + t * std::exp(-ka * t) / g);
    const double s_k = k * (1.0 / (ka - k) - t * std::exp(-k * t) / g);
    for (const Sensitivity& s : r.by_quantity[i]) {
      const double exact = s.parameter == "ka_mk7"       ? s_ka
                           : s.parameter == "k_mk7_elim" ? s_k
                           : s.parameter == "v_mk7"      ? -1.0
                                                         : 1.0;  // f_mk7 (one-sided: linear)
      EXPECT_NEAR(s.normalized, exact, 1e-4 * std::max(1.0, std::abs(exact)))
          << s.parameter << " at " << t << " h";
    }
  }
}

TEST(LocalSensitivity, ConvergesInTheStepOnTheDefaultScenario) {
  // The example scenario (MK-7 180 ug/d for 90 days on a K1 background at steady state): the
  // sensitivities at steps 1e-3 and 1e-4 agree to 1e-4 relative, so neither truncation nor
  // solver noise shows at the default step (measured: 3e-7 for f_abs_k1).
  const Scenario sc = read_scenario(std::string(K2SIM_SOURCE_DIR) + "/scenarios/default.toml");
  const PreparedRun run = prepare_run(sc);
  const RunResult central = run_scenario(run.scenario, run.table, run.options);
  const std::vector<Quantity> qs = select_quantities(central, {"dp_ucmgp_pmol_per_L"}, {});
  SensitivityOptions so;
  so.parameters = {"f_abs_k1", "ec50_mgp"};
  so.threads = 2;
  so.relative_step = 1e-3;
  const SensitivityResult coarse = local_sensitivities(run, central, qs, so);
  so.relative_step = 1e-4;
  const SensitivityResult fine = local_sensitivities(run, central, qs, so);
  for (std::size_t j = 0; j < 2; ++j) {
    const double a = coarse.by_quantity[0][j].normalized;
    const double b = fine.by_quantity[0][j].normalized;
    EXPECT_GT(std::abs(a), 0.5) << so.parameters[j];  // both matter (measured -0.83 and 1.12)
    EXPECT_NEAR(a, b, 1e-4 * std::abs(b)) << so.parameters[j];
  }
}

TEST(Ensemble, IsTheSameForAnyThreadCountAndSeeded) {
  const Scenario sc = parse_scenario(kPkScenario, "pk.toml");
  const PreparedRun run = prepare_run(sc);
  auto bands = [&](unsigned threads, std::uint64_t seed) {
    RunResult r = run_scenario(run.scenario, run.table, run.options);
    EnsembleOptions eo;
    eo.members = 24;
    eo.seed = seed;
    eo.threads = threads;
    add_ensemble(run, eo, r);
    return r;
  };
  const RunResult one = bands(1, 42);
  const RunResult three = bands(3, 42);
  const RunResult other = bands(2, 43);
  ASSERT_TRUE(one.arms[0].bands);
  const ArmBands& b1 = *one.arms[0].bands;
  EXPECT_EQ(b1.members_ok, 24U);
  EXPECT_EQ(b1.p05, three.arms[0].bands->p05);
  EXPECT_EQ(b1.p95, three.arms[0].bands->p95);
  EXPECT_NE(b1.p95, other.arms[0].bands->p95);
  // v_mk7 and f_mk7 (assumed) vary, so the concentration has a band that holds its median.
  const std::size_t n_out = one.arms[0].outputs.size();
  const std::size_t row = 24 * n_out;  // 24 h, output 0 (plasma MK-7)
  EXPECT_LT(b1.p05[row], b1.p50[row]);
  EXPECT_LT(b1.p50[row], b1.p95[row]);
  ASSERT_TRUE(one.uncertainty);
  EXPECT_EQ(one.uncertainty->varied.size(), 2U);
  const nlohmann::json j = summary_json(run.scenario, one);
  EXPECT_EQ(j["uncertainty"]["members"], 24);
  EXPECT_TRUE(
      j["arms"]["main"]["outputs"]["plasma_mk7_nmol_per_L"]["interval"]["end"].contains("p95"));
  EnsembleOptions too_few;
  too_few.members = 1;
  EXPECT_THROW(add_ensemble(run, too_few, const_cast<RunResult&>(one)), OptionError);
}

TEST(Hypotheses, AreNeutralUntilSwitchedOn) {
  const std::string base = R"(
name = "h"
model = "vitk"
duration = "1 d"
)";
  const PreparedRun off = prepare_run(parse_scenario(base, "h.toml"));
  for (const Hypothesis& h : hypotheses()) {
    if (h.parameter.rfind("diet.", 0) == 0) continue;
    if (h.parameter == "mg_effect_strength" || h.parameter == "oc_bmd_effect") continue;
    EXPECT_EQ(off.table.at(h.parameter).value, h.neutral) << h.name;
  }
  EXPECT_NE(std::find(off.held.begin(), off.held.end(), "statin_ggpp_effect"), off.held.end());
  const PreparedRun on = prepare_run(parse_scenario(base + R"(
[hypotheses]
statin_ggpp = true
dhp_displacement = 0.5
pasture_k2 = true
)",
                                                    "h.toml"));
  EXPECT_DOUBLE_EQ(on.table.at("statin_ggpp_effect").value, hypothesis("statin_ggpp").strength);
  EXPECT_DOUBLE_EQ(on.table.at("dhp_ubiad1_competition").value, 0.5);
  EXPECT_DOUBLE_EQ(on.scenario.diet.pasture_factor(), hypothesis("pasture_k2").strength);
  EXPECT_EQ(std::find(on.held.begin(), on.held.end(), "statin_ggpp_effect"), on.held.end());
  // The summary says which were on.
  const nlohmann::json j = summary_json(on.scenario, RunResult{});
  EXPECT_EQ(j["hypotheses"]["statin_ggpp"]["on"], true);
  EXPECT_EQ(j["hypotheses"]["osteocalcin_bone"]["on"], false);
  // Errors: an unknown switch (with the nearest name), a strength outside the bounds, and a
  // switch whose parameter the model has not.
  try {
    (void)parse_scenario(base + "[hypotheses]\nstatin_gpp = true\n", "h.toml");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("statin_ggpp"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("h.toml:6"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      (void)prepare_run(parse_scenario(base + "[hypotheses]\nstatin_ggpp = 0.9\n", "h.toml")),
      InputError);
  const std::string calcium = R"(
name = "h"
model = "calcium-bone"
duration = "1 d"
[hypotheses]
statin_ggpp = true
)";
  EXPECT_THROW((void)prepare_run(parse_scenario(calcium, "h.toml")), InputError);
  EXPECT_THROW((void)parse_scenario(base + "[hypotheses]\nstatin_ggpp = \"x\"\n", "h.toml"),
               InputError);
}

TEST(Hypotheses, StatinSwitchLowersTissueMk4) {
  // With atorvastatin 40 mg daily, the statin hypothesis on lowers the K1 -> MK-4 conversion, so
  // plasma MK-4 from K1 falls; off, atorvastatin changes nothing.
  const std::string sc = R"(
name = "statin"
model = "vitk"
duration = "60 d"
output_interval = "60 d"
[[dose]]
substance = "K1"
amount = "100 ug"
every = "1 d"
steady_state = true
[[dose]]
substance = "atorvastatin"
amount = "40 mg"
every = "1 d"
)";
  auto mk4 = [&](const std::string& text) {
    const PreparedRun p = prepare_run(parse_scenario(text, "s.toml"));
    const RunResult r = run_scenario(p.scenario, p.table, p.options);
    EXPECT_TRUE(r.ok());
    const ArmResult& a = r.arms[0];
    std::size_t k = 0;
    while (a.outputs[k].name != "plasma_mk4_nmol_per_L") ++k;
    return std::pair{a.stats[k].start, a.stats[k].end};
  };
  const auto [off_start, off_end] = mk4(sc);
  const auto [on_start, on_end] = mk4(sc + "[hypotheses]\nstatin_ggpp = true\n");
  EXPECT_NEAR(off_end / off_start, 1.0, 0.01);
  EXPECT_LT(on_end / on_start, 0.97);
}

}  // namespace
}  // namespace k2sim
