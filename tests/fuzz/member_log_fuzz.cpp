// Fuzz target: the membership log. The input is a sequence of records, each inserted into a
// log with a fixed owner and small limits:
//   - a byte below 0x80, then one more: a 15-bit length n, then n bytes inserted as they are
//     (an entry from a peer);
//   - a byte 0x80..0xff, then 3 bytes: an entry built and signed here with fixed keys, so the
//     fuzzer reaches authority, forks, equivocations and orphans behind the signature check.
//     op bits 0-1: signer (owner, two admins, a stranger); bits 2-4: kind; byte a: parent (0xff:
//     the head, else one of the entries seen); byte b: subject key (bits 0-2) and roles (bits
//     3-7); byte c: epoch, version, name and time (bit 7: a wrong height).
// Checks: nothing crashes, the bounds hold, the head is the state's, no admin is revoked, and a
// second log fed the held entries in another order ends in the same state.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/member/log.hpp"

namespace member = starling::member;
namespace crypto = starling::crypto;
using starling::bytes;
using starling::bytes_view;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

crypto::ed25519_keypair key(std::uint8_t n) {
  crypto::ed25519_seed seed{};
  seed[0] = n;
  return crypto::ed25519_from_seed(seed);
}

struct fixture {
  fixture() {
    check(crypto::init());
    for (std::uint8_t i = 0; i < 8; ++i)
      keys.push_back(key(static_cast<std::uint8_t>(i + 1)));
  }
  std::vector<crypto::ed25519_keypair> keys;  // 0 owner, 1-2 admins, 3 stranger, 4-7 devices
};

member::log_config small_config() {
  member::log_config c;
  c.max_entries = 64;
  c.max_total_bytes = 256 * 1024;
  c.max_orphans = 8;
  c.max_orphan_bytes = 128 * 1024;
  return c;
}

std::vector<std::string> roles_from(std::uint8_t bits) {
  static const char* names[] = {"admin", "member", "sensor", "x-1", "y_2"};
  std::vector<std::string> roles;
  for (int i = 0; i < 5; ++i)
    if (bits & (1 << i)) roles.emplace_back(names[i]);
  return roles;
}

bytes build(const fixture& f, const member::membership_log& log,
            const std::vector<member::entry_id>& seen, std::uint8_t op, std::uint8_t a,
            std::uint8_t b, std::uint8_t c) {
  static const std::size_t signers[] = {0, 1, 2, 3};
  const auto& signer = f.keys[signers[op & 3]];
  const auto kind = static_cast<member::entry_kind>((op >> 2) & 7);
  const auto& subject = f.keys[b & 7].pub;
  member::entry e;
  e.network = log.network();
  e.time = c;
  if (kind != member::entry_kind::genesis) {
    if (a != 0xff && !seen.empty()) {
      e.parent = seen[a % seen.size()];
    } else if (log.head()) {
      e.parent = *log.head();
    }
    if (const auto p = log.get(e.parent)) {
      e.height = member::decode(*p).value().height + 1;
    } else {
      e.height = 1 + (c & 3);
    }
  }
  if (c & 0x80) e.height += 1;
  switch (kind) {
    case member::entry_kind::genesis:
      e.body = member::genesis_body{std::string(1 + (c & 7), 'n')};
      break;
    case member::entry_kind::join:
      e.body = member::join_body{subject, roles_from(b >> 3)};
      break;
    case member::entry_kind::set_roles:
      e.body = member::set_roles_body{subject, roles_from(b >> 3)};
      break;
    case member::entry_kind::revoke:
      e.body = member::revoke_body{subject};
      break;
    case member::entry_kind::delegate:
      e.body = member::delegate_body{subject};
      break;
    case member::entry_kind::undelegate:
      e.body = member::undelegate_body{subject};
      break;
    case member::entry_kind::bump_epoch:
      e.body = member::bump_epoch_body{roles_from(1u << (b % 5))[0], c & 0x0fu};
      break;
    case member::entry_kind::policy:
      e.body = member::policy_body{c & 0x0fu, bytes(b, 'p')};
      break;
  }
  member::sign_entry(e, signer);
  return member::encode(e);
}

void check_invariants(const member::membership_log& log, const member::log_config& config) {
  check(log.size() <= config.max_entries);
  check(log.orphan_count() <= config.max_orphans);
  const auto& s = log.state();
  check(s.head.has_value() == (log.size() != 0));
  if (s.head) {
    const auto head = log.get(*s.head);
    check(head.has_value());
    check(member::decode(*head).value().height == s.height);
  }
  for (const auto& k : s.admins)
    check(!log.is_revoked(k));
  for (const auto& p : log.missing_parents())
    check(!log.get(p));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fixture f;
  const auto config = small_config();
  member::membership_log log(f.keys[0].pub, config);
  std::vector<member::entry_id> seen;
  std::size_t pos = 0;
  while (pos < size && seen.size() < 256) {
    const std::uint8_t op = data[pos++];
    bytes entry;
    if (op & 0x80) {
      if (size - pos < 3) break;
      entry = build(f, log, seen, op, data[pos], data[pos + 1], data[pos + 2]);
      pos += 3;
    } else {
      if (pos >= size) break;
      const std::size_t n = std::size_t(op) << 8 | data[pos++];
      const std::size_t take = std::min(n, size - pos);
      entry.assign(data + pos, data + pos + take);
      pos += take;
    }
    const auto before = log.state();
    const auto held = log.size();
    const auto r = log.insert(entry);
    if (r) {
      seen.push_back(r->id);
      check(member::id_of_encoding(entry) == r->id);
      if (r->status == member::insert_status::added) check(log.get(r->id) == entry);
    } else {
      check(log.state() == before && log.size() == held);
      check(!r.error().message().empty());
    }
    check_invariants(log, config);
  }

  // Determinism: the held entries in another order (by height, then id descending) give the
  // same head and state.
  auto all = log.entries_from_height(0, config.max_entries);
  check(all.size() == log.size());
  std::stable_sort(all.begin(), all.end(), [](const bytes& x, const bytes& y) {
    const auto hx = member::decode(x).value().height;
    const auto hy = member::decode(y).value().height;
    if (hx != hy) return hx < hy;
    return member::id_of_encoding(y) < member::id_of_encoding(x);
  });
  // The replica has room to spare: which entries a nearly full log takes depends on arrival
  // order (its headroom is kept for the owner and revocations), not what the held set means.
  auto replica_config = config;
  replica_config.max_entries *= 2;
  replica_config.max_total_bytes *= 2;
  member::membership_log replica(f.keys[0].pub, replica_config);
  for (const auto& e : all) {
    const auto r = replica.insert(e);
    check(r && r->status == member::insert_status::added);
  }
  check(replica.state() == log.state());
  check(replica.orphaned_by_fork() == log.orphaned_by_fork());
  return 0;
}
