#include "k2sim/params/parameter_table.hpp"

#include <charconv>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

#include "k2sim/error.hpp"

namespace k2sim {

namespace internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}

std::string_view to_string(Provenance p) {
  switch (p) {
    case Provenance::kLiterature:
      return "literature";
    case Provenance::kCalibrated:
      return "calibrated";
    case Provenance::kAssumed:
      return "assumed";
    case Provenance::kHypothesis:
      return "hypothesis";
  }
  return "?";
}

std::string csv_field(std::string_view s) {
  if (s.find_first_of(",\"\n") == std::string_view::npos) return std::string(s);
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::vector<std::string> split_csv_line(std::string_view line) {
  std::vector<std::string> fields;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cur.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cur.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(cur));
      cur.clear();
    } else if (c != '\r') {
      cur.push_back(c);
    }
  }
  fields.push_back(std::move(cur));
  return fields;
}

namespace {

constexpr std::string_view kHeader =
    "name,value,unit,lower,upper,ci_low,ci_high,provenance,source,meaning";

double parse_number(const std::string& text, const std::string& where, std::string_view column) {
  double v = 0.0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) {
    throw InputError(fmt::format("{}: {} = '{}' (rule: a finite number)", where, column, text));
  }
  return v;
}

}  // namespace

ParameterTable ParameterTable::parse(std::string_view csv_text, const std::string& file) {
  ParameterTable table;
  table.file_ = file;
  std::set<std::string, std::less<>> seen;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos <= csv_text.size()) {
    const std::size_t nl = csv_text.find('\n', pos);
    std::string_view line = csv_text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    pos = nl == std::string_view::npos ? csv_text.size() + 1 : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::string where = fmt::format("{}:{}", file, line_no);
    if (line_no == 1) {
      if (line != kHeader) {
        throw InputError(
            fmt::format("{}: header '{}' (rule: the header is '{}')", where, line, kHeader));
      }
      continue;
    }
    if (line.empty() || line.front() == '#') continue;
    const std::vector<std::string> f = split_csv_line(line);
    if (f.size() != 10) {
      throw InputError(
          fmt::format("{}: {} fields (rule: 10 fields: {})", where, f.size(), kHeader));
    }
    Parameter p;
    p.line = line_no;
    p.file = file;
    p.name = f[0];
    if (p.name.empty()) throw InputError(fmt::format("{}: empty name", where));
    if (seen.count(p.name)) {
      throw InputError(fmt::format("{}: duplicate parameter '{}'", where, p.name));
    }
    seen.insert(p.name);
    p.value = parse_number(f[1], where, "value");
    p.unit = f[2];
    try {
      p.parsed_unit = units::parse_unit(p.unit);
    } catch (const UnitError& e) {
      throw InputError(fmt::format("{}: parameter {}: {}", where, p.name, e.what()));
    }
    p.lower = parse_number(f[3], where, "lower");
    p.upper = parse_number(f[4], where, "upper");
    if (!(p.lower <= p.value && p.value <= p.upper)) {
      throw InputError(fmt::format("{}: parameter {} = {} outside its bounds [{}, {}]", where,
                                   p.name, p.value, p.lower, p.upper));
    }
    if (!f[5].empty()) p.ci_low = parse_number(f[5], where, "ci_low");
    if (!f[6].empty()) p.ci_high = parse_number(f[6], where, "ci_high");
    const std::string& prov = f[7];
    if (prov == "literature") {
      p.provenance = Provenance::kLiterature;
    } else if (prov == "calibrated") {
      p.provenance = Provenance::kCalibrated;
    } else if (prov == "assumed") {
      p.provenance = Provenance::kAssumed;
    } else if (prov == "hypothesis") {
      p.provenance = Provenance::kHypothesis;
    } else {
      throw InputError(fmt::format(
          "{}: provenance '{}' (rule: literature | calibrated | assumed | hypothesis){}", where,
          prov, did_you_mean(prov, {"literature", "calibrated", "assumed", "hypothesis"})));
    }
    p.source = f[8];
    if (p.source.empty()) {
      throw InputError(
          fmt::format("{}: parameter {} has no source (rule: every parameter has a "
                      "citation, 'calibrated: <target ids>' or its assumption)",
                      where, p.name));
    }
    if (p.provenance == Provenance::kCalibrated && p.source.rfind("calibrated:", 0) != 0) {
      throw InputError(fmt::format(
          "{}: parameter {} is calibrated but its source does not start with 'calibrated:'", where,
          p.name));
    }
    p.meaning = f[9];
    table.params_.push_back(std::move(p));
  }
  return table;
}

ParameterTable ParameterTable::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot open the parameter table", path));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

namespace {
std::vector<std::string> module_parts(const std::string& module) {
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (true) {
    const std::size_t plus = module.find('+', pos);
    parts.push_back(module.substr(pos, plus - pos));
    if (plus == std::string::npos) break;
    pos = plus + 1;
  }
  return parts;
}
}  // namespace

ParameterTable ParameterTable::merge(const std::vector<ParameterTable>& parts) {
  ParameterTable out;
  std::vector<std::string> files;
  for (const ParameterTable& t : parts) {
    files.push_back(t.file_);
    for (const Parameter& p : t.params_) {
      for (const Parameter& q : out.params_) {
        if (q.name == p.name) {
          throw InputError(
              fmt::format("{}:{}: parameter '{}' (rule: a name once across the "
                          "composed tables; also {}:{})",
                          p.file, p.line, p.name, q.file, q.line));
        }
      }
      out.params_.push_back(p);
    }
  }
  out.file_ = fmt::format("{}", fmt::join(files, " + "));
  return out;
}

ParameterTable ParameterTable::from_dir(const std::string& dir, const std::string& module) {
  std::vector<ParameterTable> parts;
  for (const std::string& m : module_parts(module))
    parts.push_back(from_file(fmt::format("{}/{}.csv", dir, m)));
  return parts.size() == 1 ? parts.front() : merge(parts);
}

ParameterTable ParameterTable::builtin(const std::string& module) {
  if (module.find('+') != std::string::npos) {
    std::vector<ParameterTable> parts;
    for (const std::string& m : module_parts(module)) parts.push_back(builtin(m));
    return merge(parts);
  }
  const std::string path = fmt::format("data/parameters/{}.csv", module);
  const std::string_view text = internal::embedded_file(path);
  if (text.empty()) throw InputError(fmt::format("no parameter table for module '{}'", module));
  return parse(text, path);
}

std::size_t ParameterTable::index(std::string_view name) const {
  for (std::size_t i = 0; i < params_.size(); ++i) {
    if (params_[i].name == name) return i;
  }
  std::vector<std::string> names;
  for (const auto& p : params_) names.push_back(p.name);
  throw InputError(fmt::format("unknown parameter '{}' (rule: a name from {}){}", name, file_,
                               did_you_mean(name, names)));
}

void ParameterTable::set_value(std::size_t i, double value) {
  Parameter& p = params_.at(i);
  if (!(p.lower <= value && value <= p.upper)) {
    throw InputError(fmt::format("{}:{}: {} = {} {} (rule: within the bounds [{}, {}])",
                                 p.file.empty() ? file_ : p.file, p.line, p.name, value, p.unit,
                                 p.lower, p.upper));
  }
  p.value = value;
}

void ParameterTable::set(std::string_view name, std::string_view value_text,
                         const std::string& where) {
  std::size_t i = 0;
  try {
    i = index(name);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", where, e.what()));
  }
  Parameter& p = params_[i];
  const double v = parse_number(std::string(value_text), where, name);
  if (!(p.lower <= v && v <= p.upper)) {
    throw InputError(fmt::format("{}: {} = {} {} (rule: within the bounds [{}, {}] {} of {})",
                                 where, p.name, v, p.unit, p.lower, p.upper, p.unit,
                                 p.file.empty() ? file_ : p.file));
  }
  p.value = v;
}

std::vector<double> resolve(const ParameterTable& table, const std::vector<std::string_view>& names,
                            const std::vector<units::Dimension>& dims) {
  if (names.size() != dims.size()) {
    throw std::logic_error(fmt::format("resolve: {} names but {} dimensions for {}", names.size(),
                                       dims.size(), table.file()));
  }
  std::vector<double> values;
  values.reserve(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    const Parameter& p = table.at(names[i]);
    if (!(p.parsed_unit.dimension == dims[i])) {
      throw InputError(fmt::format("{}:{}: parameter {} in '{}' (rule: a unit of {})", table.file(),
                                   p.line, p.name, p.unit, dims[i].canonical_unit()));
    }
    values.push_back(p.canonical());
  }
  return values;
}

}  // namespace k2sim
