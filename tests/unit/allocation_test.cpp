// Issue 11: the right-hand sides allocate nothing (engine/model.hpp: rhs() must not allocate).
// This file replaces the global operator new of the test binary with one that counts the
// allocations of the calling thread, then calls each model's RHS a thousand times.
#include <cmath>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "k2sim/model/model.hpp"
#include "k2sim/params/parameter_table.hpp"

namespace {
thread_local long g_allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace k2sim {
namespace {

TEST(Allocation, ModelRightHandSidesAllocateNothing) {
  const std::vector<std::pair<std::string, std::string>> models = {
      {"pk-1cmt", "pk_1cmt"},
      {"vitk", "vitk"},
      {"calcium-bone", "calcium"},
      {"full", "vitk+calcium+vascular"}};
  for (const auto& [name, table_name] : models) {
    const ParameterTable table = ParameterTable::builtin(table_name);
    const auto model = make_model(name, table);
    std::vector<double> y(model->state_count());
    std::vector<double> dydt(model->state_count());
    model->reset_state(y);
    const long before = g_allocations;
    for (int i = 0; i < 1000; ++i) model->rhs(0.5 * i, y.data(), dydt.data());
    EXPECT_EQ(g_allocations - before, 0) << name;
    EXPECT_TRUE(std::isfinite(dydt[0])) << name;
  }
  // The counter counts: one vector is one allocation.
  const long before = g_allocations;
  std::vector<double> v(10);
  EXPECT_EQ(g_allocations - before, 1);
}

}  // namespace
}  // namespace k2sim
