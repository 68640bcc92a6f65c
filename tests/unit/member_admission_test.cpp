// Admission (src/core/member/admission.hpp): the membership proof and the grant as bytes, and
// every reason `admit` refuses a peer, against a real membership log.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "core/member/admission.hpp"

using namespace starling;
using member::admission_errc;

namespace {

constexpr std::uint64_t now = 1'800'000'000;

crypto::ed25519_keypair key(std::uint8_t fill) {
  [[maybe_unused]] static const bool ready = crypto::init();
  crypto::ed25519_seed seed;
  seed.fill(fill);
  return crypto::ed25519_from_seed(seed);
}

class MemberAdmission : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(log.append(owner, member::genesis_body{"home"}, now - 100));
    ASSERT_TRUE(log.append(owner, member::join_body{admin.pub, {"admin"}}, now - 90));
    ASSERT_TRUE(log.append(owner, member::delegate_body{admin.pub}, now - 80));
    ASSERT_TRUE(log.append(admin, member::join_body{device.pub, {"sensor"}}, now - 70));
  }

  member::certificate cert(const crypto::ed25519_keypair& by, const member::public_key& subject,
                           std::vector<std::string> roles, std::uint32_t epoch = 0,
                           std::uint64_t not_after = now + 1000) {
    member::cert_fields f;
    f.network = member::network_id_of(owner.pub);
    f.subject = subject;
    f.roles = std::move(roles);
    f.role_epoch = epoch;
    f.not_before = now - 1000;
    f.not_after = not_after;
    auto c = member::issue(by, std::move(f));
    EXPECT_TRUE(c);
    return c ? *c : member::certificate{};
  }

  // The device's proof: its certificate issued by `admin`, whose certificate the owner issued.
  bytes device_proof(std::uint32_t device_epoch = 0, std::uint32_t admin_epoch = 0) {
    std::vector<member::certificate> chain = {cert(admin, device.pub, {"sensor"}, device_epoch),
                                              cert(owner, admin.pub, {"admin"}, admin_epoch)};
    member::membership_proof p;
    p.network = member::network_id_of(owner.pub);
    p.head_height = 3;
    p.chain = member::encode_chain(chain).value();
    return member::encode_proof(p);
  }

  admission_errc refusal(bytes_view proof, const member::public_key& peer) {
    auto r = member::admit(proof, peer, log, now);
    EXPECT_FALSE(r);
    if (r) return admission_errc{};
    EXPECT_FALSE(r.error().detail.empty());
    return r.error().code;
  }

  crypto::ed25519_keypair owner = key(1), admin = key(2), device = key(10), stranger = key(99);
  member::membership_log log{owner.pub};
};

}  // namespace

TEST_F(MemberAdmission, AMemberWithAValidChainIsAdmittedWithItsRoles) {
  const bytes proof = device_proof();
  auto r = member::admit(proof, device.pub, log, now);
  ASSERT_TRUE(r) << r.error().detail;
  EXPECT_EQ(r->roles, (std::vector<std::string>{"sensor"}));
  EXPECT_EQ(r->valid_until, now + 1000);
  EXPECT_EQ(r->issuers, (std::vector<member::public_key>{admin.pub}));
  EXPECT_EQ(r->peer_head_height, 3u);
}

TEST_F(MemberAdmission, ProofRoundTripsAndEveryTruncationIsRefused) {
  const bytes proof = device_proof();
  auto p = member::decode_proof(proof);
  ASSERT_TRUE(p);
  EXPECT_EQ(member::encode_proof(*p), proof);
  // Cut anywhere before the chain: malformed; cut inside the chain: the chain is refused.
  for (std::size_t n = 1; n < proof.size(); ++n) {
    const auto code = refusal(bytes_view(proof).first(n), device.pub);
    EXPECT_TRUE(code == admission_errc::malformed || code == admission_errc::bad_chain) << n;
  }
  EXPECT_EQ(refusal({}, device.pub), admission_errc::no_proof);
  bytes v2 = proof;
  v2[0] = 2;
  EXPECT_EQ(refusal(v2, device.pub), admission_errc::bad_version);
}

TEST_F(MemberAdmission, ARefusedChainSaysWhy) {
  // Another device's chain presented by a stranger.
  EXPECT_EQ(refusal(device_proof(), stranger.pub), admission_errc::not_the_peer);
  // A certificate the stranger signed for itself.
  member::membership_proof p;
  p.network = member::network_id_of(owner.pub);
  std::vector<member::certificate> self = {cert(stranger, stranger.pub, {"admin"})};
  p.chain = member::encode_chain(self).value();
  auto r = member::admit(member::encode_proof(p), stranger.pub, log, now);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, admission_errc::bad_chain);
  EXPECT_NE(r.error().detail.find("owner"), std::string::npos) << r.error().detail;
  // Expired.
  std::vector<member::certificate> old = {cert(owner, device.pub, {"sensor"}, 0, now - 1)};
  p.chain = member::encode_chain(old).value();
  EXPECT_EQ(refusal(member::encode_proof(p), device.pub), admission_errc::bad_chain);
  // A flipped signature bit.
  bytes proof = device_proof();
  proof.back() ^= 1;
  EXPECT_EQ(refusal(proof, device.pub), admission_errc::bad_chain);
}

TEST_F(MemberAdmission, AnotherNetworkIsRefused) {
  const auto other_owner = key(50);
  member::membership_proof p;
  p.network = member::network_id_of(other_owner.pub);
  p.chain = device_proof();  // any bytes: the network is checked first
  EXPECT_EQ(refusal(member::encode_proof(p), device.pub), admission_errc::wrong_network);
}

TEST_F(MemberAdmission, RevocationsAndEpochsOfTheLogApply) {
  const bytes proof = device_proof();
  ASSERT_TRUE(log.append(owner, member::bump_epoch_body{"sensor", 1}, now));
  EXPECT_EQ(refusal(proof, device.pub), admission_errc::stale_epoch);
  EXPECT_TRUE(member::admit(device_proof(1), device.pub, log, now));

  ASSERT_TRUE(log.append(owner, member::revoke_body{device.pub}, now));
  EXPECT_EQ(refusal(device_proof(1), device.pub), admission_errc::revoked);
}

TEST_F(MemberAdmission, ARevokedIssuerVoidsTheChainsItIssued) {
  ASSERT_TRUE(log.append(owner, member::revoke_body{admin.pub}, now));
  EXPECT_EQ(refusal(device_proof(), device.pub), admission_errc::issuer_revoked);
}

TEST_F(MemberAdmission, TheLogsRolesWinOverTheCertificates) {
  ASSERT_TRUE(log.append(owner, member::set_roles_body{device.pub, {"camera", "sensor"}}, now));
  auto r = member::admit(device_proof(), device.pub, log, now);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->roles, (std::vector<std::string>{"camera", "sensor"}));
}

// The seed corpus of tests/fuzz/member_admission_fuzz.cpp (same keys, times and log): a first
// byte picks the decoder (0 proof, 1 grant). Ed25519 signatures are deterministic, so the
// files are stable; STARLING_WRITE_CORPUS=1 rewrites them.
TEST_F(MemberAdmission, FuzzSeedCorpusIsCurrent) {
  const auto with = [](std::uint8_t mode, const bytes& b) {
    bytes out{mode};
    append(out, b);
    return out;
  };
  std::vector<std::pair<std::string, bytes>> seeds;
  seeds.emplace_back("proof_device", with(0, device_proof()));
  member::membership_proof p;
  p.network = member::network_id_of(owner.pub);
  std::vector<member::certificate> one = {cert(owner, admin.pub, {"admin"})};
  p.chain = member::encode_chain(one).value();
  seeds.emplace_back("proof_admin", with(0, member::encode_proof(p)));
  member::join_grant g;
  g.owner = owner.pub;
  g.chain = p.chain;
  g.entries = log.entries_from_height(0, 100);
  seeds.emplace_back("grant", with(1, member::encode_grant(g).value()));

  const std::filesystem::path dir = STARLING_TEST_DATA "/fuzz/corpus/member_admission";
  const char* write = std::getenv("STARLING_WRITE_CORPUS");
  if (write != nullptr && std::string(write) == "1") {
    std::filesystem::create_directories(dir);
    for (const auto& [name, b] : seeds) {
      std::ofstream out(dir / name, std::ios::binary);
      out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    }
  }
  for (const auto& [name, b] : seeds) {
    std::ifstream in(dir / name, std::ios::binary);
    ASSERT_TRUE(in.good()) << dir / name;
    const bytes file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(file, b) << name << " is stale: run with STARLING_WRITE_CORPUS=1";
  }
}

TEST_F(MemberAdmission, GrantRoundTripsAndIsStrict) {
  member::join_grant g;
  g.owner = owner.pub;
  g.chain = bytes{1, 2, 3};
  g.entries = log.entries_from_height(0, 100);
  auto enc = member::encode_grant(g);
  ASSERT_TRUE(enc);
  auto back = member::decode_grant(*enc);
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, g);
  for (std::size_t n = 0; n < enc->size(); ++n) {
    EXPECT_EQ(member::decode_grant(bytes_view(*enc).first(n)).error(),
              make_error_code(admission_errc::malformed))
        << n;
  }
  bytes longer = *enc;
  longer.push_back(0);
  EXPECT_EQ(member::decode_grant(longer).error(), make_error_code(admission_errc::malformed));
  longer = *enc;
  longer[0] = 9;
  EXPECT_EQ(member::decode_grant(longer).error(), make_error_code(admission_errc::bad_version));
}
