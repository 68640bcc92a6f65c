// ChaCha20-Poly1305 (IETF) speed on one core, in place, three ways:
//  - BM_libsodium: libsodium called directly. This is the baseline the issue names for
//    Starling's encrypted throughput (docs/benchmarks.md).
//  - BM_openssl: OpenSSL libcrypto's EVP ChaCha20-Poly1305 called directly.
//  - BM_starling: starling::crypto::aead_encrypt_inplace, the function Noise transport frames
//    go through (it picks its backend; see docs/decisions/0005-openssl-aead.md).
//  - BM_starling_prepare / BM_starling_prepared: a small frame split in two, as a node runs
//    it: the key stream made ahead (aead_prepare, while nobody waits), then the frame
//    encrypted with it (what is left while someone waits).
#include <benchmark/benchmark.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <array>
#include <vector>

#include "core/crypto/crypto.hpp"

namespace {
void set_bytes(benchmark::State& state) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_libsodium(benchmark::State& state) {
  starling::crypto::init();
  std::array<std::uint8_t, 32> key{1};
  std::array<std::uint8_t, 12> nonce{};
  starling::bytes buf(static_cast<std::size_t>(state.range(0)) + 16);
  const std::size_t plen = static_cast<std::size_t>(state.range(0));
  std::uint64_t n = 0;
  for (auto _ : state) {
    nonce[4] = static_cast<std::uint8_t>(n++);
    unsigned long long maclen = 0;
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(buf.data(), buf.data() + plen, &maclen,
                                                       buf.data(), plen, nullptr, 0, nullptr,
                                                       nonce.data(), key.data());
    benchmark::DoNotOptimize(buf.data());
  }
  set_bytes(state);
}

void BM_openssl(benchmark::State& state) {
  std::array<std::uint8_t, 32> key{1};
  std::array<std::uint8_t, 12> nonce{};
  const int plen = static_cast<int>(state.range(0));
  starling::bytes buf(static_cast<std::size_t>(plen) + 16);
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex2(ctx, cipher, nullptr, nullptr, nullptr);
  std::uint64_t n = 0;
  for (auto _ : state) {
    nonce[4] = static_cast<std::uint8_t>(n++);
    int len = 0;
    EVP_EncryptInit_ex2(ctx, nullptr, key.data(), nonce.data(), nullptr);
    EVP_EncryptUpdate(ctx, buf.data(), &len, buf.data(), plen);
    EVP_EncryptFinal_ex(ctx, buf.data() + len, &len);
    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, buf.data() + plen);
    benchmark::DoNotOptimize(buf.data());
  }
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  set_bytes(state);
}

void BM_starling(benchmark::State& state) {
  starling::crypto::init();
  starling::crypto::aead_key key{};
  key[0] = 1;
  starling::bytes buf(static_cast<std::size_t>(state.range(0)) + starling::crypto::aead_tag_size);
  std::uint64_t n = 0;
  for (auto _ : state) {
    if (!starling::crypto::aead_encrypt_inplace(key, n++, {}, buf)) {
      state.SkipWithError("aead_encrypt_inplace failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  set_bytes(state);
}

void BM_starling_prepare(benchmark::State& state) {
  starling::crypto::init();
  starling::crypto::aead_key key{};
  key[0] = 1;
  starling::crypto::aead_keystream ks;
  std::uint64_t n = 0;
  for (auto _ : state) {
    starling::crypto::aead_prepare(key, n++, ks);
    benchmark::DoNotOptimize(ks.bytes.data());
  }
}

void BM_starling_prepared(benchmark::State& state) {
  starling::crypto::init();
  starling::crypto::aead_key key{};
  key[0] = 1;
  starling::bytes buf(static_cast<std::size_t>(state.range(0)) + starling::crypto::aead_tag_size);
  // Key streams for a batch of nonces are made untimed; then the batch is encrypted, timed.
  constexpr std::size_t batch = 256;
  std::vector<starling::crypto::aead_keystream> ks(batch);
  std::uint64_t n = 0;
  std::size_t i = batch;
  for (auto _ : state) {
    if (i == batch) {
      state.PauseTiming();
      for (std::size_t j = 0; j < batch; ++j)
        starling::crypto::aead_prepare(key, n + j, ks[j]);
      i = 0;
      state.ResumeTiming();
    }
    if (!starling::crypto::aead_encrypt_inplace(key, n++, {}, buf, ks[i++])) {
      state.SkipWithError("aead_encrypt_inplace failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
  }
  set_bytes(state);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (int s : {64, 1024, 16 * 1024, 65519})
    b->Arg(s);
}
BENCHMARK(BM_libsodium)->Apply(sizes);
BENCHMARK(BM_openssl)->Apply(sizes);
BENCHMARK(BM_starling)->Apply(sizes);
BENCHMARK(BM_starling_prepare);
BENCHMARK(BM_starling_prepared)->Arg(44)->Arg(64)->Arg(192);
}  // namespace
