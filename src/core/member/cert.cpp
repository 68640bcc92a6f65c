#include "core/member/cert.hpp"

#include <algorithm>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>

namespace starling::member {

namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "member.cert"; }
  std::string message(int c) const override {
    switch (static_cast<cert_errc>(c)) {
      case cert_errc::truncated:
        return "truncated certificate";
      case cert_errc::trailing_bytes:
        return "bytes after the end of the certificate";
      case cert_errc::bad_version:
        return "unknown certificate version";
      case cert_errc::no_roles:
        return "certificate without a role";
      case cert_errc::too_many_roles:
        return "more than " + std::to_string(max_roles) + " roles";
      case cert_errc::empty_role:
        return "empty role name";
      case cert_errc::role_too_long:
        return "role name longer than " + std::to_string(max_role_size) + " bytes";
      case cert_errc::bad_role_character:
        return "role name with a character outside [a-z0-9_-]";
      case cert_errc::roles_not_sorted:
        return "roles out of order";
      case cert_errc::duplicate_role:
        return "the same role twice";
      case cert_errc::bad_validity:
        return "not_before is not before not_after";
      case cert_errc::empty_chain:
        return "empty certificate chain";
      case cert_errc::chain_too_long:
        return "more than " + std::to_string(max_chain_length) + " certificates in a chain";
      case cert_errc::wrong_network:
        return "certificate of another network";
      case cert_errc::broken_chain:
        return "issuer is not the next certificate's subject";
      case cert_errc::not_issued_by_owner:
        return "chain does not end at the owner key";
      case cert_errc::issuer_not_admin:
        return "issuing certificate without the admin role";
      case cert_errc::not_yet_valid:
        return "certificate not yet valid";
      case cert_errc::expired:
        return "certificate expired";
      case cert_errc::bad_signature:
        return "bad certificate signature";
    }
    return "unknown certificate error";
  }
};

constexpr std::size_t fixed_size = 1 + 32 + 32 + 32 + 8 + 8 + 4 + 1;  // up to the role count
constexpr std::size_t sig_size = 64;
static_assert(min_cert_size == fixed_size + 2 + sig_size);
static_assert(max_cert_size == fixed_size + max_roles * (1 + max_role_size) + sig_size);

// The rules on one role name, wherever it comes from: role.hpp's, with cert's own codes.
result<void> check_role(std::string_view role) {
  const auto fault = role_name_problem(role);
  if (!fault) return {};
  switch (*fault) {
    case role_name_fault::empty:
      return cert_errc::empty_role;
    case role_name_fault::too_long:
      return cert_errc::role_too_long;
    case role_name_fault::bad_character:
      break;
  }
  return cert_errc::bad_role_character;
}

// The rules of the encoding on everything but version, keys and signature: roles present,
// well formed, sorted and unique; a non-empty validity window.
result<void> check_fields(const std::vector<std::string>& roles, std::uint64_t not_before,
                          std::uint64_t not_after) {
  if (roles.empty()) return cert_errc::no_roles;
  if (roles.size() > max_roles) return cert_errc::too_many_roles;
  for (std::size_t i = 0; i < roles.size(); ++i) {
    if (auto r = check_role(roles[i]); !r) return r;
    if (i > 0 && roles[i - 1] == roles[i]) return cert_errc::duplicate_role;
    if (i > 0 && roles[i - 1] > roles[i]) return cert_errc::roles_not_sorted;
  }
  if (not_before >= not_after) return cert_errc::bad_validity;
  return {};
}

result<void> check_cert(const certificate& c) {
  if (c.version != cert_version) return cert_errc::bad_version;
  return check_fields(c.roles, c.not_before, c.not_after);
}

void put_be(bytes& out, std::uint64_t v, int size) {
  for (int i = size - 1; i >= 0; --i)
    out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

template <std::size_t N>
void put(bytes& out, const std::array<std::uint8_t, N>& a) {
  out.insert(out.end(), a.begin(), a.end());
}

// Appends the encoding up to (not including) the signature; `c` has passed check_cert.
void put_body(bytes& out, const certificate& c) {
  out.push_back(c.version);
  put(out, c.network.bytes);
  put(out, c.subject);
  put(out, c.issuer);
  put_be(out, c.not_before, 8);
  put_be(out, c.not_after, 8);
  put_be(out, c.role_epoch, 4);
  out.push_back(static_cast<std::uint8_t>(c.roles.size()));
  for (const auto& role : c.roles) {
    out.push_back(static_cast<std::uint8_t>(role.size()));
    out.insert(out.end(), role.begin(), role.end());
  }
}

// Reads from a view, front to back; every read checks the bytes left.
class reader {
 public:
  explicit reader(bytes_view in) : m_in(in) {}
  std::size_t left() const { return m_in.size() - m_pos; }
  std::size_t pos() const { return m_pos; }
  bytes_view rest() const { return m_in.subspan(m_pos); }

  bool u8(std::uint8_t& v) {
    if (left() < 1) return false;
    v = m_in[m_pos++];
    return true;
  }
  bool be(std::uint64_t& v, std::size_t size) {
    if (left() < size) return false;
    v = 0;
    for (std::size_t i = 0; i < size; ++i)
      v = v << 8 | m_in[m_pos++];
    return true;
  }
  template <std::size_t N>
  bool fixed(std::array<std::uint8_t, N>& a) {
    if (left() < N) return false;
    std::copy_n(m_in.begin() + static_cast<std::ptrdiff_t>(m_pos), N, a.begin());
    m_pos += N;
    return true;
  }
  bool text(std::string& s, std::size_t n) {
    if (left() < n) return false;
    s = as_chars(m_in.subspan(m_pos, n));
    m_pos += n;
    return true;
  }

 private:
  bytes_view m_in;
  std::size_t m_pos = 0;
};

// Reads one certificate at the reader's position, leaving it just after; the bytes that follow
// are the caller's business.
result<certificate> read_cert(reader& in) {
  certificate c;
  if (!in.u8(c.version)) return cert_errc::truncated;
  if (c.version != cert_version) return cert_errc::bad_version;
  std::uint64_t epoch = 0;
  std::uint8_t count = 0;
  if (!in.fixed(c.network.bytes) || !in.fixed(c.subject) || !in.fixed(c.issuer) ||
      !in.be(c.not_before, 8) || !in.be(c.not_after, 8) || !in.be(epoch, 4) || !in.u8(count))
    return cert_errc::truncated;
  c.role_epoch = static_cast<std::uint32_t>(epoch);
  if (count == 0) return cert_errc::no_roles;
  if (count > max_roles) return cert_errc::too_many_roles;
  c.roles.resize(count);
  for (auto& role : c.roles) {
    std::uint8_t size = 0;
    if (!in.u8(size)) return cert_errc::truncated;
    if (size == 0) return cert_errc::empty_role;
    if (size > max_role_size) return cert_errc::role_too_long;
    if (!in.text(role, size)) return cert_errc::truncated;
  }
  if (!in.fixed(c.sig)) return cert_errc::truncated;
  if (auto r = check_fields(c.roles, c.not_before, c.not_after); !r) return r.error();
  return c;
}

std::string which(std::size_t index) {
  if (index == 0) return "certificate 0 (the leaf)";
  return "certificate " + std::to_string(index) + " (the admin that issued certificate " +
         std::to_string(index - 1) + ")";
}

chain_error at(cert_errc code, std::size_t index, std::uint64_t time = 0) {
  return chain_error{code, index, time};
}

bool has_admin(const certificate& c) {
  return std::binary_search(c.roles.begin(), c.roles.end(), admin_role);
}

}  // namespace

const std::error_category& cert_category() noexcept {
  static const category_impl c;
  return c;
}

result<certificate> issue(const crypto::ed25519_keypair& issuer, cert_fields fields) {
  std::sort(fields.roles.begin(), fields.roles.end());
  if (auto r = check_fields(fields.roles, fields.not_before, fields.not_after); !r)
    return r.error();
  certificate c;
  c.network = fields.network;
  c.subject = fields.subject;
  c.roles = std::move(fields.roles);
  c.role_epoch = fields.role_epoch;
  c.not_before = fields.not_before;
  c.not_after = fields.not_after;
  c.issuer = issuer.pub;
  c.sig = crypto::ed25519_sign(issuer, STARLING_TRY(signed_message(c)));
  return c;
}

result<bytes> signed_message(const certificate& c) {
  if (auto r = check_cert(c); !r) return r.error();
  const bytes_view domain = as_bytes(cert_signature_domain);
  bytes out(domain.begin(), domain.end());
  put_body(out, c);
  return out;
}

result<bytes> encode(const certificate& c) {
  if (auto r = check_cert(c); !r) return r.error();
  bytes out;
  out.reserve(max_cert_size);
  put_body(out, c);
  put(out, c.sig);
  return out;
}

result<certificate> decode_cert(bytes_view in) {
  reader r(in);
  auto c = read_cert(r);
  if (c && r.left() != 0) return cert_errc::trailing_bytes;
  return c;
}

std::string chain_error::describe() const {
  const std::string what = make_error_code(code).message();
  if (index == whole_chain) return "certificate chain refused: " + what;
  std::string s = which(index) + ": ";
  switch (code) {
    case cert_errc::wrong_network:
      return s + "it belongs to another network than the owner key's";
    case cert_errc::broken_chain:
      return s + "its issuer is not the subject of certificate " + std::to_string(index + 1);
    case cert_errc::not_issued_by_owner:
      return s + "it is the last of the chain but the owner key did not issue it";
    case cert_errc::issuer_not_admin:
      return s + "it lacks the role \"admin\", so it may not issue certificates";
    case cert_errc::not_yet_valid:
      return s + "not valid before " + std::to_string(time) + " (unix time)";
    case cert_errc::expired:
      return s + "expired at " + std::to_string(time) + " (unix time)";
    case cert_errc::bad_signature:
      return s + "its signature is not a valid one by its issuer";
    default:
      return s + "malformed: " + what;
  }
}

void throw_exception_from_error(const chain_error& e, const boost::source_location& loc) {
  boost::throw_exception(boost::system::system_error(make_error_code(e.code)), loc);
}

result<bytes> encode_chain(std::span<const certificate> certs) {
  if (certs.empty()) return cert_errc::empty_chain;
  if (certs.size() > max_chain_length) return cert_errc::chain_too_long;
  bytes out;
  out.reserve(1 + certs.size() * max_cert_size);
  out.push_back(static_cast<std::uint8_t>(certs.size()));
  for (const auto& c : certs)
    append(out, STARLING_TRY(encode(c)));
  return out;
}

chain_result<cert_chain> decode_chain(bytes_view in) {
  reader r(in);
  std::uint8_t count = 0;
  if (!r.u8(count)) return at(cert_errc::truncated, whole_chain);
  if (count == 0) return at(cert_errc::empty_chain, whole_chain);
  if (count > max_chain_length) return at(cert_errc::chain_too_long, whole_chain);
  cert_chain certs;
  certs.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    auto c = read_cert(r);
    if (!c) return at(static_cast<cert_errc>(c.error().value()), i);
    certs.push_back(std::move(*c));
  }
  if (r.left() != 0) return at(cert_errc::trailing_bytes, whole_chain);
  return certs;
}

chain_result<verified_member> verify_chain(std::span<const certificate> certs,
                                           const public_key& owner, std::uint64_t now_unix) {
  if (certs.empty()) return at(cert_errc::empty_chain, whole_chain);
  if (certs.size() > max_chain_length) return at(cert_errc::chain_too_long, whole_chain);
  const network_id network = network_id_of(owner);
  verified_member m;
  m.valid_until = certs[0].not_after;
  for (std::size_t i = 0; i < certs.size(); ++i) {
    const certificate& c = certs[i];
    if (auto r = check_cert(c); !r) return at(static_cast<cert_errc>(r.error().value()), i);
    if (c.network != network) return at(cert_errc::wrong_network, i);
    const bool last = i + 1 == certs.size();
    if (!last && c.issuer != certs[i + 1].subject) return at(cert_errc::broken_chain, i);
    if (last && c.issuer != owner) return at(cert_errc::not_issued_by_owner, i);
    if (i > 0 && !has_admin(c)) return at(cert_errc::issuer_not_admin, i);
    if (now_unix < c.not_before) return at(cert_errc::not_yet_valid, i, c.not_before);
    if (now_unix >= c.not_after) return at(cert_errc::expired, i, c.not_after);
    // check_cert passed, so the message can be built.
    const bytes msg = signed_message(c).value();
    if (!crypto::ed25519_verify(c.issuer, msg, c.sig)) return at(cert_errc::bad_signature, i);
    m.valid_until = std::min(m.valid_until, c.not_after);
    if (i > 0) m.admins.push_back(chain_admin{c.subject, c.role_epoch});
  }
  m.subject = certs[0].subject;
  m.roles = certs[0].roles;
  m.role_epoch = certs[0].role_epoch;
  return m;
}

chain_result<verified_member> verify_chain(bytes_view encoded, const public_key& owner,
                                           std::uint64_t now_unix) {
  auto certs = decode_chain(encoded);
  if (!certs) return certs.error();
  return verify_chain(*certs, owner, now_unix);
}

}  // namespace starling::member
