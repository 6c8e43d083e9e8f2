// The HTML report of a run directory (include/k2sim/io/report.hpp). The tables are written here;
// the charts are drawn in the browser by web/report.js with uPlot, both inlined at build time
// (cmake/EmbedFiles.cmake), from the trajectories embedded as JSON.
#include "k2sim/io/report.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace k2sim {
namespace internal {
std::string_view embedded_file(std::string_view path);  // generated at build time
}  // namespace internal

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    throw IoError(fmt::format("{}: cannot read: {}", p.string(), std::strerror(errno)));
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

/// A trajectory file: its columns and their values (column-major).
struct TrajectoryFile {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> values;
};

TrajectoryFile read_trajectory(const fs::path& p) {
  const std::string text = read_text(p);
  const std::string file = p.string();
  TrajectoryFile t;
  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::vector<std::string> fields = split_csv_line(line);
    if (t.columns.empty()) {
      if (fields.empty() || fields[0] != "time_d") {
        throw InputError(fmt::format(
            "{}:{}: first column '{}' (rule: a trajectory file of k2sim run starts with time_d)",
            file, line_no, fields.empty() ? "" : fields[0]));
      }
      t.columns = fields;
      t.values.resize(fields.size());
      continue;
    }
    if (fields.size() != t.columns.size()) {
      throw InputError(fmt::format("{}:{}: {} fields (rule: as many as the header's {})", file,
                                   line_no, fields.size(), t.columns.size()));
    }
    for (std::size_t k = 0; k < fields.size(); ++k) {
      const std::string& f = fields[k];
      double v = 0.0;
      const auto [ptr, ec] = std::from_chars(f.data(), f.data() + f.size(), v);
      if (ec != std::errc() || ptr != f.data() + f.size()) {
        throw InputError(fmt::format("{}:{}: column {} value '{}' (rule: a number)", file, line_no,
                                     t.columns[k], f));
      }
      t.values[k].push_back(v);
    }
  }
  if (t.columns.empty()) {
    throw InputError(
        fmt::format("{}:1: empty file (rule: a header line starting with time_d)", file));
  }
  return t;
}

/// Every n-th entry and the last, so that a series has at most `max_points` entries.
std::vector<std::size_t> plot_rows(std::size_t rows, std::size_t max_points) {
  max_points = std::max<std::size_t>(max_points, 2);
  const std::size_t stride =
      rows <= max_points ? 1 : (rows + max_points - 2) / std::max<std::size_t>(max_points - 1, 1);
  std::vector<std::size_t> idx;
  for (std::size_t i = 0; i < rows; i += stride) idx.push_back(i);
  if (rows > 0 && idx.back() != rows - 1) idx.push_back(rows - 1);
  return idx;
}

json pick(const std::vector<double>& v, const std::vector<std::size_t>& rows) {
  json a = json::array();
  for (const std::size_t i : rows) {
    if (std::isfinite(v[i])) {
      a.push_back(v[i]);
    } else {
      a.push_back(nullptr);
    }
  }
  return a;
}

std::string num(const json& v) {
  if (!v.is_number()) return "n/a";  // summary.json writes null for a value that is not finite
  return fmt::format("{:.4g}", v.get<double>());
}

/// Output name -> meaning from the model's catalogue (empty when the model is unknown).
std::map<std::string, std::string> meanings(const std::string& model) {
  std::map<std::string, std::string> out;
  try {
    const auto table = ParameterTable::builtin(parameter_module(model));
    for (const OutputSpec& o : make_model(model, table)->outputs()) out[o.name] = o.meaning;
  } catch (const Error&) {
  }
  return out;
}

bool is_band_column(const std::string& c) {
  return c.size() > 4 && (c.ends_with("_p05") || c.ends_with("_p50") || c.ends_with("_p95"));
}

struct Arm {
  std::string name;
  json summary;
  bool ok = false;
  std::string file;
  TrajectoryFile trajectory;
};

}  // namespace

std::string render_report(const std::string& dir, const ReportOptions& options) {
  const fs::path root(dir);
  const fs::path summary_path = root / "summary.json";
  std::error_code exists_error;
  if (!fs::exists(summary_path, exists_error)) {
    throw IoError(fmt::format(
        "{}: no summary.json (rule: a run directory written by `k2sim run` or `k2sim compare`)",
        dir));
  }
  json summary;
  try {
    summary = json::parse(read_text(summary_path));
  } catch (const json::parse_error& e) {
    throw InputError(
        fmt::format("{}: {} (rule: JSON as k2sim run writes it)", summary_path.string(), e.what()));
  }
  if (!summary.is_object() || !summary.contains("arms") || !summary["arms"].is_object()) {
    throw InputError(fmt::format("{}: no \"arms\" object (rule: summary.json of k2sim run)",
                                 summary_path.string()));
  }
  const json scenario = summary.value("scenario", json::object());
  const std::string name = scenario.value("name", root.filename().string());
  const std::string model = summary.value("model", std::string("vitk"));

  // Arms in the scenario's order (summary.json lists them by name).
  std::vector<std::string> order;
  if (scenario.contains("arm") && scenario["arm"].is_array()) {
    for (const json& a : scenario["arm"]) {
      const std::string n = a.value("name", "");
      if (summary["arms"].contains(n)) order.push_back(n);
    }
  }
  for (const auto& [n, _] : summary["arms"].items()) {
    if (std::find(order.begin(), order.end(), n) == order.end()) order.push_back(n);
  }
  // A scenario without [[arm]] writes trajectory.csv for its one arm "main".
  const bool single = !scenario.contains("arm");
  std::vector<Arm> arms;
  for (const std::string& n : order) {
    Arm a;
    a.name = n;
    a.summary = summary["arms"][n];
    a.ok = a.summary.contains("solver") && a.summary["solver"].value("status", "") == "ok";
    a.file = single ? "trajectory.csv" : fmt::format("trajectory_{}.csv", n);
    if (a.ok) a.trajectory = read_trajectory(root / a.file);
    arms.push_back(std::move(a));
  }

  // Outputs in the order of the first trajectory's columns; those that stay 0 in every arm are
  // listed, not plotted.
  std::vector<std::string> outputs;
  for (const Arm& a : arms) {
    for (const std::string& c : a.trajectory.columns) {
      if (c == "time_d" || is_band_column(c)) continue;
      if (std::find(outputs.begin(), outputs.end(), c) == outputs.end()) outputs.push_back(c);
    }
  }
  const std::map<std::string, std::string> meaning = meanings(model);
  auto unit_of = [&](const std::string& out) {
    for (const Arm& a : arms) {
      if (a.summary.contains("outputs") && a.summary["outputs"].contains(out)) {
        return a.summary["outputs"][out].value("unit", "");
      }
    }
    return std::string();
  };
  std::vector<std::string> plotted;
  std::vector<std::string> zero;
  for (const std::string& out : outputs) {
    bool nonzero = false;
    for (const Arm& a : arms) {
      const auto& cols = a.trajectory.columns;
      const auto it = std::find(cols.begin(), cols.end(), out);
      if (it == cols.end()) continue;
      for (const double v : a.trajectory.values[it - cols.begin()]) nonzero |= v != 0.0;
    }
    (nonzero ? plotted : zero).push_back(out);
  }

  // The data the charts draw.
  double duration_d = 0.0;
  std::size_t rows_max = 0;
  std::size_t rows_plotted_max = 0;
  json jarms = json::array();
  for (const Arm& a : arms) {
    if (!a.ok) continue;
    const TrajectoryFile& t = a.trajectory;
    const std::size_t rows = t.values[0].size();
    const std::vector<std::size_t> idx = plot_rows(rows, options.max_points);
    rows_max = std::max(rows_max, rows);
    rows_plotted_max = std::max(rows_plotted_max, idx.size());
    if (rows > 0) duration_d = std::max(duration_d, t.values[0].back());
    json ja{{"name", a.name}, {"time_d", pick(t.values[0], idx)}};
    json columns = json::object();
    json values = json::array();
    json bands = json::object();
    for (const std::string& out : plotted) {
      const auto it = std::find(t.columns.begin(), t.columns.end(), out);
      if (it == t.columns.end()) continue;
      columns[out] = values.size();
      values.push_back(pick(t.values[it - t.columns.begin()], idx));
      const auto lo = std::find(t.columns.begin(), t.columns.end(), out + "_p05");
      const auto hi = std::find(t.columns.begin(), t.columns.end(), out + "_p95");
      if (lo != t.columns.end() && hi != t.columns.end()) {
        bands[out] = {{"p05", pick(t.values[lo - t.columns.begin()], idx)},
                      {"p95", pick(t.values[hi - t.columns.begin()], idx)}};
      }
    }
    ja["columns"] = columns;
    ja["values"] = values;
    if (!bands.empty()) ja["bands"] = bands;
    jarms.push_back(ja);
  }
  json jout = json::array();
  for (const std::string& out : plotted) {
    const auto m = meaning.find(out);
    jout.push_back(
        {{"name", out}, {"unit", unit_of(out)}, {"meaning", m == meaning.end() ? "" : m->second}});
  }
  std::string data = json{{"duration_d", duration_d}, {"outputs", jout}, {"arms", jarms}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
  // '<' only occurs inside JSON strings, where \u003c means the same: nothing can close the tag.
  std::string safe;
  safe.reserve(data.size());
  for (const char c : data) {
    if (c == '<') {
      safe += "\\u003c";
    } else {
      safe += c;
    }
  }

  const bool bands = summary.contains("uncertainty");
  std::string h;
  h.reserve(safe.size() + 200000);
  h += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  h += fmt::format("<title>k2sim report: {}</title>\n<style>\n", escape(name));
  h += internal::embedded_file("web/node_modules/uplot/dist/uPlot.min.css");
  h += "\n";
  h += internal::embedded_file("web/report.css");
  h += "</style>\n</head>\n<body>\n";
  h += fmt::format("<h1>k2sim report: {}</h1>\n", escape(name));
  h += fmt::format(
      "<p class=\"meta\">model <code>{}</code>, k2sim {}; duration {}, output every {}; {} arm{}"
      "{}.</p>\n",
      escape(model), escape(summary.value("model_version", std::string("unknown"))),
      escape(scenario.value("duration", "")), escape(scenario.value("output_interval", "")),
      arms.size(), arms.size() == 1 ? "" : "s",
      bands ? fmt::format("; ensemble of {} members, shaded bands and [ ] are 5-95%",
                          summary["uncertainty"].value("members", 0))
            : "");
  for (const Arm& a : arms) {
    if (!a.ok) {
      h +=
          fmt::format("<p class=\"failed\">arm {} failed: {}</p>\n", escape(a.name),
                      escape(a.summary.contains("solver") ? a.summary["solver"].value("message", "")
                                                          : std::string("no solver record")));
    }
  }

  // The answer first: every arm at the end of the run, beside the first arm.
  h += "<h2>Arms side by side at the end of the run</h2>\n";
  if (arms.size() > 1) {
    h += fmt::format(
        "<p>Each value with its difference from the first arm, <b>{}</b> (\u2248 0: less than "
        "a millionth of the value, within the solver's tolerance).</p>\n",
        escape(arms[0].name));
  }
  h += "<table>\n<tr><th class=\"name\">output</th><th class=\"name\">unit</th>";
  for (const Arm& a : arms) h += fmt::format("<th>{}</th>", escape(a.name));
  h += "</tr>\n";
  auto stat = [](const Arm& a, const std::string& out) -> const json* {
    if (!a.ok || !a.summary.contains("outputs") || !a.summary["outputs"].contains(out)) {
      return nullptr;
    }
    return &a.summary["outputs"][out];
  };
  for (const std::string& out : plotted) {
    h += fmt::format("<tr><td class=\"name\"><code>{}</code></td><td class=\"name\">{}</td>",
                     escape(out), escape(unit_of(out)));
    const json* ref = stat(arms[0], out);
    for (std::size_t i = 0; i < arms.size(); ++i) {
      const json* s = stat(arms[i], out);
      const json end = s ? s->value("end", json()) : json();
      std::string cell = s ? num(end) : "";
      const json interval_end =
          s ? s->value("interval", json::object()).value("end", json::object()) : json::object();
      if (interval_end.is_object() && !interval_end.empty()) {
        cell += fmt::format(" [{}, {}]", num(interval_end.value("p05", json())),
                            num(interval_end.value("p95", json())));
      }
      const json ref_end = ref ? ref->value("end", json()) : json();
      if (i > 0 && end.is_number() && ref_end.is_number()) {
        // Differences below a millionth of the values are solver tolerance, not an effect.
        const double diff = end.get<double>() - ref_end.get<double>();
        const double scale = std::max(std::abs(end.get<double>()), std::abs(ref_end.get<double>()));
        cell += std::abs(diff) <= 1e-6 * scale ? std::string(" (\u2248 0)")
                                               : fmt::format(" ({:+.3g})", diff);
      }
      h += fmt::format("<td>{}</td>", escape(cell));
    }
    h += "</tr>\n";
  }
  h += "</table>\n";

  h += "<h2>Outputs over time</h2>\n";
  if (rows_plotted_max < rows_max) {
    h += fmt::format(
        "<p>The plots show {} of the {} output times (evenly spaced, the last included); the "
        "tables and the trajectory files have them all.</p>\n",
        rows_plotted_max, rows_max);
  }
  h += "<div id=\"key\"></div>\n<div id=\"charts\"></div>\n";
  if (!zero.empty()) {
    h += "<p>Outputs that stay 0 throughout (not plotted):";
    for (const std::string& z : zero) h += fmt::format(" <code>{}</code>", escape(z));
    h += "</p>\n";
  }

  h += "<h2>Summary statistics</h2>\n<details>\n<summary>start, end, time-weighted mean, min and "
       "max of every output in every arm</summary>\n<table>\n<tr><th class=\"name\">output</th>"
       "<th class=\"name\">unit</th><th class=\"name\">arm</th><th>start</th><th>end</th>"
       "<th>mean</th><th>min</th><th>max</th></tr>\n";
  for (const std::string& out : outputs) {
    for (const Arm& a : arms) {
      const json* s = stat(a, out);
      if (!s) continue;
      h += fmt::format(
          "<tr><td class=\"name\"><code>{}</code></td><td class=\"name\">{}</td>"
          "<td class=\"name\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "</tr>\n",
          escape(out), escape(s->value("unit", "")), escape(a.name), num(s->value("start", json())),
          num(s->value("end", json())), num(s->value("mean", json())), num(s->value("min", json())),
          num(s->value("max", json())));
    }
  }
  h += "</table>\n</details>\n";

  h += "<h2>Solver</h2>\n<table>\n<tr><th class=\"name\">arm</th><th class=\"name\">status</th>"
       "<th>steps</th><th>RHS evaluations</th><th>restarts</th></tr>\n";
  for (const Arm& a : arms) {
    const json s = a.summary.value("solver", json::object());
    h += fmt::format(
        "<tr><td class=\"name\">{}</td><td class=\"name\">{}</td><td>{}</td>"
        "<td>{}</td><td>{}</td></tr>\n",
        escape(a.name), escape(s.value("status", "")), s.value("steps", 0), s.value("rhs_evals", 0),
        s.value("restarts", 0));
  }
  h += "</table>\n";

  if (summary.contains("hypotheses") && summary["hypotheses"].is_object()) {
    h += "<h2>Hypotheses</h2>\n<p>Claims without human data behind their strength; neutral "
         "unless switched on (docs/scenarios.md).</p>\n<table>\n<tr><th class=\"name\">switch"
         "</th><th class=\"name\">on</th><th>value</th><th class=\"name\">unit</th>"
         "<th class=\"name\">parameter</th></tr>\n";
    for (const auto& [hn, hv] : summary["hypotheses"].items()) {
      h += fmt::format(
          "<tr><td class=\"name\">{}</td><td class=\"name\">{}</td><td>{}</td>"
          "<td class=\"name\">{}</td><td class=\"name\"><code>{}</code></td></tr>\n",
          escape(hn), hv.value("on", false) ? "on" : "off", num(hv["value"]),
          escape(hv.value("unit", "")), escape(hv.value("parameter", "")));
    }
    h += "</table>\n";
  }
  if (bands) {
    const json& u = summary["uncertainty"];
    h += fmt::format(
        "<h2>Uncertainty</h2>\n<p>{} members, seed {}, parameters varied: {} ({}); failed "
        "members: {}.</p>\n",
        u.value("members", 0), u.value("seed", std::uint64_t{0}), escape(u.value("vary", "")),
        u.contains("parameters_varied") ? u["parameters_varied"].size() : 0,
        u.contains("failed_members") ? u["failed_members"].size() : 0);
    if (u.contains("parameters_varied")) {
      h += "<details><summary>parameters varied, with their spreads</summary><ul>\n";
      for (const json& p : u["parameters_varied"]) {
        h += fmt::format("<li>{}</li>\n", escape(p.is_string() ? p.get<std::string>() : p.dump()));
      }
      h += "</ul></details>\n";
    }
  }

  h += "<h2>Scenario</h2>\n<pre>";
  h += escape(scenario.dump(2));
  h += "</pre>\n";
  h += "<script id=\"k2sim-data\" type=\"application/json\">";
  h += safe;
  h += "</script>\n<script>\n";
  h += internal::embedded_file("web/node_modules/uplot/dist/uPlot.iife.min.js");
  h += "\n</script>\n<script>\n";
  h += internal::embedded_file("web/report.js");
  h += "</script>\n</body>\n</html>\n";
  return h;
}

void write_report(const std::string& dir, const std::string& file, const ReportOptions& options) {
  std::string html;
  try {
    html = render_report(dir, options);
  } catch (const json::exception& e) {  // a summary.json edited by hand: a value of a wrong type
    throw InputError(fmt::format("{}: {} (rule: summary.json as k2sim run writes it)",
                                 (fs::path(dir) / "summary.json").string(), e.what()));
  }
  write_file_atomically(file, html);
}

}  // namespace k2sim
