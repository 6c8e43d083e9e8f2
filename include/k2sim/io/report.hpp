// k2sim/io/report.hpp: the self-contained HTML report of a run directory (`k2sim report DIR`):
// plots of every output over time with the arms overlaid (uPlot, inlined at build time), the
// arms side by side at the end, every summary statistic, the solver record, the hypotheses and
// the scenario. One file, no network at view time.
#pragma once

#include <cstddef>
#include <string>

namespace k2sim {

struct ReportOptions {
  /// Plots show at most this many times per arm (every n-th output time, and the last); the
  /// tables and the CSV files keep every value.
  std::size_t max_points = 2000;
};

/// The HTML text of the report of run directory `dir` (summary.json and trajectory*.csv, as
/// `k2sim run` writes them). Throws IoError when a file cannot be read and InputError (with
/// file:line) when one is malformed.
[[nodiscard]] std::string render_report(const std::string& dir, const ReportOptions& options = {});

/// Writes render_report(dir) to `file` (written to a temporary name, then renamed).
void write_report(const std::string& dir, const std::string& file,
                  const ReportOptions& options = {});

}  // namespace k2sim
