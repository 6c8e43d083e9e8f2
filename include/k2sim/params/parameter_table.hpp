// k2sim/params/parameter_table.hpp: the one parameter table of each model module
// (data/parameters/<module>.csv: name, value, unit, lower, upper, ci_low, ci_high, provenance,
// source, meaning; ci_low/ci_high: the 95% profile-likelihood interval of a calibrated parameter).
// Values are converted once, on load, to canonical internal units; a model reads them by index.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k2sim/units/units.hpp"

namespace k2sim {

enum class Provenance { kLiterature, kCalibrated, kAssumed, kHypothesis };

[[nodiscard]] std::string_view to_string(Provenance p);

struct Parameter {
  std::string name;
  double value = 0.0;  ///< in `unit` (as written in the table)
  std::string unit;    ///< the table's unit, e.g. "1/h" or "L"
  double lower = 0.0;  ///< bounds, in `unit`
  double upper = 0.0;
  std::optional<double> ci_low;  ///< 95% profile-likelihood interval (calibrated parameters)
  std::optional<double> ci_high;
  Provenance provenance = Provenance::kLiterature;
  std::string source;  ///< citation, or "calibrated: <target ids>", or the assumption
  std::string meaning;
  units::Unit parsed_unit;  ///< factor to canonical units and dimension
  std::size_t line = 0;     ///< line in the table file (1-based)
  std::string file;         ///< the table file the row comes from

  /// Value in canonical internal units (h, L, nmol, mmol).
  [[nodiscard]] double canonical() const { return value * parsed_unit.factor; }
};

class ParameterTable {
 public:
  /// Parses a table from CSV text; `file` names it in error messages. Throws InputError with
  /// file:line, the value and the rule for a malformed row, a duplicate name, an unknown unit or
  /// provenance, bounds that do not contain the value, or a missing source.
  [[nodiscard]] static ParameterTable parse(std::string_view csv_text, const std::string& file);

  /// Reads a table from a file. Throws IoError when it cannot be read, InputError otherwise.
  [[nodiscard]] static ParameterTable from_file(const std::string& path);

  /// The built-in table of a module (data/parameters/<module>.csv, compiled in). A composed
  /// module "a+b+c" merges the tables of its parts.
  [[nodiscard]] static ParameterTable builtin(const std::string& module);

  /// The table of a module read from `dir`/<module>.csv (composed modules: each part's file).
  [[nodiscard]] static ParameterTable from_dir(const std::string& dir, const std::string& module);

  /// The rows of several tables in one; throws InputError naming both files for a name that
  /// appears twice.
  [[nodiscard]] static ParameterTable merge(const std::vector<ParameterTable>& parts);

  [[nodiscard]] const std::vector<Parameter>& parameters() const { return params_; }
  [[nodiscard]] const std::string& file() const { return file_; }

  /// Index of a parameter by name; throws InputError with the nearest name when unknown.
  [[nodiscard]] std::size_t index(std::string_view name) const;
  [[nodiscard]] const Parameter& at(std::string_view name) const { return params_[index(name)]; }

  /// Overrides a value (in the table's unit) from `--set NAME=VALUE`; `where` names the option in
  /// errors. Throws InputError for an unknown name, a non-number or a value outside [lower, upper].
  void set(std::string_view name, std::string_view value_text, const std::string& where);

  /// Sets the value of parameter `i` (table unit) within its bounds (ensembles, sensitivities);
  /// throws InputError naming the parameter for a value outside them.
  void set_value(std::size_t i, double value);

 private:
  std::string file_;
  std::vector<Parameter> params_;
};

/// Resolves a model's parameter names to canonical values, in the order of `names`: the array a
/// model's right-hand side reads by index. Throws InputError for a name not in the table, and
/// for a unit whose dimension differs from `dims[i]`.
[[nodiscard]] std::vector<double> resolve(const ParameterTable& table,
                                          const std::vector<std::string_view>& names,
                                          const std::vector<units::Dimension>& dims);

/// Quotes a CSV field when it holds a comma, a quote or a newline (RFC 4180).
[[nodiscard]] std::string csv_field(std::string_view s);

/// Splits one CSV line into fields (RFC 4180 quotes; no embedded newlines).
[[nodiscard]] std::vector<std::string> split_csv_line(std::string_view line);

}  // namespace k2sim
