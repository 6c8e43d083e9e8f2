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

// Under AddressSanitizer the allocator is the sanitizer's, and a replacement would mix the two:
// the test is skipped there.
#if defined(__SANITIZE_ADDRESS__)
#define K2SIM_SANITIZED_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define K2SIM_SANITIZED_ALLOCATOR 1
#endif
#endif

namespace {
thread_local long g_allocations = 0;
}  // namespace

#ifndef K2SIM_SANITIZED_ALLOCATOR
// Every non-aligned form, so that no allocation of one kind is freed by another.
void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return ::operator new(size, std::nothrow);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
#endif

namespace k2sim {
namespace {

TEST(Allocation, ModelRightHandSidesAllocateNothing) {
#ifdef K2SIM_SANITIZED_ALLOCATOR
  GTEST_SKIP() << "the allocation counter replaces operator new, which a sanitizer owns";
#endif
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
