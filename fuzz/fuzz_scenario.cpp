// libFuzzer target: the scenario reader (TOML text -> Scenario) and the preparation of a run
// (parameter table, hypotheses, diet). Bad input must end in a k2sim::Error (exit 3 in the CLI),
// never in a crash, another exception, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "k2sim/error.hpp"
#include "k2sim/io/run.hpp"
#include "k2sim/io/scenario.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const k2sim::Scenario sc = k2sim::parse_scenario(text, "fuzz.toml");
    const k2sim::PreparedRun p = k2sim::prepare_run(sc);
    (void)p;
  } catch (const k2sim::Error&) {  // a clear error is the right answer to bad input
  }
  return 0;
}
