// k2sim/units/units.hpp: parsing and conversion of quantity strings ("180 ug", "3 y", "1000 IU",
// "90 mL/min/1.73m2") into k2sim's canonical internal units (docs/units.md).
//
// Canonical unit of each base dimension: time h, mass ug, amount nmol, volume L, length cm,
// pressure mmHg, angle deg, vitamin D international units IU, body-surface normalisation
// "1.73m2", coronary calcium Agatston units AU, energy J. A compound unit is the product of its
// parts, so a concentration is canonical in nmol/L, a rate in nmol/h, a clearance in L/h.
// Conversions between mass and amount need the substance (units/substances.hpp).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace k2sim::units {

enum class Base : std::uint8_t {
  kTime,
  kMass,
  kAmount,
  kVolume,
  kLength,
  kPressure,
  kAngle,
  kIu,
  kBsa,
  kAgatston,
  kEnergy,
  kCount
};

/// Exponents of the base dimensions; {} is dimensionless.
struct Dimension {
  std::array<std::int8_t, static_cast<std::size_t>(Base::kCount)> exponent{};

  [[nodiscard]] static Dimension of(Base b, int power = 1);
  [[nodiscard]] static Dimension none() { return {}; }
  friend Dimension operator*(const Dimension& a, const Dimension& b);
  friend Dimension operator/(const Dimension& a, const Dimension& b);
  friend bool operator==(const Dimension& a, const Dimension& b) = default;
  /// Canonical units of this dimension, e.g. "nmol/L" or "1" (dimensionless).
  [[nodiscard]] std::string canonical_unit() const;
};

namespace dim {
Dimension time();
Dimension mass();
Dimension amount();
Dimension volume();
Dimension iu();
Dimension length();
Dimension pressure();
Dimension angle();
Dimension agatston();
Dimension energy();
Dimension per_time();     // 1/h
Dimension mass_rate();    // ug/h
Dimension amount_rate();  // nmol/h
Dimension iu_rate();      // IU/h
Dimension gfr();          // L/h/1.73m2 (mL/min/1.73m2 on input)
Dimension amount_conc();  // nmol/L
Dimension mass_conc();    // ug/L
}  // namespace dim

/// A unit expression: value_in_canonical = value_in_unit * factor.
struct Unit {
  double factor = 1.0;
  Dimension dimension;
};

/// A value in the canonical units of its dimension.
struct Quantity {
  double value = 0.0;
  Dimension dimension;
};

/// Parses a unit expression such as "ug", "mL/min/1.73m2", "nmol*h/L", "1/h", "%" or "1".
/// Throws UnitError naming the expression and the unknown part, with the nearest known unit.
[[nodiscard]] Unit parse_unit(std::string_view text);

/// Parses "<number> <unit>" (the space is optional). A bare number, an unknown unit, a missing
/// number, a non-finite number or trailing text throws UnitError with the text and the rule broken.
[[nodiscard]] Quantity parse_quantity(std::string_view text);

/// parse_quantity, then checks the dimension: throws UnitError saying which dimension was expected
/// (by its canonical unit) and what was given.
[[nodiscard]] Quantity parse_quantity(std::string_view text, const Dimension& expected);

/// Expresses a canonical value in another unit of the same dimension (throws UnitError otherwise).
[[nodiscard]] double to_unit(const Quantity& q, std::string_view unit);

/// Converts a value from one unit to another of the same dimension.
[[nodiscard]] double convert(double value, std::string_view from_unit, std::string_view to_unit);

/// Every unit symbol the parser knows (for docs and suggestions).
[[nodiscard]] std::vector<std::string> known_unit_symbols();

}  // namespace k2sim::units
