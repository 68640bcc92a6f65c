// Fuzz target: membership proofs and join grants (src/core/member/admission.hpp), the bytes a
// peer sends in its Noise handshake and at the end of a join. The first input byte picks the
// decoder (even: proof, odd: grant); the rest is the input. A proof that decodes must encode
// back to the input and go through admit() against a fixed log (the one of
// tests/unit/member_admission_test.cpp, which writes the seed corpus with the same keys and
// times, so its proofs verify and the fuzzer starts past the signature checks).
#include <cstdint>
#include <cstdlib>

#include "core/member/admission.hpp"

namespace member = starling::member;
namespace crypto = starling::crypto;

namespace {

constexpr std::uint64_t now = 1'800'000'000;

void check(bool ok) {
  if (!ok) std::abort();
}

crypto::ed25519_keypair key(std::uint8_t fill) {
  crypto::ed25519_seed seed;
  seed.fill(fill);
  return crypto::ed25519_from_seed(seed);
}

struct fixture {
  crypto::ed25519_keypair owner = key(1), admin = key(2), device = key(10);
  member::membership_log log{owner.pub};
  fixture() {
    check(crypto::init());
    check(log.append(owner, member::genesis_body{"home"}, now - 100).has_value());
    check(log.append(owner, member::join_body{admin.pub, {"admin"}}, now - 90).has_value());
    check(log.append(owner, member::delegate_body{admin.pub}, now - 80).has_value());
    check(log.append(admin, member::join_body{device.pub, {"sensor"}}, now - 70).has_value());
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static fixture f;
  if (size == 0) return 0;
  const starling::bytes_view in(data + 1, size - 1);
  if ((data[0] & 1) == 0) {
    if (auto p = member::decode_proof(in))
      check(member::encode_proof(*p) == starling::bytes(in.begin(), in.end()));
    for (const auto* peer : {&f.device.pub, &f.admin.pub}) {
      auto r = member::admit(in, *peer, f.log, now);
      if (r) {
        check(!r->roles.empty() && r->key == *peer);
      } else {
        check(!r.error().detail.empty());
      }
    }
  } else if (auto g = member::decode_grant(in)) {
    auto back = member::encode_grant(*g);
    check(back.has_value() && *back == starling::bytes(in.begin(), in.end()));
  }
  return 0;
}
