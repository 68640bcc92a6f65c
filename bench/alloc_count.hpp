#pragma once
// Counts heap allocations in the whole process: this header replaces the global operator new
// and delete (include it in exactly one source file of a program). The benchmarks use it to
// show what the hot path allocates: the count taken over a steady-state window, divided by
// the samples of that window, is the allocations per sample (0.001 means one allocation per
// thousand samples, e.g. one per batch frame).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace starling::bench {

/// Allocations made so far (every operator new, whatever its size).
inline std::atomic<std::uint64_t> heap_allocations{0};

}  // namespace starling::bench

namespace starling::bench::detail {

inline void* counted_alloc(std::size_t n) {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}

inline void* counted_aligned_alloc(std::size_t n, std::align_val_t al) {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(al);
  const std::size_t rounded = ((n == 0 ? 1 : n) + a - 1) / a * a;
  if (void* p = std::aligned_alloc(a, rounded)) return p;
  throw std::bad_alloc();
}

}  // namespace starling::bench::detail

// The replaceable global allocation functions ([new.delete]); not inline, by the standard.
void* operator new(std::size_t n) {
  return starling::bench::detail::counted_alloc(n);
}
void* operator new[](std::size_t n) {
  return starling::bench::detail::counted_alloc(n);
}
void* operator new(std::size_t n, std::align_val_t al) {
  return starling::bench::detail::counted_aligned_alloc(n, al);
}
void* operator new[](std::size_t n, std::align_val_t al) {
  return starling::bench::detail::counted_aligned_alloc(n, al);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}
