#include "calcium_bone.hpp"

#include <cmath>

#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/io/scenario.hpp"
#include "k2sim/units/units.hpp"

namespace k2sim::internal {

namespace {

std::array<std::string_view, CalciumBone::kStateCount> state_names() {
  std::array<std::string_view, CalciumBone::kStateCount> names{};
  for (std::size_t i = 0; i < pr2010::kSpeciesCount; ++i) names[i] = pr2010::kSpeciesNames[i];
  names[CalciumBone::kCaSupplement] = "ca_supplement_stomach_mmol";
  names[CalciumBone::kCaIntoGutCum] = "ca_into_gut_cumulative_mmol";
  names[CalciumBone::kUrineCaCum] = "urine_ca_cumulative_mmol";
  return names;
}

}  // namespace

const std::array<std::string_view, CalciumBone::kStateCount> CalciumBone::kStateNames =
    state_names();

CalciumBone::CalciumBone(const ParameterTable& table)
    : own_(resolve(table, {kOwnNames.begin(), kOwnNames.end()}, {units::dim::per_time()})) {
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
  gfr0_l_per_h_ = gfr_end_l_per_h_ = p_[pr2010::pGFR];  // until set_subject
}

void CalciumBone::set_subject(const SubjectCovariates& s) {
  // Eq. (44): the subject's eGFR stands for the model's GFR (Peterson & Riggs: 100 mL/min for
  // an adult of 1.73 m2 body surface).
  gfr0_l_per_h_ = s.egfr;
  gfr_end_l_per_h_ = s.egfr_decline_h > 0.0 ? s.egfr_end : s.egfr;
  gfr_decline_h_ = s.egfr_decline_h;
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
}

}  // namespace k2sim::internal
