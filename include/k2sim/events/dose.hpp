// k2sim/events/dose.hpp: dose records in the NONMEM vocabulary and their expansion into explicit,
// time-ordered events (the discontinuities the engine integrates between).
//
// Units: times in h; AMT in the internal amount unit of the dosed compartment (nmol or mmol);
// RATE in that unit per h.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace k2sim {

/// One dose record (NONMEM: TIME, AMT, CMT, RATE, II, ADDL, SS).
struct DoseRecord {
  double time_h = 0.0;   ///< TIME: time of the first dose
  double amt = 0.0;      ///< AMT: amount per dose (internal unit of the compartment)
  std::size_t cmt = 0;   ///< CMT: index of the state that receives the dose
  double rate = 0.0;     ///< RATE: 0 = bolus; > 0 = zero-order input, lasting AMT/RATE h
  double ii_h = 0.0;     ///< II: interdose interval (needed with ADDL > 0 or SS = 1)
  std::size_t addl = 0;  ///< ADDL: additional doses at TIME + k*II, k = 1..ADDL
  int ss = 0;            ///< SS: 0 none; 1 = reset, then periodic steady state of this regimen
  /// With SS = 1: the reset is this long before TIME, so the doses fall this far into each period
  /// (a day's meals share one reset at midnight); 0 <= SS_LEAD < II. k2sim's extension of NONMEM.
  double ss_lead_h = 0.0;

  /// Time of the SS = 1 reset: TIME - SS_LEAD.
  [[nodiscard]] double ss_time_h() const { return time_h - ss_lead_h; }

  /// Throws InputError (with `where` in the message) when the record breaks a NONMEM rule:
  /// negative amounts, times or rates; ADDL or SS without II > 0; SS other than 0 or 1; an
  /// infusion longer than II with SS = 1; cmt >= n_states; SS_LEAD outside [0, II) or before 0.
  void validate(std::size_t n_states, const std::string& where = "dose record") const;
};

enum class EventKind {
  kBolus,    ///< add `value` to state `cmt`
  kRateOn,   ///< zero-order input of `value` per h into `cmt` starts
  kRateOff,  ///< zero-order input of `value` per h into `cmt` ends
  kSsReset   ///< reset, then set the periodic steady state of the SS = 1 records at this time
};

/// One explicit event at one time.
struct DoseEvent {
  double time_h = 0.0;
  EventKind kind = EventKind::kBolus;
  std::size_t cmt = 0;
  double value = 0.0;
  std::size_t record = 0;    ///< index of the record it came from
  std::size_t infusion = 0;  ///< RateOn/RateOff: the infusion they start and end (0, 1, ...)
};

/// Expands records into explicit events sorted by time; ties keep record order, with a record's
/// SS reset before its doses and rate-off events before rate-on and bolus events at the same time.
/// Every record must already be valid.
[[nodiscard]] std::vector<DoseEvent> expand(const std::vector<DoseRecord>& records);

}  // namespace k2sim
