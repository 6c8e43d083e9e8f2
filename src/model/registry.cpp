#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "calcium/calcium_bone.hpp"
#include "full/full.hpp"
#include "k2sim/error.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/units/substances.hpp"
#include "pk/pk_1cmt.hpp"
#include "vitk/vitk.hpp"

namespace k2sim {

std::string_view to_string(Route r) {
  switch (r) {
    case Route::kOral:
      return "oral";
    case Route::kIm:
      return "IM";
    case Route::kSc:
      return "SC";
    case Route::kIv:
      return "IV";
  }
  return "?";
}

namespace {

class Pk1CmtModel final : public AdaptedModel<internal::Pk1Cmt, Model> {
 public:
  explicit Pk1CmtModel(const ParameterTable& table)
      : AdaptedModel<internal::Pk1Cmt, Model>(table) {}

  [[nodiscard]] std::string_view name() const override { return "pk-1cmt"; }
  void set_subject(const SubjectCovariates& s) override {
    if (s.sun) {
      throw InputError(
          "subject.sun (rule: model pk-1cmt has no vitamin D; model calcium-bone "
          "makes it in the skin)");
    }
  }
  [[nodiscard]] const std::vector<OutputSpec>& outputs() const override {
    static const std::vector<OutputSpec> kOutputs = {
        {"plasma_mk7_nmol_per_L", "nmol/L", "plasma menaquinone-7"}};
    return kOutputs;
  }
  void compute_outputs(double /*t_h*/, const double* y, double* out) const override {
    out[0] = plasma_mk7_nmol_per_L(y);
  }
  [[nodiscard]] DoseTarget dose_target(const DoseContext& dose) const override {
    const std::string_view substance = dose.substance;
    const Route route = dose.route;
    const units::Substance& s = units::find_substance(substance);
    if (s.name != "MK-7") {
      throw InputError(fmt::format(
          "substance '{}' (rule: model pk-1cmt takes MK-7 only; the vitamin K model will take "
          "the other vitamers)",
          substance));
    }
    if (route == Route::kOral) return {kGutMk7, param(kFMk7)};
    if (route == Route::kIv) return {kCentralMk7, 1.0};
    throw InputError(
        fmt::format("route {} for MK-7 (rule: model pk-1cmt takes oral or IV)", to_string(route)));
  }
};

class VitKModel final : public AdaptedModel<internal::VitK, Model> {
 public:
  using VitK = internal::VitK;
  explicit VitKModel(const ParameterTable& table) : AdaptedModel<VitK, Model>(table) {}

  [[nodiscard]] std::string_view name() const override { return "vitk"; }
  [[nodiscard]] const std::vector<OutputSpec>& outputs() const override {
    static const std::vector<OutputSpec> kOutputs = {
        {"plasma_k1_nmol_per_L", "nmol/L", "plasma phylloquinone"},
        {"plasma_mk4_nmol_per_L", "nmol/L", "plasma menaquinone-4"},
        {"plasma_mk7_nmol_per_L", "nmol/L", "plasma menaquinone-7"},
        {"plasma_mk8_nmol_per_L", "nmol/L", "plasma menaquinone-8 (kinetics of MK-7)"},
        {"plasma_mk9_nmol_per_L", "nmol/L", "plasma menaquinone-9 (kinetics of MK-7)"},
        {"plasma_dhp_nmol_per_L", "nmol/L", "plasma dihydrophylloquinone (kinetics of K1)"},
        {"liver_k_total_nmol", "nmol", "vitamin K in the liver (all forms)"},
        {"tissue_k_total_nmol", "nmol", "vitamin K in extrahepatic tissue (all forms)"},
        {"tissue_mk4_nmol", "nmol",
         "MK-4 in extrahepatic tissue (made from K1 by UBIAD1, or taken)"},
        {"plasma_atorvastatin_nmol_per_L", "nmol/L", "atorvastatin (parent drug) in the body"},
        {"mgp_carboxylated_fraction", "1", "carboxylated fraction of vascular MGP"},
        {"dp_ucmgp_pmol_per_L", "pmol/L", "plasma desphospho-uncarboxylated MGP"},
        {"ucoc_percent", "%", "uncarboxylated osteocalcin, percent of total"},
        {"ucoc_to_coc_ratio", "1", "uncarboxylated to carboxylated osteocalcin"},
        {"inr", "1", "international normalized ratio"},
        {"factor_ii_percent", "%", "prothrombin activity, percent of normal"},
        {"factor_vii_percent", "%", "factor VII activity, percent of normal"},
        {"factor_ix_percent", "%", "factor IX activity, percent of normal"},
        {"factor_x_percent", "%", "factor X activity, percent of normal"},
        {"protein_c_percent", "%", "protein C activity, percent of normal"},
        {"protein_s_percent", "%", "protein S activity, percent of normal"},
        {"liver_hydroquinone_nmol", "nmol",
         "hepatic vitamin K hydroquinone, the carboxylase cofactor (all forms)"},
        {"vkor_inhibition_fraction", "1", "fraction of VKOR activity blocked by anticoagulants"},
        {"plasma_s_warfarin_mg_per_L", "mg/L", "plasma S-warfarin"},
        {"plasma_acenocoumarol_ug_per_L", "ug/L", "plasma acenocoumarol"},
        {"body_weight_kg", "kg", "body weight (a newborn grows; an adult keeps the subject's)"},
        {"feeding_k1_ug_per_d", "ug/d", "K1 drunk with breast milk or formula (newborn)"},
        {"im_depot_k1_nmol", "nmol", "K1 left at an intramuscular injection site"},
        {"vkdb_cum_prob", "1",
         "newborns: cumulative probability of late vitamin K deficiency bleeding (eq. 34)"}};
    return kOutputs;
  }
  void set_subject(const SubjectCovariates& s) override { VitK::set_subject(s); }
  void compute_outputs(double t_h, const double* y, double* out) const override {
    const double v = shared(VitK::kVPlasma) * size_ratio(t_h);
    for (std::size_t f = 0; f < VitK::kForms; ++f) {  // outputs 0-5: plasma, in form order
      out[f] = y[VitK::index(static_cast<VitK::Form>(f), VitK::kPlasma)] / v;
    }
    out[6] = out[7] = 0.0;
    out[8] = y[VitK::index(VitK::kMk4, VitK::kTissue)];
    out[9] = y[VitK::kBodyStatin] / shared(VitK::kVStatin);
    // Eq. (18)-(19): markers of extrahepatic carboxylation.
    const double mgp = y[VitK::kMgpCarboxylated];
    const double oc = y[VitK::kOcCarboxylated];
    out[10] = mgp;
    out[11] = shared(VitK::kDpUcMgpUncarboxylated) * 1e3 * (1.0 - mgp) *  // nmol/L -> pmol/L
              dp_ucmgp_renal_factor();
    out[12] = 100.0 * (1.0 - oc);
    out[13] = oc > 0.0 ? (1.0 - oc) / oc : std::numeric_limits<double>::infinity();
    out[21] = 0.0;
    for (std::size_t fi = 0; fi < VitK::kForms; ++fi) {
      const auto f = static_cast<VitK::Form>(fi);
      out[6] += y[VitK::index(f, VitK::kLiver)] + y[VitK::hydroquinone(f)] + y[VitK::epoxide(f)];
      out[7] += y[VitK::index(f, VitK::kTissue)];
      out[21] += y[VitK::hydroquinone(f)];
    }
    // Eq. (25) and the clotting factors, percent of normal.
    out[14] = inr(y);
    for (std::size_t k = 0; k < VitK::kFactors; ++k)
      out[15 + k] = 100.0 * y[VitK::factor(static_cast<VitK::Factor>(k))];
    out[22] = vkor_inhibition(y);
    out[23] = y[VitK::kCentralWarfarin] / shared(VitK::kV1Warfarin) * ug_per_nmol_warfarin() *
              1e-3;  // nmol/L -> mg/L
    out[24] = y[VitK::kBodyAcenocoumarol] / shared(VitK::kVAcenocoumarol) *
              ug_per_nmol_acenocoumarol();  // nmol/L -> ug/L
    out[25] = body_weight_kg(t_h);
    out[26] = feeding_k1_ug_per_d(t_h);
    out[27] = y[VitK::kImDepotK1];
    out[28] = -std::expm1(-y[VitK::kVkdbHazard]);
  }
  [[nodiscard]] std::vector<std::string> diet_substances() const override {
    return {"K1", "MK-4", "MK-7", "MK-8", "MK-9", "DHP"};
  }
  [[nodiscard]] DoseTarget dose_target(const DoseContext& dose) const override {
    const units::Substance& s = units::find_substance(dose.substance);
    const bool vitamin = s.name == "K1" || s.name == "MK-4" || s.name == "MK-7" ||
                         s.name == "MK-8" || s.name == "MK-9" || s.name == "DHP";
    if (newborn() && !vitamin) {
      throw InputError(fmt::format(
          "substance '{}' for a newborn (rule: a newborn run takes vitamin K forms only)", s.name));
    }
    if (s.name == "atorvastatin") {
      if (dose.route != Route::kOral) {
        throw InputError(
            fmt::format("route {} for atorvastatin (rule: oral)", to_string(dose.route)));
      }
      return {VitK::kGutStatin, shared(VitK::kFStatin)};
    }
    if (s.name == "warfarin" || s.name == "acenocoumarol") {
      const bool w = s.name == "warfarin";
      if (dose.route == Route::kOral) {
        return w ? DoseTarget{VitK::kGutWarfarin, shared(VitK::kFWarfarin)}
                 : DoseTarget{VitK::kGutAcenocoumarol, shared(VitK::kFAcenocoumarol)};
      }
      if (dose.route == Route::kIv) {
        // f_warfarin is the S share of the racemate (absorption is complete).
        return w ? DoseTarget{VitK::kCentralWarfarin, shared(VitK::kFWarfarin)}
                 : DoseTarget{VitK::kBodyAcenocoumarol, 1.0};
      }
      throw InputError(
          fmt::format("route {} for {} (rule: oral or IV)", to_string(dose.route), s.name));
    }
    VitK::Form f = VitK::kK1;
    if (s.name == "K1") {
      f = VitK::kK1;
    } else if (s.name == "MK-4") {
      f = VitK::kMk4;
    } else if (s.name == "MK-7") {
      f = VitK::kMk7;
    } else if (s.name == "MK-8") {
      f = VitK::kMk8;
    } else if (s.name == "MK-9") {
      f = VitK::kMk9;
    } else if (s.name == "DHP") {
      f = VitK::kDhp;
    } else {
      throw InputError(
          fmt::format("substance '{}' (rule: model vitk takes K1, DHP, MK-4, MK-7, MK-8, MK-9, "
                      "atorvastatin, warfarin and acenocoumarol)",
                      dose.substance));
    }
    if (dose.route == Route::kIv) return {VitK::index(f, VitK::kPlasma), 1.0};
    if (dose.route == Route::kIm && f == VitK::kK1) return {VitK::kImDepotK1, 1.0};
    if (dose.route == Route::kOral) {
      const VitK::Pool gut =
          dose.matrix == Matrix::kVegetable ? VitK::kGutFood : VitK::kGutSupplement;
      return {VitK::index(f, gut), absorbed_fraction(f, dose)};
    }
    throw InputError(
        fmt::format("route {} for {} (rule: model vitk takes oral or IV doses, and IM for K1)",
                    to_string(dose.route), s.name));
  }
};

class CalciumBoneModel final : public AdaptedModel<internal::CalciumBone, Model> {
 public:
  using CB = internal::CalciumBone;
  explicit CalciumBoneModel(const ParameterTable& table) : AdaptedModel<CB, Model>(table) {}

  [[nodiscard]] std::string_view name() const override { return "calcium-bone"; }
  [[nodiscard]] const std::vector<OutputSpec>& outputs() const override {
    static const std::vector<OutputSpec> kOutputs = {
        {"serum_ca_mmol_per_L", "mmol/L", "total plasma calcium"},
        {"pth_pmol_per_L", "pmol/L", "parathyroid hormone (endogenous and teriparatide)"},
        {"calcitriol_pmol_per_L", "pmol/L", "1,25-dihydroxyvitamin D"},
        {"serum_phosphate_mmol_per_L", "mmol/L", "plasma phosphate"},
        {"urinary_ca_mmol_per_d", "mmol/d", "urinary calcium excretion (rate now, per day)"},
        {"ca_absorbed_mmol_per_d", "mmol/d", "net calcium absorption from the gut (rate now)"},
        {"bone_ca_mmol", "mmol", "calcium in bone (exchangeable and non-exchangeable)"},
        {"osteoclasts_rel", "1", "active osteoclasts relative to the published steady state"},
        {"osteoblasts_rel", "1", "active osteoblasts relative to the published steady state"},
        {"gfr_mL_per_min", "mL/min", "glomerular filtration rate"},
        {"ca_into_gut_cum_mmol", "mmol",
         "calcium that entered the absorbable gut pool since the start (balance)"},
        {"urinary_ca_cum_mmol", "mmol", "calcium excreted in urine since the start (balance)"},
        {"ca_stores_mmol", "mmol",
         "calcium in plasma and extracellular fluid, gut pool, stomach and bone (balance)"},
        {"serum_25ohd_nmol_per_L", "nmol/L", "25-hydroxyvitamin D (D3 and D2)"},
        {"serum_25ohd2_nmol_per_L", "nmol/L", "25-hydroxyvitamin D2"},
        {"plasma_vitamin_d_nmol_per_L", "nmol/L", "vitamin D3 and D2 in plasma"},
        {"magnesium_status", "1", "magnesium intake relative to the RDA, at most 1 (eq. 52)"},
        {"serum_25ohd_rise_nmol_per_L", "nmol/L",
         "25(OH)D above its level on the background vitamin D input"},
        {"calcidiol_half_life_d", "d",
         "elimination half-life of 25(OH)D3 now (what a tracer measures; eq. 47)"},
        {"calcitriol_half_life_h", "h", "elimination half-life of calcitriol (ln 2 / T69)"},
        {"bmd_lumbar_spine_rel", "1", "lumbar spine BMD relative to the start of the run"},
        {"bmd_femoral_neck_rel", "1", "femoral neck BMD relative to the start of the run"},
        {"bmd_lumbar_spine_ref", "1",
         "lumbar spine BMD relative to the published model's reference state (eq. 53)"},
        {"bmd_femoral_neck_ref", "1",
         "femoral neck BMD relative to the published model's reference state (eq. 53)"},
        {"estrogen_rel", "1", "estrogen relative to a premenopausal woman of 41 (eq. 55)"},
        {"denosumab_ug_per_L", "ug/L", "plasma denosumab"},
        {"uv_index", "1", "clear-sky UV index at solar noon (subject key sun; eq. 56)"},
        {"skin_d3_ug_per_d", "ug/d", "vitamin D3 made in the skin by the day's sun (eq. 56)"}};
    return kOutputs;
  }
  void set_subject(const SubjectCovariates& s) override { CB::set_subject(s); }
  void set_diet(const DietInput& d) override { CB::set_diet(d); }
  [[nodiscard]] bool takes_diet() const override { return true; }
  [[nodiscard]] std::vector<std::size_t> accumulators() const override {
    std::vector<std::size_t> held = AdaptedModel<CB, Model>::accumulators();
    if (has_sun()) {
      // Eq. (56): with seasonal skin synthesis the vitamin D states start at the steady state of
      // the input of the preceding weeks (reset_state), not of the start day's.
      held.insert(held.end(),
                  {CB::kGutD3, CB::kGutD2, CB::kCentralD3, CB::kCentralD2, CB::kPeripheralD3,
                   CB::kPeripheralD2, CB::kCalcidiolD3, CB::kCalcidiolD2});
    }
    return held;
  }
  [[nodiscard]] std::string periodic_steady_state_unsupported() const override {
    return "model calcium-bone has no periodic steady state: its bone mineral density turns over "
           "in months to years, too slowly for the one-period Newton search; start the regimen at "
           "0 d without steady_state";
  }
  void set_start_state(std::span<const double> y0) override {
    bmd_start_ = {y0[CB::kBmdLumbarSpine], y0[CB::kBmdFemoralNeck]};
  }
  void compute_outputs(double t_h, const double* y, double* out) const override {
    namespace pr = internal::pr2010;
    std::array<double, CB::kStateCount> dy{};
    std::array<double, pr::kRuleCount> rule{};
    CB::rhs<double>(t_h, y, dy.data(), rule.data());
    const double v1 = param(pr::pV1);
    out[0] = y[pr::kP] / v1;
    out[1] = y[pr::kPTH] / v1;
    out[2] = y[pr::kB] / v1;
    out[3] = y[pr::kECCPhos] / v1;
    out[4] = rule[pr::rJ27] * 24.0;
    out[5] = rule[pr::rJ40] * 24.0;
    out[6] = y[pr::kQ] + y[pr::kQbone];
    out[7] = y[pr::kOC] / derived(pr::dOC0);
    out[8] = (y[pr::kOBfast] + y[pr::kOBslow]) / derived(pr::dOB0);
    out[9] = gfr_l_per_h(t_h) * 1000.0 / 60.0;
    out[10] = y[CB::kCaIntoGutCum];
    out[11] = y[CB::kUrineCaCum];
    out[12] = y[pr::kP] + y[pr::kT] + y[CB::kCaSupplement] + out[6];
    out[13] = calcidiol_nmol_per_l(y);
    out[14] = y[CB::kCalcidiolD2] / own(CB::kV25ohd);
    out[15] = (y[CB::kCentralD3] + y[CB::kCentralD2]) / own(CB::kVD3);
    out[16] = magnesium_status(y);
    out[17] = out[13] - c25_reference();
    out[18] = std::log(2.0) / calcidiol_elimination_per_h(y) / 24.0;
    out[19] = std::log(2.0) / param(pr::pT69);
    out[20] = y[CB::kBmdLumbarSpine] / bmd_start_[0];
    out[21] = y[CB::kBmdFemoralNeck] / bmd_start_[1];
    out[22] = y[CB::kBmdLumbarSpine];
    out[23] = y[CB::kBmdFemoralNeck];
    out[24] = estrogen(t_h);
    out[25] = y[CB::kDenosumabCentral] / own(CB::kDenVc) * denosumab_ug_per_nmol_;
    out[26] = uv_index(t_h);
    out[27] = skin_d3_ug_per_d(t_h);
  }
  [[nodiscard]] DoseTarget dose_target(const DoseContext& dose) const override {
    const units::Substance& s = units::find_substance(dose.substance);
    if (s.name == "calcium") {
      if (dose.route != Route::kOral) {
        throw InputError(
            fmt::format("route {} for calcium (rule: model calcium-bone takes oral "
                        "calcium)",
                        to_string(dose.route)));
      }
      return {CB::kCaSupplement, 1.0};  // mmol
    }
    if (s.name == "teriparatide") {
      // The states hold pmol, the dose arrives in nmol.
      if (dose.route == Route::kSc) return {internal::pr2010::kTERISC, 1e3};
      if (dose.route == Route::kIv) return {internal::pr2010::kPTH, 1e3};
      throw InputError(
          fmt::format("route {} for teriparatide (rule: SC or IV)", to_string(dose.route)));
    }
    if (s.name == "denosumab") {
      if (dose.route == Route::kSc) return {CB::kDenosumabSc, own(CB::kDenF)};
      if (dose.route == Route::kIv) return {CB::kDenosumabCentral, 1.0};
      throw InputError(
          fmt::format("route {} for denosumab (rule: SC or IV)", to_string(dose.route)));
    }
    if (s.name == "D3" || s.name == "D2") {
      if (dose.route != Route::kOral) {
        throw InputError(
            fmt::format("route {} for {} (rule: model calcium-bone takes oral vitamin D)",
                        to_string(dose.route), s.name));
      }
      return {s.name == "D3" ? CB::kGutD3 : CB::kGutD2, own(CB::kFAbsD)};
    }
    if (s.name == "magnesium") {
      if (dose.route != Route::kOral) {
        throw InputError(
            fmt::format("route {} for magnesium (rule: model calcium-bone takes oral magnesium)",
                        to_string(dose.route)));
      }
      return {CB::kMgSupplement, 1.0};  // mmol
    }
    throw InputError(
        fmt::format("substance '{}' (rule: model calcium-bone takes calcium, magnesium, D3, D2, "
                    "teriparatide and denosumab)",
                    dose.substance));
  }

 private:
  std::array<double, 2> bmd_start_{1.0, 1.0};  // BMD of the start state (set_start_state)
};

}  // namespace

namespace internal {
std::unique_ptr<Model> make_vitk_model(const ParameterTable& table) {
  return std::make_unique<VitKModel>(table);
}
std::unique_ptr<Model> make_calcium_bone_model(const ParameterTable& table) {
  return std::make_unique<CalciumBoneModel>(table);
}
}  // namespace internal

std::string_view to_string(Matrix m) {
  switch (m) {
    case Matrix::kSupplement:
      return "supplement";
    case Matrix::kMicelle:
      return "micelle";
    case Matrix::kVegetable:
      return "vegetable";
  }
  return "?";
}

std::vector<std::string> model_names() { return {"full", "vitk", "calcium-bone", "pk-1cmt"}; }

std::string parameter_module(std::string_view model_name) {
  if (model_name == "pk-1cmt") return "pk_1cmt";
  if (model_name == "vitk") return "vitk";
  if (model_name == "calcium-bone") return "calcium";
  if (model_name == "full") return "vitk+calcium+vascular";
  throw InputError(fmt::format("unknown model '{}' (rule: one of {}){}", model_name,
                               fmt::join(model_names(), ", "),
                               did_you_mean(model_name, model_names())));
}

std::unique_ptr<Model> make_model(std::string_view model_name, const ParameterTable& table) {
  if (model_name == "pk-1cmt") return std::make_unique<Pk1CmtModel>(table);
  if (model_name == "vitk") return std::make_unique<VitKModel>(table);
  if (model_name == "calcium-bone") return std::make_unique<CalciumBoneModel>(table);
  if (model_name == "full") return internal::make_full_model(table);
  (void)parameter_module(model_name);  // throws with the suggestion
  return nullptr;
}

}  // namespace k2sim
