#include "k2sim/params/hypotheses.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim {

namespace internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}

namespace {

constexpr std::string_view kFile = "data/parameters/hypotheses.csv";

double number(const std::string& text, std::size_t line, const char* column) {
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) {
    throw InputError(fmt::format("{}:{}: {} = '{}' (rule: a number)", kFile, line, column, text));
  }
  return v;
}

std::vector<Hypothesis> parse() {
  std::vector<Hypothesis> out;
  const std::string_view text = internal::embedded_file(kFile);
  std::size_t pos = 0;
  std::size_t line = 0;
  const std::vector<std::string> header = {"name", "parameter", "neutral", "strength",
                                           "unit", "source",    "meaning"};
  while (pos < text.size()) {
    const std::size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string_view row = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line;
    if (row.empty()) continue;
    const std::vector<std::string> f = split_csv_line(row);
    if (line == 1) {
      if (f != header) {
        throw InputError(fmt::format("{}:1: header (rule: {})", kFile, fmt::join(header, ",")));
      }
      continue;
    }
    if (f.size() != header.size()) {
      throw InputError(
          fmt::format("{}:{}: {} fields (rule: {})", kFile, line, f.size(), header.size()));
    }
    Hypothesis h;
    h.name = f[0];
    h.parameter = f[1];
    h.neutral = number(f[2], line, "neutral");
    h.strength = number(f[3], line, "strength");
    h.unit = f[4];
    h.source = f[5];
    h.meaning = f[6];
    if (h.source.empty()) {
      throw InputError(fmt::format("{}:{}: {} has no source (rule: every strength has one)", kFile,
                                   line, h.name));
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

const std::vector<Hypothesis>& hypotheses() {
  static const std::vector<Hypothesis> kAll = parse();
  return kAll;
}

const Hypothesis& hypothesis(std::string_view name) {
  std::vector<std::string> names;
  for (const Hypothesis& h : hypotheses()) {
    if (h.name == name) return h;
    names.push_back(h.name);
  }
  throw InputError(fmt::format("unknown hypothesis '{}'{} (rule: one of {})", name,
                               did_you_mean(name, names), fmt::join(names, ", ")));
}

std::vector<std::string> apply_hypotheses(const std::vector<HypothesisSetting>& settings,
                                          ParameterTable& table) {
  std::vector<std::string> off;
  for (const Hypothesis& h : hypotheses()) {
    if (h.parameter.rfind("diet.", 0) == 0) continue;
    const auto s = std::find_if(settings.begin(), settings.end(),
                                [&](const HypothesisSetting& x) { return x.name == h.name; });
    const bool present = std::any_of(table.parameters().begin(), table.parameters().end(),
                                     [&](const Parameter& p) { return p.name == h.parameter; });
    const bool on = s != settings.end() && s->on;
    if (!on && present) off.push_back(h.parameter);
    if (s == settings.end()) continue;  // absent: the table's value stands
    if (!present) {
      if (!on) continue;
      const std::string msg = fmt::format(
          "{}: hypothesis {} (rule: it sets parameter {}, which this model's table {} has not)",
          s->where, h.name, h.parameter, table.file());
      if (s->where.rfind("--", 0) == 0) throw OptionError(msg);
      throw InputError(msg);
    }
    try {
      table.set_value(table.index(h.parameter), on ? s->value : h.neutral);
    } catch (const InputError& e) {
      const std::string msg = fmt::format("{}: hypothesis {}: {}", s->where, h.name, e.what());
      if (s->where.rfind("--", 0) == 0) throw OptionError(msg);
      throw InputError(msg);
    }
  }
  return off;
}

}  // namespace k2sim
