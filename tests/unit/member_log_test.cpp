#include <gtest/gtest.h>

#include <algorithm>
#include <array>

#include "core/member/log.hpp"

using namespace starling;
using member::log_errc;

namespace {

crypto::ed25519_keypair key(std::uint8_t n) {
  crypto::ed25519_seed seed{};
  seed[0] = n;
  seed[31] = 0x5a;
  return crypto::ed25519_from_seed(seed);
}

// Builds and signs an entry by hand (any parent, height or network), as a peer could.
bytes make(const crypto::ed25519_keypair& kp, const member::entry_id& parent, std::uint64_t height,
           member::entry_body body, const member::network_id& net, std::uint64_t time = 1000) {
  member::entry e;
  e.network = net;
  e.parent = parent;
  e.height = height;
  e.time = time;
  e.body = std::move(body);
  member::sign_entry(e, kp);
  return member::encode(e);
}

member::entry_id id(const bytes& b) {
  return member::id_of_encoding(b);
}

class MemberLog : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::init()); }

  MemberLog() : owner(key(1)), admin(key(2)), alice(key(3)), bob(key(4)), log(owner.pub) {}

  // Genesis, then alice joins as a member and `admin` is delegated.
  void standard_start() {
    ASSERT_TRUE(log.append(owner, member::genesis_body{"home"}, 1));
    ASSERT_TRUE(log.append(owner, member::join_body{alice.pub, {"member"}}, 2));
    ASSERT_TRUE(log.append(owner, member::delegate_body{admin.pub}, 3));
  }

  // Appends `body` by `kp` on the head and expects the refusal `want`, with nothing changed.
  void expect_refused(const crypto::ed25519_keypair& kp, member::entry_body body, log_errc want) {
    const auto before = log.state();
    const auto size = log.size();
    const auto r = log.append(kp, std::move(body), 50);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), member::make_error_code(want)) << r.error().message();
    EXPECT_EQ(log.state(), before);
    EXPECT_EQ(log.size(), size);
  }

  crypto::ed25519_keypair owner, admin, alice, bob;
  member::membership_log log;
};

}  // namespace

TEST(MemberLogEncoding, LayoutIsTheDocumentedOneAndRoundTrips) {
  const auto kp = key(9);
  member::entry e;
  e.network = member::network_id_of(kp.pub);
  e.parent.bytes.fill(0xaa);
  e.height = 0x0102030405060708;
  e.time = 77;
  e.body = member::join_body{key(3).pub, {"admin", "sensor"}};
  member::sign_entry(e, kp);
  const auto b = member::encode(e);
  // 1 + 32 + 32 + 8 + 32 + 8 + 1 + 4 = 118 bytes before the body; body 32 + 1 + 6 + 7.
  ASSERT_EQ(b.size(), member::entry_overhead + 46);
  EXPECT_EQ(b[0], 1);
  EXPECT_EQ(b[33], 0xaa);
  EXPECT_EQ(b[65], 0x01);
  EXPECT_EQ(b[72], 0x08);
  EXPECT_EQ(b[113], 1);  // kind join
  EXPECT_EQ(b[117], 46);
  EXPECT_EQ(b[150], 2);  // role count
  EXPECT_EQ(b[151], 5);  // "admin"
  const auto d = member::decode(b);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, e);
  EXPECT_EQ(member::encode(*d), b);
  EXPECT_TRUE(crypto::ed25519_verify(kp.pub, member::signing_input(e), e.sig));

  for (const member::entry_body& body : std::vector<member::entry_body>{
           member::genesis_body{"n"}, member::set_roles_body{kp.pub, {}},
           member::revoke_body{kp.pub}, member::delegate_body{kp.pub},
           member::undelegate_body{kp.pub}, member::bump_epoch_body{"sensor", 9},
           member::policy_body{3, bytes(member::max_policy_text, 'x')}}) {
    member::entry x = e;
    x.body = body;
    const auto again = member::decode(member::encode(x));
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, x);
  }
}

TEST(MemberLogEncoding, DecodeRefusesEveryMalformation) {
  const auto kp = key(9);
  const auto net = member::network_id_of(kp.pub);
  const auto good = make(kp, {}, 0, member::join_body{kp.pub, {"a", "b"}}, net);
  const auto expect = [](bytes b, log_errc want) {
    const auto r = member::decode(b);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), member::make_error_code(want));
  };
  ASSERT_TRUE(member::decode(good));
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_FALSE(member::decode(bytes(good.begin(), good.begin() + n))) << n;
  }
  auto b = good;
  b.push_back(0);
  expect(b, log_errc::malformed);
  b = good;
  b[0] = 2;
  expect(b, log_errc::bad_version);
  b = good;
  b[113] = 8;
  expect(b, log_errc::unknown_kind);
  b = good;
  b[114] = 0x01;  // body length 2^24 + 46
  expect(b, log_errc::body_too_large);
  b = good;
  b[152] = 'A';  // role "a" -> "A"
  expect(b, log_errc::bad_role);
  b = good;
  b[152] = 'c';  // "c" then "b": not increasing
  expect(b, log_errc::bad_role);
  b = good;
  b[154] = 'a';  // "a" twice
  expect(b, log_errc::bad_role);
  b = good;
  b[151] = 0;  // an empty role; the rest no longer fits
  EXPECT_FALSE(member::decode(b));
  b = good;
  b[150] = 17;  // too many roles
  expect(b, log_errc::bad_role);
  b = good;
  b[117] -= 1;  // body one byte short: a role runs past it, the signature is one byte long
  EXPECT_FALSE(member::decode(b));

  expect(make(kp, {}, 0, member::genesis_body{""}, net), log_errc::bad_name);
  expect(make(kp, {}, 0, member::genesis_body{std::string(65, 'n')}, net), log_errc::bad_name);
  expect(make(kp, {}, 0, member::bump_epoch_body{std::string(33, 'r'), 1}, net),
         log_errc::bad_role);
  expect(make(kp, {}, 0, member::policy_body{1, bytes(member::max_policy_text + 1, 'x')}, net),
         log_errc::body_too_large);
}

TEST(MemberLogEncoding, RolesAreCheckedAndMadeCanonical) {
  EXPECT_TRUE(member::validate_role("sensor_2-a"));
  EXPECT_FALSE(member::validate_role(""));
  EXPECT_FALSE(member::validate_role(std::string(33, 'a')));
  EXPECT_TRUE(member::validate_role(std::string(32, 'a')));
  EXPECT_FALSE(member::validate_role("Sensor"));
  EXPECT_FALSE(member::validate_role("a b"));
  const auto r = member::make_roles({"b", "a", "b"});
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, (std::vector<std::string>{"a", "b"}));
  std::vector<std::string> many;
  for (int i = 0; i < 17; ++i)
    many.push_back("r" + std::to_string(i));
  EXPECT_FALSE(member::make_roles(many));
}

TEST_F(MemberLog, GenesisMakesTheOwnerAnAdminMemberAndQueriesWork) {
  EXPECT_FALSE(log.head());
  standard_start();
  EXPECT_EQ(log.state().network_name, "home");
  EXPECT_EQ(log.state().height, 2u);
  EXPECT_TRUE(log.is_member(owner.pub));
  EXPECT_EQ(log.roles_of(owner.pub), (std::vector<std::string>{"admin"}));
  EXPECT_TRUE(log.is_member(alice.pub));
  EXPECT_EQ(log.roles_of(alice.pub), (std::vector<std::string>{"member"}));
  EXPECT_TRUE(log.is_admin(admin.pub));
  EXPECT_FALSE(log.is_member(admin.pub));
  EXPECT_FALSE(log.is_member(bob.pub));
  EXPECT_EQ(log.epoch_of("sensor"), 0u);
  ASSERT_TRUE(log.append(admin, member::bump_epoch_body{"sensor", 4}, 5));
  EXPECT_EQ(log.epoch_of("sensor"), 4u);
  ASSERT_TRUE(log.append(admin, member::policy_body{1, bytes{'p'}}, 6));
  EXPECT_EQ(log.state().policy_version, 1u);
  EXPECT_EQ(log.state().policy_text, bytes{'p'});
  ASSERT_TRUE(log.append(admin, member::set_roles_body{alice.pub, {"a", "b"}}, 7));
  EXPECT_EQ(log.roles_of(alice.pub), (std::vector<std::string>{"a", "b"}));
  ASSERT_TRUE(log.append(admin, member::revoke_body{alice.pub}, 8));
  EXPECT_TRUE(log.is_revoked(alice.pub));
  EXPECT_FALSE(log.is_member(alice.pub));
  EXPECT_TRUE(log.roles_of(alice.pub).empty());
  EXPECT_TRUE(log.equivocations().empty());
  EXPECT_TRUE(log.orphaned_by_fork().empty());
}

TEST_F(MemberLog, InsertRefusesEachBadEntryAndChangesNothing) {
  const auto net = log.network();
  const auto other_net = member::network_id_of(bob.pub);
  EXPECT_EQ(log.append(owner, member::join_body{bob.pub, {}}, 1).error(),
            member::make_error_code(log_errc::no_head));
  // Genesis by someone else, or of another network.
  EXPECT_EQ(log.insert(make(bob, {}, 0, member::genesis_body{"x"}, net)).error(),
            member::make_error_code(log_errc::bad_genesis));
  EXPECT_EQ(log.insert(make(owner, {}, 0, member::genesis_body{"x"}, other_net)).error(),
            member::make_error_code(log_errc::wrong_network));
  EXPECT_EQ(log.insert(make(owner, {}, 1, member::genesis_body{"x"}, net)).error(),
            member::make_error_code(log_errc::bad_genesis));
  EXPECT_EQ(log.insert(make(owner, {}, 0, member::join_body{bob.pub, {}}, net)).error(),
            member::make_error_code(log_errc::bad_genesis));
  EXPECT_EQ(log.size(), 0u);
  standard_start();
  const auto head = *log.head();
  const auto before = log.state();

  // Signature: a flipped bit, another signer's signature, a non-canonical S (S + L).
  auto b = make(owner, head, 3, member::join_body{bob.pub, {}}, net);
  b[b.size() - 40] ^= 1;
  EXPECT_EQ(log.insert(b).error(), member::make_error_code(log_errc::bad_signature));
  b = make(owner, head, 3, member::join_body{bob.pub, {}}, net);
  {
    // Add the group order L to S (little-endian, last 32 bytes): the same signature in a
    // malleated encoding, refused by the strict check.
    static constexpr std::array<std::uint8_t, 32> order{
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
        0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    unsigned carry = 0;
    for (std::size_t i = 0; i < 32; ++i) {
      const unsigned sum = b[b.size() - 32 + i] + order[i] + carry;
      b[b.size() - 32 + i] = static_cast<std::uint8_t>(sum);
      carry = sum >> 8;
    }
  }
  EXPECT_EQ(log.insert(b).error(), member::make_error_code(log_errc::bad_signature));
  EXPECT_EQ(log.insert(make(owner, head, 4, member::join_body{bob.pub, {}}, net)).error(),
            member::make_error_code(log_errc::bad_height));
  EXPECT_EQ(log.insert(make(owner, head, 0, member::join_body{bob.pub, {}}, net)).error(),
            member::make_error_code(log_errc::bad_height));
  EXPECT_EQ(log.insert(make(owner, head, 3, member::join_body{bob.pub, {}}, other_net)).error(),
            member::make_error_code(log_errc::wrong_network));
  EXPECT_EQ(log.state(), before);
  EXPECT_EQ(log.orphan_count(), 0u);

  expect_refused(bob, member::join_body{bob.pub, {"member"}}, log_errc::not_authorised);
  expect_refused(alice, member::join_body{bob.pub, {"member"}}, log_errc::not_authorised);
  expect_refused(owner, member::revoke_body{owner.pub}, log_errc::owner_subject);
  expect_refused(owner, member::delegate_body{owner.pub}, log_errc::owner_subject);
  expect_refused(owner, member::undelegate_body{owner.pub}, log_errc::owner_subject);
  expect_refused(owner, member::set_roles_body{bob.pub, {"x"}}, log_errc::not_a_member);
  expect_refused(owner, member::join_body{alice.pub, {"x"}}, log_errc::already_member);
  expect_refused(owner, member::delegate_body{admin.pub}, log_errc::already_admin);
  expect_refused(owner, member::undelegate_body{bob.pub}, log_errc::not_an_admin);
  ASSERT_TRUE(log.append(owner, member::bump_epoch_body{"sensor", 2}, 9));
  expect_refused(owner, member::bump_epoch_body{"sensor", 2}, log_errc::stale_epoch);
  ASSERT_TRUE(log.append(owner, member::policy_body{5, {}}, 9));
  expect_refused(owner, member::policy_body{5, {}}, log_errc::stale_policy);
  ASSERT_TRUE(log.append(owner, member::revoke_body{bob.pub}, 9));
  expect_refused(owner, member::revoke_body{bob.pub}, log_errc::already_revoked);
  expect_refused(owner, member::join_body{bob.pub, {}}, log_errc::revoked_subject);
  expect_refused(owner, member::delegate_body{bob.pub}, log_errc::revoked_subject);
  ASSERT_TRUE(log.append(owner, member::revoke_body{alice.pub}, 9));
  expect_refused(owner, member::set_roles_body{alice.pub, {}}, log_errc::revoked_subject);
  // A duplicate changes nothing and says so.
  const auto again = log.get(*log.head());
  ASSERT_TRUE(again);
  const auto d = log.insert(*again);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->status, member::insert_status::duplicate);
}

TEST_F(MemberLog, NoEntryMayLeaveTheNetworkWithoutAnAdmin) {
  standard_start();
  // The owner may drop its own admin role while `admin` is delegated...
  ASSERT_TRUE(log.append(owner, member::set_roles_body{owner.pub, {"member"}}, 4));
  // ...but not then remove the last admin, by undelegating or revoking it.
  expect_refused(owner, member::undelegate_body{admin.pub}, log_errc::would_leave_no_admin);
  expect_refused(owner, member::revoke_body{admin.pub}, log_errc::would_leave_no_admin);
  expect_refused(admin, member::undelegate_body{admin.pub}, log_errc::would_leave_no_admin);
  // Once the owner is an admin member again, the admin may go.
  ASSERT_TRUE(log.append(admin, member::set_roles_body{owner.pub, {}}, 5).error() ==
              member::make_error_code(log_errc::not_authorised));
  ASSERT_TRUE(log.append(owner, member::set_roles_body{owner.pub, {"admin"}}, 5));
  ASSERT_TRUE(log.append(owner, member::undelegate_body{admin.pub}, 6));
  EXPECT_FALSE(log.is_admin(admin.pub));
  expect_refused(owner, member::set_roles_body{owner.pub, {}}, log_errc::would_leave_no_admin);
}

TEST_F(MemberLog, PolicyHookRefusesAPolicyWithItsOwnError) {
  member::log_config config;
  config.policy_hook = [](bytes_view text) -> result<void> {
    if (as_chars(text).find("admin") == std::string_view::npos) {
      return std::make_error_code(std::errc::permission_denied);
    }
    return {};
  };
  member::membership_log hooked(owner.pub, config);
  ASSERT_TRUE(hooked.append(owner, member::genesis_body{"h"}, 1));
  const auto r = hooked.append(owner, member::policy_body{1, bytes{'x'}}, 2);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), std::make_error_code(std::errc::permission_denied));
  EXPECT_EQ(hooked.state().policy_version, 0u);
  const std::string ok = "admin may all";
  ASSERT_TRUE(hooked.append(owner, member::policy_body{1, bytes(ok.begin(), ok.end())}, 2));
  EXPECT_EQ(hooked.state().policy_version, 1u);
}

TEST_F(MemberLog, AdminsMayWriteAllButActOnOtherAdminsOrTouchTheOwner) {
  standard_start();
  const auto admin2 = key(5);
  ASSERT_TRUE(log.append(admin, member::join_body{bob.pub, {"sensor"}}, 4));
  ASSERT_TRUE(log.append(admin, member::set_roles_body{bob.pub, {"member", "sensor"}}, 5));
  ASSERT_TRUE(log.append(admin, member::join_body{admin2.pub, {"member"}}, 6));
  ASSERT_TRUE(log.append(admin, member::delegate_body{admin2.pub}, 6));
  EXPECT_TRUE(log.is_admin(admin2.pub));
  expect_refused(admin, member::undelegate_body{admin2.pub}, log_errc::not_authorised);
  expect_refused(admin, member::set_roles_body{admin2.pub, {"guest"}}, log_errc::not_authorised);
  expect_refused(admin, member::bump_epoch_body{"admin", 1}, log_errc::not_authorised);
  ASSERT_TRUE(log.append(admin, member::bump_epoch_body{"sensor", 1}, 6));
  expect_refused(admin, member::revoke_body{admin2.pub}, log_errc::not_authorised);
  expect_refused(admin, member::set_roles_body{owner.pub, {"member"}}, log_errc::not_authorised);
  expect_refused(admin, member::revoke_body{owner.pub}, log_errc::owner_subject);
  ASSERT_TRUE(log.append(admin, member::revoke_body{bob.pub}, 7));
  ASSERT_TRUE(log.append(admin2, member::undelegate_body{admin2.pub}, 8));
  EXPECT_FALSE(log.is_admin(admin2.pub));
  expect_refused(admin2, member::join_body{key(6).pub, {}}, log_errc::not_authorised);
  // The owner removes an admin; the former admin may no longer write.
  ASSERT_TRUE(log.append(owner, member::revoke_body{admin.pub}, 9));
  EXPECT_FALSE(log.is_admin(admin.pub));
  expect_refused(admin, member::join_body{key(6).pub, {}}, log_errc::not_authorised);
}

TEST_F(MemberLog, RevocationOnALosingBranchStillCountsAndWinsATie) {
  standard_start();
  const auto net = log.network();
  const auto base = *log.head();
  // Branch A (by the owner): two entries, so it is longer and wins.
  const auto a1 = make(owner, base, 3, member::join_body{bob.pub, {"member"}}, net);
  const auto a2 = make(owner, id(a1), 4, member::bump_epoch_body{"member", 1}, net);
  // Branch B (by the admin): revokes alice, one entry.
  const auto b1 = make(admin, base, 3, member::revoke_body{alice.pub}, net);
  for (const auto* e : {&a1, &a2, &b1})
    ASSERT_TRUE(log.insert(*e));
  EXPECT_EQ(log.head(), id(a2));
  EXPECT_TRUE(log.is_member(bob.pub));
  EXPECT_TRUE(log.is_revoked(alice.pub));  // sticky
  EXPECT_EQ(log.epoch_of("member"), 1u);
  EXPECT_TRUE(log.orphaned_by_fork().empty());  // b1 is sticky, nothing to re-append
  // On the head's chain alice was never revoked, so a role change is valid there; she stays
  // revoked all the same.
  ASSERT_TRUE(log.append(owner, member::set_roles_body{alice.pub, {"sensor"}}, 9));
  EXPECT_TRUE(log.is_revoked(alice.pub));
  EXPECT_TRUE(log.roles_of(alice.pub).empty());
  EXPECT_FALSE(log.is_member(alice.pub));

  // A tie at equal height: the branch holding the revocation wins over smaller ids.
  member::membership_log tie(owner.pub);
  ASSERT_TRUE(tie.append(owner, member::genesis_body{"home"}, 1));
  ASSERT_TRUE(tie.append(owner, member::join_body{alice.pub, {"member"}}, 2));
  ASSERT_TRUE(tie.append(owner, member::delegate_body{admin.pub}, 3));
  ASSERT_EQ(tie.head(), base);
  const auto r1 = make(admin, base, 3, member::revoke_body{alice.pub}, net);
  for (std::uint64_t t = 0; t < 8; ++t) {
    const auto j = make(owner, base, 3, member::join_body{bob.pub, {"member"}}, net, t);
    ASSERT_TRUE(tie.insert(j));
    if (id(j) < id(r1)) {
      ASSERT_TRUE(tie.insert(r1));
      EXPECT_EQ(tie.head(), id(r1));
      EXPECT_FALSE(tie.is_member(bob.pub));
      const auto lost = tie.orphaned_by_fork();
      EXPECT_EQ(lost.size(), t + 1);
      EXPECT_NE(std::find(lost.begin(), lost.end(), id(j)), lost.end());
      return;
    }
  }
  FAIL() << "no join with an id below the revocation's in 8 tries";
}

TEST_F(MemberLog, TwoEntriesByOneAuthorOnOneParentAreKeptAndReported) {
  standard_start();
  const auto net = log.network();
  const auto base = *log.head();
  const auto e1 = make(admin, base, 3, member::join_body{bob.pub, {"a"}}, net);
  const auto e2 = make(admin, base, 3, member::join_body{bob.pub, {"b"}}, net);
  ASSERT_TRUE(log.insert(e1));
  ASSERT_TRUE(log.insert(e2));
  EXPECT_EQ(log.size(), 5u);
  ASSERT_EQ(log.equivocations().size(), 1u);
  EXPECT_EQ(log.equivocations()[0], (member::equivocation{admin.pub, id(e1), id(e2)}));
  const auto winner = std::min(id(e1), id(e2));
  EXPECT_EQ(log.head(), winner);
  EXPECT_EQ(log.orphaned_by_fork(), std::vector<member::entry_id>{std::max(id(e1), id(e2))});
}

TEST_F(MemberLog, EveryArrivalOrderOfConcurrentBranchesGivesTheSameHeadAndState) {
  standard_start();
  const auto net = log.network();
  const auto base = *log.head();
  const auto dave = key(8);
  // Three branches of two entries each on the same parent. At height 4 they tie; branch 2
  // holds two sticky entries (a revocation and an epoch bump), branch 3 one, branch 1 none,
  // so branch 2 wins. The owner equivocates (branches 1 and 3).
  std::vector<bytes> concurrent;
  concurrent.push_back(make(owner, base, 3, member::join_body{bob.pub, {"member"}}, net));
  concurrent.push_back(
      make(owner, id(concurrent[0]), 4, member::set_roles_body{bob.pub, {"sensor"}}, net));
  concurrent.push_back(make(admin, base, 3, member::revoke_body{alice.pub}, net));
  concurrent.push_back(
      make(admin, id(concurrent[2]), 4, member::bump_epoch_body{"sensor", 1}, net));
  concurrent.push_back(make(owner, base, 3, member::bump_epoch_body{"member", 3}, net));
  concurrent.push_back(
      make(owner, id(concurrent[4]), 4, member::join_body{dave.pub, {"member"}}, net));
  const auto prefix = log.entries_from_height(0, 100);
  ASSERT_EQ(prefix.size(), 3u);

  std::array<std::size_t, 6> order{0, 1, 2, 3, 4, 5};
  std::optional<member::log_state> first;
  std::vector<member::entry_id> first_orphaned;
  std::size_t runs = 0;
  do {
    member::membership_log replica(owner.pub);
    for (const auto& e : prefix)
      ASSERT_TRUE(replica.insert(e));
    for (auto i : order)
      ASSERT_TRUE(replica.insert(concurrent[i]));
    ASSERT_EQ(replica.size(), 9u);
    ASSERT_EQ(replica.orphan_count(), 0u);
    ASSERT_EQ(replica.equivocations().size(), 1u);
    if (!first) {
      first = replica.state();
      first_orphaned = replica.orphaned_by_fork();
    }
    ASSERT_EQ(replica.state(), *first);
    ASSERT_EQ(replica.orphaned_by_fork(), first_orphaned);
    ++runs;
  } while (std::next_permutation(order.begin(), order.end()));
  EXPECT_EQ(runs, 720u);
  EXPECT_EQ(first->head, id(concurrent[3]));
  EXPECT_EQ(first->height, 4u);
  EXPECT_TRUE(first->members.at(alice.pub).revoked);
  EXPECT_EQ(first->epochs.at("sensor"), 1u);
  EXPECT_FALSE(first->members.count(bob.pub));
  EXPECT_EQ(first->epochs.at("member"), 3u);  // sticky from branch 3
  std::vector<member::entry_id> lost{id(concurrent[0]), id(concurrent[1]), id(concurrent[5])};
  std::sort(lost.begin(), lost.end(), [&](const auto& x, const auto& y) {
    const auto hx = x == id(concurrent[5]) || x == id(concurrent[1]) ? 4 : 3;
    const auto hy = y == id(concurrent[5]) || y == id(concurrent[1]) ? 4 : 3;
    return std::tie(hx, x) < std::tie(hy, y);
  });
  EXPECT_EQ(first_orphaned, lost);
}

TEST_F(MemberLog, ATruncatedLogKeepsOrphansAndCompletesWhenTheMiddleArrives) {
  standard_start();
  for (std::uint8_t i = 10; i < 13; ++i)
    ASSERT_TRUE(log.append(owner, member::join_body{key(i).pub, {"member"}}, i));
  const auto all = log.entries_from_height(0, 100);
  ASSERT_EQ(all.size(), 6u);

  member::membership_log replica(owner.pub);
  ASSERT_TRUE(replica.insert(all[0]));
  ASSERT_TRUE(replica.insert(all[1]));
  for (std::size_t i : {5u, 4u}) {
    const auto r = replica.insert(all[i]);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, member::insert_status::orphan);
  }
  EXPECT_EQ(replica.missing_parents(), std::vector<member::entry_id>{id(all[3])});
  const auto r3 = replica.insert(all[3]);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->status, member::insert_status::orphan);
  EXPECT_EQ(replica.insert(all[3])->status, member::insert_status::duplicate);
  EXPECT_EQ(replica.missing_parents(), std::vector<member::entry_id>{id(all[2])});
  EXPECT_EQ(replica.head(), id(all[1]));
  const auto r2 = replica.insert(all[2]);
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->status, member::insert_status::added);
  EXPECT_EQ(r2->adopted, 3u);
  EXPECT_EQ(replica.orphan_count(), 0u);
  EXPECT_TRUE(replica.missing_parents().empty());
  EXPECT_EQ(replica.state(), log.state());
}

TEST_F(MemberLog, OrphansAreBoundedOldestDroppedFirst) {
  member::log_config config;
  config.max_orphans = 2;
  member::membership_log small(owner.pub, config);
  const auto net = small.network();
  std::vector<bytes> orphans;
  for (std::uint8_t i = 0; i < 3; ++i) {
    member::entry_id parent;
    parent.bytes.fill(static_cast<std::uint8_t>(i + 1));
    orphans.push_back(make(owner, parent, 5, member::join_body{bob.pub, {}}, net));
    ASSERT_EQ(small.insert(orphans.back())->status, member::insert_status::orphan);
  }
  EXPECT_EQ(small.orphan_count(), 2u);
  const auto missing = small.missing_parents();
  ASSERT_EQ(missing.size(), 2u);
  EXPECT_EQ(missing[0].bytes[0], 2);
  EXPECT_EQ(missing[1].bytes[0], 3);
  // The dropped one is new again.
  EXPECT_EQ(small.insert(orphans[0])->status, member::insert_status::orphan);
  EXPECT_EQ(small.orphan_count(), 2u);
  const auto now_missing = small.missing_parents();
  ASSERT_EQ(now_missing.size(), 2u);
  EXPECT_EQ(now_missing[0].bytes[0], 1);
  EXPECT_EQ(now_missing[1].bytes[0], 3);
  // Three more: each drops the oldest, never the newest.
  for (std::size_t i : {1u, 2u, 1u}) {
    small.insert(orphans[i]);
    const auto m = small.missing_parents();
    EXPECT_NE(std::find_if(m.begin(), m.end(), [&](const auto& p) { return p.bytes[0] == i + 1; }),
              m.end());
  }
}

TEST_F(MemberLog, AStrangersSignedEntriesAreRefusedAndChangeNothing) {
  standard_start();
  const auto net = log.network();
  const auto before = log.state();
  for (std::uint64_t t = 0; t < 4; ++t) {
    const auto e = make(bob, *log.head(), 3, member::join_body{bob.pub, {"admin"}}, net, t);
    EXPECT_EQ(log.insert(e).error(), member::make_error_code(log_errc::not_authorised));
  }
  // A former admin's key is still refused once undelegated.
  ASSERT_TRUE(log.append(owner, member::undelegate_body{admin.pub}, 4));
  const auto head = *log.head();
  EXPECT_EQ(log.insert(make(admin, head, 4, member::join_body{bob.pub, {}}, net)).error(),
            member::make_error_code(log_errc::not_authorised));
  EXPECT_EQ(log.size(), 4u);
  EXPECT_EQ(before.members, log.state().members);
}

TEST_F(MemberLog, AFullLogRefusesMoreEntries) {
  member::log_config config;
  config.max_entries = 2;
  member::membership_log small(owner.pub, config);
  ASSERT_TRUE(small.append(owner, member::genesis_body{"h"}, 1));
  ASSERT_TRUE(small.append(owner, member::join_body{bob.pub, {}}, 2));
  const auto before = small.state();
  EXPECT_EQ(small.append(owner, member::join_body{alice.pub, {}}, 3).error(),
            member::make_error_code(log_errc::log_full));
  EXPECT_EQ(small.state(), before);
}

TEST_F(MemberLog, GossipQueriesGiveWhatAPeerLacks) {
  standard_start();
  ASSERT_TRUE(log.append(owner, member::join_body{bob.pub, {}}, 4));
  const auto all = log.entries_from_height(0, 100);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_EQ(log.entries_from_height(2, 1).size(), 1u);
  EXPECT_EQ(log.entries_from_height(2, 1)[0], all[2]);
  const auto after = log.entries_after(id(all[1]), 100);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after, (std::vector<bytes>{all[2], all[3]}));
  member::entry_id unknown;
  unknown.bytes.fill(7);
  EXPECT_EQ(log.entries_after(unknown, 10).error(),
            member::make_error_code(log_errc::unknown_entry));
  EXPECT_FALSE(log.get(unknown));
  EXPECT_EQ(log.get(id(all[0])), all[0]);
  // A replica that receives them newest first ends in the same state.
  member::membership_log replica(owner.pub);
  for (auto it = all.rbegin(); it != all.rend(); ++it)
    ASSERT_TRUE(replica.insert(*it));
  EXPECT_EQ(replica.state(), log.state());
}
