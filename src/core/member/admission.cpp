#include "core/member/admission.hpp"

#include <algorithm>

namespace starling::member {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "member.admission"; }
  std::string message(int c) const override {
    switch (static_cast<admission_errc>(c)) {
      case admission_errc::no_proof:
        return "no membership proof (not a member of any network)";
      case admission_errc::malformed:
        return "malformed membership proof or grant";
      case admission_errc::bad_version:
        return "unknown membership proof or grant version";
      case admission_errc::wrong_network:
        return "member of another network";
      case admission_errc::bad_chain:
        return "certificate chain refused";
      case admission_errc::not_the_peer:
        return "certificate of another device";
      case admission_errc::revoked:
        return "revoked";
      case admission_errc::issuer_revoked:
        return "certificate issued by a revoked admin";
      case admission_errc::stale_epoch:
        return "certificate of an old role epoch";
      case admission_errc::no_roles:
        return "no role left";
    }
    return "unknown admission error";
  }
};

void put_be(bytes& out, std::uint64_t v, int n) {
  for (int k = n - 1; k >= 0; --k)
    out.push_back(static_cast<std::uint8_t>(v >> (8 * k)));
}

// A bounds-checked reader: every take fails once the input is short, and stays failed.
class reader {
 public:
  explicit reader(bytes_view in) : m_in(in) {}
  bool ok() const noexcept { return m_ok; }
  bool done() const noexcept { return m_ok && m_pos == m_in.size(); }
  std::uint64_t be(int n) {
    std::uint64_t v = 0;
    if (!need(static_cast<std::size_t>(n))) return 0;
    for (int k = 0; k < n; ++k)
      v = (v << 8) | m_in[m_pos++];
    return v;
  }
  bytes_view take(std::size_t n) {
    if (!need(n)) return {};
    auto v = m_in.subspan(m_pos, n);
    m_pos += n;
    return v;
  }
  template <std::size_t N>
  void fill(std::array<std::uint8_t, N>& a) {
    auto v = take(N);
    if (m_ok) std::copy(v.begin(), v.end(), a.begin());
  }
  bytes_view rest() { return take(m_in.size() - m_pos); }

 private:
  bool need(std::size_t n) {
    if (!m_ok || m_in.size() - m_pos < n) m_ok = false;
    return m_ok;
  }
  bytes_view m_in;
  std::size_t m_pos = 0;
  bool m_ok = true;
};

admission_refusal refuse(admission_errc c, std::string detail = {}) {
  if (detail.empty()) detail = make_error_code(c).message();
  return {c, std::move(detail)};
}

}  // namespace

const std::error_category& admission_category() noexcept {
  static const category_impl c;
  return c;
}

bytes encode_proof(const membership_proof& p) {
  bytes out;
  out.reserve(1 + 32 + 8 + 32 + p.chain.size());
  out.push_back(admission_version);
  append(out, p.network.bytes);
  put_be(out, p.head_height, 8);
  append(out, p.head.bytes);
  append(out, p.chain);
  return out;
}

result<membership_proof> decode_proof(bytes_view in) {
  reader r(in);
  const auto version = r.be(1);
  if (!r.ok()) return make_error_code(admission_errc::malformed);
  if (version != admission_version) return make_error_code(admission_errc::bad_version);
  membership_proof p;
  r.fill(p.network.bytes);
  p.head_height = r.be(8);
  r.fill(p.head.bytes);
  const auto chain = r.rest();
  if (!r.ok() || chain.empty()) return make_error_code(admission_errc::malformed);
  p.chain.assign(chain.begin(), chain.end());
  return p;
}

boost::system::result<admitted_member, admission_refusal> admit(bytes_view proof,
                                                                const public_key& peer,
                                                                const membership_log& log,
                                                                std::uint64_t now_unix) {
  if (proof.empty()) return refuse(admission_errc::no_proof);
  auto p = decode_proof(proof);
  if (!p) {
    return refuse(static_cast<admission_errc>(p.error().value()));
  }
  if (p->network != log.network()) {
    return refuse(admission_errc::wrong_network,
                  "member of another network (" + short_name(p->network) + ")");
  }
  auto certs = decode_chain(p->chain);
  if (!certs) {
    return refuse(admission_errc::bad_chain,
                  "certificate chain refused: " + certs.error().describe());
  }
  auto vm = verify_chain(*certs, log.owner(), now_unix);
  if (!vm) {
    return refuse(admission_errc::bad_chain, "certificate chain refused: " + vm.error().describe());
  }
  if (vm->subject != peer) return refuse(admission_errc::not_the_peer);
  if (log.is_revoked(peer)) return refuse(admission_errc::revoked);
  for (const auto& a : vm->admins) {
    if (log.is_revoked(a.subject)) return refuse(admission_errc::issuer_revoked);
    if (a.role_epoch < log.epoch_of(admin_role)) {
      return refuse(admission_errc::stale_epoch,
                    "issuing admin's certificate is of an old \"admin\" epoch");
    }
  }
  for (const auto& role : vm->roles) {
    if (vm->role_epoch < log.epoch_of(role)) {
      return refuse(admission_errc::stale_epoch,
                    "certificate of an old epoch of role \"" + role + "\"");
    }
  }
  admitted_member m;
  m.key = peer;
  const auto it = log.state().members.find(peer);
  m.roles = it != log.state().members.end() && it->second.joined ? it->second.roles : vm->roles;
  if (m.roles.empty()) return refuse(admission_errc::no_roles);
  m.valid_until = vm->valid_until;
  for (const auto& a : vm->admins)
    m.issuers.push_back(a.subject);
  m.peer_head_height = p->head_height;
  m.peer_head = p->head;
  return m;
}

result<bytes> encode_grant(const join_grant& g) {
  if (g.chain.size() > 0xffff || g.entries.size() > max_grant_entries) {
    return make_error_code(admission_errc::malformed);
  }
  bytes out;
  out.push_back(admission_version);
  append(out, g.owner);
  put_be(out, g.chain.size(), 2);
  append(out, g.chain);
  put_be(out, g.entries.size(), 4);
  for (const auto& e : g.entries) {
    if (e.size() > 0xffffffffu) return make_error_code(admission_errc::malformed);
    put_be(out, e.size(), 4);
    append(out, e);
  }
  return out;
}

result<join_grant> decode_grant(bytes_view in) {
  reader r(in);
  const auto version = r.be(1);
  if (!r.ok()) return make_error_code(admission_errc::malformed);
  if (version != admission_version) return make_error_code(admission_errc::bad_version);
  join_grant g;
  r.fill(g.owner);
  const auto chain = r.take(r.be(2));
  g.chain.assign(chain.begin(), chain.end());
  const auto count = r.be(4);
  if (!r.ok() || count > max_grant_entries) return make_error_code(admission_errc::malformed);
  for (std::uint64_t k = 0; k < count && r.ok(); ++k) {
    const auto e = r.take(r.be(4));
    if (r.ok()) g.entries.emplace_back(e.begin(), e.end());
  }
  if (!r.done()) return make_error_code(admission_errc::malformed);
  return g;
}

}  // namespace starling::member
