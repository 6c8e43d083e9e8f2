#include "k2sim/calibration/validation.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include <unistd.h>

#include <fmt/format.h>

#include "k2sim/error.hpp"
#include "k2sim/population/cohort.hpp"
#include "k2sim/units/substances.hpp"
#include "k2sim/units/units.hpp"

#ifndef K2SIM_DEFAULT_DATA_DIR
#define K2SIM_DEFAULT_DATA_DIR "data"
#endif

namespace k2sim {

namespace fs = std::filesystem;

std::string default_data_dir() {
  if (const char* env = std::getenv("K2SIM_DATA_DIR"); env && *env) return env;
  return K2SIM_DEFAULT_DATA_DIR;
}

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("{}: cannot open for reading", path));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<double> optional_number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

// Lines of CSV text with a header (from file `path`); calls row(fields, line_no) for each data
// line.
template <class F>
void for_each_csv_line(std::string_view text, const std::string& path,
                       const std::vector<std::string>& header, F row) {
  std::istringstream in{std::string(text)};
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1) {
      if (split_csv_line(line) != header) {
        throw InputError(
            fmt::format("{}:1: header '{}' (rule: {})", path, line, fmt::join(header, ",")));
      }
      continue;
    }
    if (line.empty()) continue;
    std::vector<std::string> f = split_csv_line(line);
    if (f.size() != header.size()) {
      throw InputError(fmt::format("{}:{}: {} fields (rule: {} fields)", path, line_no, f.size(),
                                   header.size()));
    }
    row(f, line_no);
  }
}

// The same for a file.
template <class F>
void for_each_csv_row(const std::string& path, const std::vector<std::string>& header, F row) {
  for_each_csv_line(read_text(path), path, header, row);
}

double time_of(const nlohmann::json& j, const std::string& key, const std::string& where) {
  if (!j.is_string()) {
    throw InputError(fmt::format("{}: {} (rule: a time with a unit, e.g. \"24 h\")", where, key));
  }
  try {
    return units::parse_quantity(j.get<std::string>(), units::dim::time()).value;
  } catch (const UnitError& e) {
    throw InputError(fmt::format("{}: {}: {}", where, key, e.what()));
  }
}

Statistic read_statistic_unchecked(const nlohmann::json& j, const std::string& where);

// kind = "cohort": measure, endpoint, group, exposure, confounded (and kind, unit).
Statistic read_cohort_statistic(const nlohmann::json& j, Statistic s, const std::string& where) {
  static const std::set<std::string> kKeys = {"kind",  "unit",     "measure",   "endpoint",
                                              "group", "exposure", "confounded"};
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) {
      throw InputError(fmt::format("{}: '{}' (rule: a cohort statistic takes {})", where, k,
                                   fmt::join(kKeys, ", ")));
    }
  }
  static const std::set<std::string> kMeasures = {"hazard_ratio", "risk_ratio", "odds_ratio",
                                                  "expected_risk_ratio", "cutoff"};
  s.measure = j.value("measure", "");
  if (!kMeasures.count(s.measure)) {
    throw InputError(fmt::format("{}: measure = '{}' (rule: one of {})", where, s.measure,
                                 fmt::join(kMeasures, ", ")));
  }
  s.endpoint = j.value("endpoint", "");
  static const std::set<std::string> kEndpoints = {"chd_event", "chd_death", "death", "severe_aac"};
  if (s.measure == "cutoff") {
    if (!s.endpoint.empty()) {
      throw InputError(fmt::format("{}: endpoint (rule: a cutoff has none)", where));
    }
  } else if (!kEndpoints.count(s.endpoint)) {
    throw InputError(fmt::format("{}: endpoint = '{}' (rule: one of {})", where, s.endpoint,
                                 fmt::join(kEndpoints, ", ")));
  } else if ((s.endpoint == "severe_aac") != (s.measure == "odds_ratio")) {
    throw InputError(fmt::format(
        "{}: measure = '{}' of endpoint '{}' (rule: severe_aac is an odds_ratio at the end of "
        "follow-up; the others are events with hazard, risk and expected-risk ratios)",
        where, s.measure, s.endpoint));
  }
  s.group = j.value("group", 0);
  const int lowest = s.measure == "cutoff" ? 1 : 2;
  if (s.group < lowest || s.group > 10) {
    throw InputError(fmt::format(
        "{}: group = {} (rule: {} to the number of groups{})", where, s.group, lowest,
        s.measure == "cutoff" ? " - 1: the cut-off above group `group`" : ", against group 1"));
  }
  s.exposure = j.value("exposure", "");
  s.confounded = j.value("confounded", false);
  if (s.confounded && s.endpoint == "severe_aac") {
    throw InputError(fmt::format(
        "{}: confounded (rule: the confounder acts on hazards; severe_aac has none)", where));
  }
  return s;
}

// A key of the wrong type (kind = 3, fraction = "0.5") is an input error naming where.
Statistic read_statistic(const nlohmann::json& j, const std::string& where) {
  try {
    return read_statistic_unchecked(j, where);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: a key has the wrong type ({})", where, e.what()));
  }
}

Statistic read_statistic_unchecked(const nlohmann::json& j, const std::string& where) {
  static const std::set<std::string> kKeys = {
      "kind",    "output", "arm",         "from",      "to",          "at",        "fraction",
      "samples", "unit",   "substance",   "offset",    "scale",       "numerator", "denominator",
      "arms",    "doses",  "baseline_at", "threshold", "effect_unit", "of",        "minus",
      "terms",   "weight", "measure",     "endpoint",  "group",       "exposure",  "confounded"};
  static const std::set<std::string> kKinds = {"value_at",
                                               "max",
                                               "min",
                                               "tmax",
                                               "mean",
                                               "auc",
                                               "half_life",
                                               "last_detectable",
                                               "time_to_fraction",
                                               "ratio",
                                               "percent_change",
                                               "difference",
                                               "reciprocal",
                                               "lowest_dose",
                                               "odds_ratio",
                                               "weighted_mean",
                                               "cohort"};
  if (!j.is_object()) throw InputError(fmt::format("{}: statistic must be a table", where));
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) {
      throw InputError(fmt::format("{}: unknown key '{}'{}", where, k,
                                   did_you_mean(k, {kKeys.begin(), kKeys.end()})));
    }
  }
  Statistic s;
  s.kind = j.value("kind", "");
  if (!kKinds.count(s.kind)) {
    throw InputError(fmt::format("{}: kind = '{}' (rule: one of {}){}", where, s.kind,
                                 fmt::join(kKinds, ", "),
                                 did_you_mean(s.kind, {kKinds.begin(), kKinds.end()})));
  }
  s.unit = j.value("unit", "1");
  s.substance = j.value("substance", "");
  s.scale = j.value("scale", 1.0);
  if (j.contains("offset")) {
    try {
      const units::Quantity q = units::parse_quantity(j["offset"].get<std::string>());
      s.offset = units::to_unit(q, s.unit);
    } catch (const std::exception& e) {
      throw InputError(fmt::format("{}: offset: {} (rule: a quantity in the statistic's unit {})",
                                   where, e.what(), s.unit));
    }
  }
  if (s.kind == "cohort") return read_cohort_statistic(j, s, where);
  if (s.kind == "weighted_mean") {
    // terms = [ { weight = 0.47, kind = "value_at", ... }, ... ]: a mixture of subgroups or arms.
    for (const auto& [k, v] : j.items()) {
      if (k != "kind" && k != "unit" && k != "terms" && k != "scale" && k != "offset") {
        throw InputError(fmt::format(
            "{}: '{}' (rule: a weighted_mean takes kind, unit, terms, scale and offset; the "
            "terms carry their own keys)",
            where, k));
      }
    }
    if (!j.contains("terms") || !j["terms"].is_array() || j["terms"].empty()) {
      throw InputError(fmt::format("{}: a weighted_mean needs a non-empty array 'terms'", where));
    }
    for (std::size_t i = 0; i < j["terms"].size(); ++i) {
      nlohmann::json term = j["terms"][i];
      const std::string w = fmt::format("{}.terms[{}]", where, i);
      if (!term.is_object() || !term.contains("weight") || !term["weight"].is_number() ||
          !(term["weight"].get<double>() > 0.0)) {
        throw InputError(fmt::format("{}: weight (rule: a number more than 0)", w));
      }
      const double weight = term["weight"].get<double>();
      term.erase("weight");
      auto sub = std::make_shared<Statistic>(read_statistic_unchecked(term, w));
      if (sub->unit != s.unit) {
        throw InputError(fmt::format("{}: unit '{}' (rule: the weighted mean's unit '{}')", w,
                                     sub->unit, s.unit));
      }
      s.terms.emplace_back(weight, sub);
    }
    return s;
  }
  if (j.contains("terms") || j.contains("weight")) {
    throw InputError(fmt::format("{}: 'terms' and 'weight' belong to a weighted_mean", where));
  }
  if (s.kind == "ratio" || s.kind == "percent_change" || s.kind == "odds_ratio") {
    if (!j.contains("numerator") || !j.contains("denominator")) {
      throw InputError(fmt::format("{}: a ratio needs numerator and denominator tables", where));
    }
    s.numerator =
        std::make_shared<Statistic>(read_statistic_unchecked(j["numerator"], where + ".numerator"));
    s.denominator = std::make_shared<Statistic>(
        read_statistic_unchecked(j["denominator"], where + ".denominator"));
    return s;
  }
  if (s.kind == "difference") {
    if (!j.contains("of") || !j.contains("minus")) {
      throw InputError(fmt::format("{}: a difference needs 'of' and 'minus' tables", where));
    }
    s.numerator = std::make_shared<Statistic>(read_statistic_unchecked(j["of"], where + ".of"));
    s.denominator =
        std::make_shared<Statistic>(read_statistic_unchecked(j["minus"], where + ".minus"));
    if (s.numerator->unit != s.unit || s.denominator->unit != s.unit) {
      throw InputError(fmt::format(
          "{}: difference of '{}' minus '{}' in '{}' (rule: of, minus and the difference share "
          "one unit)",
          where, s.numerator->unit, s.denominator->unit, s.unit));
    }
    return s;
  }
  if (s.kind == "reciprocal") {
    // 1 / of, then scale and offset: the statistic's unit is that of scale / of (for example
    // minutes for 10 ug from a production in ug per minute), which the protocol states.
    if (!j.contains("of") || j.contains("minus")) {
      throw InputError(fmt::format("{}: a reciprocal needs an 'of' table (and no 'minus')", where));
    }
    s.numerator = std::make_shared<Statistic>(read_statistic_unchecked(j["of"], where + ".of"));
    return s;
  }
  for (const char* key : {"numerator", "denominator", "of", "minus"}) {
    if (j.contains(key)) {
      throw InputError(fmt::format(
          "{}: '{}' belongs to a ratio, percent_change, difference or reciprocal, not to kind "
          "'{}'",
          where, key, s.kind));
    }
  }
  s.output = j.value("output", "");
  if (s.output.empty()) throw InputError(fmt::format("{}: missing 'output'", where));
  if (s.kind == "lowest_dose") {
    if (!j.contains("arms") || !j.contains("doses") || !j.contains("at") ||
        !j.contains("threshold") || j["arms"].size() != j["doses"].size() || j["arms"].empty()) {
      throw InputError(fmt::format(
          "{}: lowest_dose needs arms and doses (as many, ascending), at and threshold", where));
    }
    for (const auto& a : j["arms"]) s.arms.push_back(a.get<std::string>());
    for (const auto& d : j["doses"]) {
      try {
        s.doses.push_back(units::to_unit(units::parse_quantity(d.get<std::string>()), s.unit));
      } catch (const std::exception& e) {
        throw InputError(fmt::format("{}: doses: {} (rule: quantities in the unit {})", where,
                                     e.what(), s.unit));
      }
      if (s.doses.size() > 1 && !(s.doses.back() > s.doses[s.doses.size() - 2])) {
        throw InputError(fmt::format("{}: doses must ascend", where));
      }
    }
    s.at_h = time_of(j["at"], "at", where);
    if (j.contains("baseline_at"))
      s.baseline_at_h = time_of(j["baseline_at"], "baseline_at", where);
    s.threshold = j["threshold"].get<double>();
    s.effect_unit = j.value("effect_unit", "1");
    if (!(s.threshold > 0.0)) throw InputError(fmt::format("{}: threshold must be > 0", where));
    return s;
  }
  s.arm = j.value("arm", "main");
  if (j.contains("from")) s.from_h = time_of(j["from"], "from", where);
  if (j.contains("to")) s.to_h = time_of(j["to"], "to", where);
  if (j.contains("at")) s.at_h = time_of(j["at"], "at", where);
  s.fraction = j.value("fraction", 0.0);
  if (j.contains("samples")) {
    for (const auto& t : j["samples"]) s.samples_h.push_back(time_of(t, "samples", where));
  }
  if (s.kind == "value_at" && !j.contains("at")) {
    throw InputError(fmt::format("{}: value_at needs 'at'", where));
  }
  if (s.kind == "time_to_fraction" && !(s.fraction > 0.0 && s.fraction < 1.0)) {
    throw InputError(fmt::format("{}: time_to_fraction needs 0 < fraction < 1", where));
  }
  return s;
}

// Converts a value in canonical units of `dim` to `unit`, through the substance's molar mass
// where the unit is mass-based and the value amount-based (nmol/L -> ng/mL).
double convert_to(double value, units::Dimension dim, const std::string& unit,
                  const std::string& substance, const std::string& where) {
  const units::Unit target = units::parse_unit(unit);
  if (!(target.dimension == dim)) {
    const units::Dimension as_mass = dim / units::dim::amount() * units::dim::mass();
    if (!substance.empty() && target.dimension == as_mass) {
      const units::Substance& s = units::find_substance(substance);
      value *= s.mw_g_per_mol * 1e-3;  // nmol -> ug
      dim = as_mass;
    } else {
      throw InputError(fmt::format("{}: cannot express {} in '{}'{}", where, dim.canonical_unit(),
                                   unit,
                                   substance.empty() ? " (a mass unit needs 'substance')" : ""));
    }
  }
  return units::to_unit(units::Quantity{value, dim}, unit);
}

double interpolate(const std::vector<double>& t, const std::vector<double>& v, double at) {
  if (at <= t.front()) return v.front();
  if (at >= t.back()) return v.back();
  const auto it = std::upper_bound(t.begin(), t.end(), at);
  const std::size_t i = static_cast<std::size_t>(it - t.begin());
  const double w = (at - t[i - 1]) / (t[i] - t[i - 1]);
  return v[i - 1] + w * (v[i] - v[i - 1]);
}

}  // namespace

std::map<std::string, Target> read_targets(const std::string& path) {
  return parse_targets(read_text(path), path);
}

std::map<std::string, Target> parse_targets(std::string_view text, const std::string& path) {
  std::map<std::string, Target> out;
  const std::vector<std::string> header = {
      "id",         "quantity", "value",   "low",      "high",   "spread_kind", "units",
      "population", "n",        "regimen", "duration", "source", "verified"};
  for_each_csv_line(text, path, header, [&](const std::vector<std::string>& f, std::size_t line) {
    Target t;
    t.id = f[0];
    t.quantity = f[1];
    const auto v = optional_number(f[2]);
    if (!v) throw InputError(fmt::format("{}:{}: value '{}' (rule: a number)", path, line, f[2]));
    t.value = *v;
    t.low = optional_number(f[3]);
    t.high = optional_number(f[4]);
    t.spread_kind = f[5];
    t.units = f[6];
    int n = 0;
    const auto [ptr, ec] = std::from_chars(f[8].data(), f[8].data() + f[8].size(), n);
    if (ec == std::errc() && ptr != f[8].data() && n > 0) t.n = n;
    t.source = f[11];
    t.verified = f[12];
    out[t.id] = t;
  });
  return out;
}

namespace {

// What a cohort statistic asks of its scenario, checked before the run (which takes minutes).
void check_cohort_statistic(const Protocol& p, const std::string& where) {
  const Statistic& s = p.statistic;
  const AnalysisSpec& an = *p.scenario.analysis;
  const std::string scenario = p.scenario_file.empty() ? p.file : p.scenario_file;
  const int most = s.measure == "cutoff" ? an.groups - 1 : an.groups;
  if (s.group > most) {
    throw InputError(
        fmt::format("{}: group = {} (rule: at most {}: the scenario's {} has {} "
                    "exposure groups)",
                    where, s.group, most, scenario, an.groups));
  }
  if (!s.endpoint.empty() &&
      std::find(an.endpoints.begin(), an.endpoints.end(), s.endpoint) == an.endpoints.end()) {
    throw InputError(
        fmt::format("{}: endpoint = '{}' (rule: one of the [analysis] endpoints of "
                    "{}: {})",
                    where, s.endpoint, scenario, fmt::join(an.endpoints, ", ")));
  }
  if (s.confounded && !p.scenario.population->confounder) {
    throw InputError(fmt::format(
        "{}: confounded = true (rule: the [population] of {} has a confounder)", where, scenario));
  }
  const std::string exposure = s.exposure.empty() ? an.exposure : s.exposure;
  auto ends_with = [&](const std::string& tail) {
    return exposure.size() > tail.size() &&
           exposure.compare(exposure.size() - tail.size(), tail.size(), tail) == 0;
  };
  const bool intake = exposure.rfind("intake_", 0) == 0;
  if (!s.exposure.empty() && !(intake && (ends_with("_ug_per_d") || ends_with("_mg_per_d")))) {
    throw InputError(fmt::format(
        "{}: exposure = '{}' (rule: an intake column of subjects.csv, intake_<vitamer>_ug_per_d "
        "or intake_<nutrient>_mg_per_d)",
        where, s.exposure));
  }
  std::string unit = "1";
  if (s.measure == "cutoff") unit = !intake ? "" : ends_with("_mg_per_d") ? "mg/d" : "ug/d";
  if (!unit.empty() && s.unit != unit) {
    throw InputError(fmt::format(
        "{}: unit = '{}' (rule: '{}', the unit of {} as the cohort analysis gives it)", where,
        s.unit, unit, s.measure == "cutoff" ? "the exposure " + exposure : "a ratio"));
  }
  if (p.lod || !p.family.empty()) {
    throw InputError(fmt::format(
        "{}: {} (rule: a cohort protocol is judged alone, by its interval: no lod, no family)",
        where, p.lod ? "lod" : "family"));
  }
}

}  // namespace

Protocol read_protocol(const std::string& path) {
  const ExtendedScenario ext = parse_extended_scenario(read_text(path), path, "protocol");
  const nlohmann::json& j = ext.extension;
  const std::string where = fmt::format("{}:{}: [protocol]", path, ext.extension_line);
  static const std::set<std::string> kKeys = {"id",    "role",      "comparison", "family",   "lod",
                                              "notes", "statistic", "scenario",   "fast_size"};
  for (const auto& [k, v] : j.items()) {
    if (!kKeys.count(k)) {
      throw InputError(fmt::format("{}: unknown key '{}'{}", where, k,
                                   did_you_mean(k, {kKeys.begin(), kKeys.end()})));
    }
  }
  for (const char* key : {"id", "role", "comparison", "family", "lod", "notes", "scenario"}) {
    if (j.contains(key) && !j[key].is_string()) {
      throw InputError(fmt::format("{}: {} (rule: a string)", where, key));
    }
  }
  Protocol p;
  p.file = path;
  if (j.contains("scenario")) {
    // The protocol runs a scenario file (a cohort shared by several targets); the protocol file
    // then holds only [protocol].
    if (ext.has_scenario) {
      throw InputError(fmt::format(
          "{}: scenario = \"{}\" (rule: a protocol that names a scenario file holds only "
          "[protocol])",
          where, j["scenario"].get<std::string>()));
    }
    p.scenario_file = (fs::path(path).parent_path() / j["scenario"].get<std::string>())
                          .lexically_normal()
                          .string();
    p.scenario = read_scenario(p.scenario_file);
  } else if (!ext.has_scenario) {
    throw InputError(fmt::format(
        "{}: no scenario (rule: the protocol file holds the scenario, or [protocol] scenario "
        "names a scenario file)",
        where));
  } else {
    p.scenario = ext.scenario;
  }
  if (j.contains("fast_size")) {
    if (!j["fast_size"].is_number_integer() || j["fast_size"].get<long long>() < 2) {
      throw InputError(
          fmt::format("{}: fast_size = {} (rule: a whole number of subjects, at least 2)", where,
                      j["fast_size"].dump()));
    }
    p.fast_size = j["fast_size"].get<std::size_t>();
  }
  p.id = j.value("id", "");
  if (p.id != fs::path(path).stem().string()) {
    throw InputError(fmt::format("{}: id = '{}' (rule: the id is the file name, {})", where, p.id,
                                 fs::path(path).stem().string()));
  }
  p.role = j.value("role", "");
  if (p.role != "calibration" && p.role != "validation") {
    throw InputError(
        fmt::format("{}: role = '{}' (rule: calibration | validation)", where, p.role));
  }
  p.comparison = j.value("comparison", "typical");
  if (p.comparison != "typical" && p.comparison != "population" && p.comparison != "replica") {
    throw InputError(fmt::format("{}: comparison = '{}' (rule: typical | population | replica)",
                                 where, p.comparison));
  }
  p.family = j.value("family", "");
  p.notes = j.value("notes", "");
  if (!j.contains("statistic"))
    throw InputError(fmt::format("{}: missing [protocol.statistic]", where));
  p.statistic = read_statistic(j["statistic"], where + " statistic");
  const bool cohort = p.statistic.kind == "cohort";
  if (cohort && (!p.scenario.population || !p.scenario.analysis ||
                 p.scenario.analysis->kind != AnalysisSpec::Kind::kCohort)) {
    throw InputError(fmt::format(
        "{}: statistic kind = \"cohort\" (rule: the scenario has [population] and [analysis] "
        "kind = \"cohort\")",
        where));
  }
  if (cohort != p.fast_size.has_value()) {
    throw InputError(fmt::format("{}: fast_size (rule: {})", where,
                                 cohort ? "a cohort protocol gives the size of its fast run"
                                        : "only a cohort protocol has one"));
  }
  if (cohort && p.comparison != "replica") {
    throw InputError(
        fmt::format("{}: comparison = '{}' (rule: a cohort statistic is a replica of the study)",
                    where, p.comparison));
  }
  if (j.contains("lod")) {
    try {
      const units::Quantity q = units::parse_quantity(j["lod"].get<std::string>());
      p.lod = units::to_unit(q, p.statistic.unit);
    } catch (const std::exception& e) {
      throw InputError(fmt::format("{}: lod: {} (rule: a quantity in the statistic's unit {})",
                                   where, e.what(), p.statistic.unit));
    }
  }
  if (p.statistic.kind == "cohort") check_cohort_statistic(p, where);
  return p;
}

double compute_statistic(const Statistic& s, const RunResult& run, const std::string& where) {
  if (s.kind == "ratio" || s.kind == "percent_change" || s.kind == "odds_ratio") {
    const double num = compute_statistic(*s.numerator, run, where);
    const double den = compute_statistic(*s.denominator, run, where);
    double value = s.kind == "ratio" ? num / den : 100.0 * (num / den - 1.0);
    if (s.kind == "odds_ratio") {
      if (!(num > 0.0 && num < 1.0 && den > 0.0 && den < 1.0)) {
        throw InputError(
            fmt::format("{}: odds_ratio of {} and {} (rule: probabilities strictly "
                        "between 0 and 1)",
                        where, num, den));
      }
      value = (num / (1.0 - num)) / (den / (1.0 - den));
    }
    return value * s.scale + s.offset;
  }
  if (s.kind == "weighted_mean") {
    double sum = 0.0;
    double weights = 0.0;
    for (const auto& [w, sub] : s.terms) {
      sum += w * compute_statistic(*sub, run, where);
      weights += w;
    }
    return sum / weights * s.scale + s.offset;
  }
  if (s.kind == "difference") {
    const double value =
        compute_statistic(*s.numerator, run, where) - compute_statistic(*s.denominator, run, where);
    return value * s.scale + s.offset;
  }
  if (s.kind == "reciprocal") {
    return s.scale / compute_statistic(*s.numerator, run, where) + s.offset;
  }
  if (s.kind == "lowest_dose") {
    for (std::size_t i = 0; i < s.arms.size(); ++i) {
      Statistic at;
      at.kind = "value_at";
      at.output = s.output;
      at.arm = s.arms[i];
      at.unit = s.effect_unit;
      at.at_h = s.at_h;
      Statistic base = at;
      base.at_h = s.baseline_at_h;
      const double change = compute_statistic(at, run, where) - compute_statistic(base, run, where);
      if (std::abs(change) >= s.threshold) return s.doses[i] * s.scale + s.offset;
    }
    return std::numeric_limits<double>::infinity();  // no arm reached the threshold
  }
  const auto arm = std::find_if(run.arms.begin(), run.arms.end(),
                                [&](const ArmResult& a) { return a.name == s.arm; });
  if (arm == run.arms.end()) throw InputError(fmt::format("{}: no arm '{}'", where, s.arm));
  if (!arm->solve.ok()) {
    throw InputError(fmt::format("{}: arm '{}' failed: {}", where, s.arm, arm->solve.message));
  }
  std::size_t k = arm->outputs.size();
  for (std::size_t i = 0; i < arm->outputs.size(); ++i) {
    if (arm->outputs[i].name == s.output) k = i;
  }
  if (k == arm->outputs.size()) {
    std::vector<std::string> names;
    for (const auto& o : arm->outputs) names.push_back(o.name);
    throw InputError(
        fmt::format("{}: no output '{}'{}", where, s.output, did_you_mean(s.output, names)));
  }
  const units::Unit out_unit = units::parse_unit(arm->outputs[k].unit);
  const std::size_t n_out = arm->outputs.size();
  std::vector<double> t;
  std::vector<double> v;
  for (std::size_t i = 0; i < arm->time_h.size(); ++i) {
    const double ti = arm->time_h[i];
    if (ti + 1e-9 < s.from_h || ti - 1e-9 > s.to_h) continue;
    t.push_back(ti);
    v.push_back(arm->values[i * n_out + k] * out_unit.factor);
  }
  if (t.size() < 2)
    throw InputError(fmt::format("{}: fewer than 2 output times in the window", where));
  const units::Dimension conc = out_unit.dimension;
  const units::Dimension time = units::dim::time();
  double value = 0.0;
  units::Dimension dim = conc;
  if (s.kind == "value_at") {
    value = interpolate(t, v, s.at_h);
  } else if (s.kind == "max") {
    value = *std::max_element(v.begin(), v.end());
  } else if (s.kind == "min") {
    value = *std::min_element(v.begin(), v.end());
  } else if (s.kind == "tmax") {
    value =
        t[static_cast<std::size_t>(std::max_element(v.begin(), v.end()) - v.begin())] - s.from_h;
    dim = time;
  } else if (s.kind == "mean" || s.kind == "auc") {
    double area = 0.0;
    for (std::size_t i = 1; i < t.size(); ++i) area += 0.5 * (v[i] + v[i - 1]) * (t[i] - t[i - 1]);
    if (s.kind == "auc") {
      value = area;
      dim = conc * time;
    } else {
      value = area / (t.back() - t.front());
    }
  } else if (s.kind == "half_life") {
    // Least-squares slope of ln(value) against time over the window.
    double st = 0, sy = 0, stt = 0, sty = 0, m = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
      if (!(v[i] > 0.0)) continue;
      const double y = std::log(v[i]);
      st += t[i];
      sy += y;
      stt += t[i] * t[i];
      sty += t[i] * y;
      m += 1;
    }
    if (m < 2) {
      throw InputError(
          fmt::format("{}: half_life needs 2 or more positive values in the window", where));
    }
    const double slope = (m * sty - st * sy) / (m * stt - st * st);
    value = -std::log(2.0) / slope;
    dim = time;
  } else if (s.kind == "last_detectable") {
    // Needs the protocol's LOD: protocol_statistic() computes it from value_at statistics.
    throw InputError(fmt::format("{}: last_detectable is computed from a protocol", where));
  } else if (s.kind == "time_to_fraction") {
    const std::vector<double> samples = s.samples_h.empty() ? t : s.samples_h;
    dim = time;
    const double final_value = interpolate(t, v, samples.back());
    value = samples.back() - s.from_h;
    for (double ts : samples) {
      if (interpolate(t, v, ts) >= s.fraction * final_value) {
        value = ts - s.from_h;
        break;
      }
    }
  }
  return convert_to(value, dim, s.unit, s.substance, where) * s.scale + s.offset;
}

Tolerance tolerance_of(const Target& t, const std::optional<double>& lod) {
  const double inf = std::numeric_limits<double>::infinity();
  if (t.units == "direction") {  // VALIDATION.md: the sign agrees
    if (t.value > 0) return {std::numeric_limits<double>::min(), inf, "direction: positive"};
    if (t.value < 0) return {-inf, -std::numeric_limits<double>::min(), "direction: negative"};
    throw InputError(
        fmt::format("target {}: a null effect is judged over replicas (the 95% "
                    "interval contains 0), not on a typical subject",
                    t.id));
  }
  if (lod && t.value == 0.0 && t.spread_kind == "none") {
    return {-inf, *lod, fmt::format("not detectable: below the LOD {:g} {}", *lod, t.units)};
  }
  if ((t.spread_kind == "CI95" || t.spread_kind == "range") && t.low && t.high) {
    return {*t.low, *t.high, fmt::format("{} [{:g}, {:g}]", t.spread_kind, *t.low, *t.high)};
  }
  if (t.spread_kind == "SE" && t.high) {
    return {t.value - 2 * *t.high, t.value + 2 * *t.high,
            fmt::format("value +- 2 SE ({:g})", *t.high)};
  }
  if (t.spread_kind == "SD" && t.high) {
    const double n = t.n ? *t.n : 1.0;
    const double half = 2 * *t.high / std::sqrt(n);
    return {t.value - half, t.value + half,
            fmt::format("mean +- 2 SD/sqrt(n) (SD {:g}, n {:g})", *t.high, n)};
  }
  // A fraction in percent (not a rate such as %/y, which takes the relative rule).
  if (t.units.rfind('%', 0) == 0 && t.units.find('/') == std::string::npos) {
    return {t.value - 10.0, t.value + 10.0, "fraction: +- 0.1 absolute"};
  }
  const double a = 0.75 * t.value;
  const double b = 1.25 * t.value;
  return {std::min(a, b), std::max(a, b), "point estimate: +- 25%"};
}

double protocol_statistic(const Protocol& p, const ParameterTable& table) {
  if (p.statistic.kind == "cohort") {
    throw InputError(fmt::format(
        "{}: a cohort protocol is not run on one subject (k2sim validate runs its cohort)",
        p.file));
  }
  // A protocol's [hypotheses] switches act on the table it is run with.
  ParameterTable switched = table;
  Scenario scenario = p.scenario;
  if (!scenario.hypotheses.empty()) {
    (void)apply_hypotheses(scenario.hypotheses, switched);
    apply_diet_hypotheses(scenario);
  }
  const RunResult run = run_scenario(scenario, switched, scenario.solver);
  const std::string where = p.file;
  if (p.statistic.kind == "last_detectable") {
    if (!p.lod) throw InputError(fmt::format("{}: last_detectable needs 'lod'", where));
    // Last sample at which the output is at or above the LOD (0 when never).
    Statistic at = p.statistic;
    at.kind = "value_at";
    double last = 0.0;
    for (double ts : p.statistic.samples_h) {
      at.at_h = ts;
      if (compute_statistic(at, run, where) >= *p.lod) last = ts;
    }
    return last;
  }
  return compute_statistic(p.statistic, run, where);
}

namespace {

// The identity of this executable (size and modification time), so that a cached cohort run is
// never reused by another build; "" where it cannot be found (no cache then).
std::string executable_identity() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const auto size = fs::file_size(exe, ec);
  if (ec) return "";
  const auto time = fs::last_write_time(exe, ec);
  if (ec) return "";
  return fmt::format("{}:{}:{}", exe.string(), size, time.time_since_epoch().count());
}

// A temporary folder removed when it goes out of scope.
struct TemporaryFolder {
  fs::path path;
  TemporaryFolder(const TemporaryFolder&) = delete;
  TemporaryFolder& operator=(const TemporaryFolder&) = delete;
  explicit TemporaryFolder(fs::path p) : path(std::move(p)) {}
  ~TemporaryFolder() {
    std::error_code ec;
    if (!path.empty()) fs::remove_all(path, ec);
  }
};

// Removes from a cache folder what is more than a day old: runs of the same scenario and size
// (names starting with `stem`) other than `keep`, made by another build or with other parameters,
// and the scratch folders of runs that were killed. Younger ones may be in use by another process.
void remove_stale_runs(const fs::path& cache, const std::string& stem, const fs::path& keep) {
  std::error_code ec;
  const auto now = fs::file_time_type::clock::now();
  for (fs::directory_iterator it(cache, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path path = it->path();
    const std::string name = path.filename().string();
    if (path == keep || (name.rfind(stem, 0) != 0 && name.rfind("k2sim-cohort-", 0) != 0)) {
      continue;
    }
    std::error_code age_ec;
    const auto written = fs::last_write_time(path, age_ec);
    if (!age_ec && now - written > std::chrono::hours(24)) fs::remove_all(path, age_ec);
  }
}

// Whether `id` starts with one of the comma-separated prefixes (all ids for none).
bool in_prefixes(const std::string& id, const std::string& prefixes) {
  if (prefixes.empty()) return true;
  std::istringstream in(prefixes);
  std::string prefix;
  while (std::getline(in, prefix, ',')) {
    if (!prefix.empty() && id.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::atomic<int> validation_calls{0};  // names a validation's own cohort folder

// The entry of the cohort analysis a cohort statistic reads, as (value, low, high).
CohortEstimate read_estimate(const nlohmann::json& analysis, const Statistic& s,
                             const std::string& where) {
  CohortEstimate e;
  auto number = [&](const nlohmann::json& v, const std::string& what) {
    if (!v.is_number()) {
      throw InputError(fmt::format(
          "{}: the cohort analysis gives no {} (no events in a group, or the fit failed)", where,
          what));
    }
    return v.get<double>();
  };
  const auto g = static_cast<std::size_t>(s.group);
  if (!analysis.contains("cutoffs")) {
    throw InputError(fmt::format("{}: the cohort has no exposure groups (too few subjects: {})",
                                 where, analysis.value("subjects_ok", 0)));
  }
  if (s.measure == "cutoff") {
    const nlohmann::json& cut = analysis["cutoffs"];
    if (g > cut.size()) {
      throw InputError(fmt::format("{}: group = {} (rule: at most {}, the cut-offs of {} groups)",
                                   where, s.group, cut.size(), cut.size() + 1));
    }
    e.value = number(cut[g - 1], "cut-off");
    return e;
  }
  if (!analysis.contains("endpoints") || !analysis["endpoints"].contains(s.endpoint)) {
    throw InputError(fmt::format(
        "{}: endpoint '{}' (rule: one of the scenario's [analysis] endpoints)", where, s.endpoint));
  }
  const nlohmann::json& endpoint = analysis["endpoints"][s.endpoint];
  const char* which = s.confounded ? "confounded" : "causal";
  if (!endpoint.contains(which) || !endpoint[which].contains(s.measure)) {
    throw InputError(fmt::format("{}: the analysis of '{}' has no {}{}", where, s.endpoint,
                                 s.measure, s.confounded ? " with the confounder" : ""));
  }
  const nlohmann::json& list = endpoint[which][s.measure];
  if (g > list.size()) {
    throw InputError(fmt::format("{}: group = {} (rule: at most {}, the exposure groups)", where,
                                 s.group, list.size()));
  }
  const nlohmann::json& item = list[g - 1];
  if (item.is_object()) {
    e.value = number(item.at("value"), s.measure);
    e.low = number(item.at("ci95")[0], s.measure + " interval");
    e.high = number(item.at("ci95")[1], s.measure + " interval");
  } else {
    e.value = number(item, s.measure);
  }
  return e;
}

}  // namespace

CohortEstimate cohort_estimate(const Protocol& p, const ParameterTable& table,
                               const ValidationOptions& options,
                               const std::function<void(std::size_t, std::size_t)>& progress) {
  if (p.statistic.kind != "cohort" || !p.fast_size || !p.scenario.population) {
    throw InputError(fmt::format("{}: not a cohort protocol", p.file));
  }
  Scenario scenario = p.scenario;
  const std::size_t full = scenario.population->size;
  const std::size_t size = options.full ? full : std::min(*p.fast_size, full);
  scenario.population->size = size;
  // The run is the same for every protocol of the same scenario, size, parameters and options:
  // with a cache folder it runs once.
  std::string key = fmt::format("{}\n{}\n", scenario.echo.dump(), size);
  for (const Parameter& q : table.parameters()) key += fmt::format("{}={}\n", q.name, q.value);
  const SimulationOptions& so = scenario.solver;
  key += fmt::format("{} {} {} {} {} {} {} {}\n", so.rtol, so.atol, so.max_steps, so.max_step_h,
                     static_cast<int>(so.linear_solver), static_cast<int>(so.method),
                     so.ss_tolerance, so.ss_max_iterations);
  const std::string exe = executable_identity();
  try {
    fs::path dir;  // the cached run, when there is a cache
    if (!options.cache_dir.empty() && !exe.empty()) {
      key += exe;
      dir = fs::path(options.cache_dir) /
            fmt::format("{}-{}-{:016x}", scenario.name, size, std::hash<std::string>{}(key));
    }
    std::error_code ec;
    std::optional<TemporaryFolder> scratch;
    fs::path read_dir;  // chosen once: the folder whose subjects.csv is analysed
    if (!dir.empty() && fs::exists(dir / "subjects.csv", ec)) {
      read_dir = dir;
    } else {
      const fs::path base = dir.empty() ? fs::temp_directory_path() : fs::path(options.cache_dir);
      fs::create_directories(base, ec);
      if (ec) {
        throw IoError(fmt::format("{}: cannot create the folder: {}", base.string(), ec.message()));
      }
      if (!dir.empty()) remove_stale_runs(base, fmt::format("{}-{}-", scenario.name, size), dir);
      scratch.emplace(base /
                      fmt::format("k2sim-cohort-{}-{:x}", scenario.name,
                                  std::hash<std::string>{}(key + std::to_string(::getpid()))));
      CohortOptions co;
      co.out_dir = scratch->path.string();
      co.threads = options.threads;
      co.table = table;
      co.progress = progress;
      (void)run_cohort(scenario, {}, co);
      read_dir = scratch->path;
      if (!dir.empty()) {
        // Another process may have finished the same run meanwhile (the rename then fails):
        // either copy will do.
        fs::rename(scratch->path, dir, ec);
        if (!ec) {
          read_dir = dir;
          scratch->path.clear();
        }
      }
    }
    const nlohmann::json analysis =
        analyse_subjects(scenario, (read_dir / "subjects.csv").string(), p.statistic.exposure);
    CohortEstimate e = read_estimate(analysis, p.statistic, p.file);
    e.subjects = size;
    e.full_subjects = full;
    return e;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: the cohort analysis: {}", p.file, e.what()));
  } catch (const fs::filesystem_error& e) {
    throw IoError(fmt::format("{}: the cohort run's folder: {}", p.file, e.what()));
  }
}

Tolerance cohort_tolerance(const Target& t, const CohortEstimate& e) {
  const bool has_interval = std::isfinite(e.low) && std::isfinite(e.high) && e.low > 0.0;
  if (t.units.find("(null)") != std::string::npos) {
    if (!has_interval) {
      throw InputError(fmt::format(
          "target {}: a null target is judged on the estimate's 95% interval (rule: a measure "
          "with one: hazard_ratio, risk_ratio or odds_ratio)",
          t.id));
    }
    return {t.value, t.value,
            fmt::format("null rule: passes when the model's 95% interval contains {:g} (here "
                        "[{:.3g}, {:.3g}])",
                        t.value, e.low, e.high)};
  }
  Tolerance tol = tolerance_of(t, std::nullopt);
  if (t.spread_kind == "CI95" && has_interval && tol.low > 0.0 && e.full_subjects > 0) {
    const double se = (std::log(e.high) - std::log(e.low)) / (2.0 * 1.959963984540054);
    const double left =
        std::max(0.0, 1.0 - static_cast<double>(e.subjects) / static_cast<double>(e.full_subjects));
    const double w = 1.959963984540054 * se * std::sqrt(left);
    if (w > 0.0) {
      tol.low *= std::exp(-w);
      tol.high *= std::exp(w);
      tol.rule = fmt::format(
          "CI95 [{:g}, {:g}] widened x/ {:.3g} for the Monte Carlo error of {} of {} subjects "
          "(k2sim validate --full: none)",
          *t.low, *t.high, std::exp(w), e.subjects, e.full_subjects);
    }
  }
  return tol;
}

bool cohort_passes(const Target& t, const CohortEstimate& e, const Tolerance& tol) {
  if (t.units.find("(null)") != std::string::npos) return e.low <= t.value && t.value <= e.high;
  return e.value >= tol.low && e.value <= tol.high;
}

std::vector<ValidationRow> run_validation(const ValidationOptions& options) {
  const fs::path dir = fs::path(options.data_dir) / "validation";
  const auto targets = read_targets((dir / "targets.csv").string());
  std::vector<ValidationRow> rows;
  std::map<std::string, ParameterTable> tables;
  // --set: solver options apply to every protocol, parameters to the module that has them.
  Overrides solver_sets;
  Overrides parameter_sets;
  for (const auto& s : options.overrides) {
    (s.first.rfind("solver.", 0) == 0 ? solver_sets : parameter_sets).push_back(s);
  }
  for (const auto& [name, value] : solver_sets) {
    try {
      SimulationOptions probe;
      probe.set(name.substr(7), value);
    } catch (const InputError& e) {
      throw OptionError(fmt::format("--set {}={}: {}", name, value, e.what()));
    }
  }
  std::set<std::string> matched;
  // With --id, only the target and the other members of its family run.
  std::optional<std::string> wanted_family;
  if (!options.only_id.empty()) {
    const fs::path file = dir / "protocols" / (options.only_id + ".toml");
    wanted_family = fs::exists(file) ? read_protocol(file.string()).family : std::string();
  }
  const std::vector<std::string> header = {"id", "status", "reason", "issue"};
  std::size_t total = 0;  // for progress: the rows of expected.csv
  std::set<std::string> listed;
  for_each_csv_row((dir / "expected.csv").string(), header,
                   [&](const std::vector<std::string>& f, std::size_t) {
                     ++total;
                     listed.insert(f[0]);
                   });
  // With --full, expected-full.csv gives the expected status of the targets whose verdict at the
  // study's size differs from the fast one (cohort targets within a widened Monte Carlo interval).
  std::map<std::string, std::pair<std::string, std::string>> full_expected;
  const fs::path full_file = dir / "expected-full.csv";
  if (fs::exists(full_file)) {  // read (and checked) always, applied with --full
    for_each_csv_row(
        full_file.string(), header, [&](const std::vector<std::string>& f, std::size_t line) {
          if (f[1] != "pass" && f[1] != "known-fail") {
            throw InputError(fmt::format("{}:{}: status '{}' (rule: pass | known-fail)",
                                         full_file.string(), line, f[1]));
          }
          if (!full_expected.emplace(f[0], std::pair{f[1], f[2]}).second) {
            throw InputError(fmt::format("{}:{}: id '{}' twice", full_file.string(), line, f[0]));
          }
          if (!listed.count(f[0])) {
            throw InputError(fmt::format("{}:{}: id '{}' is not in validation/expected.csv",
                                         full_file.string(), line, f[0]));
          }
        });
  }
  // Cohort runs shared by several protocols: kept for this validation when no cache is given.
  ValidationOptions cohort_options = options;
  std::optional<TemporaryFolder> session_cache;
  if (options.cache_dir.empty()) {
    session_cache.emplace(fs::temp_directory_path() /
                          fmt::format("k2sim-validate-{}-{}", ::getpid(), ++validation_calls));
    cohort_options.cache_dir = session_cache->path.string();
  }
  for_each_csv_row(
      (dir / "expected.csv").string(), header,
      [&](const std::vector<std::string>& f, std::size_t line) {
        if (options.progress) options.progress(rows.size(), total, f[0]);
        ValidationRow row;
        row.id = f[0];
        row.expected = f[1];
        row.reason = f[2];
        if (const auto full = full_expected.find(row.id);
            options.full && full != full_expected.end()) {
          row.expected = full->second.first;
          row.reason = full->second.second;
        }
        // With --only or --id, the rows outside them run only when a family needs them.
        static const std::set<std::string> kStatus = {"pass", "known-fail", "not-covered",
                                                      "deferred"};
        if (!kStatus.count(row.expected)) {
          throw InputError(
              fmt::format("{}:{}: status '{}' (rule: pass | known-fail | not-covered | "
                          "deferred)",
                          (dir / "expected.csv").string(), line, row.expected));
        }
        const auto t = targets.find(row.id);
        if (t == targets.end()) {
          throw InputError(fmt::format("{}:{}: id '{}' is not in targets.csv",
                                       (dir / "expected.csv").string(), line, row.id));
        }
        row.quantity = t->second.quantity;
        row.published = t->second.value;
        row.units = t->second.units;
        if (row.expected == "deferred" || row.expected == "not-covered") {
          row.status = row.expected;
          rows.push_back(row);
          return;
        }
        try {
          Protocol p = read_protocol((dir / "protocols" / (row.id + ".toml")).string());
          row.role = p.role;
          row.family = p.family;
          const bool outside_prefix = !in_prefixes(row.id, options.only_prefix);
          if ((wanted_family && row.id != options.only_id &&
               (wanted_family->empty() || p.family != *wanted_family)) ||
              (outside_prefix && p.family.empty())) {
            row.status = "skipped";
            rows.push_back(row);
            return;
          }
          const std::string module = parameter_module(p.scenario.model);
          if (!tables.count(module)) {
            ParameterTable table = ParameterTable::from_dir(
                (fs::path(options.data_dir) / "parameters").string(), module);
            for (const auto& [name, value] : parameter_sets) {
              bool known = true;
              try {
                (void)table.index(name);
              } catch (const InputError&) {
                known = false;
              }
              if (!known) continue;  // another module's parameter
              matched.insert(name);
              try {
                table.set(name, value, fmt::format("--set {}={}", name, value));
              } catch (const InputError& e) {
                throw OptionError(e.what());
              }
            }
            tables.emplace(module, table);
          }
          for (const auto& [name, value] : solver_sets)
            p.scenario.solver.set(name.substr(7), value);
          // --set wins over a protocol's [hypotheses] (as in k2sim run).
          std::erase_if(p.scenario.hypotheses, [&](const HypothesisSetting& h) {
            const std::string& param = hypothesis(h.name).parameter;
            return std::any_of(parameter_sets.begin(), parameter_sets.end(),
                               [&](const auto& s) { return s.first == param; });
          });
          if (p.statistic.kind == "cohort") {
            const std::size_t done = rows.size();
            const CohortEstimate e = cohort_estimate(
                p, tables.at(module), cohort_options, [&](std::size_t d, std::size_t n) {
                  if (options.progress) {
                    options.progress(done, total, fmt::format("{} (cohort {}/{})", row.id, d, n));
                  }
                });
            row.model = e.value;
            row.model_low = e.low;
            row.model_high = e.high;
            row.subjects = e.subjects;
            row.tolerance = cohort_tolerance(t->second, e);
            // Judged here: the null rule reads the interval, not the value.
            row.status = cohort_passes(t->second, e, row.tolerance) ? "pass" : "fail";
          } else {
            row.model = protocol_statistic(p, tables.at(module));
            row.tolerance = tolerance_of(t->second, p.lod);
          }
        } catch (const OptionError&) {
          throw;
        } catch (const Error& e) {
          row.status = "error";
          row.reason = e.what();
        }
        rows.push_back(row);
      });
  if (options.progress) options.progress(total, total, "");

  for (const auto& [name, value] : parameter_sets) {
    if (!matched.count(name) && !tables.empty()) {
      throw OptionError(
          fmt::format("--set {}={}: no parameter of that name in the tables of the "
                      "validated modules",
                      name, value));
    }
  }
  // Families are judged together on the union of their members' intervals (VALIDATION.md).
  std::map<std::string, Tolerance> families;
  for (const auto& r : rows) {
    if (r.family.empty() || r.status == "error" || !r.status.empty()) continue;
    auto [it, fresh] = families.emplace(r.family, r.tolerance);
    if (!fresh) {
      it->second.low = std::min(it->second.low, r.tolerance.low);
      it->second.high = std::max(it->second.high, r.tolerance.high);
    }
  }
  for (auto& r : rows) {
    if (!r.status.empty()) continue;
    if (!r.family.empty()) {
      const Tolerance& f = families.at(r.family);
      r.tolerance = {f.low, f.high,
                     fmt::format("family {} range [{:g}, {:g}]", r.family, f.low, f.high)};
    }
    r.status = (r.model >= r.tolerance.low && r.model <= r.tolerance.high) ? "pass" : "fail";
  }
  if (!options.only_prefix.empty()) {
    std::erase_if(rows,
                  [&](const ValidationRow& r) { return !in_prefixes(r.id, options.only_prefix); });
  }
  if (!options.only_id.empty()) {
    std::erase_if(rows, [&](const ValidationRow& r) { return r.id != options.only_id; });
    if (rows.empty()) {
      throw InputError(fmt::format("--id {}: not in validation/expected.csv", options.only_id));
    }
  }
  return rows;
}

}  // namespace k2sim
