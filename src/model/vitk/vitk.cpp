#include "vitk.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "k2sim/error.hpp"
#include "k2sim/units/substances.hpp"
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
      d::amount(), d::amount(), Dimension::none(), Dimension::none(), d::per_time(), d::per_time(),
      d::amount_conc(),
      // eq. (19)-(28)
      Dimension::none(), d::gfr(), d::gfr(), d::per_time(), d::per_time(), d::per_time(),
      d::amount(), Dimension::none(), d::per_time(), d::per_time(), d::per_time(), d::per_time(),
      d::per_time(), d::per_time(), Dimension::none(), Dimension::none(), Dimension::none(),
      Dimension::none(), Dimension::none(), d::per_time(), Dimension::none(), d::volume(),
      d::volume(), d::volume() / d::time(), d::volume() / d::time(), d::mass_conc(),
      Dimension::none(), Dimension::none(), Dimension::none(), Dimension::none(), Dimension::none(),
      Dimension::none(), Dimension::none(), d::per_time(), Dimension::none(), d::volume(),
      d::volume() / d::time(), d::mass_conc(),
      // eq. (29)-(33)
      d::per_time(), d::mass(), Dimension::none(), Dimension::none(), d::time(), d::mass(),
      Dimension::none(), Dimension::none(), Dimension::none(), Dimension::none(), Dimension::none(),
      Dimension::none(), d::time(), d::mass_conc(), d::mass_conc(), d::volume() / d::time(),
      d::time(), Dimension::none(), Dimension::none(),
      // eq. (34)
      Dimension::none(), d::per_time(), Dimension::none(), Dimension::none(), d::time(), d::time(),
      // eq. (11), DHP hypothesis
      Dimension::none()};
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
  // Molar masses (g/mol = ug/umol): nmol * (g/mol) / 1000 = ug.
  ug_per_nmol_warfarin_ = units::find_substance("warfarin").mw_g_per_mol * 1e-3;
  ug_per_nmol_acenocoumarol_ = units::find_substance("acenocoumarol").mw_g_per_mol * 1e-3;
  ug_per_nmol_k1_ = units::find_substance("K1").mw_g_per_mol * 1e-3;
  SubjectCovariates reference;
  reference.egfr = shared(kEgfrReference);
  set_subject(reference);
}

void VitK::set_subject(const SubjectCovariates& s) {
  if (s.egfr_decline_h > 0.0) {
    throw InputError(
        "subject.egfr_decline (rule: model vitk takes a constant eGFR; model calcium-bone takes "
        "its decline)");
  }
  if (s.sun) {
    throw InputError(
        "subject.sun (rule: model vitk has no vitamin D; model calcium-bone makes it in the "
        "skin)");
  }
  // Eq. (19): dp-ucMGP is cleared partly by the kidney; its plasma level scales with the
  // inverse of its clearance relative to a subject with egfr_reference.
  const double e = s.dialysis ? shared(kEgfrDialysis) : s.egfr;
  const double fr = shared(kFRenalDpUcMgp);
  dp_ucmgp_renal_factor_ = 1.0 / ((1.0 - fr) + fr * e / shared(kEgfrReference));
  // Genotypes as ratios on S-warfarin clearance (CYP2C9) and on the VKOR IC50 (VKORC1).
  double cl_ratio = 1.0;
  if (s.cyp2c9 == "*1/*2") cl_ratio = shared(kClRatioCyp2c9_12);
  if (s.cyp2c9 == "*1/*3") cl_ratio = shared(kClRatioCyp2c9_13);
  if (s.cyp2c9 == "*2/*2") cl_ratio = shared(kClRatioCyp2c9_22);
  if (s.cyp2c9 == "*2/*3") cl_ratio = shared(kClRatioCyp2c9_23);
  if (s.cyp2c9 == "*3/*3") cl_ratio = shared(kClRatioCyp2c9_33);
  double ic50_ratio = 1.0;
  if (s.vkorc1 == "GA") ic50_ratio = shared(kIc50RatioVkorc1GA);
  if (s.vkorc1 == "AA") ic50_ratio = shared(kIc50RatioVkorc1AA);
  cl_warfarin_ = shared(kClWarfarin) * cl_ratio;
  ic50_warfarin_ = shared(kIc50Warfarin) * ic50_ratio;
  // Eq. (30)-(31): the newborn's size and feeding.
  newborn_ = s.newborn;
  cholestasis_ = s.newborn && s.cholestasis;
  body_weight_kg_ = s.body_weight_kg;
  birth_size_ = newborn_ ? s.body_weight_kg * 1e9 / shared(kWeightReference) : 1.0;  // kg -> ug
  double ug_per_l = 0.0;
  if (newborn_ && s.feeding == "breast milk") ug_per_l = shared(kBreastMilkK1);
  if (newborn_ && s.feeding == "formula") ug_per_l = shared(kFormulaK1);
  feeding_ug_per_h_ = ug_per_l * shared(kMilkVolume);
  // A newborn absorbs f_abs_newborn of it (eq. 31; absorbed_fraction reads newborn_).
  feeding_rate_ = feeding_ug_per_h_ / ug_per_nmol_k1_ * absorbed_fraction(kK1, DoseContext{});
}

double VitK::feeding_k1_ug_per_d(double t_h) const {
  return 24.0 * feeding_ug_per_h_ * milk_fraction(t_h);
}

void VitK::reset_state(std::span<double> y) const {
  for (double& v : y) v = 0.0;
  if (!newborn_) return;
  // Eq. (33): the birth state. The newborn liver holds newborn_liver_k1 (no menaquinones); plasma,
  // tissue and the hepatic cycle are at the steady state a constant placental supply would give
  // with that store (all rate constants scale alike, so the adult ratios hold).
  const double total = shared(kNewbornLiverK1) / ug_per_nmol_k1_;
  const double q_to_h = shared(kKVkorQuinone) / shared(kKHydroquinoneOxidation);
  const double q_to_x = shared(kKVkorQuinone) / shared(kKVkorEpoxide);
  const double quinone = total / (1.0 + q_to_h + q_to_x);
  const double plasma =
      quinone * (form(kK1, kKlp) + shared(kClearanceBirth) * form(kK1, kKcat)) / form(kK1, kKpl);
  const double tissue = shared(kClearanceBirth) * form(kK1, kKpt) * plasma /
                        (form(kK1, kKtp) + form(kK1, kKtcat) + shared(kKUbiad1));
  y[index(kK1, kLiver)] = quinone;
  y[hydroquinone(kK1)] = quinone * q_to_h;
  y[epoxide(kK1)] = quinone * q_to_x;
  y[index(kK1, kPlasma)] = plasma;
  y[index(kK1, kTissue)] = tissue;
  const double h = shared(kHillCarboxylation);
  const double e_h = std::pow(tissue / birth_size_, h);
  y[kMgpCarboxylated] = shared(kMgpCarboxylationMax) * e_h / (std::pow(shared(kEc50Mgp), h) + e_h);
  y[kOcCarboxylated] = e_h / (std::pow(shared(kEc50Oc), h) + e_h);
  const double c = liver_carboxylation(y[hydroquinone(kK1)] / birth_size_);
  for (std::size_t k = 0; k < kFactors; ++k) {
    const auto fk = static_cast<Factor>(k);
    y[factor(fk)] = factor_capacity(fk, 0.0) * c;
  }
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
  // Eq. (31): a newborn absorbs one fraction whatever the meal (milk) or preparation.
  // Eq. (34): cholestasis (too little bile for micelles) cuts it, whatever the preparation.
  if (newborn_) return shared(kFAbsNewborn) * (cholestasis_ ? shared(kFAbsCholestasis) : 1.0);
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
