// Calcium homeostasis and bone remodelling (model "calcium-bone"): the Peterson & Riggs (Bone
// 2010;46:49-63) model, translated from its SBML encoding (pr2010_generated.hpp, equations (40)-
// (41) of docs/model.md), with k2sim's inputs: the subject's kidney function and its decline, oral
// calcium supplements, subcutaneous and intravenous teriparatide. Parameters in
// data/parameters/calcium.csv.
#pragma once

#include <array>
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
  // two accumulators (no feedback; skipped by the equilibrium search): calcium that entered the
  // absorbable gut pool T since the start, and calcium excreted in urine since the start; mmol.
  enum Extra : std::size_t { kCaSupplement = kSbml, kCaIntoGutCum, kUrineCaCum, kStateCount };
  static const std::array<std::string_view, kStateCount> kStateNames;
  // States nothing depends on (a zero column of the Jacobian): the accumulators, the bone store
  // Qbone (it integrates the exchange with Q) and the SBML's unused total-osteoblast species OB.
  static constexpr std::array<std::size_t, 4> kAccumulators = {kCaIntoGutCum, kUrineCaCum,
                                                               pr2010::kQbone, pr2010::kOB};

  // k2sim's parameters of this model, after the SBML's (same table).
  enum Own : std::size_t { kKCaSupplement, kOwnCount };
  static constexpr std::array<std::string_view, kOwnCount> kOwnNames = {"k_ca_supplement"};

  explicit CalciumBone(const ParameterTable& table);

  void set_subject(const SubjectCovariates& s);

  /// Eq. (40)-(43).
  template <class T>
  void rhs(T t_h, const T* y, T* dydt, T* rule = nullptr) const {
    std::array<double, pr2010::kParamCount> p = p_;
    p[pr2010::pGFR] = gfr_l_per_h(static_cast<double>(t_h));
    // Eq. (42): a supplement dose empties into the gut; the fraction F11 of what arrives enters
    // the absorbable pool T, as the SBML's dietary input OralCa does.
    std::array<T, pr2010::kRuleCount> own_rule;
    T* r = rule != nullptr ? rule : own_rule.data();
    pr2010::rhs<T>(t_h, y, p.data(), derived_.data(), dydt, r);
    const T emptying = own_[kKCaSupplement] * y[kCaSupplement];
    dydt[kCaSupplement] = -emptying;
    dydt[pr2010::kT] += emptying * r[pr2010::rF11];
    // Eq. (43): accumulators for the calcium balance.
    dydt[kCaIntoGutCum] = (p[pr2010::pOralCa] + emptying) * r[pr2010::rF11];
    dydt[kUrineCaCum] = r[pr2010::rJ27];
  }

  void reset_state(std::span<double> y) const;

  /// Eq. (44): glomerular filtration rate at time t, L/h (constant unless the subject's eGFR
  /// declines).
  [[nodiscard]] double gfr_l_per_h(double t_h) const;

  [[nodiscard]] double param(pr2010::Param i) const { return p_[i]; }
  [[nodiscard]] double own(Own i) const { return own_[i]; }
  /// Derived constants of the published steady state (reference values such as OB0).
  [[nodiscard]] double derived(pr2010::Derived i) const { return derived_[i]; }

 protected:
  std::array<double, pr2010::kParamCount> p_{};  // in the units of pr2010::kParams
  std::array<double, pr2010::kDerivedCount> derived_{};
  std::vector<double> own_;  // canonical units
  double gfr0_l_per_h_ = 6.0;
  double gfr_end_l_per_h_ = 6.0;
  double gfr_decline_h_ = 0.0;
};

}  // namespace k2sim::internal
