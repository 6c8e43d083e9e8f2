#include "vitk.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "k2sim/units/units.hpp"

namespace k2sim::internal {

namespace {

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (std::size_t fi = 0; fi < VitK::kParamForms; ++fi) {
    const std::string_view f = VitK::kFormNames[fi];
    for (std::string_view p : VitK::kFormParamNames)
      out.push_back(std::string(p) + "_" + std::string(f));
  }
  for (std::string_view p : VitK::kSharedParamNames) out.emplace_back(p);
  return out;
}

std::vector<units::Dimension> dims() {
  using units::Dimension;
  namespace d = units::dim;
  const std::array<Dimension, VitK::kFormParams> per_form = {
      d::per_time(), Dimension::none(), d::per_time(), d::amount_conc(), d::per_time(),
      d::per_time(), d::per_time(),     d::per_time(), d::per_time()};
  std::vector<Dimension> out;
  for (std::size_t f = 0; f < VitK::kParamForms; ++f)
    out.insert(out.end(), per_form.begin(), per_form.end());
  const std::array<Dimension, VitK::kSharedParams> shared = {
      d::volume(), d::per_time(), Dimension::none(), Dimension::none(), Dimension::none(),
      d::mass(), Dimension::none(), d::mass(), d::mass(), d::per_time(), Dimension::none(),
      d::volume(), d::per_time(), d::amount_conc(), Dimension::none(), Dimension::none(),
      d::amount(), d::amount(), Dimension::none(), d::per_time(), d::per_time(), d::amount_conc(),
      // eq. (19)-(28)
      Dimension::none(), d::gfr(), d::gfr(), d::per_time(), d::per_time(), d::per_time(),
      d::amount(), Dimension::none(), d::per_time(), d::per_time(), d::per_time(), d::per_time(),
      d::per_time(), d::per_time(), Dimension::none(), Dimension::none(), Dimension::none(),
      Dimension::none(), Dimension::none(), d::per_time(), Dimension::none(), d::volume(),
      d::volume(), d::volume() / d::time(), d::volume() / d::time(), d::mass_conc(),
      Dimension::none(), Dimension::none(), Dimension::none(), Dimension::none(), Dimension::none(),
      Dimension::none(), Dimension::none(), d::per_time(), Dimension::none(), d::volume(),
      d::volume() / d::time(), d::mass_conc()};
  out.insert(out.end(), shared.begin(), shared.end());
  return out;
}

std::vector<double> resolve_vitk(const ParameterTable& table) {
  const std::vector<std::string> n = names();
  std::vector<std::string_view> views(n.begin(), n.end());
  return resolve(table, views, dims());
}

}  // namespace

VitK::VitK(const ParameterTable& table) : p_(resolve_vitk(table)) {
  cl_warfarin_ = shared(kClWarfarin);
  ic50_warfarin_ = shared(kIc50Warfarin);
  set_subject(shared(kEgfrReference), false, "GG", "*1/*1");
}

void VitK::set_subject(double egfr, bool dialysis, std::string_view vkorc1,
                       std::string_view cyp2c9) {
  // Eq. (19): dp-ucMGP is cleared partly by the kidney; its plasma level scales with the
  // inverse of its clearance relative to a subject with egfr_reference.
  const double e = dialysis ? shared(kEgfrDialysis) : egfr;
  const double fr = shared(kFRenalDpUcMgp);
  dp_ucmgp_renal_factor_ = 1.0 / ((1.0 - fr) + fr * e / shared(kEgfrReference));
  // Genotypes as ratios on S-warfarin clearance (CYP2C9) and on the VKOR IC50 (VKORC1).
  double cl_ratio = 1.0;
  if (cyp2c9 == "*1/*2") cl_ratio = shared(kClRatioCyp2c9_12);
  if (cyp2c9 == "*1/*3") cl_ratio = shared(kClRatioCyp2c9_13);
  if (cyp2c9 == "*2/*2") cl_ratio = shared(kClRatioCyp2c9_22);
  if (cyp2c9 == "*2/*3") cl_ratio = shared(kClRatioCyp2c9_23);
  if (cyp2c9 == "*3/*3") cl_ratio = shared(kClRatioCyp2c9_33);
  double ic50_ratio = 1.0;
  if (vkorc1 == "GA") ic50_ratio = shared(kIc50RatioVkorc1GA);
  if (vkorc1 == "AA") ic50_ratio = shared(kIc50RatioVkorc1AA);
  cl_warfarin_ = shared(kClWarfarin) * cl_ratio;
  ic50_warfarin_ = shared(kIc50Warfarin) * ic50_ratio;
}

double VitK::inr(const double* y) const {
  // Eq. (25), fitted to the prothrombin time of the Wajima 2009 network (docs/inr-from-wajima.md):
  // s = -(b_II ln f_II + b_VII ln f_VII + b_X ln f_X), INR = exp(s + g s^2), f in [0.05, 1].
  auto ln = [&](Factor k) { return std::log(std::clamp(y[factor(k)], 0.05, 1.0)); };
  const double s =
      -(shared(kInrBII) * ln(kII) + shared(kInrBVII) * ln(kVII) + shared(kInrBX) * ln(kX));
  return std::exp(s + shared(kInrG) * s * s);
}

double VitK::meal_fat_g(const DoseContext& dose) const {
  // Canonical mass is ug; the fat parameters are masses too.
  switch (dose.meal_fat) {
    case MealFat::kFasting:
      return 0.0;
    case MealFat::kHighFatMeal:
      return shared(kMealFatHigh) * 1e-6;
    case MealFat::kGrams:
      return dose.meal_fat_g;
    case MealFat::kUnspecified:
    case MealFat::kWithMeal:
      break;
  }
  return shared(kMealFatStandard) * 1e-6;
}

double VitK::absorbed_fraction(Form f, const DoseContext& dose) const {
  // Eq. (12): F = f_abs_form * m_matrix * h(fat) / h(standard meal), with
  // h(g) = fat_fasting + (1 - fat_fasting) * g^n / (g50^n + g^n).
  const double g50 = shared(kFatHalf) * 1e-6;
  const double n = shared(kFatHill);
  const double h0 = shared(kFatFasting);
  auto h = [&](double g) {
    const double gn = std::pow(g, n);
    return h0 + (1.0 - h0) * gn / (std::pow(g50, n) + gn);
  };
  // A mixed-micelle preparation is absorbed without bile-salt micelles from a meal (assumed).
  const double fat_effect = dose.matrix == Matrix::kMicelle
                                ? 1.0
                                : h(meal_fat_g(dose)) / h(shared(kMealFatStandard) * 1e-6);
  // The vegetable matrix factor is measured for K1 only (Garber 1999, Gijsbers 1996).
  const double matrix =
      (kParamForm[f] == kK1 && dose.matrix == Matrix::kVegetable) ? shared(kFVegetableK1) : 1.0;
  return std::min(1.0, form(f, kFAbs) * matrix * fat_effect);
}

}  // namespace k2sim::internal
