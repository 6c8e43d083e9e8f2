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
  static constexpr std::size_t kStateCount = kOcCarboxylated + 1;
  static constexpr std::array<std::string_view, kStateCount> kStateNames = {
      "gut_supp_k1_nmol",        "gut_food_k1_nmol",       "plasma_k1_nmol",
      "liver_k1_nmol",           "tissue_k1_nmol",         "gut_supp_mk4_nmol",
      "gut_food_mk4_nmol",       "plasma_mk4_nmol",        "liver_mk4_nmol",
      "tissue_mk4_nmol",         "gut_supp_mk7_nmol",      "gut_food_mk7_nmol",
      "plasma_mk7_nmol",         "liver_mk7_nmol",         "tissue_mk7_nmol",
      "gut_supp_mk8_nmol",       "gut_food_mk8_nmol",      "plasma_mk8_nmol",
      "liver_mk8_nmol",          "tissue_mk8_nmol",        "gut_supp_mk9_nmol",
      "gut_food_mk9_nmol",       "plasma_mk9_nmol",        "liver_mk9_nmol",
      "tissue_mk9_nmol",         "gut_supp_dhp_nmol",      "gut_food_dhp_nmol",
      "plasma_dhp_nmol",         "liver_dhp_nmol",         "tissue_dhp_nmol",
      "gut_atorvastatin_nmol",   "body_atorvastatin_nmol", "mgp_carboxylated_fraction",
      "oc_carboxylated_fraction"};
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
    kVPlasma,                // plasma volume, L
    kKUbiad1,                // tissue K1 -> tissue MK-4 conversion rate constant, 1/h
    kFoodSlowing,            // absorption from a food matrix is this many times slower, 1
    kFVegetableK1,           // absorbed fraction from vegetables relative to a supplement, 1
    kFatFasting,             // absorption with no fat, relative to the plateau, 1
    kFatHalf,                // meal fat at half the fat effect, g
    kFatHill,                // Hill coefficient of the fat effect, 1
    kMealFatStandard,        // fat of a standard meal ("with meal"), g
    kMealFatHigh,            // fat of a high-fat meal, g
    kKaStatin,               // atorvastatin absorption rate constant, 1/h
    kFStatin,                // atorvastatin oral bioavailability, 1
    kVStatin,                // atorvastatin volume of distribution, L
    kKElimStatin,            // atorvastatin elimination rate constant, 1/h
    kIc50Statin,             // atorvastatin at half HMG-CoA reductase inhibition, nmol/L
    kStatinGgppEffect,       // hypothesis: largest fractional fall of the UBIAD1 flux, 1
    kWDhp,                   // cofactor activity of DHP relative to the other forms, 1
    kEc50Mgp,                // extrahepatic vitamin K at half-maximal MGP carboxylation, nmol
    kEc50Oc,                 // extrahepatic vitamin K at half-maximal OC carboxylation, nmol
    kHillCarboxylation,      // Hill coefficient of both carboxylation relations, 1
    kKMgpTurnover,           // turnover of the carboxylation state of MGP, 1/h
    kKOcTurnover,            // turnover of the carboxylation state of osteocalcin, 1/h
    kDpUcMgpUncarboxylated,  // plasma dp-ucMGP if no MGP were carboxylated, pmol/L
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
      "k_mgp_turnover",
      "k_oc_turnover",
      "dp_ucmgp_uncarboxylated"};

  explicit VitK(const ParameterTable& table);

  [[nodiscard]] double form(Form f, FormParam p) const {
    return p_[static_cast<std::size_t>(kParamForm[f]) * kFormParams + static_cast<std::size_t>(p)];
  }
  [[nodiscard]] double shared(SharedParam p) const { return p_[kParamForms * kFormParams + p]; }

  template <class T>
  void rhs(T /*t_h*/, const T* y, T* dydt) const {
    const double v = shared(kVPlasma);
    for (std::size_t fi = 0; fi < kForms; ++fi) {
      const auto f = static_cast<Form>(fi);
      const T& gut_s = y[index(f, kGutSupplement)];
      const T& gut_f = y[index(f, kGutFood)];
      const T& plasma = y[index(f, kPlasma)];
      const T& liver = y[index(f, kLiver)];
      const T& tissue = y[index(f, kTissue)];
      const double ka = form(f, kKa);
      const T j_abs_supplement = ka * gut_s;                   // eq. (4)
      const T j_abs_food = ka / shared(kFoodSlowing) * gut_f;  // eq. (5)
      const T conc = plasma / v;
      const T j_uptake = form(f, kKpl) * plasma / (1.0 + conc / form(f, kKmPl));  // eq. (6)
      const T j_release = form(f, kKlp) * liver;                                  // eq. (7)
      const T j_catabolism = form(f, kKcat) * liver;                              // eq. (8)
      const T j_to_tissue = form(f, kKpt) * plasma;                               // eq. (9)
      const T j_from_tissue = form(f, kKtp) * tissue;                             // eq. (9)
      const T j_tissue_catabolism = form(f, kKtcat) * tissue;                     // eq. (10)
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
    const T j_ubiad1 = shared(kKUbiad1) * ggpp_factor * y[index(kK1, kTissue)];  // eq. (11)
    dydt[index(kK1, kTissue)] -= j_ubiad1;
    dydt[index(kMk4, kTissue)] += j_ubiad1;

    // Eq. (15): effective extrahepatic vitamin K, the tissue pools weighted by cofactor activity.
    T exposure = shared(kWDhp) * y[index(kDhp, kTissue)];
    for (std::size_t fi = 0; fi < kForms; ++fi) {
      if (fi != kDhp) exposure += y[index(static_cast<Form>(fi), kTissue)];
    }
    // Eq. (16)-(17): carboxylated fractions relax to an exposure-response target with turnover.
    const double h = shared(kHillCarboxylation);
    const T e_h = pow(exposure, h);
    const T target_mgp = e_h / (std::pow(shared(kEc50Mgp), h) + e_h);
    const T target_oc = e_h / (std::pow(shared(kEc50Oc), h) + e_h);
    dydt[kMgpCarboxylated] = shared(kKMgpTurnover) * (target_mgp - y[kMgpCarboxylated]);
    dydt[kOcCarboxylated] = shared(kKOcTurnover) * (target_oc - y[kOcCarboxylated]);
  }

  static void reset_state(std::span<double> y) {
    for (double& v : y) v = 0.0;
  }

  /// Eq. (12): the fraction of an oral dose absorbed, by matrix and meal fat.
  [[nodiscard]] double absorbed_fraction(Form f, const DoseContext& dose) const;
  /// Grams of fat of the meal a dose is taken with.
  [[nodiscard]] double meal_fat_g(const DoseContext& dose) const;

 private:
  std::vector<double> p_;  // canonical units
};

}  // namespace k2sim::internal
