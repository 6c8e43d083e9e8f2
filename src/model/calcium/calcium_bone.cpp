#include "calcium_bone.hpp"

#include <cmath>

#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/units/substances.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim::internal {

namespace {

std::array<std::string_view, CalciumBone::kStateCount> state_names() {
  std::array<std::string_view, CalciumBone::kStateCount> names{};
  for (std::size_t i = 0; i < pr2010::kSpeciesCount; ++i) names[i] = pr2010::kSpeciesNames[i];
  names[CalciumBone::kCaSupplement] = "ca_supplement_stomach_mmol";
  names[CalciumBone::kCaIntoGutCum] = "ca_into_gut_cumulative_mmol";
  names[CalciumBone::kUrineCaCum] = "urine_ca_cumulative_mmol";
  names[CalciumBone::kGutD3] = "gut_d3_nmol";
  names[CalciumBone::kGutD2] = "gut_d2_nmol";
  names[CalciumBone::kCentralD3] = "plasma_d3_nmol";
  names[CalciumBone::kCentralD2] = "plasma_d2_nmol";
  names[CalciumBone::kPeripheralD3] = "adipose_d3_nmol";
  names[CalciumBone::kPeripheralD2] = "adipose_d2_nmol";
  names[CalciumBone::kCalcidiolD3] = "calcidiol_d3_nmol";
  names[CalciumBone::kCalcidiolD2] = "calcidiol_d2_nmol";
  names[CalciumBone::kMgSupplement] = "mg_supplement_mmol";
  names[CalciumBone::kBmdLumbarSpine] = "bmd_lumbar_spine";
  names[CalciumBone::kBmdFemoralNeck] = "bmd_femoral_neck";
  names[CalciumBone::kDenosumabSc] = "denosumab_sc_nmol";
  names[CalciumBone::kDenosumabCentral] = "denosumab_central_nmol";
  names[CalciumBone::kDenosumabPeripheral] = "denosumab_peripheral_nmol";
  return names;
}

// Erythemally weighted UV dose per skin area, J/m2 (eq. 56).
const units::Dimension kDose = units::dim::energy() / units::dim::length() / units::dim::length();

}  // namespace

const std::array<std::string_view, CalciumBone::kStateCount> CalciumBone::kStateNames =
    state_names();

CalciumBone::CalciumBone(const ParameterTable& table)
    : own_(resolve(
          table, {kOwnNames.begin(), kOwnNames.end()},
          {units::dim::per_time(), units::Dimension::none(), units::dim::per_time(),
           units::dim::volume(), units::dim::volume() / units::dim::time(), units::dim::volume(),
           units::dim::amount_rate(), units::dim::amount_conc(),
           units::dim::volume() / units::dim::time(), units::dim::volume() / units::dim::time(),
           units::dim::volume(), units::dim::volume() / units::dim::time(),
           units::dim::volume() / units::dim::time(), units::dim::amount_conc(),
           units::Dimension::none(), units::Dimension::none(), units::dim::mass_rate(),
           units::dim::mass_rate(), units::dim::amount_conc(), units::dim::amount_conc(),
           units::Dimension::none(), units::dim::per_time(), units::Dimension::none(),
           units::Dimension::none(), units::dim::mass_rate(), units::dim::mass_rate(),
           units::dim::per_time(), units::dim::time(), units::Dimension::none(),
           units::Dimension::none(), units::dim::time(), units::Dimension::none(),
           units::Dimension::none(), units::Dimension::none(), units::Dimension::none(),
           units::Dimension::none(), units::dim::per_time(), units::Dimension::none(),
           units::dim::per_time(), units::Dimension::none(), units::Dimension::none(),
           units::dim::per_time(), units::dim::volume(), units::dim::volume(),
           units::dim::volume() / units::dim::time(), units::dim::volume() / units::dim::time(),
           units::dim::mass_rate(), units::dim::mass_conc(),
           units::dim::volume() / units::dim::mass() / units::dim::time(),
           // eq. (56): skin synthesis
           units::dim::angle(), units::Dimension::none(), units::Dimension::none(),
           kDose / units::dim::time(), kDose, kDose, kDose, kDose, kDose, kDose, units::dim::mass(),
           units::Dimension::none(), units::Dimension::none(),
           // eq. (57): the food part of the background vitamin D
           units::dim::mass_rate(),
           // eq. (58): body weight of the calibrated vitamin D parameters
           units::dim::mass()})),
      own_table_(own_) {
  // The SBML's parameters, in the units its equations use (pr2010::kParams): the table may
  // state a value in another unit of the same dimension.
  for (std::size_t i = 0; i < pr2010::kParamCount; ++i) {
    const pr2010::ParamSpec& spec = pr2010::kParams[i];
    const Parameter& p = table.at(spec.name);
    const units::Unit expected = units::parse_unit(spec.unit);
    if (!(p.parsed_unit.dimension == expected.dimension)) {
      throw InputError(fmt::format("{}:{}: parameter {} in '{}' (rule: a unit of {}, as {})",
                                   table.file(), p.line, p.name, p.unit,
                                   expected.dimension.canonical_unit(), spec.unit));
    }
    p_[i] = p.canonical() / expected.factor;
  }
  std::array<double, pr2010::kSpeciesCount> y{};
  pr2010::initial_state(p_.data(), y.data(), derived_.data());
  pr2010::fixed_rules(p_.data(), derived_.data(), fixed_.data());
  gfr0_l_per_h_ = gfr_end_l_per_h_ = p_[pr2010::pGFR];  // until set_subject
  denosumab_ug_per_nmol_ = units::find_substance("denosumab").mw_g_per_mol * 1e-3;
  ug_per_mmol_mg_ = units::find_substance("magnesium").mw_g_per_mol * 1e3;
  // Eq. (45): the background vitamin D3 input, ug/h -> nmol/h.
  d_input_nmol_per_h_ = own_[kDBackground] * 1e3 / units::find_substance("D3").mw_g_per_mol;
  sun_ug_to_nmol_per_h_ = 1e3 / units::find_substance("D3").mw_g_per_mol / 24.0;
  set_diet(DietInput{});
  // Eq. (48): the published state describes an adult on the reference input d_reference.
  std::array<double, kStateCount> y0{};
  vitamin_d_steady_state(own_[kDReference] * 1e3 / units::find_substance("D3").mw_g_per_mol, y0);
  c25_reference_ = calcidiol_nmol_per_l(y0.data());
  saturation_reference_ = c25_reference_ / (own_[kKm1a25ohd] + c25_reference_);
  const double xv = pow_ratio(c25_reference_, own_[kEc50Vdr25ohd], own_[kHillVdr25ohd]);
  vdr_reference_ = xv / (1.0 + xv);
}

void CalciumBone::set_subject(const SubjectCovariates& s) {
  // Eq. (58): volumetric dilution (Drincic et al. 2012: 25(OH)D falls hyperbolically with total
  // body weight at the same input): the volumes and clearances of vitamin D and 25(OH)D scale
  // with body weight; the saturable hydroxylation (an amount of enzyme) does not.
  own_ = own_table_;
  const double w = s.body_weight_kg * 1e9 / own_table_[kWeightReferenceVitd];  // kg -> ug
  if (!(w > 0.0)) {
    throw InputError(
        fmt::format("subject.body_weight = {} kg (rule: more than 0)", s.body_weight_kg));
  }
  for (Own i : {kVD3, kQD3, kVpD3, kCl25Linear, kClDOther, kV25ohd, kCl25ohd, kClmax25ohd}) {
    own_[i] *= w;
  }
  if (s.newborn) {
    throw InputError("subject.newborn (rule: model calcium-bone describes adults)");
  }
  if (s.dialysis) {
    throw InputError(
        "subject.dialysis (rule: model calcium-bone has no dialysis; give the subject's egfr)");
  }
  if (s.menopause_age_y > 0.0 && s.age_y < 10.0) {
    throw InputError(fmt::format(
        "subject.age = {} y with menopause_age (rule: an age of at least 10 y)", s.age_y));
  }
  // Eq. (44): the model's GFR is absolute (Peterson & Riggs: 100 mL/min); the subject's eGFR is
  // per 1.73 m2 of body surface, which comes from height and weight (Du Bois & Du Bois 1916:
  // BSA = 0.007184 m2 * W^0.425 * H^0.725, W in kg, H in cm).
  const double bsa_m2 = 0.007184 * std::pow(s.body_weight_kg, 0.425) * std::pow(s.height_cm, 0.725);
  const double to_absolute = bsa_m2 / 1.73;
  gfr0_l_per_h_ = s.egfr * to_absolute;
  gfr_end_l_per_h_ = (s.egfr_decline_h > 0.0 ? s.egfr_end : s.egfr) * to_absolute;
  gfr_decline_h_ = s.egfr_decline_h;
  age0_y_ = s.female && s.menopause_age_y > 0.0 ? s.age_y : -1.0;
  menopause_age_y_ = s.menopause_age_y;
  if (s.sun && (s.sun->skin_type < 1 || s.sun->skin_type > 6 ||
                std::abs(s.sun->latitude_deg) > 90.0 || s.sun->minutes_per_day < 0.0)) {
    throw InputError(fmt::format(
        "subject.sun: skin_type {}, latitude {} deg, {} min (rule: Fitzpatrick 1-6, -90 to 90 deg, "
        "minutes >= 0)",
        s.sun->skin_type, s.sun->latitude_deg, s.sun->minutes_per_day));
  }
  sun_ = s.sun;
  if (sun_) {
    if (sun_->skin_exposed < 0.0) sun_->skin_exposed = own_[kSunSkinExposed];
    sun_start_ = periodic_vitamin_d_start();
  }
}

std::array<double, 6> CalciumBone::periodic_vitamin_d_start() const {
  // Eq. (56): with seasonal synthesis there is no steady state; the run starts on the periodic
  // orbit of the vitamin D states instead. From the steady state of the year's mean input,
  // three years of the vitamin D equations (classical Runge-Kutta, 2 h steps; the fastest rate,
  // hydroxylation of plasma D3, is about 0.35/h) bring them onto the orbit at the start date;
  // the slowest, adipose D3 (a time constant of about 1.4 years), starts near its mean already.
  double mean_ug_per_d = 0.0;
  for (int d = 0; d < 365; ++d) mean_ug_per_d += skin_d3_ug_per_d(24.0 * d + 12.0) / 365.0;
  std::array<double, kStateCount> y{};
  vitamin_d_steady_state(d_input_nmol_per_h_ + mean_ug_per_d * sun_ug_to_nmol_per_h_, y);
  constexpr std::array<std::size_t, 6> kD3 = {kCentralD3, kPeripheralD3, kCalcidiolD3,
                                              kCentralD2, kPeripheralD2, kCalcidiolD2};
  constexpr double kStep = 2.0;  // h
  constexpr int kSteps = 3 * 365 * 12;
  std::array<double, kStateCount> k1{}, k2{}, k3{}, k4{}, tmp = y;
  for (int i = 0; i < kSteps; ++i) {
    const double t = -kStep * (kSteps - i);
    vitamin_d_rhs<double>(t, y.data(), k1.data());
    for (std::size_t j : kD3) tmp[j] = y[j] + 0.5 * kStep * k1[j];
    vitamin_d_rhs<double>(t + 0.5 * kStep, tmp.data(), k2.data());
    for (std::size_t j : kD3) tmp[j] = y[j] + 0.5 * kStep * k2[j];
    vitamin_d_rhs<double>(t + 0.5 * kStep, tmp.data(), k3.data());
    for (std::size_t j : kD3) tmp[j] = y[j] + kStep * k3[j];
    vitamin_d_rhs<double>(t + kStep, tmp.data(), k4.data());
    for (std::size_t j : kD3) y[j] += kStep / 6.0 * (k1[j] + 2.0 * k2[j] + 2.0 * k3[j] + k4[j]);
  }
  std::array<double, 6> out{};
  for (std::size_t i = 0; i < kD3.size(); ++i) out[i] = y[kD3[i]];
  return out;
}

double CalciumBone::uv_index(double t_h) const {
  if (!sun_) return 0.0;
  // Eq. (56): solar declination (Cooper 1969) on the day of the run, continuous in time; the
  // solar zenith angle at noon is |latitude - declination|; the clear-sky UV index at 300 DU of
  // ozone follows Madronich (2007).
  constexpr double kPi = 3.14159265358979323846;
  constexpr double kRad = kPi / 180.0;
  const double day = sun_->start_day_of_year + t_h / 24.0;
  const double declination = own_[kSunDeclinationMax] * std::sin(2.0 * kPi * (284.0 + day) / 365.0);
  const double mu = std::cos((sun_->latitude_deg - declination) * kRad);
  return mu > 0.0 ? own_[kSunUviMax] * std::pow(mu, own_[kSunUviExponent]) : 0.0;
}

double CalciumBone::skin_d3_ug_per_d(double t_h) const {
  if (!sun_) return 0.0;
  // Eq. (56): the erythemal dose of the day's exposure in MED of the skin type; vitamin D3
  // in proportion to it and to the exposed skin, up to the photoequilibrium at
  // sun_saturation_med.
  const double dose = own_[kSunErythemalPerUvi] * uv_index(t_h) * sun_->minutes_per_day / 60.0;
  const double med = own_[kSunMed1 + static_cast<std::size_t>(sun_->skin_type - 1)];
  return own_[kSunD3PerMed] * sun_->skin_exposed * std::min(dose / med, own_[kSunSaturationMed]);
}

double CalciumBone::calcidiol_elimination_at(double c25_nmol_per_l) const {
  const double mg = 1.0 - own_[kMgEffectStrength] * (1.0 - mg_status0());
  const double x = pow_ratio(c25_nmol_per_l, own_[kC50Cl25ohd], own_[kHillCl25ohd]);
  return (own_[kCl25ohd] + own_[kClmax25ohd] * mg * x / (1.0 + x)) / own_[kV25ohd];
}

void CalciumBone::set_diet(const DietInput& d) {
  // Eq. (57). Without a diet: the SBML's dietary calcium OralCa, the background magnesium and
  // Heaney's all-source vitamin D input. With one: its calcium and magnesium replace them, and its
  // vitamin D replaces the food part of the all-source input (d_food_reference), which keeps the
  // undocumented and solar rest (Heaney et al. 2013: food explains a small part).
  const double d3_ug_to_nmol = 1e3 / units::find_substance("D3").mw_g_per_mol;
  constexpr double kHoursPerDay = 24.0;
  oral_ca_mmol_per_h_ = p_[pr2010::pOralCa];
  mg_background_ug_per_h_ = own_[kMgIntakeBackground];
  d_input_nmol_per_h_ = own_[kDBackground] * d3_ug_to_nmol;
  d2_input_nmol_per_h_ = 0.0;
  if (d.given) {
    // mg/d over g/mol (= mg/mmol) gives mmol/d.
    oral_ca_mmol_per_h_ =
        d.ca_mg_per_d / units::find_substance("calcium").mw_g_per_mol / kHoursPerDay;
    mg_background_ug_per_h_ = d.mg_mg_per_d * 1e3 / kHoursPerDay;
    d_input_nmol_per_h_ =
        std::max(0.0, own_[kDBackground] - own_[kDFoodReference] + d.d3_ug_per_d / kHoursPerDay) *
        d3_ug_to_nmol;
    d2_input_nmol_per_h_ =
        d.d2_ug_per_d / kHoursPerDay * 1e3 / units::find_substance("D2").mw_g_per_mol;
  }
  // Eq. (56): the periodic start depends on these inputs (a model serves arm after arm).
  if (sun_) sun_start_ = periodic_vitamin_d_start();
}

double CalciumBone::estrogen(double t_h) const {
  if (age0_y_ < 0.0) return 1.0;
  static const double kHoursPerYear = units::parse_unit("y").factor;  // (parsed once)
  const double age = age0_y_ + t_h / kHoursPerYear;
  const double h = own_[kEstMenopauseDuration] / kHoursPerYear / 2.0;  // y
  // Peterson & Riggs: a power law of age (1 at est_age_reference) and a fall of
  // est_menopause_drop over the menopause; k2sim centres the fall at menopause_age.
  double e = std::pow(age / (own_[kEstAgeReference] / kHoursPerYear), -own_[kEstAgeExponent]);
  const double d = age - (menopause_age_y_ - h);
  if (d > 0.0) e *= 1.0 - own_[kEstMenopauseDrop] * d * d / (h * h + d * d);
  return e;
}

std::array<double, pr2010::kScaledCount> CalciumBone::estrogen_scale(double t_h) const {
  std::array<double, pr2010::kScaledCount> f{};
  const double e = estrogen(t_h);
  f[pr2010::skinTGF] = std::pow(1.0 / e, own_[kEstGammaTgfProduction]);
  f[pr2010::skoutTGFeqn] = std::pow(e, own_[kEstGammaTgfActivation]);
  f[pr2010::sROBin] = std::pow(1.0 / e, own_[kEstGammaRob]);
  f[pr2010::sReabsMax] = 1.0 - own_[kEstReabsorption] + own_[kEstReabsorption] * e;
  return f;
}

void CalciumBone::vitamin_d_steady_state(double input_nmol_per_h, std::span<double> y) const {
  // Vitamin D at the steady state of the background input (closed form): plasma D3 where
  // hydroxylation and the other routes remove the input, adipose in equilibrium with plasma,
  // 25(OH)D3 where its clearance removes what hydroxylation makes (bisection: the clearance rises
  // with the level).
  const double in = input_nmol_per_h;
  const double vmax = own_[kVmax25] * (1.0 - own_[kMgEffectStrength] * (1.0 - mg_status0()));
  const double km = own_[kKm25];
  const double lin = own_[kCl25Linear] * (1.0 - own_[kMgEffectStrength] * (1.0 - mg_status0()));
  const double cl = own_[kClDOther] + lin;
  // in = vmax c / (km + c) + cl c  ->  cl c^2 + (cl km + vmax - in) c - in km = 0
  const double b = cl * km + vmax - in;
  const double c =
      cl > 0.0 ? (-b + std::sqrt(b * b + 4.0 * cl * in * km)) / (2.0 * cl) : in * km / (vmax - in);
  y[kCentralD3] = c * own_[kVD3];
  y[kPeripheralD3] = c * own_[kVpD3];
  const double production = vmax * c / (km + c) + lin * c;
  y[kCalcidiolD3] = calcidiol_steady_state(production) * own_[kV25ohd];
}

double CalciumBone::mg_status0() const {
  return std::min(1.0, mg_background_ug_per_h_ / own_[kMgRda]);
}

double CalciumBone::calcidiol_steady_state(double production_nmol_per_h) const {
  // Eq. (47) at steady state: production = CL(c) c, CL rising with c; bisection on c.
  auto removal = [&](double c) { return calcidiol_elimination_at(c) * own_[kV25ohd] * c; };
  double lo = 0.0, hi = 1.0;
  while (removal(hi) < production_nmol_per_h && hi < 1e7) hi *= 2.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (removal(mid) < production_nmol_per_h ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double CalciumBone::gfr_l_per_h(double t_h) const {
  if (gfr_decline_h_ <= 0.0 || t_h <= 0.0) return gfr0_l_per_h_;
  const double x = std::min(t_h, gfr_decline_h_) / gfr_decline_h_;
  return gfr0_l_per_h_ * std::pow(gfr_end_l_per_h_ / gfr0_l_per_h_, x);
}

void CalciumBone::reset_state(std::span<double> y) const {
  std::array<double, pr2010::kParamCount> p = p_;
  p[pr2010::pGFR] = gfr0_l_per_h_;
  std::array<double, pr2010::kDerivedCount> unused{};
  pr2010::initial_state(p.data(), y.data(), unused.data());
  for (std::size_t i = kSbml; i < kStateCount; ++i) y[i] = 0.0;
  vitamin_d_steady_state(d_input_nmol_per_h_, y);
  if (sun_) {
    const std::array<std::size_t, 6> states = {kCentralD3, kPeripheralD3, kCalcidiolD3,
                                               kCentralD2, kPeripheralD2, kCalcidiolD2};
    for (std::size_t i = 0; i < states.size(); ++i) y[states[i]] = sun_start_[i];
  }
  y[kBmdLumbarSpine] = 1.0;
  y[kBmdFemoralNeck] = 1.0;
}

}  // namespace k2sim::internal
