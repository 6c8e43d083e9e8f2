// The composed model "full" (docs/model.md eq. 59-66): vitamin K (vitk) + calcium, vitamin D and
// bone (calcium-bone) + vascular calcification and outcomes (vascular), in one state vector.
#pragma once

#include <memory>

#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim::internal {

/// The sub-models (registry.cpp).
[[nodiscard]] std::unique_ptr<Model> make_vitk_model(const ParameterTable& table);
[[nodiscard]] std::unique_ptr<Model> make_calcium_bone_model(const ParameterTable& table);

/// The composed model; `table` holds the rows of vitk.csv, calcium.csv and vascular.csv.
[[nodiscard]] std::unique_ptr<Model> make_full_model(const ParameterTable& table);

}  // namespace k2sim::internal
