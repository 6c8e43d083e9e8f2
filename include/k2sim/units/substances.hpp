// k2sim/units/substances.hpp: the one table of substances k2sim knows, with molecular weights and
// the conversions from a scenario's amount (mass, amount, or IU for vitamin D) to the internal
// amount unit of the substance (nmol for vitamins and drugs, mmol for minerals). docs/units.md.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "k2sim/units/units.hpp"

namespace k2sim::units {

enum class InternalAmount { kNmol, kMmol };

struct Substance {
  std::string_view name;     // canonical name used in scenarios, e.g. "MK-7"
  std::string_view formula;  // molecular formula (Hill notation)
  double mw_g_per_mol;       // molar mass of the form that is dosed and measured
  InternalAmount internal;   // internal amount unit
  double iu_per_ug;          // international units per ug; 0 when IU is not defined
  std::string_view description;
  std::string_view source;
};

/// Every substance, in table order.
[[nodiscard]] const std::vector<Substance>& substances();

/// Looks a substance up by name (case-insensitive; "MK7" and "mk-7" both find MK-7). Throws
/// InputError naming the value, the rule and the nearest known name.
[[nodiscard]] const Substance& find_substance(std::string_view name);

/// Internal amount unit symbol of the substance ("nmol" or "mmol").
[[nodiscard]] std::string_view internal_unit(const Substance& s);

/// An amount of the substance (mass, amount or IU) in its internal unit. Throws UnitError for any
/// other dimension, or IU for a substance without an IU definition.
[[nodiscard]] double to_internal_amount(const Substance& s, const Quantity& q);

/// A rate of the substance (mass, amount or IU per time) in its internal unit per hour.
[[nodiscard]] double to_internal_rate(const Substance& s, const Quantity& q);

/// Inverse of to_internal_amount for mass: internal amount -> ug.
[[nodiscard]] double internal_amount_to_ug(const Substance& s, double amount);

}  // namespace k2sim::units
