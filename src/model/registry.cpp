#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/units/substances.hpp"
#include "pk/pk_1cmt.hpp"

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
  [[nodiscard]] const std::vector<OutputSpec>& outputs() const override {
    static const std::vector<OutputSpec> kOutputs = {
        {"plasma_mk7_nmol_per_L", "nmol/L", "plasma menaquinone-7"}};
    return kOutputs;
  }
  void compute_outputs(const double* y, double* out) const override {
    out[0] = plasma_mk7_nmol_per_L(y);
  }
  [[nodiscard]] DoseTarget dose_target(std::string_view substance, Route route) const override {
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

}  // namespace

std::vector<std::string> model_names() { return {"pk-1cmt"}; }

std::string parameter_module(std::string_view model_name) {
  if (model_name == "pk-1cmt") return "pk_1cmt";
  throw InputError(fmt::format("unknown model '{}' (rule: one of {}){}", model_name,
                               fmt::join(model_names(), ", "),
                               did_you_mean(model_name, model_names())));
}

std::unique_ptr<Model> make_model(std::string_view model_name, const ParameterTable& table) {
  if (model_name == "pk-1cmt") return std::make_unique<Pk1CmtModel>(table);
  (void)parameter_module(model_name);  // throws with the suggestion
  return nullptr;
}

}  // namespace k2sim
