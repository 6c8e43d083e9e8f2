#include "full.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include "../../engine/sparsity.hpp"
#include "../calcium/calcium_bone.hpp"
#include "../vascular/vascular.hpp"
#include "../vitk/vitk.hpp"
#include "core/quadrature.hpp"
#include "k2sim/engine/simulation.hpp"
#include "k2sim/error.hpp"
#include "k2sim/units/substances.hpp"

namespace k2sim::internal {

namespace {

constexpr double kHoursPerYear = 365.25 * 24.0;

// Substances the vitamin K module takes; every other goes to calcium-bone.
bool vitk_substance(std::string_view name) {
  static const std::set<std::string_view> kVitk = {
      "K1", "MK-4", "MK-7", "MK-8", "MK-9", "DHP", "atorvastatin", "warfarin", "acenocoumarol"};
  return kVitk.count(name) > 0;
}

class FullModel final : public Model {
 public:
  // The vascular and outcome states after the two sub-models' (eq. 59-65).
  enum Vasc : std::size_t {
    kCoronaryAge,     // y: the age that enters the CAC curve (eq. 62)
    kAorticAge,       // y: the age that enters the AAC curve
    kEventFree,       // probability alive and free of a coronary event (eq. 65)
    kPostEvent,       // probability alive after a non-fatal first coronary event
    kChdEventCum,     // cumulative incidence of a first coronary event
    kChdDeathCum,     // cumulative incidence of coronary death (fatal first events)
    kDeathCum,        // cumulative incidence of death from any cause
    kChdCumHazard,    // integral of the first-coronary-event hazard (individual event times)
    kOtherCumHazard,  // integral of the hazard of death from other causes
    kVascStates
  };

  explicit FullModel(const ParameterTable& table)
      : vitk_(make_vitk_model(table)),
        ca_(make_calcium_bone_model(table)),
        vasc_(table),
        life_(LifeTable::builtin("USA 2020")),
        nv_(vitk_->state_count()),
        nc_(ca_->state_count()),
        v1_l_(table.at("V1").canonical()) {
    outputs_ = vitk_->outputs();
    const auto& co = ca_->outputs();
    outputs_.insert(outputs_.end(), co.begin(), co.end());
    const std::vector<OutputSpec> own = {
        {"cac_agatston", "AU", "coronary artery calcium score (eq. 60-62)"},
        {"cac_percentile", "1",
         "the subject's CAC as a percentile (0-100) of people of their age and sex"},
        {"cac_prob_positive", "1",
         "P(CAC > 0) at the subject's coronary vascular age: the population curve (eq. 60)"},
        {"cac_onset_hazard_per_y", "1/y",
         "hazard of new detectable CAC among those without, at the subject's pace (eq. 61)"},
        {"vascular_age_y", "y", "coronary vascular age: the age that enters the CAC curve"},
        {"calcification_pace", "1",
         "pace of vascular calcification relative to the reference population (eq. 62)"},
        {"aac_score", "1", "abdominal aortic calcification, AAC-24 score (0-24; eq. 63)"},
        {"aac_prob_positive", "1", "P(AAC > 0) at the subject's aortic vascular age (eq. 63)"},
        {"chd_hazard_per_y", "1/y", "hazard of a first coronary event now (MESA; eq. 64)"},
        {"chd_event_cum_prob", "1", "cumulative probability of a first coronary event since start"},
        {"chd_death_cum_prob", "1", "cumulative probability of coronary death since start"},
        {"death_cum_prob", "1", "cumulative probability of death from any cause since start"},
        {"age_y", "y", "age of the subject"},
        {"chd_cum_hazard", "1",
         "integral of the first-coronary-event hazard since start (cohorts draw event times)"},
        {"other_death_cum_hazard", "1",
         "integral of the hazard of death from causes other than coronary events since start"}};
    outputs_.insert(outputs_.end(), own.begin(), own.end());
    std::set<std::string> seen;
    for (const auto& o : outputs_) {
      if (!seen.insert(o.name).second) {
        throw std::logic_error("model full: output '" + o.name + "' appears twice");
      }
    }
    set_subject(SubjectCovariates{});
    ca_->set_diet(DietInput{});
    ca_start_pending_ = true;  // found when first needed: a run sets its own diet first
  }

  [[nodiscard]] std::string_view name() const override { return "full"; }
  [[nodiscard]] std::size_t state_count() const override { return nv_ + nc_ + kVascStates; }
  [[nodiscard]] std::vector<std::string> state_names() const override {
    std::vector<std::string> n = vitk_->state_names();
    for (const auto& s : ca_->state_names()) n.push_back(s);
    for (const char* s : {"coronary_vascular_age_y", "aortic_vascular_age_y", "event_free_prob",
                          "post_event_prob", "chd_event_cum_prob", "chd_death_cum_prob",
                          "death_cum_prob", "chd_cum_hazard", "other_death_cum_hazard"}) {
      n.emplace_back(s);
    }
    return n;
  }

  void set_subject(const SubjectCovariates& s) override {
    if (s.newborn) {
      throw InputError(
          "subject.newborn (rule: model full is for adults: its calcium and bone module is "
          "adult physiology; run newborns with model vitk)");
    }
    // The vitamin K module takes a constant eGFR and no sun; calcium-bone takes both.
    SubjectCovariates vs = s;
    vs.egfr_end = vs.egfr;
    vs.egfr_decline_h = 0.0;
    vs.sun.reset();
    vitk_->set_subject(vs);
    // Calcium-bone reads the kidney through the eGFR; dialysis acts on the vitamin K module
    // (dp-ucMGP clearance) and on the pace of calcification (eq. 62).
    SubjectCovariates cs = s;
    cs.dialysis = false;
    ca_->set_subject(cs);
    ca_start_pending_ = true;  // the calcium-bone equilibrium depends on the subject too
    subject_ = s;
    life_ = LifeTable::builtin(s.life_table);
    if (s.age_y < life_.first_age_y()) {
      throw InputError(fmt::format(
          "subject.age = {} y with life_table \"{}\" (rule: the table starts at {} y; \"USA 2020\" "
          "covers all ages)",
          s.age_y, s.life_table, life_.first_age_y()));
    }
    q_ = std::clamp(
        s.cac_au ? vasc_.cac_percentile_of(*s.cac_au, s.age_y, s.female) : s.cac_percentile / 100.0,
        1e-6, 1.0 - 1e-6);
    other_hazard_ = other_hazard_table(s.life_table, s.female);
  }

  /// Eq. (65): coronary deaths are removed from the life table's all-cause hazard (smooth to all
  /// orders: LifeTable::kernel_hazard_per_y) at the reference population's mean coronary death
  /// hazard by age (tabulated every 0.25 y, interpolated by a cubic spline, so that the hazard
  /// has no kinks: each would cost the solver about 20 steps, and the spline's slope through a
  /// table of five-year intervals about 30 steps in 10 years). The table depends on the sex, the
  /// life table and the vascular parameters only, so it is kept for each of these (a cohort
  /// builds a model per subject).
  [[nodiscard]] CubicSpline other_hazard_table(const std::string& life_table, bool female) const {
    using Key = std::tuple<std::string, bool, std::vector<double>>;
    static std::mutex mutex;
    static std::map<Key, CubicSpline> tables;
    Key key{life_table, female, vasc_.params()};
    {
      const std::lock_guard<std::mutex> lock(mutex);
      if (const auto it = tables.find(key); it != tables.end()) return it->second;
    }
    const RiskFactors ref = vasc_.reference_risk_factors();
    const double pf = vasc_.param(Vascular::kChdFatalFraction);
    const std::vector<internal::NormalNode> nodes = internal::normal_quadrature(kCacNodes);
    std::vector<double> ages(kAgeSteps, 0.0);
    std::vector<double> table(kAgeSteps, 0.0);
    for (std::size_t i = 0; i < kAgeSteps; ++i) {
      const double age = static_cast<double>(i) * kAgeStep;
      ages[i] = age;
      // The reference population's mean coronary hazard over its CAC distribution at this age:
      // zero with probability 1 - p, else lognormal (eq. 60), the lognormal part by
      // Gauss-Hermite quadrature (smooth in age, like each of its terms).
      const double p = vasc_.cac_prob_positive(age, female);
      const double mu = vasc_.cac_log_median(age, female);
      const double sd = vasc_.cac_log_sd(female);
      double positive = 0.0;
      for (const internal::NormalNode& node : nodes) {
        positive += node.w * vasc_.chd_hazard_per_y(age, female, ref, std::exp(mu + sd * node.z));
      }
      const double mean = (1.0 - p) * vasc_.chd_hazard_per_y(age, female, ref, 0.0) + p * positive;
      table[i] =
          std::max(0.0, life_.kernel_hazard_per_y(age, female, kLifeTableKernelSdY) - pf * mean);
    }
    CubicSpline t(std::move(ages), std::move(table));  // natural at 0 and 120 y
    const std::lock_guard<std::mutex> lock(mutex);
    if (tables.size() >= 1024) tables.clear();  // bounded: parameter draws make new keys
    tables.emplace(std::move(key), t);
    return t;
  }

  void set_diet(const DietInput& d) override {
    ca_->set_diet(d);
    find_ca_start();
  }

  // The calcium and bone states start from their own equilibrium for this subject and diet, and
  // the periodic steady state of the vitamin K regimen holds them there.
  void find_ca_start() const {
    std::vector<double> start(nc_, 0.0);
    ca_->reset_state(start);
    SimulationOptions options;
    options.patterns = calcium_bone_patterns();
    const SolveSummary s = equilibrium(*ca_, options, start);
    if (!s.ok()) {
      throw Error("model full: equilibrium of the calcium and bone states: " + s.message);
    }
    ca_start_ = std::move(start);  // kept only when found
    ca_start_pending_ = false;
  }
  /// The calcium-bone module's Jacobian pattern, probed once per process with the built-in
  /// parameters and the default subject and diet, the same for every subject and thread (so no
  /// result depends on the order in which a cohort's subjects run). With it, the Newton
  /// iteration of find_ca_start() takes its difference quotients by groups of columns, a few
  /// right-hand sides instead of one per state (docs/engine.md "Events and integration"). An entry
  /// that a subject's own parameters add makes the convergence linear; the equilibrium refuses that
  /// and takes the full Jacobian.
  static std::shared_ptr<internal::PatternStore> calcium_bone_patterns() {
    static const std::shared_ptr<internal::PatternStore> store = [] {
      auto s = std::make_shared<internal::PatternStore>();
      const std::unique_ptr<Model> model =
          make_calcium_bone_model(ParameterTable::builtin(parameter_module("calcium-bone")));
      model->set_subject(SubjectCovariates{});
      model->set_diet(DietInput{});
      (void)internal::jacobian_pattern(*model, 0.0, 0.0, s.get());
      s->freeze();
      return s;
    }();
    return store;
  }

  [[nodiscard]] bool takes_diet() const override { return true; }
  [[nodiscard]] std::vector<std::string> diet_substances() const override {
    return vitk_->diet_substances();
  }
  [[nodiscard]] std::string default_diet_preset() const override { return "united-states"; }

  void rhs(double t_h, const double* y, double* dydt) const override {
    vitk_->rhs(t_h, y, dydt);
    ca_->rhs(t_h, y + nv_, dydt + nv_);
    const double* v = y + nv_ + nc_;
    double* dv = dydt + nv_ + nc_;
    // Eq. (62): the pace of vascular ageing from carboxylated MGP, phosphate and dialysis.
    const double m = pace(y);
    dv[kCoronaryAge] = m / kHoursPerYear;
    dv[kAorticAge] = m / kHoursPerYear;
    // Eq. (66): carboxylated osteocalcin on bone formation (a hypothesis, neutral by default).
    const double oc_term =
        vasc_.param(Vascular::kOcBmdEffect) / kHoursPerYear *
        (y[VitK::kOcCarboxylated] - vasc_.param(Vascular::kOcCarboxylatedReference));
    dydt[nv_ + CalciumBone::kBmdLumbarSpine] += oc_term * y[nv_ + CalciumBone::kBmdLumbarSpine];
    dydt[nv_ + CalciumBone::kBmdFemoralNeck] += oc_term * y[nv_ + CalciumBone::kBmdFemoralNeck];
    // Eq. (64)-(65): first coronary events (MESA, with the CAC of now), their fatal fraction,
    // and death from other causes (life table less the reference coronary deaths).
    const double age = age_y(t_h);
    const double cac = vasc_.cac_at(q_, v[kCoronaryAge], subject_.female);
    const double he =
        vasc_.chd_hazard_per_y(age, subject_.female, subject_.risk_factors, cac) / kHoursPerYear;
    const double ho = other_hazard(age) / kHoursPerYear;
    const double pf = vasc_.param(Vascular::kChdFatalFraction);
    const double a = v[kEventFree];
    const double b = v[kPostEvent];
    dv[kEventFree] = -a * (he + ho);
    dv[kPostEvent] = a * he * (1.0 - pf) - b * ho;
    dv[kChdEventCum] = a * he;
    dv[kChdDeathCum] = a * he * pf;
    dv[kDeathCum] = a * (he * pf + ho) + b * ho;
    dv[kChdCumHazard] = he;
    dv[kOtherCumHazard] = ho;
  }

  void reset_state(std::span<double> y) const override {
    vitk_->reset_state(y.subspan(0, nv_));
    {
      // (A const method, so safe to call from several threads: the first finds the start.)
      const std::lock_guard<std::mutex> lock(ca_start_mutex_);
      if (ca_start_pending_) find_ca_start();
    }
    std::copy(ca_start_.begin(), ca_start_.end(), y.begin() + static_cast<std::ptrdiff_t>(nv_));
    double* v = y.data() + nv_ + nc_;
    v[kCoronaryAge] = subject_.age_y;
    v[kAorticAge] = subject_.age_y;
    v[kEventFree] = 1.0;
    v[kPostEvent] = 0.0;
    v[kChdEventCum] = v[kChdDeathCum] = v[kDeathCum] = 0.0;
    v[kChdCumHazard] = v[kOtherCumHazard] = 0.0;
  }

  [[nodiscard]] std::vector<std::size_t> accumulators() const override {
    std::vector<std::size_t> held = vitk_->accumulators();
    for (std::size_t i : ca_->accumulators()) held.push_back(nv_ + i);
    for (std::size_t i = 0; i < kVascStates; ++i) held.push_back(nv_ + nc_ + i);
    return held;
  }
  [[nodiscard]] std::vector<std::size_t> periodic_held() const override {
    std::vector<std::size_t> held = vitk_->accumulators();
    for (std::size_t i = 0; i < nc_ + kVascStates; ++i) held.push_back(nv_ + i);
    return held;
  }
  [[nodiscard]] std::string steady_state_dose_unsupported(
      std::string_view substance) const override {
    const units::Substance& s = units::find_substance(substance);
    if (vitk_substance(s.name)) return {};
    return "in model full, steady_state = true is for the vitamin K forms and the drugs of the "
           "vitamin K module; " +
           ca_->periodic_steady_state_unsupported();
  }

  void set_start_state(std::span<const double> y0) override {
    vitk_->set_start_state(y0.subspan(0, nv_));
    ca_->set_start_state(y0.subspan(nv_, nc_));
  }
  [[nodiscard]] const std::vector<OutputSpec>& outputs() const override { return outputs_; }

  void compute_outputs(double t_h, const double* y, double* out) const override {
    const std::size_t nvo = vitk_->outputs().size();
    const std::size_t nco = ca_->outputs().size();
    vitk_->compute_outputs(t_h, y, out);
    ca_->compute_outputs(t_h, y + nv_, out + nvo);
    const double* v = y + nv_ + nc_;
    double* o = out + nvo + nco;
    const bool female = subject_.female;
    const double age = age_y(t_h);
    const double cac = vasc_.cac_at(q_, v[kCoronaryAge], female);
    o[0] = cac;
    o[1] = 100.0 * vasc_.cac_percentile_of(cac, age, female);
    o[2] = vasc_.cac_prob_positive(v[kCoronaryAge], female);
    const double m = pace(y);
    o[3] = vasc_.cac_onset_hazard_per_y(v[kCoronaryAge], female) * m;
    o[4] = v[kCoronaryAge];
    o[5] = m;
    o[6] = vasc_.aac_at(q_, v[kAorticAge]);
    o[7] = vasc_.aac_prob_positive(v[kAorticAge]);
    o[8] = vasc_.chd_hazard_per_y(age, female, subject_.risk_factors, cac);
    o[9] = v[kChdEventCum];
    o[10] = v[kChdDeathCum];
    o[11] = v[kDeathCum];
    o[12] = age;
    o[13] = v[kChdCumHazard];
    o[14] = v[kOtherCumHazard];
  }

  [[nodiscard]] DoseTarget dose_target(const DoseContext& dose) const override {
    const units::Substance& s = units::find_substance(dose.substance);
    if (vitk_substance(s.name)) return vitk_->dose_target(dose);
    try {
      DoseTarget t = ca_->dose_target(dose);
      t.cmt += nv_;
      return t;
    } catch (const InputError&) {
      if (s.name == "calcium" || s.name == "magnesium" || s.name == "D3" || s.name == "D2" ||
          s.name == "teriparatide" || s.name == "denosumab") {
        throw;
      }
      throw InputError(fmt::format(
          "substance '{}' (rule: model full takes K1, DHP, MK-4, MK-7, MK-8, MK-9, atorvastatin, "
          "warfarin, acenocoumarol, calcium, magnesium, D3, D2, teriparatide and denosumab)",
          dose.substance));
    }
  }

 private:
  static constexpr double kAgeStep = 0.25;
  static constexpr std::size_t kAgeSteps = 481;  // 0-120 y
  /// The s of the life table's kernel (LifeTable::kernel_hazard_per_y), y: wide enough that the
  /// other-cause hazard is smooth on the scale of a solver step of months (bench/README.md
  /// "Fifth session"), narrow against the change of mortality with age (it doubles in about 8
  /// years past 40): the probability of dying over any ten years from 40 to 100 y stays within
  /// 0.11% of the table's, a single year of the US table within 0.55% (test
  /// LifeTable.KernelHazardIsSmoothAndKeepsEachInterval).
  static constexpr double kLifeTableKernelSdY = 1.0;
  /// Gauss-Hermite nodes for the reference population's mean coronary hazard over its CAC.
  static constexpr std::size_t kCacNodes = 40;

  [[nodiscard]] double age_y(double t_h) const { return subject_.age_y + t_h / kHoursPerYear; }
  [[nodiscard]] double pace(const double* y) const {
    const double phosphate = y[nv_ + pr2010::kECCPhos] / v1_l_;
    return vasc_.pace(y[VitK::kMgpCarboxylated], phosphate, subject_.dialysis);
  }
  [[nodiscard]] double other_hazard(double age) const {
    return std::max(0.0, other_hazard_.value(age));  // ages outside 0-120 y at the nearest end
  }

  std::unique_ptr<Model> vitk_;
  std::unique_ptr<Model> ca_;
  Vascular vasc_;
  LifeTable life_;
  std::size_t nv_;
  std::size_t nc_;
  double v1_l_;
  std::vector<OutputSpec> outputs_;
  SubjectCovariates subject_;
  double q_ = 0.5;
  CubicSpline other_hazard_;
  mutable std::vector<double> ca_start_;
  /// ca_start_ not yet found for this subject and diet (set_diet finds it; the constructor and
  /// set_subject leave it to the next reset_state)
  mutable bool ca_start_pending_ = false;
  mutable std::mutex ca_start_mutex_;
};

}  // namespace

std::unique_ptr<Model> make_full_model(const ParameterTable& table) {
  return std::make_unique<FullModel>(table);
}

}  // namespace k2sim::internal
