// The calcium-bone model (Peterson & Riggs 2010, translated from its SBML encoding) against the
// published model's own trajectories, its steady state and the calcium mass balance.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "k2sim/engine/simulation.hpp"
#include "k2sim/error.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"
#include "k2sim/units/substances.hpp"
#include "model/calcium/calcium_bone.hpp"

namespace k2sim {
namespace {

namespace pr = internal::pr2010;
using internal::CalciumBone;

constexpr double kV1 = 14.0;  // L, the SBML's vasculature volume

// A CSV file of numbers with a header; columns by name.
struct Table {
  std::vector<std::string> names;
  std::vector<std::vector<double>> rows;
  [[nodiscard]] std::size_t col(const std::string& name) const {
    const auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) throw std::runtime_error("no column " + name);
    return static_cast<std::size_t>(it - names.begin());
  }
};

std::string unquote(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '"'), s.end());
  return s;
}

Table read_csv(const std::string& relative) {
  const std::string path = std::string(K2SIM_SOURCE_DIR) + "/tests/data/peterson-riggs/" + relative;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  Table t;
  std::string line;
  std::getline(in, line);
  std::stringstream header(line);
  for (std::string f; std::getline(header, f, ',');) t.names.push_back(unquote(f));
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::vector<double> row;
    for (std::string f; std::getline(ss, f, ',');) row.push_back(std::stod(unquote(f)));
    t.rows.push_back(row);
  }
  return t;
}

std::unique_ptr<Model> published_model() {
  static const ParameterTable table = ParameterTable::builtin("calcium");
  // Without set_subject the model keeps the table's GFR (100/16.667 L/h, as the reference).
  return make_model("calcium-bone", table);
}

std::size_t output_index(const Model& m, const std::string& name) {
  const auto& outs = m.outputs();
  for (std::size_t i = 0; i < outs.size(); ++i) {
    if (outs[i].name == name) return i;
  }
  throw std::runtime_error("no output " + name);
}

// 10 years with no input: every shared state within 1e-3 (relative) of the published model's
// own run, and plasma calcium, PTH and calcitriol within 0.1% of their published steady state
// (2.35 mmol/L, 3.85 pmol/L, 90 pmol/L) throughout.
TEST(CalciumBone, BaselineFollowsThePublishedModelAndHoldsItsSteadyState) {
  const auto model = published_model();
  const Table ref = read_csv("baseline_10y_every_30d.csv");
  std::vector<double> grid;
  for (const auto& r : ref.rows) grid.push_back(r[ref.col("time")]);
  std::vector<double> y0(model->state_count());
  model->reset_state(y0);
  Trajectory tr;
  ASSERT_TRUE(simulate(*model, y0, 0.0, {}, grid, SimulationOptions{}, tr).ok());
  const std::map<std::string, std::size_t> states = {
      {"PTH", pr::kPTH},     {"P", pr::kP},     {"B", pr::kB},           {"ECCPhos", pr::kECCPhos},
      {"OC", pr::kOC},       {"L", pr::kL},     {"O", pr::kO},           {"Q", pr::kQ},
      {"Qbone", pr::kQbone}, {"HAp", pr::kHAp}, {"OBfast", pr::kOBfast}, {"ROB1", pr::kROB1}};
  for (std::size_t i = 0; i < grid.size(); ++i) {
    for (const auto& [name, j] : states) {
      const double r = ref.rows[i][ref.col(name)];
      EXPECT_NEAR(tr.at(i, j) / r, 1.0, 1e-3) << name << " at " << grid[i] << " h";
    }
    EXPECT_NEAR(tr.at(i, pr::kP) / kV1 / 2.35, 1.0, 1e-3) << grid[i];
    EXPECT_NEAR(tr.at(i, pr::kPTH) / kV1 / 3.85, 1.0, 1e-3) << grid[i];
    EXPECT_NEAR(tr.at(i, pr::kB) / kV1 / 90.0, 1.0, 1e-3) << grid[i];
  }
}

// Teriparatide 20 and 40 ug SC once a day for 10 days against the published model's run (every
// 0.1 h). Plasma calcium agrees within 1e-3. PTH does not agree exactly: the SBML encoding moves
// the subcutaneous dose into the PTH pool at TERICL/TERIVC, where the published implementation
// has an absorption step of its own (docs/model.md, eq. 41); the spike is up to 6% higher at the
// same time (0.4 h after each dose) and the difference, measured, stays below 8% of the reference.
TEST(CalciumBone, TeriparatideFollowsThePublishedModel) {
  const auto model = published_model();
  const Table ref = read_csv("teriparatide_20_40ug_10d.csv");
  const DoseTarget target = model->dose_target(DoseContext{"teriparatide", Route::kSc});
  const double pmol_per_ug = 1e6 / units::find_substance("teriparatide").mw_g_per_mol;
  for (const double id : {1.0, 2.0}) {
    const double dose_ug = id == 1.0 ? 20.0 : 40.0;
    std::vector<double> grid, pth_ref, ca_ref;
    for (const auto& r : ref.rows) {
      if (r[ref.col("ID")] != id) continue;
      const double t = r[ref.col("time")];
      if (!grid.empty() && t == grid.back()) continue;  // the doubled row at time 0
      grid.push_back(t);
      pth_ref.push_back(r[ref.col("PTHpm")]);
      ca_ref.push_back(r[ref.col("CaC")]);
    }
    std::vector<double> y0(model->state_count());
    model->reset_state(y0);
    const DoseRecord rec{.time_h = 0.0,
                         .amt = dose_ug * pmol_per_ug * 1e-3 * target.fraction,  // nmol -> pmol
                         .cmt = target.cmt,
                         .ii_h = 24.0,
                         .addl = 9};
    Trajectory tr;
    ASSERT_TRUE(simulate(*model, y0, 0.0, {rec}, grid, SimulationOptions{}, tr).ok());
    double worst_pth = 0.0;
    double peak = 0.0, peak_ref = 0.0, t_peak = 0.0, t_peak_ref = 0.0;
    for (std::size_t i = 0; i < grid.size(); ++i) {
      const double pth = tr.at(i, pr::kPTH) / kV1;
      EXPECT_NEAR(tr.at(i, pr::kP) / kV1 / ca_ref[i], 1.0, 1e-3) << dose_ug << " ug, " << grid[i];
      worst_pth = std::max(worst_pth, std::abs(pth / pth_ref[i] - 1.0));
      if (grid[i] < 24.0 && pth > peak) peak = pth, t_peak = grid[i];
      if (grid[i] < 24.0 && pth_ref[i] > peak_ref) peak_ref = pth_ref[i], t_peak_ref = grid[i];
    }
    EXPECT_LT(worst_pth, 0.08) << dose_ug << " ug";
    EXPECT_NEAR(peak / peak_ref, 1.0, 0.07) << dose_ug << " ug";
    EXPECT_NEAR(t_peak, t_peak_ref, 0.101) << dose_ug << " ug";
    // The spike returns: 24 h after the first dose PTH is within 5% of its value before it.
    EXPECT_NEAR(tr.at(static_cast<std::size_t>(240), pr::kPTH) / kV1 / 3.85, 1.0, 0.05);
  }
}

// Calcium mass balance over 10 years with daily teriparatide, a daily 500 mg calcium supplement
// and a declining eGFR: what entered the absorbable gut pool equals urinary excretion plus the
// change in the stores (plasma and extracellular fluid, gut, stomach, bone), within 1e-6 of the
// calcium that entered.
TEST(CalciumBone, CalciumMassBalanceOverTenYears) {
  const auto model = published_model();
  SubjectCovariates s;
  s.egfr = 6.0;
  s.egfr_end = 1.8;
  s.egfr_decline_h = 10 * 8766.0;
  model->set_subject(s);
  std::vector<double> y0(model->state_count());
  model->reset_state(y0);
  const DoseTarget ca = model->dose_target(DoseContext{"calcium", Route::kOral});
  const DoseTarget teri = model->dose_target(DoseContext{"teriparatide", Route::kSc});
  const double ca_mmol = 500.0 / units::find_substance("calcium").mw_g_per_mol;
  const std::vector<DoseRecord> doses = {
      {.time_h = 8.0, .amt = ca_mmol * ca.fraction, .cmt = ca.cmt, .ii_h = 24.0, .addl = 3652},
      {.time_h = 0.0, .amt = 4.857 * teri.fraction, .cmt = teri.cmt, .ii_h = 24.0, .addl = 3652}};
  const std::vector<double> grid = output_grid(0.0, 10 * 8766.0, 30 * 24.0);
  Trajectory tr;
  // The model's balance, at full resolution: multi-rate integration (the default for 10 years of
  // daily doses) keeps it only to its own tolerance (docs/model.md, "Multi-rate integration").
  SimulationOptions full;
  full.multirate = Multirate::kOff;
  ASSERT_TRUE(simulate(*model, y0, 0.0, doses, grid, full, tr).ok());
  std::vector<double> out(model->outputs().size());
  const std::size_t in = output_index(*model, "ca_into_gut_cum_mmol");
  const std::size_t urine = output_index(*model, "urinary_ca_cum_mmol");
  const std::size_t stores = output_index(*model, "ca_stores_mmol");
  model->compute_outputs(0.0, y0.data(), out.data());
  const double stores0 = out[stores];
  const std::size_t last = grid.size() - 1;
  std::vector<double> y_end(tr.states.begin() + static_cast<std::ptrdiff_t>(last * tr.n_states),
                            tr.states.end());
  model->compute_outputs(grid.back(), y_end.data(), out.data());
  // The stores include the supplement still in the stomach, which has not entered the gut pool
  // (of what leaves the stomach, the fraction 1 - F11 goes to the faeces unabsorbed).
  const double change = out[stores] - stores0 - y_end[CalciumBone::kCaSupplement];
  EXPECT_GT(out[in], 1e4);  // mmol over 10 years
  EXPECT_NEAR(change, out[in] - out[urine], 1e-6 * out[in]);
}

// Eq. (44): the eGFR declines exponentially from its start to its end value, and the model's
// absolute GFR is it times the body surface over 1.73 m2.
TEST(CalciumBone, EgfrDeclinesExponentially) {
  const auto model = published_model();
  SubjectCovariates s;
  s.egfr = 6.0;
  s.egfr_end = 1.8;
  s.egfr_decline_h = 8766.0;
  model->set_subject(s);
  std::vector<double> y(model->state_count());
  model->reset_state(y);
  std::vector<double> out(model->outputs().size());
  const std::size_t gfr = output_index(*model, "gfr_mL_per_min");
  // eGFR is per 1.73 m2; the model's GFR is absolute: Du Bois body surface of 70 kg, 170 cm.
  const double bsa = 0.007184 * std::pow(70.0, 0.425) * std::pow(170.0, 0.725);
  EXPECT_NEAR(bsa, 1.81, 0.005);
  model->compute_outputs(0.0, y.data(), out.data());
  EXPECT_NEAR(out[gfr], 100.0 * bsa / 1.73, 1e-9);
  model->compute_outputs(8766.0 / 2, y.data(), out.data());
  EXPECT_NEAR(out[gfr], std::sqrt(100.0 * 30.0) * bsa / 1.73, 1e-9);
  model->compute_outputs(3 * 8766.0, y.data(), out.data());
  EXPECT_NEAR(out[gfr], 30.0 * bsa / 1.73, 1e-9);
}

TEST(CalciumBone, RejectsWhatItCannotTake) {
  const auto model = published_model();
  EXPECT_THROW((void)model->dose_target(DoseContext{"calcium", Route::kIv}), InputError);
  EXPECT_THROW((void)model->dose_target(DoseContext{"teriparatide", Route::kOral}), InputError);
  EXPECT_THROW((void)model->dose_target(DoseContext{"MK-7", Route::kOral}), InputError);
}

// Vitamin D given as a constant oral input over `days` (a daily dose spread over the day: 25(OH)D
// has a half-life of weeks); returns the trajectory of the outputs every 7 days.
struct VitaminDRun {
  std::vector<std::vector<double>> out;  // per output time, the outputs
};

VitaminDRun run_vitamin_d(const Model& model, const std::string& substance, double iu_per_day,
                          double days, double mg_supplement_mg_per_day = 0.0) {
  std::vector<double> y0(model.state_count());
  model.reset_state(y0);
  std::vector<DoseRecord> doses;
  const double hours = days * 24.0;
  if (iu_per_day > 0.0) {
    const units::Substance& s = units::find_substance(substance);
    const double nmol_per_day =
        units::to_internal_amount(s, units::parse_quantity(fmt::format("{} IU", iu_per_day)));
    const DoseTarget t = model.dose_target(DoseContext{substance, Route::kOral});
    const double amt = nmol_per_day * days * t.fraction;
    doses.push_back({.time_h = 0.0, .amt = amt, .cmt = t.cmt, .rate = amt / hours});
  }
  if (mg_supplement_mg_per_day > 0.0) {
    const double mmol =
        mg_supplement_mg_per_day * days / units::find_substance("magnesium").mw_g_per_mol;
    const DoseTarget t = model.dose_target(DoseContext{"magnesium", Route::kOral});
    doses.push_back(
        {.time_h = 0.0, .amt = mmol * t.fraction, .cmt = t.cmt, .rate = mmol * t.fraction / hours});
  }
  const std::vector<double> grid = output_grid(0.0, hours, 7 * 24.0);
  Trajectory tr;
  EXPECT_TRUE(simulate(model, y0, 0.0, doses, grid, SimulationOptions{}, tr).ok());
  VitaminDRun r;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    std::vector<double> out(model.outputs().size());
    model.compute_outputs(grid[i], &tr.states[i * tr.n_states], out.data());
    r.out.push_back(out);
  }
  return r;
}

// The vitamin D states start at the steady state of the background input (closed form), and
// with it the published calcium state is unchanged.
TEST(CalciumBoneVitaminD, StartsAtTheSteadyStateOfTheBackgroundInput) {
  const auto model = published_model();
  std::vector<double> y(model->state_count()), dy(model->state_count());
  model->reset_state(y);
  model->rhs(0.0, y.data(), dy.data());
  for (std::size_t i = CalciumBone::kGutD3; i <= CalciumBone::kCalcidiolD2; ++i) {
    EXPECT_NEAR(dy[i], 0.0, 1e-9 * std::max(1.0, y[i])) << model->state_names()[i];
  }
  // 25(OH)D is at its background level, so its actions on the calcium model (eq. 48-50) are nil.
  std::vector<double> out(model->outputs().size());
  model->compute_outputs(0.0, y.data(), out.data());
  EXPECT_NEAR(out[output_index(*model, "serum_25ohd_rise_nmol_per_L")], 0.0, 1e-9);
}

// Toxicity thresholds. No hypercalcaemia (total calcium above 2.60 mmol/L, the usual upper
// reference limit) at the IOM upper level (4000 IU/d, VD14) or its NOAEL (10000 IU/d, VD15) for
// 3 years. An overdose (100000 IU/d for a year) acts through 25(OH)D itself: calcitriol stays
// within 15% of its start (it is often normal in intoxication), PTH is suppressed, serum calcium
// rises by more than 0.1 mmol/L and urinary calcium exceeds 7.5 mmol/d (300 mg/d, hypercalciuria).
// Hypercalcaemia itself needs about 1,000,000 IU/d in this model (docs/model.md, known limits).
TEST(CalciumBoneVitaminD, ToxicityThresholds) {
  const auto model = published_model();
  const std::size_t ca = output_index(*model, "serum_ca_mmol_per_L");
  const std::size_t urine = output_index(*model, "urinary_ca_mmol_per_d");
  const std::size_t pth = output_index(*model, "pth_pmol_per_L");
  const std::size_t calcitriol = output_index(*model, "calcitriol_pmol_per_L");
  for (const double iu : {4000.0, 10000.0}) {
    const VitaminDRun r = run_vitamin_d(*model, "D3", iu, 3 * 365.25);
    double max_ca = 0.0;
    for (const auto& o : r.out) max_ca = std::max(max_ca, o[ca]);
    EXPECT_LT(max_ca, 2.60) << iu << " IU/d";
  }
  const VitaminDRun r = run_vitamin_d(*model, "D3", 100000.0, 365.25);
  const auto& start = r.out.front();
  const auto& end = r.out.back();
  EXPECT_GT(end[ca] - start[ca], 0.1);
  EXPECT_GT(end[urine], 7.5);
  EXPECT_LT(end[pth], 0.7 * start[pth]);
  EXPECT_NEAR(end[calcitriol] / start[calcitriol], 1.0, 0.15);
}

// D2 is less potent than D3 at the same dose (VD07-VD11 give the size; here the direction).
TEST(CalciumBoneVitaminD, D2LessPotentThanD3) {
  const auto model = published_model();
  const std::size_t rise = output_index(*model, "serum_25ohd_rise_nmol_per_L");
  const double d3 = run_vitamin_d(*model, "D3", 2000.0, 84).out.back()[rise];
  const double d2 = run_vitamin_d(*model, "D2", 2000.0, 84).out.back()[rise];
  EXPECT_GT(d3, d2);
  EXPECT_GT(d2, 0.0);
}

// The magnesium hypothesis (eq. 51-52), switched on: a magnesium supplement that brings the
// intake to the RDA lowers 25(OH)D between 75 and 125 nmol/L (30-50 ng/mL), the direction of the
// trial's second group (VD21, Dai et al. 2018). It lowers it below 75 nmol/L too, where the trial
// saw a rise: in this model the hydroxylation that magnesium speeds is not what limits 25(OH)D
// at steady state (nearly all vitamin D is hydroxylated at usual intakes), while the induced
// clearance it also speeds is. This test pins that known disagreement (docs/model.md).
TEST(CalciumBoneVitaminD, MagnesiumHypothesisDirection) {
  ParameterTable table = ParameterTable::builtin("calcium");
  table.set("mg_effect_strength", "0.5", "test");
  table.set("mg_intake_background", "150", "test");
  for (const auto& [background, baseline_low] :
       std::vector<std::pair<std::string, bool>>{{"15", true}, {"50", false}}) {
    ParameterTable t = table;
    t.set("d_background", background, "test");
    const auto model = make_model("calcium-bone", t);
    const std::size_t c25 = output_index(*model, "serum_25ohd_nmol_per_L");
    const double base = run_vitamin_d(*model, "D3", 0.0, 84).out.back()[c25];
    const double with_mg = run_vitamin_d(*model, "D3", 0.0, 84, 170.0).out.back()[c25];
    if (baseline_low) {
      EXPECT_LT(base, 75.0);
    } else {
      EXPECT_GT(base, 75.0);
      EXPECT_LT(base, 125.0);
    }
    EXPECT_LT(with_mg, base) << "background " << background << " ug/d";
  }
}

// Denosumab 60 mg SC every 6 months (eq. 53-54): lumbar spine BMD gains several percent a year in
// the first years (Peterson & Riggs 2012; FREEDOM: about +9% in 3 years), osteoclasts fall by
// more than half, and plasma denosumab peaks in the micrograms per millilitre.
TEST(CalciumBone, DenosumabRaisesLumbarSpineBmd) {
  const auto model = published_model();
  std::vector<double> y0(model->state_count());
  model->reset_state(y0);
  const DoseTarget t = model->dose_target(DoseContext{"denosumab", Route::kSc});
  const double nmol = 60e3 / units::find_substance("denosumab").mw_g_per_mol * 1e3;  // 60 mg
  const DoseRecord rec{
      .time_h = 0.0, .amt = nmol * t.fraction, .cmt = t.cmt, .ii_h = 26 * 168.0, .addl = 5};
  const std::vector<double> grid = output_grid(0.0, 3 * 8766.0, 7 * 24.0);
  Trajectory tr;
  ASSERT_TRUE(simulate(*model, y0, 0.0, {rec}, grid, SimulationOptions{}, tr).ok());
  const std::size_t ls = output_index(*model, "bmd_lumbar_spine_rel");
  const std::size_t oc = output_index(*model, "osteoclasts_rel");
  const std::size_t den = output_index(*model, "denosumab_ug_per_L");
  std::vector<double> out(model->outputs().size());
  auto at = [&](double h) {
    const auto i = static_cast<std::size_t>(std::lround(h / (7 * 24.0)));
    model->compute_outputs(grid[i], &tr.states[i * tr.n_states], out.data());
    return out;
  };
  const double ls0 = at(0.0)[ls];
  const std::vector<double> year1 = at(52 * 168.0);
  const std::vector<double> year3 = at(3 * 8766.0);
  EXPECT_GT(year1[ls] / ls0 - 1.0, 0.03);
  EXPECT_GT(year3[ls] / year1[ls] - 1.0, 0.01);
  EXPECT_LT(year1[oc], 0.5);
  double peak = 0.0;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    model->compute_outputs(grid[i], &tr.states[i * tr.n_states], out.data());
    peak = std::max(peak, out[den]);
  }
  EXPECT_GT(peak, 1000.0);   // ug/L
  EXPECT_LT(peak, 20000.0);  // ug/L
}

// Estrogen (eq. 55): a woman after the menopause has a lower estrogen and a higher bone turnover
// than the published reference; a man and a woman without menopause_age keep estrogen at 1.
TEST(CalciumBone, EstrogenFallsAfterTheMenopause) {
  const auto model = published_model();
  const std::size_t est = output_index(*model, "estrogen_rel");
  std::vector<double> y(model->state_count()), out(model->outputs().size());
  model->reset_state(y);
  SubjectCovariates s;
  s.age_y = 45.0;
  s.menopause_age_y = 51.0;
  model->set_subject(s);
  model->compute_outputs(0.0, y.data(), out.data());
  const double before = out[est];
  model->compute_outputs(15 * 8766.0, y.data(), out.data());  // at 60
  EXPECT_LT(out[est], 0.5 * before);
  s.female = false;
  s.menopause_age_y = -1.0;
  model->set_subject(s);
  model->compute_outputs(15 * 8766.0, y.data(), out.data());
  EXPECT_EQ(out[est], 1.0);
}

// Skin synthesis (eq. 56), the UV index: with the sun overhead (the Tropic of Cancer at the June
// solstice) it is Madronich's clear-sky 12.5; the southern hemisphere at its own solstice mirrors
// the northern; the polar night has none.
TEST(CalciumBoneSun, UvIndexFollowsTheSunsElevation) {
  const auto model = published_model();
  const std::size_t uvi = output_index(*model, "uv_index");
  std::vector<double> y(model->state_count()), out(model->outputs().size());
  model->reset_state(y);
  auto uv_at = [&](double latitude, int day) {
    SubjectCovariates s;
    s.sun = SunExposure{latitude, 2, 10.0, -1.0, day};
    model->set_subject(s);
    model->compute_outputs(0.0, y.data(), out.data());
    return out[uvi];
  };
  EXPECT_NEAR(uv_at(23.45, 172), 12.5, 1e-3);                    // 21 June
  EXPECT_NEAR(uv_at(-40.0, 355) / uv_at(40.0, 172), 1.0, 1e-3);  // 21 December / 21 June
  EXPECT_EQ(uv_at(80.0, 355), 0.0);
  EXPECT_GT(uv_at(52.0, 172), 5.0 * uv_at(52.0, 355));
}

// Skin synthesis (eq. 56), the dose: below one MED the vitamin D3 made is proportional to the
// minutes, the exposed skin and 1/MED of the skin type (Dtsch Arztebl Int 2010: 600 IU from 1 MED
// on 6% of the skin); beyond one MED it makes no more.
TEST(CalciumBoneSun, SynthesisIsProportionalUpToOneMed) {
  const auto model = published_model();
  const std::size_t uvi = output_index(*model, "uv_index");
  const std::size_t made = output_index(*model, "skin_d3_ug_per_d");
  std::vector<double> y(model->state_count()), out(model->outputs().size());
  model->reset_state(y);
  auto run = [&](int type, double minutes, double exposed) {
    SubjectCovariates s;
    s.sun = SunExposure{45.0, type, minutes, exposed, 172};
    model->set_subject(s);
    model->compute_outputs(0.0, y.data(), out.data());
    return std::pair{out[uvi], out[made]};
  };
  // One MED of skin type II (250 J/m2) at 1.5 J/m2 per minute per UVI.
  const double med_minutes = 250.0 / (1.5 * run(2, 1.0, 0.06).first);
  EXPECT_NEAR(run(2, med_minutes, 0.06).second * 40.0, 600.0, 1e-6);  // IU
  EXPECT_NEAR(run(2, 0.5 * med_minutes, 0.06).second * 40.0, 300.0, 1e-6);
  EXPECT_NEAR(run(2, 3.0 * med_minutes, 0.06).second * 40.0, 600.0, 1e-6);
  EXPECT_NEAR(run(2, 0.5 * med_minutes, 0.25).second / run(2, 0.5 * med_minutes, 0.06).second,
              0.25 / 0.06, 1e-9);
  // Skin type VI (MED 1000 J/m2) makes a quarter of type II's below one MED.
  EXPECT_NEAR(run(6, 0.5 * med_minutes, 0.25).second / run(2, 0.5 * med_minutes, 0.25).second, 0.25,
              1e-9);
  // Without sun: nothing.
  model->set_subject(SubjectCovariates{});
  model->compute_outputs(0.0, y.data(), out.data());
  EXPECT_EQ(out[made], 0.0);
}

// Skin synthesis (eq. 56), the start state: a run starts on the periodic orbit of the vitamin D
// states, so one year later 25(OH)D is back at its start (within 2% of the seasonal swing; a
// start at the steady state of the start day's synthesis misses by 9% in April and October)
// whatever the start date; 25(OH)D peaks in summer or early autumn.
TEST(CalciumBoneSun, StartStateRepeatsAfterAYear) {
  const auto model = published_model();
  const std::size_t c25 = output_index(*model, "serum_25ohd_nmol_per_L");
  for (const int day : {1, 91, 274}) {  // 1 January, 1 April, 1 October
    SubjectCovariates s;
    s.sun = SunExposure{52.0, 2, 15.0, -1.0, day};
    model->set_subject(s);
    std::vector<double> y0(model->state_count());
    model->reset_state(y0);
    ASSERT_TRUE(equilibrium(*model, SimulationOptions{}, y0).ok());
    std::vector<double> grid;
    for (int d = 0; d <= 365; ++d) grid.push_back(24.0 * d);
    grid.push_back(8766.0);
    Trajectory tr;
    ASSERT_TRUE(simulate(*model, y0, 0.0, {}, grid, SimulationOptions{}, tr).ok());
    std::vector<double> out(model->outputs().size());
    std::vector<double> level;
    for (std::size_t i = 0; i < tr.time_h.size(); ++i) {
      model->compute_outputs(tr.time_h[i], &tr.states[i * model->state_count()], out.data());
      level.push_back(out[c25]);
    }
    const auto [lo, hi] = std::minmax_element(level.begin(), level.end());
    const double swing = *hi - *lo;
    EXPECT_GT(swing, 3.0) << "start day " << day;
    EXPECT_LT(std::abs(level.back() - level.front()), 0.02 * swing) << "start day " << day;
    // The highest 25(OH)D comes in summer or early autumn (days 172-300 of the calendar).
    const int peak_day = (day - 1 + static_cast<int>(hi - level.begin())) % 365 + 1;
    EXPECT_GE(peak_day, 172) << "start day " << day;
    EXPECT_LE(peak_day, 300) << "start day " << day;
  }
}

// A diet (eq. 57) replaces the background inputs: one with the published model's own dietary
// calcium (OralCa, 24.055 mmol/d of 40.078 mg/mmol), the background magnesium and the food
// vitamin D of the reference gives the same derivatives as no diet; more calcium lowers PTH at
// steady state and raises urinary calcium; more food vitamin D raises 25(OH)D.
TEST(CalciumBoneDiet, ReplacesTheBackgroundInputs) {
  const auto model = published_model();
  std::vector<double> y(model->state_count()), a(model->state_count()), b(model->state_count());
  model->reset_state(y);
  model->rhs(0.0, y.data(), a.data());
  DietInput same;
  same.given = true;
  same.ca_mg_per_d = 24.055 * 40.078;
  same.mg_mg_per_d = 300.0;
  same.d3_ug_per_d = 4.7;
  model->set_diet(same);
  model->rhs(0.0, y.data(), b.data());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(b[i], a[i], 1e-9 * std::max(1.0, std::abs(a[i]))) << model->state_names()[i];
  }
  auto steady = [&](const DietInput& d) {
    model->set_diet(d);
    std::vector<double> y0(model->state_count()), out(model->outputs().size());
    model->reset_state(y0);
    EXPECT_TRUE(equilibrium(*model, SimulationOptions{}, y0).ok());
    model->compute_outputs(0.0, y0.data(), out.data());
    return out;
  };
  const auto base = steady(same);
  DietInput more_ca = same;
  more_ca.ca_mg_per_d = 1500.0;
  const auto ca = steady(more_ca);
  EXPECT_LT(ca[output_index(*model, "pth_pmol_per_L")],
            base[output_index(*model, "pth_pmol_per_L")]);
  EXPECT_GT(ca[output_index(*model, "urinary_ca_mmol_per_d")],
            base[output_index(*model, "urinary_ca_mmol_per_d")]);
  DietInput fish = same;
  fish.d3_ug_per_d = 14.7;
  const auto d = steady(fish);
  EXPECT_GT(d[output_index(*model, "serum_25ohd_nmol_per_L")],
            base[output_index(*model, "serum_25ohd_nmol_per_L")] + 1.0);
  model->set_diet(DietInput{});
}

// Volumetric dilution (eq. 58): with the induced 25(OH)D clearance at its lower bound (clearance
// linear), twice the body weight halves 25(OH)D at the same input (Drincic et al. 2012: a
// hyperbolic relation with weight), to within the small shift of the hydroxylated fraction (the
// other routes of plasma D3 scale too); the reference subject's weight leaves the table's state.
TEST(CalciumBoneVitaminD, VolumetricDilutionWithBodyWeight) {
  ParameterTable table = ParameterTable::builtin("calcium");
  table.set("clmax_25ohd", "1e-05", "test");
  const auto model = make_model("calcium-bone", table);
  const std::size_t c25 = output_index(*model, "serum_25ohd_nmol_per_L");
  auto level = [&](double kg) {
    SubjectCovariates s;
    s.body_weight_kg = kg;
    model->set_subject(s);
    std::vector<double> y(model->state_count()), out(model->outputs().size());
    model->reset_state(y);
    model->compute_outputs(0.0, y.data(), out.data());
    return out[c25];
  };
  EXPECT_NEAR(level(120.0) / level(60.0), 0.5, 0.02);
  const auto published = published_model();
  std::vector<double> y(published->state_count()), out(published->outputs().size());
  published->reset_state(y);
  published->compute_outputs(0.0, y.data(), out.data());
  const double table_level = out[c25];
  SubjectCovariates reference;
  reference.body_weight_kg = 60.0;
  published->set_subject(reference);
  published->reset_state(y);
  published->compute_outputs(0.0, y.data(), out.data());
  EXPECT_NEAR(out[c25], table_level, 1e-9 * table_level);
}

}  // namespace
}  // namespace k2sim
