// Model full (docs/model.md eq. 59-66): the natural history of coronary calcium, the pace of its
// drivers, the MESA hazard and the bookkeeping of the outcome probabilities.
#include <cmath>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "engine/sparsity.hpp"
#include "k2sim/engine/simulation.hpp"
#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"
#include "model/vascular/vascular.hpp"

namespace k2sim {
namespace {

using internal::Vascular;

const ParameterTable& vascular_table() {
  static const ParameterTable t = ParameterTable::builtin("vascular");
  return t;
}

double output_at(const ArmResult& a, const std::string& name, std::size_t i) {
  for (std::size_t k = 0; k < a.outputs.size(); ++k) {
    if (a.outputs[k].name == name) return a.values[i * a.outputs.size() + k];
  }
  throw std::runtime_error("no output " + name);
}

TEST(Vascular, PercentileOfTheQuantileIsTheQuantile) {
  const Vascular v(vascular_table());
  for (bool female : {false, true}) {
    for (double age : {45.0, 60.0, 80.0}) {
      const double p0 = 1.0 - v.cac_prob_positive(age, female);
      for (double q : {0.3, 0.6, 0.9, 0.99}) {
        if (q <= p0) {
          EXPECT_EQ(v.cac_at(q, age, female), 0.0);
          continue;
        }
        const double cac = v.cac_at(q, age, female);
        EXPECT_GT(cac, 0.0);
        EXPECT_NEAR(v.cac_percentile_of(cac, age, female), q, 1e-7) << age << " " << q;
      }
    }
  }
}

TEST(Vascular, ZeroInflatedDistributionMatchesItsDefinition) {
  // The median of those with CAC > 0 is exp(mu) (eq. 60): the percentile 1 - P / 2.
  const Vascular v(vascular_table());
  const double p = v.cac_prob_positive(70.0, false);
  const double mu = v.param(Vascular::kCacLogMedianMale) + v.param(Vascular::kCacLogGrowth) * 10;
  EXPECT_NEAR(v.cac_at(1.0 - p / 2.0, 70.0, false), std::exp(mu), 1e-6 * std::exp(mu));
  // P(CAC > 0) is one half at a50.
  EXPECT_NEAR(v.cac_prob_positive(v.param(Vascular::kCacA50Female), true), 0.5, 1e-12);
}

TEST(Vascular, MesaHazardIsTheTenYearRiskFormula) {
  // McClelland 2015 by hand: a 62-year-old male smoker, total cholesterol 200 and HDL 45 mg/dL,
  // SBP 140 mmHg, CAC 100 AU: 10-y risk = 1 - 0.99833^exp(L).
  const Vascular v(vascular_table());
  RiskFactors rf;
  rf.smoker = true;
  rf.total_cholesterol_mg_per_dL = 200.0;
  rf.hdl_cholesterol_mg_per_dL = 45.0;
  rf.systolic_bp_mmHg = 140.0;
  const double l = 0.0172 * 62 + 0.4079 + 0.3717 + 0.0043 * 200 - 0.0114 * 45 + 0.0066 * 140 +
                   0.2743 * std::log(101.0);
  const double risk10 = 1.0 - std::pow(0.99833, std::exp(l));
  const double h = v.chd_hazard_per_y(62.0, false, rf, 100.0);
  EXPECT_NEAR(1.0 - std::exp(-10.0 * h), risk10, 1e-9);
  EXPECT_NEAR(v.mesa_linear_predictor(62.0, false, rf, 100.0), l, 1e-12);
}

TEST(Vascular, PaceIsBoundedByTheMgpEffect) {
  const Vascular v(vascular_table());
  const double ref_c = v.param(Vascular::kMgpCarboxylatedReference);
  const double ref_p = v.param(Vascular::kPhosphateReference);
  EXPECT_NEAR(v.pace(ref_c, ref_p, false), 1.0, 1e-12);
  // Fully carboxylated MGP slows the pace by mgp_cac_effect at most; it never reverses it.
  EXPECT_NEAR(v.pace(1.0, ref_p, false), 1.0 - v.param(Vascular::kMgpCacEffect), 1e-12);
  EXPECT_GT(v.pace(1.0, ref_p, false), 0.0);
  EXPECT_GT(v.pace(0.0, ref_p, false), 1.0);
  EXPECT_NEAR(v.pace(ref_c, ref_p, true), v.param(Vascular::kDialysisCacFactor), 1e-12);
}

TEST(LifeTable, HazardOfTheSingleYearTable) {
  // USA 2020 men, 60 to 61: q = 0.013 order; the hazard is -ln(1 - q).
  const auto t = internal::LifeTable::builtin("USA 2020");
  const double h = t.hazard_per_y(60.5, false);
  EXPECT_GT(h, 0.005);
  EXPECT_LT(h, 0.03);
  EXPECT_GT(t.hazard_per_y(80.5, false), t.hazard_per_y(60.5, false));
  EXPECT_LT(t.hazard_per_y(60.5, true), h);
  EXPECT_THROW((void)internal::LifeTable::builtin("Mars 2020"), InputError);
  // Every table, both sexes, from its first age to 110 y: finite, positive, rising with age
  // past 60 (the open last interval of the Dutch table keeps the previous hazard).
  for (const std::string& name : internal::LifeTable::names()) {
    const auto lt = internal::LifeTable::builtin(name);
    for (bool female : {false, true}) {
      double previous = 0.0;
      for (double age = lt.first_age_y(); age <= 110.0; age += 1.0) {
        const double hz = lt.hazard_per_y(age, female);
        EXPECT_TRUE(std::isfinite(hz) && hz > 0.0) << name << " " << age;
        if (age >= 60.0) {
          EXPECT_GE(hz, previous) << name << " " << age;
        }
        previous = hz;
      }
    }
  }
}

// The smooth hazard keeps every interval's probability of dying: the integral of the hazard
// over [from, to) is -ln(1 - nqx), here by Simpson's rule on 2,000 panels (exact to ~1e-12 for
// a piecewise quadratic); and the hazard and its slope are continuous at each boundary, where
// the step hazard jumps (test ages: the Dutch table's five-year intervals from 55 to 100, the
// US table's years from 55 to 100).
TEST(LifeTable, SmoothHazardKeepsEachIntervalAndHasNoKinks) {
  const std::vector<std::pair<std::string, double>> tables = {{"Netherlands 1995-2000", 5.0},
                                                              {"USA 2020", 1.0}};
  for (const auto& [name, width] : tables) {
    const auto lt = internal::LifeTable::builtin(name);
    for (bool female : {false, true}) {
      for (double from = 55.0; from < 100.0; from += width) {
        constexpr int kPanels = 2000;
        const double dx = width / kPanels;
        double integral = 0.0;
        for (int k = 0; k <= kPanels; ++k) {
          const double w = (k == 0 || k == kPanels) ? 1.0 : (k % 2 == 1 ? 4.0 : 2.0);
          integral += w * lt.smooth_hazard_per_y(from + k * dx, female);
        }
        integral *= dx / 3.0;
        // The step hazard is constant in the interval: its integral is -ln(1 - nqx).
        const double expected = lt.hazard_per_y(from + 0.5 * width, female) * width;
        EXPECT_NEAR(integral, expected, 1e-9 * expected) << name << " " << female << " " << from;
        // Continuity of the hazard and its slope at the boundary `from`, where the step hazard
        // jumps (one-sided differences over 1e-4 y agree; the step hazard's do not). Past the
        // table's last boundary the hazard is constant (that boundary has a kink).
        const double e = 1e-4;
        const double mid = lt.smooth_hazard_per_y(from, female);
        EXPECT_GT(mid, 0.0);
        if (lt.hazard_per_y(from - e, female) == lt.hazard_per_y(from + e, female)) continue;
        const double left = lt.smooth_hazard_per_y(from - e, female);
        const double right = lt.smooth_hazard_per_y(from + e, female);
        EXPECT_NEAR(right - mid, mid - left, 1e-6 * mid) << name << " " << female << " " << from;
      }
    }
  }
  // At the Dutch table's last boundary (105 y) the hazard meets the last interval's, which
  // holds beyond (the clamped end of the spline); a NaN age gets that hazard too.
  const auto nl = internal::LifeTable::builtin("Netherlands 1995-2000");
  const double last = nl.hazard_per_y(110.0, false);
  EXPECT_NEAR(nl.smooth_hazard_per_y(105.0 - 1e-7, false), last, 1e-6 * last);
  EXPECT_DOUBLE_EQ(nl.smooth_hazard_per_y(110.0, false), last);
  EXPECT_DOUBLE_EQ(nl.smooth_hazard_per_y(std::nan(""), false), last);
}

// The kernel hazard (s = 1 y, as model full takes it) against figures computed here without its
// closed form: the convolution of the smooth hazard by Simpson's rule over z in [-10, 10]
// (20,000 panels). Each interval's probability of dying, from 40 to 100 y, stays within 1% of
// the table's (measured 0.55% at most: the US table's single years, whose year-to-year noise
// the kernel smooths), every ten years' within 0.2% (measured 0.11%); and the second derivative
// has no jump at the boundaries (below 1e-3 of the hazard per y^2, measured 9e-5), where the
// smooth hazard's jumps by up to 8% (which this test sees).
TEST(LifeTable, KernelHazardIsSmoothAndKeepsEachInterval) {
  const double s = 1.0;
  const std::vector<std::pair<std::string, double>> tables = {{"Netherlands 1995-2000", 5.0},
                                                              {"USA 2020", 1.0}};
  const auto second_jump = [](const auto& h, double x) {  // relative to the hazard, per y^2
    const double e = 1e-3;
    const double left = (h(x) - 2.0 * h(x - e) + h(x - 2.0 * e)) / (e * e);
    const double right = (h(x + 2.0 * e) - 2.0 * h(x + e) + h(x)) / (e * e);
    return std::abs(right - left) / h(x);
  };
  double smooth_jump = 0.0;
  for (const auto& [name, width] : tables) {
    const auto lt = internal::LifeTable::builtin(name);
    for (bool female : {false, true}) {
      const auto numeric = [&](double age, double sd) {
        constexpr int kPanels = 20000;
        const double dz = 20.0 / kPanels;
        double sum = 0.0;
        for (int k = 0; k <= kPanels; ++k) {
          const double z = -10.0 + k * dz;
          const double w = (k == 0 || k == kPanels) ? 1.0 : (k % 2 == 1 ? 4.0 : 2.0);
          sum += w * std::exp(-0.5 * z * z) * lt.smooth_hazard_per_y(age + sd * z, female);
        }
        return sum * dz / 3.0 / std::sqrt(2.0 * std::numbers::pi);
      };
      for (double age : {40.0, 57.3, 66.0, 70.0, 83.9, 95.0}) {
        const double expected = 2.0 * numeric(age, s) - numeric(age, std::numbers::sqrt2 * s);
        EXPECT_NEAR(lt.kernel_hazard_per_y(age, female, s), expected, 1e-9 * expected)
            << name << " " << female << " " << age;
      }
      const auto kernel = [&](double x) { return lt.kernel_hazard_per_y(x, female, s); };
      const auto smooth = [&](double x) { return lt.smooth_hazard_per_y(x, female); };
      // Simpson's rule over [a, b] of the kernel hazard, 200 panels per year.
      const auto integral = [&](double a, double b) {
        const int panels = 2 * static_cast<int>(std::lround(100.0 * (b - a)));
        const double dx = (b - a) / panels;
        double sum = 0.0;
        for (int k = 0; k <= panels; ++k) {
          const double w = (k == 0 || k == panels) ? 1.0 : (k % 2 == 1 ? 4.0 : 2.0);
          sum += w * kernel(a + k * dx);
        }
        return sum * dx / 3.0;
      };
      for (double from = 40.0; from < 100.0; from += width) {
        // The step hazard is constant in the interval: its integral is -ln(1 - nqx).
        const double expected = lt.hazard_per_y(from + 0.5 * width, female) * width;
        EXPECT_NEAR(integral(from, from + width), expected, 1e-2 * expected)
            << name << " " << female << " " << from;
        EXPECT_LT(second_jump(kernel, from), 1e-3) << name << " " << female << " " << from;
        smooth_jump = std::max(smooth_jump, second_jump(smooth, from));
      }
      for (double from = 40.0; from < 100.0; from += 10.0) {
        double expected = 0.0;
        for (double a = from; a < from + 10.0 - 1e-9; a += width) {
          expected += lt.hazard_per_y(a + 0.5 * width, female) * width;
        }
        EXPECT_NEAR(integral(from, from + 10.0), expected, 2e-3 * expected)
            << name << " " << female << " " << from;
      }
    }
  }
  EXPECT_GT(smooth_jump, 1e-2);
}

RunResult run_text(const std::string& text) {
  return run_scenario(parse_scenario(text, "full_test.toml"));
}

TEST(FullModel, ReferencePaceIsOneAndDeathsFollowTheLifeTable) {
  // The reference diet (the default united-states preset) gives pace 1 (the source of
  // mgp_carboxylated_reference and phosphate_reference), and deaths follow the life table.
  const RunResult r = run_text(R"(
name = "t"
model = "full"
duration = "60 d"
output_interval = "30 d"
[subject]
age = "70 y"
sex = "male"
cac = "400 AU"
)");
  ASSERT_TRUE(r.arms[0].solve.ok()) << r.arms[0].solve.message;
  const ArmResult& a = r.arms[0];
  EXPECT_NEAR(output_at(a, "calcification_pace", 0), 1.0, 2e-3);
  EXPECT_NEAR(output_at(a, "cac_agatston", 0), 400.0, 1e-6);
  const double dead = output_at(a, "death_cum_prob", 2);
  const double chd = output_at(a, "chd_event_cum_prob", 2);
  const double chd_death = output_at(a, "chd_death_cum_prob", 2);
  EXPECT_GT(dead, 0.0);
  EXPECT_NEAR(chd_death, 0.4 * chd, 1e-9);  // chd_fatal_fraction of first events
  // The all-cause hazard over 60 days is near the life table's plus the excess of a CAC above
  // the population mean: between the table's and twice it.
  const auto lt = internal::LifeTable::builtin("USA 2020");
  const double table = 1.0 - std::exp(-lt.hazard_per_y(70.1, false) * 60.0 / 365.25);
  EXPECT_GT(dead, 0.8 * table);
  EXPECT_LT(dead, 2.0 * table);
}

TEST(FullModel, VitaminKAntagonistSpeedsAndMk7SlowsCalcification) {
  const RunResult r = run_text(R"(
name = "t"
model = "full"
duration = "180 d"
output_interval = "180 d"
[subject]
age = "65 y"
sex = "male"
cac_percentile = 75
[[arm]]
name = "none"
[[arm]]
name = "mk7"
dose = [ { substance = "MK-7", amount = "180 ug", every = "1 d", steady_state = true } ]
[[arm]]
name = "warfarin"
dose = [ { substance = "warfarin", amount = "7.5 mg", every = "1 d", steady_state = true } ]
)");
  auto rise = [&](std::size_t arm) {
    return output_at(r.arms[arm], "cac_agatston", 1) - output_at(r.arms[arm], "cac_agatston", 0);
  };
  for (const auto& a : r.arms) ASSERT_TRUE(a.solve.ok()) << a.solve.message;
  EXPECT_GT(rise(0), 0.0);
  // Slower with MK-7 (at most by mgp_cac_effect), faster with warfarin; never a regression.
  EXPECT_LT(rise(1), rise(0));
  EXPECT_GT(rise(1), (1.0 - 0.179) * 0.95 * rise(0));
  EXPECT_GT(rise(2), rise(0));
}

TEST(FullModel, RefusesNewbornsAndCalciumSteadyState) {
  EXPECT_THROW((void)run_text(R"(
name = "t"
model = "full"
duration = "1 d"
[subject]
newborn = true
)"),
               InputError);
  EXPECT_THROW((void)run_text(R"(
name = "t"
model = "full"
duration = "1 d"
[[dose]]
substance = "calcium"
amount = "500 mg"
every = "1 d"
steady_state = true
)"),
               InputError);
}

TEST(ParameterTableMerge, DuplicateNamesAcrossTablesAreRefused) {
  const ParameterTable a = ParameterTable::builtin("vascular");
  EXPECT_THROW((void)ParameterTable::merge({a, a}), InputError);
  const ParameterTable full = ParameterTable::builtin("vitk+calcium+vascular");
  EXPECT_EQ(full.at("mgp_cac_effect").file, "data/parameters/vascular.csv");
  EXPECT_EQ(full.at("V1").file, "data/parameters/calcium.csv");
}

// Entries of the model's Jacobian outside `p` at the states of a trajectory (difference
// quotients at each row's state and time; a right-hand side that does not depend on a state is
// bit-identical).
std::size_t entries_outside(const Model& model, const internal::SparsityPattern& p,
                            const Trajectory& tr) {
  const std::size_t n = model.state_count();
  std::vector<char> in(n * n, 0);
  for (std::size_t j = 0; j < n; ++j) {
    for (std::size_t k = p.col_start[j]; k < p.col_start[j + 1]; ++k) in[p.row[k] * n + j] = 1;
  }
  std::vector<double> y(n);
  std::vector<double> f0(n);
  std::vector<double> f1(n);
  std::size_t outside = 0;
  for (std::size_t o = 0; o < tr.time_h.size(); ++o) {
    for (std::size_t i = 0; i < n; ++i) y[i] = tr.at(o, i);
    model.rhs(tr.time_h[o], y.data(), f0.data());
    for (std::size_t j = 0; j < n; ++j) {
      const double saved = y[j];
      y[j] = saved + 1e-6 * std::max(std::abs(saved), 1e-9);
      model.rhs(tr.time_h[o], y.data(), f1.data());
      y[j] = saved;
      for (std::size_t i = 0; i < n; ++i) {
        if (f1[i] != f0[i] && !in[i * n + j]) {
          ++outside;
          ADD_FAILURE() << "d state " << i << " / d state " << j << " at " << tr.time_h[o] << " h";
        }
      }
    }
  }
  return outside;
}

// The probed Jacobian pattern of model full holds every dependence met along a run with MK-7,
// warfarin, calcium and vitamin D3, and KLU on it gives what the dense solver gives.
TEST(FullModel, SparsityPatternHoldsAlongARunAndKluMatchesDense) {
  const ParameterTable table = ParameterTable::builtin("vitk+calcium+vascular");
  const auto model = make_model("full", table);
  const std::size_t n = model->state_count();
  const std::vector<double> grid = output_grid(0.0, 20.0 * 24.0, 24.0);
  const internal::SparsityPattern p = internal::jacobian_pattern(*model, 0.0, grid.back());
  ASSERT_EQ(p.size(), n);
  EXPECT_TRUE(internal::sparse_pays(p)) << p.row.size() << " of " << n * n;
  // Daily doses (internal units: nmol for the vitamin K module, mmol for calcium-bone).
  std::vector<DoseRecord> doses;
  auto daily = [&](std::string_view substance, double amount, double hour) {
    const DoseTarget t = model->dose_target(DoseContext{.substance = substance});
    doses.push_back(
        {.time_h = hour, .amt = amount * t.fraction, .cmt = t.cmt, .ii_h = 24.0, .addl = 19});
  };
  daily("MK-7", 277.0, 8.0);         // 180 ug
  daily("warfarin", 16200.0, 20.0);  // 5 mg
  daily("calcium", 12.5, 8.0);       // 500 mg
  daily("D3", 50.0, 8.0);            // 20 ug = 50 nmol
  std::vector<double> y0(n);
  model->reset_state(y0);
  SimulationOptions dense;
  dense.linear_solver = LinearSolver::kDense;
  dense.multirate = Multirate::kOff;
  SimulationOptions klu = dense;
  klu.linear_solver = LinearSolver::kKlu;
  Trajectory td;
  Trajectory tk;
  const SolveSummary sd = simulate(*model, y0, 0.0, doses, grid, dense, td);
  const SolveSummary sk = simulate(*model, y0, 0.0, doses, grid, klu, tk);
  ASSERT_TRUE(sd.ok()) << sd.message;
  ASSERT_TRUE(sk.ok()) << sk.message;
  for (std::size_t o = 0; o < grid.size(); ++o) {
    for (std::size_t i = 0; i < n; ++i) {
      // Within 1e-6 of the dense run, or both below the absolute tolerance's reach.
      EXPECT_LE(std::abs(tk.at(o, i) - td.at(o, i)), 1e-6 * std::abs(td.at(o, i)) + 1e-10)
          << "state " << i << " day " << o;
    }
  }
  EXPECT_EQ(entries_outside(*model, p, td), 0U);
  // The other two large models take the sparse solver under auto too.
  for (const auto& [name, module] : std::vector<std::pair<std::string, std::string>>{
           {"vitk", "vitk"}, {"calcium-bone", "calcium"}}) {
    const auto m = make_model(name, ParameterTable::builtin(module));
    EXPECT_TRUE(internal::sparse_pays(internal::jacobian_pattern(*m, 0.0, 8760.0))) << name;
  }
}

// A newborn's late-VKDB hazard depends on factor II only from vkdb_window_start (14 d) on: the
// probes spread over the run's times find it, and the pattern holds along 60 days after a 1 mg
// intramuscular K1 prophylaxis.
TEST(VitK, NewbornSparsityPatternHoldsThroughTheLateVkdbWindow) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  SubjectCovariates c;
  c.newborn = true;
  c.body_weight_kg = 3.5;
  model->set_subject(c);
  const std::vector<double> grid = output_grid(0.0, 60.0 * 24.0, 12.0);
  const internal::SparsityPattern p = internal::jacobian_pattern(*model, 0.0, grid.back());
  const DoseTarget t = model->dose_target(DoseContext{.substance = "K1", .route = Route::kIm});
  std::vector<double> y0(model->state_count());
  model->reset_state(y0);
  Trajectory tr;
  SimulationOptions o;
  o.multirate = Multirate::kOff;
  const SolveSummary s =
      simulate(*model, y0, 0.0, {{.time_h = 1.0, .amt = 2218.0 * t.fraction, .cmt = t.cmt}}, grid,
               o, tr);  // 1 mg K1 = 2218 nmol
  ASSERT_TRUE(s.ok()) << s.message;
  EXPECT_EQ(entries_outside(*model, p, tr), 0U);
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

TEST(Vkdb, CholestasisCutsOralAbsorptionAndRaisesTheBleedingHazard) {
  const RunResult r = run_text(R"(
name = "t"
model = "vitk"
initialize = "reference"
duration = "26 wk"
output_interval = "1 d"
[subject]
newborn = true
feeding = "breast milk"
[[arm]]
name = "healthy"
[[arm]]
name = "cholestasis"
subject = { cholestasis = true }
)");
  for (const auto& a : r.arms) ASSERT_TRUE(a.solve.ok()) << a.solve.message;
  const std::size_t last = r.arms[0].time_h.size() - 1;
  const double healthy = output_at(r.arms[0], "vkdb_cum_prob", last);
  const double chol = output_at(r.arms[1], "vkdb_cum_prob", last);
  // Nothing before the late window (14 d).
  EXPECT_EQ(output_at(r.arms[1], "vkdb_cum_prob", 13), 0.0);
  EXPECT_GT(chol, 100.0 * healthy);
  EXPECT_GT(chol, 0.0);
  EXPECT_LT(chol, 1.0);
  // Factor II falls with cholestasis (little vitamin K reaches the liver).
  EXPECT_LT(output_at(r.arms[1], "factor_ii_percent", last),
            0.7 * output_at(r.arms[0], "factor_ii_percent", last));
  EXPECT_THROW((void)run_text(R"(
name = "t"
model = "vitk"
duration = "1 d"
[subject]
cholestasis = true
)"),
               InputError);
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// The steady-state search of calcium-bone at kidney failure (eGFR 15): plain Newton lands on a
// root with negative amounts, the damped one crawls; the fallback relaxes the model first.
// Direction checks against CKD physiology: PTH and phosphate up, calcitriol down.
TEST(Equilibrium, CalciumBoneAtKidneyFailure) {
  const RunResult r = run_text(R"(
name = "t"
model = "calcium-bone"
duration = "2 d"
output_interval = "1 d"
[[arm]]
name = "normal"
[[arm]]
name = "ckd5"
subject = { egfr = "15 mL/min/1.73m2" }
)");
  for (const auto& a : r.arms) ASSERT_TRUE(a.solve.ok()) << a.solve.message;
  const ArmResult& n = r.arms[0];
  const ArmResult& k = r.arms[1];
  EXPECT_GT(output_at(k, "pth_pmol_per_L", 0), 1.3 * output_at(n, "pth_pmol_per_L", 0));
  EXPECT_GT(output_at(k, "serum_phosphate_mmol_per_L", 0),
            1.1 * output_at(n, "serum_phosphate_mmol_per_L", 0));
  EXPECT_LT(output_at(k, "calcitriol_pmol_per_L", 0),
            0.5 * output_at(n, "calcitriol_pmol_per_L", 0));
  // At equilibrium: the first and last outputs agree.
  EXPECT_NEAR(output_at(k, "pth_pmol_per_L", 2), output_at(k, "pth_pmol_per_L", 0),
              1e-3 * output_at(k, "pth_pmol_per_L", 0));
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

TEST(FullModel, OtherModelsRefuseItsSubjectKeys) {
  for (const char* model : {"vitk", "calcium-bone"}) {
    for (const char* key : {"cac = \"10 AU\"", "cac_percentile = 80",
                            "risk_factors = { smoker = true }", "life_table = \"USA 2021\""}) {
      EXPECT_THROW((void)run_text(std::string("name = \"t\"\nmodel = \"") + model +
                                  "\"\nduration = \"1 d\"\n[subject]\n" + key + "\n"),
                   InputError)
          << model << " " << key;
    }
  }
}

TEST(FullModel, AnArmsPercentileReplacesTheBaseScore) {
  const Scenario sc = parse_scenario(R"(
name = "t"
model = "full"
duration = "1 d"
[subject]
age = "70 y"
cac = "400 AU"
[[arm]]
name = "base"
[[arm]]
name = "p90"
subject = { cac_percentile = 90 }
)",
                                     "t.toml");
  const auto arms = sc.resolved_arms();
  EXPECT_TRUE(arms[0].subject.covariates().cac_au.has_value());
  EXPECT_FALSE(arms[1].subject.covariates().cac_au.has_value());
  EXPECT_DOUBLE_EQ(arms[1].subject.covariates().cac_percentile, 90.0);
}

}  // namespace
}  // namespace k2sim
