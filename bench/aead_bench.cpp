// libsodium's ChaCha20-Poly1305 (IETF) speed on one core: the encryption ceiling that
// Starling's encrypted throughput is compared against (docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include "core/crypto/crypto.hpp"

namespace {
void BM_aead_encrypt_inplace(benchmark::State& state) {
  starling::crypto::init();
  starling::crypto::aead_key key{};
  key[0] = 1;
  starling::bytes buf(static_cast<std::size_t>(state.range(0)) + starling::crypto::aead_tag_size);
  std::uint64_t n = 0;
  for (auto _ : state) {
    starling::crypto::aead_encrypt_inplace(key, n++, {}, buf);
    benchmark::DoNotOptimize(buf.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_aead_encrypt_inplace)->Arg(1024)->Arg(16 * 1024)->Arg(65519);
}  // namespace
