// Calcium homeostasis, bone remodelling and vitamin D (model "calcium-bone"): the Peterson &
// Riggs (Bone 2010;46:49-63) model, translated from its SBML encoding (pr2010_generated.hpp,
// equations (40)-(41) of docs/model.md), with k2sim's inputs and extensions: the subject's kidney
// function and its decline, oral calcium supplements, subcutaneous and intravenous teriparatide
// (eq. 42-44), and a vitamin D front end with magnesium as a hypothesis (eq. 45-52). Parameters in
// data/parameters/calcium.csv.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"
#include "pr2010_generated.hpp"

namespace k2sim::internal {

class CalciumBone {
 public:
  static constexpr std::size_t kSbml = pr2010::kSpeciesCount;
  // After the SBML's species: an oral calcium supplement not yet emptied from the stomach, and
  // two accumulators (no feedback; held by the equilibrium search): calcium that entered the
  // absorbable gut pool T since the start, and calcium excreted in urine since the start; mmol.
  // Then vitamin D (nmol): D3 and D2 in the gut, in plasma (central) and in adipose tissue
  // (peripheral), 25(OH)D3 and 25(OH)D2; and magnesium from supplements in transit (mmol).
  enum Extra : std::size_t {
    kCaSupplement = kSbml,
    kCaIntoGutCum,
    kUrineCaCum,
    kGutD3,
    kGutD2,
    kCentralD3,
    kCentralD2,
    kPeripheralD3,
    kPeripheralD2,
    kCalcidiolD3,
    kCalcidiolD2,
    kMgSupplement,
    kBmdLumbarSpine,
    kBmdFemoralNeck,
    kDenosumabSc,
    kDenosumabCentral,
    kDenosumabPeripheral,
    kStateCount
  };
  static const std::array<std::string_view, kStateCount> kStateNames;
  // States held by the steady-state searches: the accumulators (nothing depends on them), the
  // SBML's unused total-osteoblast species OB, and the bone store Qbone, whose Jacobian column
  // vanishes at the published parameters (its exchange with Q, J14a - J15a, does not change with
  // its own amount there) and which integrates the net bone balance: holding it keeps total bone
  // calcium at its reset value while the other states settle.
  static constexpr std::array<std::size_t, 4> kAccumulators = {kCaIntoGutCum, kUrineCaCum,
                                                               pr2010::kQbone, pr2010::kOB};

  // k2sim's parameters of this model, after the SBML's (same table).
  enum Own : std::size_t {
    kKCaSupplement,
    kFAbsD,
    kKaD,
    kVD3,
    kQD3,
    kVpD3,
    kVmax25,
    kKm25,
    kCl25Linear,
    kClDOther,
    kV25ohd,
    kCl25ohd,
    kClmax25ohd,
    kC50Cl25ohd,
    kHillCl25ohd,
    kClRatio25ohd2,
    kDBackground,
    kDReference,
    kKm1a25ohd,
    kEc50Vdr25ohd,
    kHillVdr25ohd,
    kKVdr25ohdAbsorption,
    kEmaxVdr25ohdBone,
    kMgEffectStrength,
    kMgIntakeBackground,
    kMgRda,
    kKMgSupplement,
    kEstAgeReference,
    kEstAgeExponent,
    kEstMenopauseDrop,
    kEstMenopauseDuration,
    kEstGammaTgfProduction,
    kEstGammaTgfActivation,
    kEstGammaRob,
    kEstReabsorption,
    kBmdGammaOb,
    kBmdKoutLs,
    kBmdGammaOcLs,
    kBmdKoutFn,
    kBmdGammaOcFn,
    kDenF,
    kDenKa,
    kDenVc,
    kDenVp,
    kDenQ,
    kDenCl,
    kDenVmax,
    kDenKm,
    kDenRankl,
    kSunDeclinationMax,
    kSunUviMax,
    kSunUviExponent,
    kSunErythemalPerUvi,
    kSunMed1,
    kSunMed2,
    kSunMed3,
    kSunMed4,
    kSunMed5,
    kSunMed6,
    kSunD3PerMed,
    kSunSaturationMed,
    kSunSkinExposed,
    kDFoodReference,
    kWeightReferenceVitd,
    kOwnCount
  };
  static constexpr std::array<std::string_view, kOwnCount> kOwnNames = {
      "k_ca_supplement",
      "f_abs_d",
      "ka_d",
      "v_d3",
      "q_d3",
      "vp_d3",
      "vmax_25_hydroxylation",
      "km_25_hydroxylation",
      "cl_25_hydroxylation_linear",
      "cl_d_other",
      "v_25ohd",
      "cl_25ohd",
      "clmax_25ohd",
      "c50_cl_25ohd",
      "hill_cl_25ohd",
      "cl_ratio_25ohd2",
      "d_background",
      "d_reference",
      "km_1a_25ohd",
      "ec50_vdr_25ohd",
      "hill_vdr_25ohd",
      "k_vdr_25ohd_absorption",
      "emax_vdr_25ohd_bone",
      "mg_effect_strength",
      "mg_intake_background",
      "mg_rda",
      "k_mg_supplement",
      "est_age_reference",
      "est_age_exponent",
      "est_menopause_drop",
      "est_menopause_duration",
      "est_gamma_tgf_production",
      "est_gamma_tgf_activation",
      "est_gamma_rob",
      "est_reabsorption",
      "bmd_gamma_ob",
      "bmd_kout_ls",
      "bmd_gamma_oc_ls",
      "bmd_kout_fn",
      "bmd_gamma_oc_fn",
      "den_f",
      "den_ka",
      "den_vc",
      "den_vp",
      "den_q",
      "den_cl",
      "den_vmax",
      "den_km",
      "k_den_rankl",
      "sun_declination_max",
      "sun_uvi_max",
      "sun_uvi_exponent",
      "sun_erythemal_dose_rate_per_uvi",
      "sun_med_type_1",
      "sun_med_type_2",
      "sun_med_type_3",
      "sun_med_type_4",
      "sun_med_type_5",
      "sun_med_type_6",
      "sun_d3_per_med_whole_body",
      "sun_saturation_med",
      "sun_skin_exposed_default",
      "d_food_reference",
      "weight_reference_vitd"};

  static_assert(
      [] {
        for (std::string_view n : kOwnNames) {
          if (n.empty()) return false;
        }
        return true;
      }(),
      "every Own parameter has a name");

  explicit CalciumBone(const ParameterTable& table);

  void set_subject(const SubjectCovariates& s);
  /// Eq. (57): a diet's calcium, magnesium and vitamin D replace the background inputs.
  void set_diet(const DietInput& d);

  /// Eq. (40)-(52).
  template <class T>
  void rhs(T t_h, const T* y, T* dydt, T* rule = nullptr) const {
    std::array<double, pr2010::kParamCount> p = p_;
    p[pr2010::pGFR] = gfr_l_per_h(static_cast<double>(t_h));
    p[pr2010::pOralCa] = oral_ca_mmol_per_h_;  // eq. (57)
    std::array<T, pr2010::kRuleCount> own_rule;
    T* r = rule != nullptr ? rule : own_rule.data();
    // Eq. (55): estrogen scales four of the SBML's rules.
    const std::array<double, pr2010::kScaledCount> scale = estrogen_scale(static_cast<double>(t_h));
    pr2010::rhs<T>(t_h, y, p.data(), derived_.data(), fixed_.data(), dydt, r, scale.data());
    const auto o = [this](Own i) { return own_[i]; };
    // Eq. (42): a supplement dose empties into the gut; the fraction F11 of what arrives enters
    // the absorbable pool T, as the SBML's dietary input OralCa does.
    const T emptying = o(kKCaSupplement) * y[kCaSupplement];
    dydt[kCaSupplement] = -emptying;
    dydt[pr2010::kT] += emptying * r[pr2010::rF11];
    // Eq. (43): accumulators for the calcium balance.
    dydt[kCaIntoGutCum] = (p[pr2010::pOralCa] + emptying) * r[pr2010::rF11];
    dydt[kUrineCaCum] = r[pr2010::rJ27];
    // Eq. (45)-(47), (56): vitamin D.
    vitamin_d_rhs(t_h, y, dydt);
    const T c25 = calcidiol_nmol_per_l(y);
    // Eq. (48): 25(OH)D is the substrate of the renal 1-alpha-hydroxylase: the SBML's production
    // of its activity A scales with substrate saturation, relative to that at the 25(OH)D of the
    // background input (the state the published model describes).
    const T saturation = c25 / (o(kKm1a25ohd) + c25);
    dydt[pr2010::kA] += (saturation / saturation_reference_ - 1.0) * r[pr2010::rSE];
    // Eq. (49)-(50): toxicity through 25(OH)D itself (a weak VDR agonist at high levels): it
    // drives the calcitriol-dependent absorption state R as calcitriol does, and adds bone
    // resorption (with its phosphate, 0.464 mol per mol of calcium as the SBML's J41).
    // Relative to the background input's level, so that the published state is unchanged.
    const T xv = pow_ratio(c25, o(kEc50Vdr25ohd), o(kHillVdr25ohd));
    const T vdr = xv / (1.0 + xv) - vdr_reference_;
    dydt[pr2010::kR] += o(kKVdr25ohdAbsorption) * vdr * (1.0 - y[pr2010::kR]);
    const T resorption = o(kEmaxVdr25ohdBone) * vdr * r[pr2010::rJ14];
    dydt[pr2010::kQ] -= resorption;
    dydt[pr2010::kP] += resorption;
    dydt[pr2010::kECCPhos] += 0.464 * resorption;
    // Eq. (51): magnesium from supplements in transit, mmol.
    dydt[kMgSupplement] = -o(kKMgSupplement) * y[kMgSupplement];
    // Eq. (53): BMD as turnover driven by osteoblasts and osteoclasts (relative to the published
    // steady state, where it is 1).
    const T ob = (y[pr2010::kOBfast] + y[pr2010::kOBslow]) / derived_[pr2010::dOB0];
    const T oc = y[pr2010::kOC] / derived_[pr2010::dOC0];
    const T formation = std::pow(ob, o(kBmdGammaOb));
    dydt[kBmdLumbarSpine] =
        o(kBmdKoutLs) * (formation - std::pow(oc, o(kBmdGammaOcLs)) * y[kBmdLumbarSpine]);
    dydt[kBmdFemoralNeck] =
        o(kBmdKoutFn) * (formation - std::pow(oc, o(kBmdGammaOcFn)) * y[kBmdFemoralNeck]);
    // Eq. (54): denosumab (nmol): SC depot, central and peripheral compartments, linear and
    // saturable (target-mediated) elimination; free RANKL is bound in proportion to its
    // concentration (ug/L).
    const T den_c = y[kDenosumabCentral] / o(kDenVc);  // nmol/L
    const T den_ug_per_l = den_c * denosumab_ug_per_nmol_;
    const T absorption_den = o(kDenKa) * y[kDenosumabSc];
    const T exchange_den = o(kDenQ) * (den_c - y[kDenosumabPeripheral] / o(kDenVp));
    const T saturable =  // nmol/h
        o(kDenVmax) / denosumab_ug_per_nmol_ * den_ug_per_l / (o(kDenKm) + den_ug_per_l);
    dydt[kDenosumabSc] = -absorption_den;
    dydt[kDenosumabCentral] = absorption_den - exchange_den - o(kDenCl) * den_c - saturable;
    dydt[kDenosumabPeripheral] = exchange_den;
    dydt[pr2010::kL] -= o(kDenRankl) * den_ug_per_l * y[pr2010::kL];
  }

  /// Eq. (45)-(47), (56): the derivatives of the vitamin D states (gut, plasma, adipose and
  /// 25(OH)D, D3 and D2), which depend on no other state than the magnesium in transit.
  template <class T>
  void vitamin_d_rhs(T t_h, const T* y, T* dydt) const {
    const auto o = [this](Own i) { return own_[i]; };
    // Eq. (45): D3 and D2 from the gut (the absorbed fraction enters with the dose) and the
    // background (diet and skin, as D3) into plasma; exchange with adipose tissue
    // (Ocampo-Pelland 2016).
    const T mg = magnesium_status(y);
    const T mg_factor = 1.0 - o(kMgEffectStrength) * (1.0 - mg);
    // Eq. (46): 25-hydroxylation in the liver, Michaelis-Menten (Ocampo-Pelland 2016; CYP2R1), D3
    // and D2 competing for one enzyme; the rest of plasma vitamin D is cleared by other routes.
    const T c3 = y[kCentralD3] / o(kVD3);
    const T c2 = y[kCentralD2] / o(kVD3);
    // A second, linear route (CYP27A1: high Km, high capacity; it hydroxylates D3, not D2)
    // keeps 25(OH)D rising at doses that saturate the first.
    const T capacity = o(kVmax25) * mg_factor / (o(kKm25) + c3 + c2);
    const T linear_d3 = o(kCl25Linear) * mg_factor;
    for (const auto& [gut, central, peripheral, calcidiol] :
         {std::array<std::size_t, 4>{kGutD3, kCentralD3, kPeripheralD3, kCalcidiolD3},
          std::array<std::size_t, 4>{kGutD2, kCentralD2, kPeripheralD2, kCalcidiolD2}}) {
      const T c = y[central] / o(kVD3);
      const T absorption = o(kKaD) * y[gut];
      const T exchange = o(kQD3) * (c - y[peripheral] / o(kVpD3));
      const T to_calcidiol = (capacity + (central == kCentralD3 ? linear_d3 : T(0.0))) * c;
      dydt[gut] = -absorption;
      dydt[central] = absorption - exchange - to_calcidiol - o(kClDOther) * c;
      dydt[peripheral] = exchange;
      dydt[calcidiol] = to_calcidiol;
    }
    // Eq. (56): skin synthesis enters plasma at the day's rate (released from the skin over a
    // day or two, so the midday exposure is spread evenly).
    dydt[kCentralD3] += d_input_nmol_per_h_;
    dydt[kCentralD2] += d2_input_nmol_per_h_;  // eq. (57): D2 of a diet
    if (sun_)
      dydt[kCentralD3] += skin_d3_ug_per_d(static_cast<double>(t_h)) * sun_ug_to_nmol_per_h_;
    // Eq. (47): 25(OH)D clearance, a basal part and a part that rises steeply with total
    // 25(OH)D (Huang & You 2021; CYP24A1 induction); 25(OH)D2 is cleared faster than 25(OH)D3.
    const T k25 = calcidiol_elimination_per_h(y);
    dydt[kCalcidiolD3] -= k25 * y[kCalcidiolD3];
    dydt[kCalcidiolD2] -= k25 * o(kClRatio25ohd2) * y[kCalcidiolD2];
  }

  /// Eq. (55): relative estrogen (1 at est_age_reference before menopause; none for men).
  [[nodiscard]] double estrogen(double t_h) const;
  /// Eq. (55): the factors on the SBML's rules kinTGF, koutTGFeqn, ROBin and ReabsMax.
  [[nodiscard]] std::array<double, pr2010::kScaledCount> estrogen_scale(double t_h) const;

  void reset_state(std::span<double> y) const;

  /// Eq. (56): clear-sky UV index at solar noon on the day of time t (0 without `sun`).
  [[nodiscard]] double uv_index(double t_h) const;
  /// Eq. (56): vitamin D3 made in the skin by the day's midday sun at time t, ug/d.
  [[nodiscard]] double skin_d3_ug_per_d(double t_h) const;
  /// Whether the subject has `sun` (skin synthesis).
  [[nodiscard]] bool has_sun() const { return sun_.has_value(); }

  /// Eq. (44): glomerular filtration rate at time t, L/h (constant unless the subject's eGFR
  /// declines).
  [[nodiscard]] double gfr_l_per_h(double t_h) const;

  /// Total 25(OH)D in plasma, nmol/L.
  template <class T>
  [[nodiscard]] T calcidiol_nmol_per_l(const T* y) const {
    return (y[kCalcidiolD3] + y[kCalcidiolD2]) / own_[kV25ohd];
  }

  /// Eq. (47): elimination rate constant of 25(OH)D3 at state y, 1/h.
  template <class T>
  [[nodiscard]] T calcidiol_elimination_per_h(const T* y) const {
    const T mg_factor = 1.0 - own_[kMgEffectStrength] * (1.0 - magnesium_status(y));
    const T x = pow_ratio(calcidiol_nmol_per_l(y), own_[kC50Cl25ohd], own_[kHillCl25ohd]);
    return (own_[kCl25ohd] + own_[kClmax25ohd] * mg_factor * x / (1.0 + x)) / own_[kV25ohd];
  }

  /// Eq. (52): magnesium status, 1 when the intake (background and supplements over the last
  /// day or so) reaches the RDA, less below it.
  template <class T>
  [[nodiscard]] T magnesium_status(const T* y) const {
    const T intake =  // ug/h
        mg_background_ug_per_h_ + own_[kKMgSupplement] * y[kMgSupplement] * ug_per_mmol_mg_;
    return std::min(T(1.0), intake / own_[kMgRda]);
  }

  [[nodiscard]] double param(pr2010::Param i) const { return p_[i]; }
  [[nodiscard]] double own(Own i) const { return own_[i]; }
  /// Derived constants of the published steady state (reference values such as OB0).
  [[nodiscard]] double derived(pr2010::Derived i) const { return derived_[i]; }
  /// Vitamin D3 entering plasma from the background diet and the skin, nmol/h.
  [[nodiscard]] double d_input_nmol_per_h() const { return d_input_nmol_per_h_; }
  /// 25(OH)D at the steady state of the background input, nmol/L (eq. 48).
  [[nodiscard]] double c25_reference() const { return c25_reference_; }

 protected:
  [[nodiscard]] double mg_status0() const;
  /// Eq. (45)-(47) at the steady state of a constant plasma input of D3 (nmol/h): the vitamin D
  /// states of y.
  void vitamin_d_steady_state(double input_nmol_per_h, std::span<double> y) const;
  /// Eq. (56): plasma, adipose and 25(OH)D amounts of D3 and D2 (nmol) on the periodic orbit of
  /// seasonal skin synthesis at the start of the run.
  [[nodiscard]] std::array<double, 6> periodic_vitamin_d_start() const;
  /// Eq. (47): elimination rate constant of 25(OH)D3 at a level (no supplement in transit), 1/h.
  [[nodiscard]] double calcidiol_elimination_at(double c25_nmol_per_l) const;
  /// 25(OH)D (nmol/L) at which its clearance removes `production` (nmol/h).
  [[nodiscard]] double calcidiol_steady_state(double production_nmol_per_h) const;

  template <class T>
  static T pow_ratio(T x, double ec50, double hill) {
    return x > 0.0 ? std::pow(x / ec50, hill) : T(0.0);
  }

  std::array<double, pr2010::kParamCount> p_{};  // in the units of pr2010::kParams
  std::array<double, pr2010::kDerivedCount> derived_{};
  std::array<double, pr2010::kFixedCount> fixed_{};  // rules fixed for p_ (pr2010::fixed_rules)
  std::vector<double> own_;        // canonical units; vitamin D volumes scaled to the subject
  std::vector<double> own_table_;  // as in the table (the reference subject)
  double gfr0_l_per_h_ = 6.0;
  double gfr_end_l_per_h_ = 6.0;
  double gfr_decline_h_ = 0.0;
  double d_input_nmol_per_h_ = 0.0;
  double d2_input_nmol_per_h_ = 0.0;      // eq. (57): D2 of a diet
  double oral_ca_mmol_per_h_ = 1.0;       // eq. (57): the SBML's OralCa, or a diet's calcium
  double mg_background_ug_per_h_ = 0.0;   // eq. (57): mg_intake_background, or a diet's
  double c25_reference_ = 75.0;           // nmol/L, set in the constructor
  double saturation_reference_ = 0.75;    // eq. (48) at c25_reference_
  double vdr_reference_ = 0.0;            // eq. (49) at c25_reference_
  double denosumab_ug_per_nmol_ = 144.7;  // from the substance table
  double ug_per_mmol_mg_ = 24305.0;       // from the substance table
  double age0_y_ = -1.0;  // < 0: estrogen at 1 throughout (no subject yet, or a man)
  double menopause_age_y_ = -1.0;
  std::optional<SunExposure> sun_;     // eq. (56); none: no skin synthesis
  std::array<double, 6> sun_start_{};  // eq. (56): plasma, adipose, 25(OH)D of D3 and D2
  double sun_ug_to_nmol_per_h_ = 0.0;  // ug/d of D3 -> nmol/h, set in the constructor
};

}  // namespace k2sim::internal
