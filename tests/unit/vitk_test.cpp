// Properties of the vitamin K kinetics model that hold whatever its parameter values.
#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "k2sim/engine/simulation.hpp"
#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/units/substances.hpp"
#include "model/vitk/vitk.hpp"

namespace k2sim {
namespace {

using internal::VitK;

// Mass balance: at any state, the sum of all pool derivatives is minus the catabolism fluxes
// (eq. 8 and 10); conversion K1 -> MK-4 (eq. 11) moves amount without loss.
TEST(VitK, MassBalanceAtRandomStates) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> u(0.0, 100.0);
  const std::array<std::string, 3> forms = {"k1", "mk4", "mk7"};
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> y(model->state_count());
    for (double& v : y) v = u(rng);
    std::vector<double> dydt(y.size());
    model->rhs(0.0, y.data(), dydt.data());
    double loss = 0.0;
    for (std::size_t f = 0; f < VitK::kForms; ++f) {
      const auto form = static_cast<VitK::Form>(f);
      const std::string& pf = forms[VitK::kParamForm[f]];
      loss += table.at("k_cat_" + pf).canonical() * y[VitK::index(form, VitK::kLiver)];
      loss += table.at("k_tcat_" + pf).canonical() * y[VitK::index(form, VitK::kTissue)];
    }
    double sum = std::accumulate(dydt.begin(), dydt.begin() + VitK::kGutStatin, 0.0);
    for (std::size_t f = 0; f < VitK::kForms; ++f) {  // the hepatic cycle (eq. 20-22) conserves
      const auto form = static_cast<VitK::Form>(f);
      sum += dydt[VitK::hydroquinone(form)] + dydt[VitK::epoxide(form)];
    }
    sum += dydt[VitK::kImDepotK1];  // the IM depot releases into plasma (eq. 29)
    EXPECT_NEAR(sum, -loss, 1e-9 * (1.0 + loss));
  }
  // Tissue K1 converts to tissue MK-4 one to one.
  std::vector<double> y(model->state_count(), 0.0);
  y[VitK::index(VitK::kK1, VitK::kTissue)] = 50.0;
  std::vector<double> dydt(y.size());
  model->rhs(0.0, y.data(), dydt.data());
  EXPECT_NEAR(dydt[VitK::index(VitK::kMk4, VitK::kTissue)], table.at("k_ubiad1").canonical() * 50.0,
              1e-12);
}

// After a dose, no pool goes negative and the body never holds more than was absorbed.
TEST(VitK, NonNegativeAndBoundedByTheDose) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  for (const char* substance : {"K1", "MK-4", "MK-7", "MK-8", "MK-9", "DHP"}) {
    const DoseContext oral{substance, Route::kOral, Matrix::kSupplement, MealFat::kWithMeal, 0.0};
    const DoseTarget target = model->dose_target(oral);
    std::vector<double> y0(model->state_count(), 0.0);
    const DoseRecord rec{.time_h = 0.0, .amt = 1000.0 * target.fraction, .cmt = target.cmt};
    const std::vector<double> grid = output_grid(0.0, 24.0 * 30, 2.0);
    Trajectory tr;
    ASSERT_TRUE(simulate(*model, y0, 0.0, {rec}, grid, SimulationOptions{}, tr).ok());
    for (std::size_t i = 0; i < grid.size(); ++i) {
      double total = 0.0;  // vitamin K in every pool and redox state
      for (std::size_t j = 0; j < model->state_count(); ++j) {
        EXPECT_GE(tr.at(i, j), -1e-9) << substance;
        const bool redox = j >= VitK::kRedoxBase && j < VitK::kFactorBase;
        if (j < VitK::kGutStatin || redox) total += tr.at(i, j);
      }
      EXPECT_LE(total, rec.amt * (1 + 1e-9)) << substance;
    }
  }
}

TEST(VitK, AbsorbedFractionFollowsEquation12) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  const double f_abs = table.at("f_abs_k1").value;
  const double h0 = table.at("fat_fasting").value;
  const double g50 = table.at("fat_half_g").value;
  const double n = table.at("fat_hill").value;
  const double g_std = table.at("meal_fat_standard_g").value;
  auto h = [&](double g) {
    return h0 + (1 - h0) * std::pow(g, n) / (std::pow(g50, n) + std::pow(g, n));
  };
  DoseContext d{"K1", Route::kOral, Matrix::kSupplement, MealFat::kWithMeal, 0.0};
  EXPECT_NEAR(model->dose_target(d).fraction, f_abs, 1e-12);
  d.meal_fat = MealFat::kGrams;
  d.meal_fat_g = 35.0;
  EXPECT_NEAR(model->dose_target(d).fraction, std::min(1.0, f_abs * h(35.0) / h(g_std)), 1e-12);
  d.meal_fat = MealFat::kFasting;
  EXPECT_NEAR(model->dose_target(d).fraction, f_abs * h(0.0) / h(g_std), 1e-12);
  d.matrix = Matrix::kVegetable;
  EXPECT_NEAR(model->dose_target(d).fraction,
              f_abs * table.at("f_vegetable_k1").value * h(0.0) / h(g_std), 1e-12);
  EXPECT_EQ(model->dose_target(d).cmt, VitK::index(VitK::kK1, VitK::kGutFood));
  d.matrix = Matrix::kMicelle;
  EXPECT_NEAR(model->dose_target(d).fraction, f_abs, 1e-12);
  d.route = Route::kIv;
  EXPECT_EQ(model->dose_target(d).cmt, VitK::index(VitK::kK1, VitK::kPlasma));
  EXPECT_DOUBLE_EQ(model->dose_target(d).fraction, 1.0);
  d.substance = "D3";
  EXPECT_THROW((void)model->dose_target(d), InputError);
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// The statin hypothesis is neutral by default, and at its stated strength lowers the UBIAD1 flux
// by statin_ggpp_effect * C / (IC50 + C) (eq. 11, 13, 14).
TEST(VitK, StatinHypothesisNeutralByDefault) {
  ParameterTable table = ParameterTable::builtin("vitk");
  EXPECT_EQ(table.at("statin_ggpp_effect").value, 0.0);
  EXPECT_EQ(table.at("statin_ggpp_effect").provenance, Provenance::kHypothesis);
  auto ubiad1_flux = [&](const ParameterTable& t, double statin_nmol) {
    const auto model = make_model("vitk", t);
    std::vector<double> y(model->state_count(), 0.0);
    y[VitK::index(VitK::kK1, VitK::kTissue)] = 50.0;
    y[VitK::kBodyStatin] = statin_nmol;
    std::vector<double> dydt(y.size());
    model->rhs(0.0, y.data(), dydt.data());
    return dydt[VitK::index(VitK::kMk4, VitK::kTissue)];
  };
  const double base = ubiad1_flux(table, 0.0);
  const double v = table.at("v_atorvastatin").canonical();
  const double ic50 = table.at("ic50_atorvastatin").canonical();
  EXPECT_DOUBLE_EQ(ubiad1_flux(table, ic50 * v), base);  // neutral
  table.set("statin_ggpp_effect", "0.4", "test");
  EXPECT_NEAR(ubiad1_flux(table, ic50 * v), base * (1.0 - 0.4 * 0.5), 1e-12);
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// MK-8 and MK-9 share MK-7's kinetics and DHP shares K1's: equimolar doses give equal curves
// (DHP is not converted to MK-4, so the comparison switches UBIAD1 off).
TEST(VitK, SharedKineticsOfMk8Mk9AndDhp) {
  ParameterTable table = ParameterTable::builtin("vitk");
  table.set("k_ubiad1", "0", "test");
  const auto model = make_model("vitk", table);
  auto plasma_curve = [&](const char* substance, VitK::Form form) {
    const DoseContext oral{substance, Route::kOral, Matrix::kSupplement, MealFat::kWithMeal, 0.0};
    const DoseTarget target = model->dose_target(oral);
    std::vector<double> y0(model->state_count(), 0.0);
    const DoseRecord rec{.time_h = 0.0, .amt = 500.0 * target.fraction, .cmt = target.cmt};
    Trajectory tr;
    EXPECT_TRUE(
        simulate(*model, y0, 0.0, {rec}, output_grid(0.0, 96.0, 4.0), SimulationOptions{}, tr)
            .ok());
    std::vector<double> c;
    for (std::size_t i = 0; i < tr.time_h.size(); ++i) {
      c.push_back(tr.at(i, VitK::index(form, VitK::kPlasma)));
    }
    return c;
  };
  // Equal to the solver's accuracy (the states around them, such as the carboxylation driven by
  // DHP's weaker cofactor activity, change the solver's steps).
  auto expect_close = [](const std::vector<double>& a, const std::vector<double>& b) {
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-6 * (1e-3 + b[i])) << i;
  };
  expect_close(plasma_curve("MK-8", VitK::kMk8), plasma_curve("MK-7", VitK::kMk7));
  expect_close(plasma_curve("MK-9", VitK::kMk9), plasma_curve("MK-7", VitK::kMk7));
  expect_close(plasma_curve("DHP", VitK::kDhp), plasma_curve("K1", VitK::kK1));
}

}  // namespace
}  // namespace k2sim

namespace k2sim {
namespace {

// Eq. (15)-(19): the carboxylated fractions relax towards E^n / (EC50^n + E^n) (MGP's scaled by
// its largest carboxylated fraction) and the markers follow from them.
TEST(VitK, CarboxylationFollowsEquations15To19) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  const double ec50 = table.at("ec50_mgp").canonical();

  const double k = table.at("k_mgp_turnover").canonical();
  const double cmax = table.at("mgp_carboxylation_max").value;
  std::vector<double> y(model->state_count(), 0.0);
  y[VitK::index(VitK::kK1, VitK::kTissue)] = 0.5 * ec50;  // E split over two forms
  y[VitK::index(VitK::kMk7, VitK::kTissue)] = 0.5 * ec50;
  y[VitK::kMgpCarboxylated] = 0.2;
  std::vector<double> dydt(y.size());
  model->rhs(0.0, y.data(), dydt.data());
  EXPECT_NEAR(dydt[VitK::kMgpCarboxylated], k * (0.5 * cmax - 0.2), 1e-12);  // E = EC50
  // DHP counts with its weight only.
  std::fill(y.begin(), y.end(), 0.0);
  y[VitK::index(VitK::kDhp, VitK::kTissue)] = ec50 / table.at("w_dhp").value;
  model->rhs(0.0, y.data(), dydt.data());
  EXPECT_NEAR(dydt[VitK::kMgpCarboxylated], k * 0.5 * cmax, 1e-12);

  // Markers (eq. 18-19).
  std::fill(y.begin(), y.end(), 0.0);
  y[VitK::kMgpCarboxylated] = 0.6;
  y[VitK::kOcCarboxylated] = 0.8;
  std::vector<double> out(model->outputs().size());
  model->compute_outputs(0.0, y.data(), out.data());
  for (std::size_t k2 = 0; k2 < out.size(); ++k2) {
    const std::string& name = model->outputs()[k2].name;
    if (name == "dp_ucmgp_pmol_per_L") {
      EXPECT_NEAR(out[k2], table.at("dp_ucmgp_uncarboxylated").value * 0.4, 1e-9);
    }
    if (name == "ucoc_percent") {
      EXPECT_NEAR(out[k2], 20.0, 1e-12);
    }
    if (name == "ucoc_to_coc_ratio") {
      EXPECT_NEAR(out[k2], 0.25, 1e-12);
    }
    if (name == "mgp_carboxylated_fraction") {
      EXPECT_NEAR(out[k2], 0.6, 1e-12);
    }
  }
}

double output(const Model& model, const std::vector<double>& y, const std::string& name) {
  std::vector<double> out(model.outputs().size());
  model.compute_outputs(0.0, y.data(), out.data());
  for (std::size_t k = 0; k < out.size(); ++k) {
    if (model.outputs()[k].name == name) return out[k];
  }
  ADD_FAILURE() << "no output " << name;
  return 0.0;
}

// Eq. (25) against its reference: the prothrombin times of the Wajima 2009 network simulated in
// vitro for 396 factor combinations (data/reference/wajima_pt.csv, scripts/wajima-pt).
TEST(VitK, InrFunctionReproducesTheWajimaProthrombinTimes) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  std::ifstream in(std::string(K2SIM_SOURCE_DIR) + "/data/reference/wajima_pt.csv");
  ASSERT_TRUE(in) << "data/reference/wajima_pt.csv";
  std::string line;
  std::getline(in, line);
  ASSERT_EQ(line, "fII,fVII,fIX,fX,fPC,fPS,pt_s,inr");
  double worst = 0.0;
  int rows = 0;
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::array<double, 8> v{};
    for (double& x : v) {
      std::string cell;
      std::getline(ss, cell, ',');
      x = std::stod(cell);
    }
    std::vector<double> y(model->state_count(), 0.0);
    for (std::size_t k = 0; k < VitK::kFactors; ++k)
      y[VitK::factor(static_cast<VitK::Factor>(k))] = v[k];
    worst = std::max(worst, std::abs(output(*model, y, "inr") / v[7] - 1.0));
    ++rows;
  }
  EXPECT_EQ(rows, 396);
  EXPECT_LT(worst, 0.03);  // the fit's own maximum error is 2.2%
}

// Eq. (20)-(22) without an anticoagulant: at steady state, hydroquinone and epoxide are 0.1 of the
// quinone, the ratios of Wajima's baseline (VKH2_0 = VKO0 = 0.1 nM for VK0 = 1 nM).
TEST(VitK, HepaticCycleHasWajimasBaselineRatios) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  const auto model = make_model("vitk", table);
  std::vector<double> y(model->state_count(), 0.0);
  y[VitK::index(VitK::kK1, VitK::kLiver)] = 2.0;
  y[VitK::hydroquinone(VitK::kK1)] = 0.2;
  y[VitK::epoxide(VitK::kK1)] = 0.2;
  std::vector<double> dydt(y.size());
  model->rhs(0.0, y.data(), dydt.data());
  EXPECT_NEAR(dydt[VitK::hydroquinone(VitK::kK1)], 0.0, 1e-12);
  EXPECT_NEAR(dydt[VitK::epoxide(VitK::kK1)], 0.0, 1e-12);
}

// S-warfarin at steady state: the mean concentration over an interval is F * dose / (CL * tau)
// for linear kinetics, and a CYP2C9 genotype divides CL by its ratio.
TEST(VitK, WarfarinSteadyStateMeanConcentration) {
  for (const auto& [genotype, ratio_name] : std::vector<std::pair<std::string, std::string>>{
           {"*1/*1", ""}, {"*3/*3", "cl_ratio_cyp2c9_33"}}) {
    const std::string text =
        "name = \"w\"\nduration = \"1 d\"\noutput_interval = \"15 min\"\n"
        "[subject]\nwarfarin_genotype = \"CYP2C9 " +
        genotype +
        "\"\n"
        "[[dose]]\nsubstance = \"warfarin\"\namount = \"5 mg\"\n"
        "every = \"1 d\"\nsteady_state = true\n";
    const Scenario sc = parse_scenario(text, "w.toml");
    const RunResult r = run_scenario(sc);
    ASSERT_TRUE(r.ok());
    const ParameterTable table = ParameterTable::builtin("vitk");
    double cl = table.at("cl_warfarin").value;  // L/h
    if (!ratio_name.empty()) cl *= table.at(ratio_name).value;
    const double expected_mg_per_L = table.at("f_warfarin").value * 5.0 / (cl * 24.0);
    const auto& a = r.arms[0];
    for (std::size_t k = 0; k < a.outputs.size(); ++k) {
      if (a.outputs[k].name == "plasma_s_warfarin_mg_per_L") {
        EXPECT_NEAR(a.stats[k].mean, expected_mg_per_L, 2e-3 * expected_mg_per_L) << genotype;
      }
    }
  }
}

// Triage: at the reference intake the liver carboxylates its clotting factors almost fully while
// MGP and osteocalcin stay partly uncarboxylated; an anticoagulant blocks both.
TEST(VitK, LiverFirstAndAnticoagulantsBlockBoth) {
  const std::string base =
      "name = \"t\"\nduration = \"1 d\"\noutput_interval = \"1 d\"\n"
      "[[dose]]\nsubstance = \"K1\"\namount = \"250 ug\"\nevery = \"1 d\"\n"
      "matrix = \"vegetable\"\nsteady_state = true\n";
  auto end_of = [](const RunResult& r, const std::string& name) {
    const auto& a = r.arms[0];
    for (std::size_t k = 0; k < a.outputs.size(); ++k) {
      if (a.outputs[k].name == name) return a.stats[k].end;
    }
    return -1.0;
  };
  const RunResult plain = run_scenario(parse_scenario(base, "t.toml"));
  ASSERT_TRUE(plain.ok());
  EXPECT_GT(end_of(plain, "factor_ii_percent"), 97.0);
  EXPECT_LT(end_of(plain, "inr"), 1.02);
  EXPECT_LT(end_of(plain, "mgp_carboxylated_fraction"), 0.9);
  const RunResult vka = run_scenario(parse_scenario(
      base + "[[dose]]\nsubstance = \"warfarin\"\namount = \"5 mg\"\nevery = \"1 d\"\n"
             "steady_state = true\n",
      "t.toml"));
  ASSERT_TRUE(vka.ok());
  EXPECT_GT(end_of(vka, "inr"), 1.5);
  EXPECT_LT(end_of(vka, "mgp_carboxylated_fraction"), end_of(plain, "mgp_carboxylated_fraction"));
  EXPECT_GT(end_of(vka, "ucoc_percent"), end_of(plain, "ucoc_percent"));
}

// titrate_to_inr: the dose found gives the target as the mean INR of the first interval, and an
// unreachable target fails the arm with a message, not the run.
TEST(VitK, TitrationReachesItsTargetOrSaysWhy) {
  const std::string text =
      "name = \"t\"\nduration = \"1 d\"\noutput_interval = \"30 min\"\n"
      "[[dose]]\nsubstance = \"K1\"\namount = \"250 ug\"\nevery = \"1 d\"\n"
      "matrix = \"vegetable\"\nsteady_state = true\n"
      "[[dose]]\nsubstance = \"warfarin\"\namount = \"1 mg\"\nevery = \"1 d\"\n"
      "steady_state = true\ntitrate_to_inr = 2.5\n";
  const RunResult r = run_scenario(parse_scenario(text, "t.toml"));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.arms[0].titrations.size(), 1U);
  EXPECT_NEAR(r.arms[0].titrations[0].achieved_inr, 2.5, 1e-3);
  for (std::size_t k = 0; k < r.arms[0].outputs.size(); ++k) {
    if (r.arms[0].outputs[k].name == "inr") {
      EXPECT_NEAR(r.arms[0].stats[k].mean, 2.5, 0.01);
    }
  }
  // Without vitamin K the INR is at the top of eq. (25) before any warfarin.
  std::string none = text;
  none.replace(none.find("250 ug"), 6, "1 ng");
  const RunResult bad = run_scenario(parse_scenario(none, "t.toml"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.arms[0].solve.message.find("no amount of warfarin reaches it"), std::string::npos)
      << bad.arms[0].solve.message;
}

// A newborn (eq. 30-33): the birth state holds newborn_liver_k1 in the liver and its factors at
// the birth fractions times the hepatic carboxylation; the size ratio and maturation follow
// their closed forms; without feeding, mass balance holds with clearance scaled by
// rs = s^allometric_rate_exponent and the maturing clearance.
TEST(VitK, NewbornBirthStateAndScaling) {
  const ParameterTable table = ParameterTable::builtin("vitk");
  VitK m(table);
  SubjectCovariates c;
  c.newborn = true;
  c.body_weight_kg = 3.5;
  m.set_subject(c);
  std::vector<double> y(VitK::kStateCount);
  m.reset_state(y);
  const double ug_per_nmol = units::find_substance("K1").mw_g_per_mol * 1e-3;
  double liver = 0.0;
  for (std::size_t f = 0; f < VitK::kForms; ++f) {
    const auto form = static_cast<VitK::Form>(f);
    liver +=
        y[VitK::index(form, VitK::kLiver)] + y[VitK::hydroquinone(form)] + y[VitK::epoxide(form)];
  }
  EXPECT_NEAR(liver * ug_per_nmol, table.at("newborn_liver_k1").value, 1e-3);
  const double c0 = m.liver_carboxylation(y[VitK::hydroquinone(VitK::kK1)] / (3.5 / 70.0));
  EXPECT_NEAR(y[VitK::factor(VitK::kII)], table.at("factor_birth_ii").value * c0, 1e-12);
  // Weight: 3.5 kg at birth, 3.5 (1 + gain (1 - e^-1)) at one time constant.
  const double tau_h = table.at("growth_time").canonical();
  EXPECT_NEAR(m.body_weight_kg(0.0), 3.5, 1e-9);
  EXPECT_NEAR(m.body_weight_kg(tau_h),
              3.5 * (1.0 + table.at("growth_gain").value * (1.0 - std::exp(-1.0))), 1e-9);
  // Mass balance with the newborn's scaled clearance, at a random state 10 days after birth.
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 10.0);
  for (double& v : y) v = u(rng);
  std::vector<double> dydt(y.size());
  const double t = 240.0;
  m.rhs(t, y.data(), dydt.data());
  const double s = m.size_ratio(t);
  const double rs = std::pow(s, table.at("allometric_rate_exponent").value);
  const double cat = m.maturing(table.at("clearance_birth").value, t);
  const std::array<std::string, 3> forms = {"k1", "mk4", "mk7"};
  double loss = 0.0;
  double sum = dydt[VitK::kImDepotK1];
  for (std::size_t f = 0; f < VitK::kForms; ++f) {
    const auto form = static_cast<VitK::Form>(f);
    const std::string& pf = forms[VitK::kParamForm[f]];
    loss += cat * rs * table.at("k_cat_" + pf).canonical() * y[VitK::index(form, VitK::kLiver)];
    loss += rs * table.at("k_tcat_" + pf).canonical() * y[VitK::index(form, VitK::kTissue)];
    for (std::size_t p = 0; p < VitK::kPools; ++p)
      sum += dydt[VitK::index(form, static_cast<VitK::Pool>(p))];
    sum += dydt[VitK::hydroquinone(form)] + dydt[VitK::epoxide(form)];
  }
  EXPECT_NEAR(sum, -loss, 1e-9 * (1.0 + loss));
}

}  // namespace
}  // namespace k2sim
