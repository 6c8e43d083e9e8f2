#include "k2sim/units/units.hpp"

#include <cctype>
#include <charconv>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "k2sim/error.hpp"

namespace k2sim::units {

namespace {

constexpr std::size_t kNumBase = static_cast<std::size_t>(Base::kCount);

// Canonical symbol of each base dimension, in the order of Base.
constexpr std::array<std::string_view, kNumBase> kBaseSymbol = {
    "h", "ug", "nmol", "L", "cm", "mmHg", "deg", "IU", "1.73m2", "AU", "J"};

struct Symbol {
  double factor;  // canonical units per unit
  Base base;
  int power;
};

// The one table of unit symbols. Time: 1 y = 365.25 d (Julian year), 1 mo = 1/12 y.
const std::map<std::string, Symbol, std::less<>>& symbol_table() {
  static const std::map<std::string, Symbol, std::less<>> kTable = {
      {"s", {1.0 / 3600.0, Base::kTime, 1}},
      {"min", {1.0 / 60.0, Base::kTime, 1}},
      {"h", {1.0, Base::kTime, 1}},
      {"d", {24.0, Base::kTime, 1}},
      {"wk", {168.0, Base::kTime, 1}},
      {"mo", {365.25 * 24.0 / 12.0, Base::kTime, 1}},
      {"y", {365.25 * 24.0, Base::kTime, 1}},
      {"pg", {1e-6, Base::kMass, 1}},
      {"ng", {1e-3, Base::kMass, 1}},
      {"ug", {1.0, Base::kMass, 1}},
      {"\xC2\xB5g", {1.0, Base::kMass, 1}},  // µg
      {"mcg", {1.0, Base::kMass, 1}},
      {"mg", {1e3, Base::kMass, 1}},
      {"g", {1e6, Base::kMass, 1}},
      {"kg", {1e9, Base::kMass, 1}},
      {"fmol", {1e-6, Base::kAmount, 1}},
      {"pmol", {1e-3, Base::kAmount, 1}},
      {"nmol", {1.0, Base::kAmount, 1}},
      {"umol", {1e3, Base::kAmount, 1}},
      {"\xC2\xB5mol", {1e3, Base::kAmount, 1}},  // µmol
      {"mmol", {1e6, Base::kAmount, 1}},
      {"mol", {1e9, Base::kAmount, 1}},
      {"uL", {1e-6, Base::kVolume, 1}},
      {"mL", {1e-3, Base::kVolume, 1}},
      {"dL", {1e-1, Base::kVolume, 1}},
      {"L", {1.0, Base::kVolume, 1}},
      {"mm", {0.1, Base::kLength, 1}},
      {"cm", {1.0, Base::kLength, 1}},
      {"m", {100.0, Base::kLength, 1}},
      {"mmHg", {1.0, Base::kPressure, 1}},
      {"kPa", {760.0 / 101.325, Base::kPressure, 1}},  // 1 atm = 101.325 kPa = 760 mmHg
      {"deg", {1.0, Base::kAngle, 1}},
      {"IU", {1.0, Base::kIu, 1}},
      {"1.73m2", {1.0, Base::kBsa, 1}},  // per 1.73 m2 of body surface (eGFR normalisation)
      {"AU", {1.0, Base::kAgatston, 1}},
      {"mJ", {1e-3, Base::kEnergy, 1}},
      {"J", {1.0, Base::kEnergy, 1}},
      {"kJ", {1e3, Base::kEnergy, 1}},
      {"kcal", {4184.0, Base::kEnergy, 1}},  // thermochemical calorie, 4.184 J
  };
  return kTable;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

Unit parse_factor(std::string_view token, std::string_view whole) {
  token = trim(token);
  if (token.empty()) {
    throw UnitError(
        fmt::format("unit '{}': empty part (rule: units are joined by '*' or '/')", whole));
  }
  if (token == "1") return Unit{1.0, Dimension::none()};
  if (token == "%") return Unit{0.01, Dimension::none()};
  const auto& table = symbol_table();
  if (auto it = table.find(token); it != table.end()) {
    return Unit{it->second.factor, Dimension::of(it->second.base, it->second.power)};
  }
  // A symbol followed by a power 2 or 3, e.g. "m2", "cm3".
  if (token.size() > 1 && (token.back() == '2' || token.back() == '3')) {
    const int power = token.back() - '0';
    if (auto it = table.find(token.substr(0, token.size() - 1)); it != table.end()) {
      return Unit{std::pow(it->second.factor, power), Dimension::of(it->second.base, power)};
    }
  }
  throw UnitError(fmt::format("unit '{}': unknown unit '{}'{}", whole, token,
                              did_you_mean(token, known_unit_symbols())));
}

}  // namespace

Dimension Dimension::of(Base b, int power) {
  Dimension d;
  d.exponent[static_cast<std::size_t>(b)] = static_cast<std::int8_t>(power);
  return d;
}

Dimension operator*(const Dimension& a, const Dimension& b) {
  Dimension d;
  for (std::size_t i = 0; i < kNumBase; ++i) {
    d.exponent[i] = static_cast<std::int8_t>(a.exponent[i] + b.exponent[i]);
  }
  return d;
}

Dimension operator/(const Dimension& a, const Dimension& b) {
  Dimension d;
  for (std::size_t i = 0; i < kNumBase; ++i) {
    d.exponent[i] = static_cast<std::int8_t>(a.exponent[i] - b.exponent[i]);
  }
  return d;
}

std::string Dimension::canonical_unit() const {
  std::string num;
  std::string den;
  for (std::size_t i = 0; i < kNumBase; ++i) {
    const int e = static_cast<int>(exponent[i]);  // a small signed power
    if (e == 0) continue;
    std::string part(kBaseSymbol[i]);
    if (std::abs(e) > 1) part += std::to_string(std::abs(e));
    if (e > 0) {
      num += num.empty() ? part : "*" + part;
    } else {
      den += "/" + part;
    }
  }
  if (num.empty()) num = "1";
  return num + den;
}

namespace dim {
Dimension time() { return Dimension::of(Base::kTime); }
Dimension mass() { return Dimension::of(Base::kMass); }
Dimension amount() { return Dimension::of(Base::kAmount); }
Dimension volume() { return Dimension::of(Base::kVolume); }
Dimension iu() { return Dimension::of(Base::kIu); }
Dimension length() { return Dimension::of(Base::kLength); }
Dimension pressure() { return Dimension::of(Base::kPressure); }
Dimension angle() { return Dimension::of(Base::kAngle); }
Dimension agatston() { return Dimension::of(Base::kAgatston); }
Dimension energy() { return Dimension::of(Base::kEnergy); }
Dimension per_time() { return Dimension::none() / time(); }
Dimension mass_rate() { return mass() / time(); }
Dimension amount_rate() { return amount() / time(); }
Dimension iu_rate() { return iu() / time(); }
Dimension gfr() { return volume() / time() / Dimension::of(Base::kBsa); }
Dimension amount_conc() { return amount() / volume(); }
Dimension mass_conc() { return mass() / volume(); }
}  // namespace dim

Unit parse_unit(std::string_view text) {
  const std::string_view whole = trim(text);
  if (whole.empty()) throw UnitError("empty unit (rule: a quantity needs a unit, e.g. \"180 ug\")");
  Unit result;
  bool divide = false;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= whole.size(); ++i) {
    if (i == whole.size() || whole[i] == '/' || whole[i] == '*') {
      const Unit f = parse_factor(whole.substr(start, i - start), whole);
      if (divide) {
        result.factor /= f.factor;
        result.dimension = result.dimension / f.dimension;
      } else {
        result.factor *= f.factor;
        result.dimension = result.dimension * f.dimension;
      }
      if (i < whole.size()) divide = whole[i] == '/';
      start = i + 1;
    }
  }
  return result;
}

Quantity parse_quantity(std::string_view text) {
  const std::string_view s = trim(text);
  if (s.empty()) {
    throw UnitError("empty quantity (rule: a quantity is a number and a unit, e.g. \"180 ug\")");
  }
  double value = 0.0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || ptr == s.data()) {
    throw UnitError(fmt::format(
        "quantity \"{}\": no number at the start (rule: a quantity is a number and a unit, e.g. "
        "\"180 ug\")",
        text));
  }
  if (!std::isfinite(value)) {
    throw UnitError(fmt::format("quantity \"{}\": the number is not finite", text));
  }
  const std::string_view unit_text = trim(s.substr(static_cast<std::size_t>(ptr - s.data())));
  if (unit_text.empty()) {
    throw UnitError(fmt::format(
        "quantity \"{}\": missing unit (rule: every quantity carries a unit, e.g. \"{} ug\")", text,
        s));
  }
  Unit u;
  try {
    u = parse_unit(unit_text);
  } catch (const UnitError& e) {
    throw UnitError(fmt::format("quantity \"{}\": {}", text, e.what()));
  }
  return Quantity{value * u.factor, u.dimension};
}

Quantity parse_quantity(std::string_view text, const Dimension& expected) {
  Quantity q = parse_quantity(text);
  if (!(q.dimension == expected)) {
    throw UnitError(fmt::format(
        "quantity \"{}\": wrong dimension (rule: expected a quantity in units of {}, got {})", text,
        expected.canonical_unit(), q.dimension.canonical_unit()));
  }
  return q;
}

double to_unit(const Quantity& q, std::string_view unit) {
  const Unit u = parse_unit(unit);
  if (!(u.dimension == q.dimension)) {
    throw UnitError(fmt::format("cannot express {} in '{}' (a unit of {})",
                                q.dimension.canonical_unit(), unit, u.dimension.canonical_unit()));
  }
  return q.value / u.factor;
}

double convert(double value, std::string_view from_unit, std::string_view to_unit_text) {
  const Unit from = parse_unit(from_unit);
  return to_unit(Quantity{value * from.factor, from.dimension}, to_unit_text);
}

std::vector<std::string> known_unit_symbols() {
  std::vector<std::string> out;
  for (const auto& [name, sym] : symbol_table()) out.push_back(name);
  out.emplace_back("%");
  return out;
}

}  // namespace k2sim::units
