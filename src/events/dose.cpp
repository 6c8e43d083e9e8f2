#include "k2sim/events/dose.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "k2sim/error.hpp"

namespace k2sim {

void DoseRecord::validate(std::size_t n_states, const std::string& where) const {
  auto fail = [&](const std::string& rule) {
    throw InputError(fmt::format("{}: {}", where, rule));
  };
  if (!std::isfinite(time_h) || time_h < 0.0) {
    fail(fmt::format("TIME = {} h (rule: a finite time >= 0)", time_h));
  }
  if (!std::isfinite(amt) || amt < 0.0) fail(fmt::format("AMT = {} (rule: an amount >= 0)", amt));
  if (!std::isfinite(rate) || rate < 0.0) fail(fmt::format("RATE = {} (rule: a rate >= 0)", rate));
  if (cmt >= n_states) {
    fail(fmt::format("CMT = {} (rule: a state index below {})", cmt, n_states));
  }
  if (!std::isfinite(ii_h) || ii_h < 0.0) fail(fmt::format("II = {} h (rule: II >= 0)", ii_h));
  if ((addl > 0 || ss != 0) && ii_h <= 0.0) {
    fail(fmt::format("II = {} h with ADDL = {}, SS = {} (rule: ADDL > 0 or SS = 1 needs II > 0)",
                     ii_h, addl, ss));
  }
  if (ss != 0 && ss != 1) fail(fmt::format("SS = {} (rule: SS is 0 or 1)", ss));
  if (!std::isfinite(ss_lead_h) || ss_lead_h < 0.0 || (ss_lead_h > 0.0 && ss != 1) ||
      (ss == 1 && ss_lead_h >= ii_h) || time_h - ss_lead_h < 0.0) {
    fail(
        fmt::format("SS_LEAD = {} h with SS = {}, II = {} h, TIME = {} h (rule: only with SS = 1, "
                    "0 <= SS_LEAD < II and SS_LEAD <= TIME)",
                    ss_lead_h, ss, ii_h, time_h));
  }
  if (ss == 1 && rate > 0.0 && ss_lead_h + amt / rate > ii_h * (1.0 + 1e-12)) {
    fail(fmt::format(
        "SS = 1 infusion lasting {} h with SS_LEAD = {} h and II = {} h (rule: SS_LEAD + duration "
        "<= II)",
        amt / rate, ss_lead_h, ii_h));
  }
}

std::vector<DoseEvent> expand(const std::vector<DoseRecord>& records) {
  std::vector<DoseEvent> events;
  std::size_t infusion = 0;
  for (std::size_t r = 0; r < records.size(); ++r) {
    const DoseRecord& rec = records[r];
    if (rec.ss == 1) events.push_back({rec.ss_time_h(), EventKind::kSsReset, rec.cmt, 0.0, r});
    for (std::size_t k = 0; k <= rec.addl; ++k) {
      const double t = rec.time_h + static_cast<double>(k) * rec.ii_h;
      if (rec.rate > 0.0) {
        events.push_back({t, EventKind::kRateOn, rec.cmt, rec.rate, r, infusion});
        events.push_back(
            {t + rec.amt / rec.rate, EventKind::kRateOff, rec.cmt, rec.rate, r, infusion});
        ++infusion;
      } else {
        events.push_back({t, EventKind::kBolus, rec.cmt, rec.amt, r});
      }
    }
  }
  auto order = [](EventKind k) {
    switch (k) {
      case EventKind::kSsReset:
        return 0;
      case EventKind::kRateOff:
        return 1;
      default:
        return 2;
    }
  };
  std::stable_sort(events.begin(), events.end(), [&](const DoseEvent& a, const DoseEvent& b) {
    if (a.time_h != b.time_h) return a.time_h < b.time_h;
    return order(a.kind) < order(b.kind);
  });
  return events;
}

}  // namespace k2sim
