// Vitamin K kinetics of K1, MK-4 and MK-7 (model "vitk"): gut, plasma, liver and extrahepatic
// tissue pools per form, and the conversion of tissue K1 to MK-4 (UBIAD1). Equations (4)-(12) of
// docs/model.md; parameters in data/parameters/vitk.csv.
#pragma once

#include <array>
#include <cmath>
#include <span>
#include <string_view>
#include <vector>

#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim::internal {

using std::exp;
using std::pow;

class VitK {
 public:
  // K1, MK-4, MK-7 with their own parameters; MK-8 and MK-9 share MK-7's kinetics and
  // dihydrophylloquinone (DHP) shares K1's (no kinetic data of their own were found).
  static constexpr std::size_t kForms = 6;
  enum Form : std::size_t { kK1, kMk4, kMk7, kMk8, kMk9, kDhp };
  static constexpr std::array<std::string_view, kForms> kFormNames = {"k1",  "mk4", "mk7",
                                                                      "mk8", "mk9", "dhp"};
  static constexpr std::size_t kParamForms = 3;  // forms with parameters of their own
  static constexpr std::array<Form, kForms> kParamForm = {kK1, kMk4, kMk7, kMk7, kMk7, kK1};
  // Per form: gut (supplement), gut (food matrix), plasma, liver, extrahepatic tissue; nmol.
  enum Pool : std::size_t { kGutSupplement, kGutFood, kPlasma, kLiver, kTissue, kPools };
  // After the vitamin pools: atorvastatin in the gut and in the body (nmol), which lowers the
  // geranylgeranyl pyrophosphate UBIAD1 needs (a hypothesis, neutral by default).
  static constexpr std::size_t kGutStatin = kForms * kPools;
  static constexpr std::size_t kBodyStatin = kGutStatin + 1;
  // Extrahepatic carboxylated fractions (1) of vascular MGP and of osteocalcin (eq. 15-17).
  static constexpr std::size_t kMgpCarboxylated = kBodyStatin + 1;
  static constexpr std::size_t kOcCarboxylated = kMgpCarboxylated + 1;
  // Hepatic vitamin K cycle (eq. 20-22, Wajima 2009): the liver pool of each form is its quinone;
  // per form, its hydroquinone (the carboxylase cofactor) and its 2,3-epoxide, nmol.
  static constexpr std::size_t kRedoxBase = kOcCarboxylated + 1;
  static constexpr std::size_t hydroquinone(Form f) { return kRedoxBase + 2 * f; }
  static constexpr std::size_t epoxide(Form f) { return kRedoxBase + 2 * f + 1; }
  // Vitamin K-dependent clotting factors, activity as a fraction of normal (eq. 23-24).
  static constexpr std::size_t kFactors = 6;
  enum Factor : std::size_t { kII, kVII, kIX, kX, kProteinC, kProteinS };
  static constexpr std::array<std::string_view, kFactors> kFactorNames = {"ii", "vii", "ix",
                                                                          "x",  "pc",  "ps"};
  static constexpr std::size_t kFactorBase = kRedoxBase + 2 * kForms;
  static constexpr std::size_t factor(Factor k) { return kFactorBase + k; }
  // Anticoagulants (eq. 26-28): S-warfarin in the gut, central and peripheral compartments, and
  // acenocoumarol in the gut and the body, nmol.
  static constexpr std::size_t kGutWarfarin = kFactorBase + kFactors;
  static constexpr std::size_t kCentralWarfarin = kGutWarfarin + 1;
  static constexpr std::size_t kPeripheralWarfarin = kCentralWarfarin + 1;
  static constexpr std::size_t kGutAcenocoumarol = kPeripheralWarfarin + 1;
  static constexpr std::size_t kBodyAcenocoumarol = kGutAcenocoumarol + 1;
  // K1 injected intramuscularly stays in a depot at the injection site and is released into
  // plasma (eq. 29), nmol.
  static constexpr std::size_t kImDepotK1 = kBodyAcenocoumarol + 1;
  // Eq. (34): a newborn's cumulative hazard of late vitamin K deficiency bleeding (an
  // accumulator: nothing depends on it).
  static constexpr std::size_t kVkdbHazard = kImDepotK1 + 1;
  static constexpr std::size_t kStateCount = kVkdbHazard + 1;
  static constexpr std::array<std::size_t, 1> kAccumulators = {kVkdbHazard};
  static constexpr std::array<std::string_view, kStateCount> kStateNames = {
      "gut_supp_k1_nmol",
      "gut_food_k1_nmol",
      "plasma_k1_nmol",
      "liver_k1_nmol",
      "tissue_k1_nmol",
      "gut_supp_mk4_nmol",
      "gut_food_mk4_nmol",
      "plasma_mk4_nmol",
      "liver_mk4_nmol",
      "tissue_mk4_nmol",
      "gut_supp_mk7_nmol",
      "gut_food_mk7_nmol",
      "plasma_mk7_nmol",
      "liver_mk7_nmol",
      "tissue_mk7_nmol",
      "gut_supp_mk8_nmol",
      "gut_food_mk8_nmol",
      "plasma_mk8_nmol",
      "liver_mk8_nmol",
      "tissue_mk8_nmol",
      "gut_supp_mk9_nmol",
      "gut_food_mk9_nmol",
      "plasma_mk9_nmol",
      "liver_mk9_nmol",
      "tissue_mk9_nmol",
      "gut_supp_dhp_nmol",
      "gut_food_dhp_nmol",
      "plasma_dhp_nmol",
      "liver_dhp_nmol",
      "tissue_dhp_nmol",
      "gut_atorvastatin_nmol",
      "body_atorvastatin_nmol",
      "mgp_carboxylated_fraction",
      "oc_carboxylated_fraction",
      "liver_k1_hydroquinone_nmol",
      "liver_k1_epoxide_nmol",
      "liver_mk4_hydroquinone_nmol",
      "liver_mk4_epoxide_nmol",
      "liver_mk7_hydroquinone_nmol",
      "liver_mk7_epoxide_nmol",
      "liver_mk8_hydroquinone_nmol",
      "liver_mk8_epoxide_nmol",
      "liver_mk9_hydroquinone_nmol",
      "liver_mk9_epoxide_nmol",
      "liver_dhp_hydroquinone_nmol",
      "liver_dhp_epoxide_nmol",
      "factor_ii_fraction",
      "factor_vii_fraction",
      "factor_ix_fraction",
      "factor_x_fraction",
      "protein_c_fraction",
      "protein_s_fraction",
      "gut_s_warfarin_nmol",
      "central_s_warfarin_nmol",
      "peripheral_s_warfarin_nmol",
      "gut_acenocoumarol_nmol",
      "body_acenocoumarol_nmol",
      "im_depot_k1_nmol",
      "vkdb_cumulative_hazard"};
  static constexpr std::size_t index(Form f, Pool p) {
    return static_cast<std::size_t>(f) * kPools + static_cast<std::size_t>(p);
  }

  // Per-form parameters, in this order for each form (names: <param>_<form>).
  enum FormParam : std::size_t {
    kKa,     // absorption rate constant, 1/h
    kFAbs,   // absorbed fraction of a supplement taken with a standard meal, 1
    kKpl,    // plasma -> liver uptake rate constant at low concentration, 1/h
    kKmPl,   // plasma concentration at which liver uptake is half-saturated, nmol/L
    kKlp,    // liver -> plasma release rate constant, 1/h
    kKcat,   // liver catabolism rate constant, 1/h
    kKpt,    // plasma -> extrahepatic tissue rate constant, 1/h
    kKtp,    // extrahepatic tissue -> plasma rate constant, 1/h
    kKtcat,  // extrahepatic tissue catabolism rate constant, 1/h
    kFormParams
  };
  static constexpr std::array<std::string_view, kFormParams> kFormParamNames = {
      "ka", "f_abs", "k_pl", "km_pl", "k_lp", "k_cat", "k_pt", "k_tp", "k_tcat"};
  // Shared parameters.
  enum SharedParam : std::size_t {
    kVPlasma,                 // plasma volume, L
    kKUbiad1,                 // tissue K1 -> tissue MK-4 conversion rate constant, 1/h
    kFoodSlowing,             // absorption from a food matrix is this many times slower, 1
    kFVegetableK1,            // absorbed fraction from vegetables relative to a supplement, 1
    kFatFasting,              // absorption with no fat, relative to the plateau, 1
    kFatHalf,                 // meal fat at half the fat effect, g
    kFatHill,                 // Hill coefficient of the fat effect, 1
    kMealFatStandard,         // fat of a standard meal ("with meal"), g
    kMealFatHigh,             // fat of a high-fat meal, g
    kKaStatin,                // atorvastatin absorption rate constant, 1/h
    kFStatin,                 // atorvastatin oral bioavailability, 1
    kVStatin,                 // atorvastatin volume of distribution, L
    kKElimStatin,             // atorvastatin elimination rate constant, 1/h
    kIc50Statin,              // atorvastatin at half HMG-CoA reductase inhibition, nmol/L
    kStatinGgppEffect,        // hypothesis: largest fractional fall of the UBIAD1 flux, 1
    kWDhp,                    // cofactor activity of DHP relative to the other forms, 1
    kEc50Mgp,                 // extrahepatic vitamin K at half-maximal MGP carboxylation, nmol
    kEc50Oc,                  // extrahepatic vitamin K at half-maximal OC carboxylation, nmol
    kHillCarboxylation,       // Hill coefficient of both carboxylation relations, 1
    kMgpCarboxylationMax,     // largest carboxylated fraction of circulating MGP, 1
    kKMgpTurnover,            // turnover of the carboxylation state of MGP, 1/h
    kKOcTurnover,             // turnover of the carboxylation state of osteocalcin, 1/h
    kDpUcMgpUncarboxylated,   // plasma dp-ucMGP if no MGP were carboxylated, pmol/L
    kFRenalDpUcMgp,           // fraction of dp-ucMGP clearance that is renal at egfr_reference, 1
    kEgfrReference,           // eGFR of the subjects dp_ucmgp_uncarboxylated refers to, L/h/1.73m2
    kEgfrDialysis,            // eGFR-equivalent clearance of a patient on haemodialysis, L/h/1.73m2
    kKVkorQuinone,            // hepatic quinone -> hydroquinone (VKOR), 1/h
    kKHydroquinoneOxidation,  // hydroquinone -> epoxide (carboxylation), 1/h
    kKVkorEpoxide,            // epoxide -> quinone (VKOR), 1/h
    kEc50Liver,               // hepatic hydroquinone at half-maximal factor carboxylation, nmol
    kHillLiver,               // Hill coefficient of hepatic carboxylation, 1
    kKDegII,                  // clotting factor elimination rate constants, 1/h
    kKDegVII,
    kKDegIX,
    kKDegX,
    kKDegProteinC,
    kKDegProteinS,
    kInrBII,  // INR algebraic function of factors II, VII, X (eq. 25)
    kInrBVII,
    kInrBX,
    kInrG,
    kWMkLiver,          // hepatic cofactor activity of MK-7, MK-8, MK-9 relative to K1, 1
    kKaWarfarin,        // S-warfarin absorption rate constant, 1/h
    kFWarfarin,         // fraction of a racemic warfarin dose absorbed as S-warfarin, 1
    kV1Warfarin,        // S-warfarin central volume, L
    kV2Warfarin,        // S-warfarin peripheral volume, L
    kQWarfarin,         // S-warfarin intercompartmental clearance, L/h
    kClWarfarin,        // S-warfarin clearance, CYP2C9 *1/*1, L/h
    kIc50Warfarin,      // S-warfarin at half VKOR inhibition, VKORC1 GG, ug/L
    kClRatioCyp2c9_12,  // S-warfarin clearance relative to *1/*1, by CYP2C9 genotype, 1
    kClRatioCyp2c9_13,
    kClRatioCyp2c9_22,
    kClRatioCyp2c9_23,
    kClRatioCyp2c9_33,
    kIc50RatioVkorc1GA,  // IC50 relative to VKORC1 GG, by VKORC1 genotype, 1
    kIc50RatioVkorc1AA,
    kKaAcenocoumarol,    // acenocoumarol absorption rate constant, 1/h
    kFAcenocoumarol,     // acenocoumarol oral bioavailability, 1
    kVAcenocoumarol,     // acenocoumarol volume of distribution, L
    kClAcenocoumarol,    // acenocoumarol clearance, L/h
    kIc50Acenocoumarol,  // acenocoumarol at half VKOR inhibition, ug/L
    // Eq. (29)-(33): the intramuscular depot and the newborn.
    kKImK1,            // release rate constant of an intramuscular K1 depot, 1/h
    kWeightReference,  // body weight the adult parameters refer to, kg
    kAllometricRate,   // exponent of the size ratio on first-order rate constants, 1
    kGrowthGain,       // weight gain of a child relative to birth weight, at plateau, 1
    kGrowthTime,       // time constant of that gain, h
    kNewbornLiverK1,   // hepatic vitamin K1 at birth (no prophylaxis), ug
    kFactorBirthII,    // clotting factor synthesis at birth relative to adults, 1
    kFactorBirthVII,
    kFactorBirthIX,
    kFactorBirthX,
    kFactorBirthProteinC,
    kFactorBirthProteinS,
    kFactorMaturationTime,         // time constant of the maturation of the newborn liver, h
    kBreastMilkK1,                 // phylloquinone in mature breast milk, ug/L
    kFormulaK1,                    // phylloquinone in infant formula, ug/L
    kMilkVolume,                   // milk or formula drunk per day once feeding is established, L/h
    kMilkRampTime,                 // time constant of the rise of milk intake after birth, h
    kClearanceBirth,               // vitamin K clearance from plasma at birth relative to adults, 1
    kFAbsNewborn,                  // absorbed fraction of oral vitamin K in a newborn, 1
    kFAbsCholestasis,              // oral absorption with cholestasis relative to without, 1
    kVkdbHazardScale,              // late VKDB hazard at the reference uncarboxylated share, 1/h
    kVkdbHazardExponent,           // steepness of the hazard in the uncarboxylated share, 1
    kVkdbUncarboxylatedReference,  // uncarboxylated share of new prothrombin of the scale, 1
    kVkdbWindowStart,              // start of the late VKDB window after birth, h
    kVkdbWindowEnd,                // end of the late VKDB window, h
    kDhpUbiad1Competition,         // hypothesis: DHP's affinity for UBIAD1 relative to K1's, 1
    kSharedParams
  };
  static constexpr std::array<std::string_view, kSharedParams> kSharedParamNames = {
      "v_plasma",
      "k_ubiad1",
      "food_absorption_slowing",
      "f_vegetable_k1",
      "fat_fasting",
      "fat_half_g",
      "fat_hill",
      "meal_fat_standard_g",
      "meal_fat_high_g",
      "ka_atorvastatin",
      "f_atorvastatin",
      "v_atorvastatin",
      "k_atorvastatin_elim",
      "ic50_atorvastatin",
      "statin_ggpp_effect",
      "w_dhp",
      "ec50_mgp",
      "ec50_oc",
      "hill_carboxylation",
      "mgp_carboxylation_max",
      "k_mgp_turnover",
      "k_oc_turnover",
      "dp_ucmgp_uncarboxylated",
      "f_renal_dp_ucmgp",
      "egfr_reference",
      "egfr_dialysis",
      "k_vkor_quinone",
      "k_hydroquinone_oxidation",
      "k_vkor_epoxide",
      "ec50_liver",
      "hill_liver",
      "k_deg_ii",
      "k_deg_vii",
      "k_deg_ix",
      "k_deg_x",
      "k_deg_pc",
      "k_deg_ps",
      "inr_b_ii",
      "inr_b_vii",
      "inr_b_x",
      "inr_g",
      "w_mk_liver",
      "ka_warfarin",
      "f_warfarin",
      "v1_warfarin",
      "v2_warfarin",
      "q_warfarin",
      "cl_warfarin",
      "ic50_warfarin",
      "cl_ratio_cyp2c9_12",
      "cl_ratio_cyp2c9_13",
      "cl_ratio_cyp2c9_22",
      "cl_ratio_cyp2c9_23",
      "cl_ratio_cyp2c9_33",
      "ic50_ratio_vkorc1_ga",
      "ic50_ratio_vkorc1_aa",
      "ka_acenocoumarol",
      "f_acenocoumarol",
      "v_acenocoumarol",
      "cl_acenocoumarol",
      "ic50_acenocoumarol",
      "k_im_k1",
      "weight_reference",
      "allometric_rate_exponent",
      "growth_gain",
      "growth_time",
      "newborn_liver_k1",
      "factor_birth_ii",
      "factor_birth_vii",
      "factor_birth_ix",
      "factor_birth_x",
      "factor_birth_pc",
      "factor_birth_ps",
      "factor_maturation_time",
      "breast_milk_k1",
      "formula_k1",
      "milk_volume",
      "milk_ramp_time",
      "clearance_birth",
      "f_abs_newborn",
      "f_abs_cholestasis",
      "vkdb_hazard_scale",
      "vkdb_hazard_exponent",
      "vkdb_uncarboxylated_reference",
      "vkdb_window_start",
      "vkdb_window_end",
      "dhp_ubiad1_competition"};

  explicit VitK(const ParameterTable& table);

  [[nodiscard]] double form(Form f, FormParam p) const {
    return p_[static_cast<std::size_t>(kParamForm[f]) * kFormParams + static_cast<std::size_t>(p)];
  }
  [[nodiscard]] double shared(SharedParam p) const { return p_[kParamForms * kFormParams + p]; }

  template <class T>
  void rhs(T t_h, const T* y, T* dydt) const {
    // Eq. (30): a newborn's volumes and amount thresholds scale with its size ratio s (weight
    // over the reference adult's), its first-order rate constants with s^allometric_rate_exponent.
    // An adult run keeps the reference values (s = 1).
    T size = 1.0;
    T rs = 1.0;
    T cat = 1.0;  // eq. (32): a newborn's vitamin K clearance matures like its factor synthesis
    if (newborn_) {
      size = size_ratio(t_h);
      rs = pow(size, shared(kAllometricRate));
      cat = maturing(shared(kClearanceBirth), t_h);
    }
    const T v = shared(kVPlasma) * size;
    for (std::size_t fi = 0; fi < kForms; ++fi) {
      const auto f = static_cast<Form>(fi);
      const T& gut_s = y[index(f, kGutSupplement)];
      const T& gut_f = y[index(f, kGutFood)];
      const T& plasma = y[index(f, kPlasma)];
      const T& liver = y[index(f, kLiver)];
      const T& tissue = y[index(f, kTissue)];
      const T ka = form(f, kKa) * rs;
      const T j_abs_supplement = ka * gut_s;                   // eq. (4)
      const T j_abs_food = ka / shared(kFoodSlowing) * gut_f;  // eq. (5)
      const T conc = plasma / v;
      const T j_uptake = rs * form(f, kKpl) * plasma / (1.0 + conc / form(f, kKmPl));  // eq. (6)
      const T j_release = rs * form(f, kKlp) * liver;                                  // eq. (7)
      const T j_catabolism = cat * rs * form(f, kKcat) * liver;                        // eq. (8)
      const T j_to_tissue = cat * rs * form(f, kKpt) * plasma;                         // eq. (9)
      const T j_from_tissue = rs * form(f, kKtp) * tissue;                             // eq. (9)
      const T j_tissue_catabolism = rs * form(f, kKtcat) * tissue;                     // eq. (10)
      dydt[index(f, kGutSupplement)] = -j_abs_supplement;
      dydt[index(f, kGutFood)] = -j_abs_food;
      dydt[index(f, kPlasma)] =
          j_abs_supplement + j_abs_food - j_uptake + j_release - j_to_tissue + j_from_tissue;
      dydt[index(f, kLiver)] = j_uptake - j_release - j_catabolism;
      dydt[index(f, kTissue)] = j_to_tissue - j_from_tissue - j_tissue_catabolism;
    }
    // Eq. (13)-(14): atorvastatin, one compartment; its inhibition of HMG-CoA reductase lowers
    // GGPP and so the UBIAD1 flux by at most statin_ggpp_effect (0 by default: neutral).
    const T j_statin_abs = shared(kKaStatin) * y[kGutStatin];
    const T j_statin_elim = shared(kKElimStatin) * y[kBodyStatin];
    dydt[kGutStatin] = -j_statin_abs;
    dydt[kBodyStatin] = j_statin_abs - j_statin_elim;
    const T c_statin = y[kBodyStatin] / shared(kVStatin);
    const T ggpp_factor =
        1.0 - shared(kStatinGgppEffect) * c_statin / (shared(kIc50Statin) + c_statin);
    // Hypothesis (neutral at 0): tissue DHP competes with K1 for UBIAD1 but is not converted.
    const T& k1_tissue = y[index(kK1, kTissue)];
    const T competing = k1_tissue + shared(kDhpUbiad1Competition) * y[index(kDhp, kTissue)];
    const T dhp_factor = (k1_tissue > 0.0 && competing > 0.0) ? T(k1_tissue / competing) : T(1.0);
    const T j_ubiad1 = rs * shared(kKUbiad1) * ggpp_factor * dhp_factor * k1_tissue;  // eq. (11)
    // Eq. (29): the intramuscular K1 depot releases into plasma; eq. (31): a newborn's milk or
    // formula brings K1 into the gut at a rate that rises as feeding is established.
    const T j_im = rs * shared(kKImK1) * y[kImDepotK1];
    dydt[kImDepotK1] = -j_im;
    dydt[index(kK1, kPlasma)] += j_im;
    if (feeding_rate_ > 0.0) dydt[index(kK1, kGutFood)] += feeding_rate_ * milk_fraction(t_h);
    dydt[index(kK1, kTissue)] -= j_ubiad1;
    dydt[index(kMk4, kTissue)] += j_ubiad1;

    // Eq. (15): effective extrahepatic vitamin K, the tissue pools weighted by cofactor activity.
    T exposure = shared(kWDhp) * y[index(kDhp, kTissue)];
    for (std::size_t fi = 0; fi < kForms; ++fi) {
      if (fi != kDhp) exposure += y[index(static_cast<Form>(fi), kTissue)];
    }
    // Anticoagulants block VKOR outside the liver too: with the cycle at its quasi-steady state,
    // the hydroquinone available to the carboxylase scales with 1 - inhibition (eq. 15).
    const T inhibition = vkor_inhibition(y);
    exposure *= 1.0 - inhibition;
    if (!(exposure > 0.0)) exposure = 0.0;  // round-off below 0 would make pow() NaN
    // Eq. (16)-(17): carboxylated fractions relax to an exposure-response target with turnover.
    const double h = shared(kHillCarboxylation);
    const T e_h = pow(exposure / size, h);
    const T target_mgp = shared(kMgpCarboxylationMax) * e_h / (std::pow(shared(kEc50Mgp), h) + e_h);
    const T target_oc = e_h / (std::pow(shared(kEc50Oc), h) + e_h);
    dydt[kMgpCarboxylated] = shared(kKMgpTurnover) * (target_mgp - y[kMgpCarboxylated]);
    dydt[kOcCarboxylated] = shared(kKOcTurnover) * (target_oc - y[kOcCarboxylated]);

    // Eq. (26)-(28): S-warfarin (two compartments, Hamberg 2007) and acenocoumarol (one).
    const T j_w_abs = shared(kKaWarfarin) * y[kGutWarfarin];
    const T j_w_elim = cl_warfarin_ / shared(kV1Warfarin) * y[kCentralWarfarin];
    const T j_w_12 = shared(kQWarfarin) / shared(kV1Warfarin) * y[kCentralWarfarin];
    const T j_w_21 = shared(kQWarfarin) / shared(kV2Warfarin) * y[kPeripheralWarfarin];
    dydt[kGutWarfarin] = -j_w_abs;
    dydt[kCentralWarfarin] = j_w_abs - j_w_elim - j_w_12 + j_w_21;
    dydt[kPeripheralWarfarin] = j_w_12 - j_w_21;
    const T j_a_abs = shared(kKaAcenocoumarol) * y[kGutAcenocoumarol];
    const T j_a_elim = shared(kClAcenocoumarol) / shared(kVAcenocoumarol) * y[kBodyAcenocoumarol];
    dydt[kGutAcenocoumarol] = -j_a_abs;
    dydt[kBodyAcenocoumarol] = j_a_abs - j_a_elim;

    // Eq. (20)-(22): hepatic vitamin K cycle per form; both VKOR steps are inhibited.
    T cofactor = 0.0;  // eq. (23): hepatic hydroquinone weighted by cofactor activity
    for (std::size_t fi = 0; fi < kForms; ++fi) {
      const auto f = static_cast<Form>(fi);
      const T j_reduction = rs * shared(kKVkorQuinone) * (1.0 - inhibition) * y[index(f, kLiver)];
      const T j_oxidation = rs * shared(kKHydroquinoneOxidation) * y[hydroquinone(f)];
      const T j_epoxide = rs * shared(kKVkorEpoxide) * (1.0 - inhibition) * y[epoxide(f)];
      dydt[index(f, kLiver)] += j_epoxide - j_reduction;
      dydt[hydroquinone(f)] = j_reduction - j_oxidation;
      dydt[epoxide(f)] = j_oxidation - j_epoxide;
      cofactor += liver_weight(f) * y[hydroquinone(f)];
    }
    // Eq. (23)-(24): factors are made carboxylated in proportion to the hepatic carboxylation
    // fraction and eliminated with their own half-lives; 1 = the fully carboxylated normal level.
    if (!(cofactor > 0.0)) cofactor = 0.0;
    const T carboxylated = liver_carboxylation(cofactor / size);
    for (std::size_t k = 0; k < kFactors; ++k) {
      const auto fk = static_cast<Factor>(k);
      const double kdeg = shared(static_cast<SharedParam>(kKDegII + k));
      // Eq. (32): a newborn's liver makes each factor at a fraction of the adult rate that
      // matures towards 1.
      const T capacity = newborn_ ? factor_capacity(fk, t_h) : T(1.0);
      dydt[factor(fk)] = kdeg * (capacity * carboxylated - y[factor(fk)]);
    }
    // Eq. (34): late VKDB, a hazard that rises steeply with the uncarboxylated share of the
    // prothrombin the liver makes (PIVKA-II; 1 - factor II / its capacity at this age), within
    // the window of late VKDB after birth.
    dydt[kVkdbHazard] = 0.0;
    if (newborn_ && t_h >= shared(kVkdbWindowStart) && t_h <= shared(kVkdbWindowEnd)) {
      T u = 1.0 - y[factor(kII)] / factor_capacity(kII, t_h);
      if (!(u > 0.0)) u = 0.0;
      dydt[kVkdbHazard] = shared(kVkdbHazardScale) * pow(u / shared(kVkdbUncarboxylatedReference),
                                                         shared(kVkdbHazardExponent));
    }
  }

  /// Eq. (23): carboxylated fraction made by the liver at hepatic cofactor c (nmol, per
  /// reference-adult size).
  template <class T>
  [[nodiscard]] T liver_carboxylation(T c) const {
    const double hl = shared(kHillLiver);
    const T c_h = pow(c, hl);
    return c_h / (std::pow(shared(kEc50Liver), hl) + c_h);
  }
  /// Eq. (30): body weight over the reference adult's (1 for an adult run).
  template <class T>
  [[nodiscard]] T size_ratio(T t_h) const {
    if (!newborn_) return T(1.0);
    return birth_size_ * (1.0 + shared(kGrowthGain) * (1.0 - exp(-t_h / shared(kGrowthTime))));
  }
  /// Eq. (32): factor synthesis relative to adults at time t_h after birth.
  template <class T>
  [[nodiscard]] T factor_capacity(Factor k, T t_h) const {
    return maturing(shared(static_cast<SharedParam>(kFactorBirthII + static_cast<std::size_t>(k))),
                    t_h);
  }
  /// Eq. (32): a liver function at `at_birth` of the adult's, maturing towards 1.
  template <class T>
  [[nodiscard]] T maturing(double at_birth, T t_h) const {
    return 1.0 - (1.0 - at_birth) * exp(-t_h / shared(kFactorMaturationTime));
  }
  /// Eq. (31): milk drunk at time t_h after birth, as a fraction of milk_volume.
  template <class T>
  [[nodiscard]] T milk_fraction(T t_h) const {
    return 1.0 - exp(-t_h / shared(kMilkRampTime));
  }
  /// Body weight at time t_h, kg (canonical masses are in ug).
  [[nodiscard]] double body_weight_kg(double t_h) const {
    return newborn_ ? size_ratio(t_h) * shared(kWeightReference) * 1e-9 : body_weight_kg_;
  }
  /// K1 drunk with milk or formula at time t_h, ug/d (0 unless a fed newborn).
  [[nodiscard]] double feeding_k1_ug_per_d(double t_h) const;

  /// Fraction of VKOR activity inhibited by the anticoagulants (eq. 28): competitive occupancy.
  template <class T>
  [[nodiscard]] T vkor_inhibition(const T* y) const {
    const T cw = y[kCentralWarfarin] / shared(kV1Warfarin) * ug_per_nmol_warfarin_;
    const T ca = y[kBodyAcenocoumarol] / shared(kVAcenocoumarol) * ug_per_nmol_acenocoumarol_;
    const T occupancy = cw / ic50_warfarin_ + ca / shared(kIc50Acenocoumarol);
    return occupancy / (1.0 + occupancy);
  }

  /// Cofactor activity of a form in the liver relative to K1 (eq. 23).
  [[nodiscard]] double liver_weight(Form f) const {
    if (f == kDhp) return shared(kWDhp);
    if (kParamForm[f] == kMk7) return shared(kWMkLiver);
    return 1.0;
  }
  /// Eq. (25): INR from the activities of factors II, VII and X (fractions of normal).
  [[nodiscard]] double inr(const double* y) const;
  /// Eq. (19): plasma dp-ucMGP scale relative to a subject with egfr_reference.
  [[nodiscard]] double dp_ucmgp_renal_factor() const { return dp_ucmgp_renal_factor_; }

  /// Subject covariates (eGFR in L/h/1.73m2, genotypes "GG", "*1/*3", newborn and feeding).
  void set_subject(const SubjectCovariates& s);
  [[nodiscard]] bool newborn() const { return newborn_; }
  /// Molar masses of the anticoagulants, ug/nmol (from the substance table).
  [[nodiscard]] double ug_per_nmol_warfarin() const { return ug_per_nmol_warfarin_; }
  [[nodiscard]] double ug_per_nmol_acenocoumarol() const { return ug_per_nmol_acenocoumarol_; }

  // The state before any dose. An adult: no vitamin K or drug anywhere, so no carboxylated
  // protein either (the undosed equilibrium); background intake comes from steady-state doses or
  // the diet. A newborn: its birth state (eq. 33).
  void reset_state(std::span<double> y) const;

  /// Eq. (12): the fraction of an oral dose absorbed, by matrix and meal fat.
  [[nodiscard]] double absorbed_fraction(Form f, const DoseContext& dose) const;
  /// Grams of fat of the meal a dose is taken with.
  [[nodiscard]] double meal_fat_g(const DoseContext& dose) const;

 private:
  std::vector<double> p_;  // canonical units
  // Subject-specific values (set_subject), starting at the reference subject's.
  double cl_warfarin_ = 0.0;
  double ic50_warfarin_ = 1.0;
  double dp_ucmgp_renal_factor_ = 1.0;
  double ug_per_nmol_warfarin_ = 0.0;
  double ug_per_nmol_acenocoumarol_ = 0.0;
  double ug_per_nmol_k1_ = 0.0;
  double body_weight_kg_ = 70.0;
  bool newborn_ = false;
  bool cholestasis_ = false;
  double birth_size_ = 1.0;        // birth weight over weight_reference
  double feeding_rate_ = 0.0;      // K1 absorbed from milk or formula once established, nmol/h
  double feeding_ug_per_h_ = 0.0;  // K1 drunk, ug/h
};

}  // namespace k2sim::internal
