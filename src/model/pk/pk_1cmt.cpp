#include "pk_1cmt.hpp"

#include "k2sim/units/units.hpp"

namespace k2sim::internal {

Pk1Cmt::Pk1Cmt(const ParameterTable& table)
    : p_(resolve(table, {kParamNames.begin(), kParamNames.end()},
                 {units::dim::per_time(), units::dim::per_time(), units::dim::volume(),
                  units::Dimension::none()})) {}

}  // namespace k2sim::internal
