// Fuzz target: member certificates and chains (src/core/member/cert.hpp). The whole input is
// decoded as one certificate and as one chain; what decodes must encode back to the input, and
// goes through verify_chain against a fixed owner key. The seed corpus
// (tests/fuzz/corpus/member_cert/) is made by tests/unit/member_cert_test.cpp with the same
// keys and time, so its chains verify and the fuzzer starts past the signature checks.
#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "core/member/cert.hpp"

namespace member = starling::member;

namespace {

constexpr std::uint64_t now = 1'800'000'000;

void check(bool ok) {
  if (!ok) std::abort();
}

const member::public_key& owner() {
  static const member::public_key key = [] {
    starling::crypto::ed25519_seed seed;
    seed.fill(1);
    return starling::crypto::ed25519_from_seed(seed).pub;
  }();
  return key;
}

// What every verification result must satisfy, admitted or not.
void check_verdict(const member::chain_result<member::verified_member>& r,
                   const member::cert_chain& certs) {
  if (!r) {
    check(r.error().index == member::whole_chain || r.error().index < certs.size());
    check(!r.error().describe().empty());
    return;
  }
  check(!certs.empty() && certs.size() <= member::max_chain_length);
  check(r->subject == certs.front().subject && r->roles == certs.front().roles);
  check(r->admins.size() == certs.size() - 1);
  check(certs.back().issuer == owner());
  check(r->valid_until > now && r->valid_until <= certs.front().not_after);
  for (const auto& c : certs)
    check(c.not_before <= now && now < c.not_after && c.network == member::network_id_of(owner()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = starling::crypto::init();
  if (!ready) std::abort();
  const starling::bytes_view in(data, size);

  if (auto c = member::decode_cert(in)) {
    check(size >= member::min_cert_size && size <= member::max_cert_size);
    const auto enc = member::encode(*c);
    check(enc && std::equal(enc->begin(), enc->end(), in.begin(), in.end()));
    check(member::decode_cert(*enc).value() == *c);
    const member::cert_chain one{*c};
    check_verdict(member::verify_chain(one, owner(), now), one);
  }

  auto chain = member::decode_chain(in);
  if (!chain) {
    check(chain.error().index == member::whole_chain ||
          chain.error().index < member::max_chain_length);
    check(!member::verify_chain(in, owner(), now));
    return 0;
  }
  check(size <= member::max_chain_size);
  const auto enc = member::encode_chain(*chain);
  check(enc && std::equal(enc->begin(), enc->end(), in.begin(), in.end()));
  const auto verdict = member::verify_chain(*chain, owner(), now);
  check_verdict(verdict, *chain);
  const auto from_bytes = member::verify_chain(in, owner(), now);
  check(from_bytes.has_value() == verdict.has_value());
  if (verdict) check(*from_bytes == *verdict);
  return 0;
}
