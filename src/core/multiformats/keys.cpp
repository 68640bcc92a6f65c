#include "core/multiformats/keys.hpp"

#include <algorithm>
#include <string>

#include "core/proto/keys.pb.h"

namespace starling::multiformats {

namespace {
// Parses either message type (they share the same two fields) and checks that re-encoding
// gives back the input, which the spec's deterministic-encoding rule requires.
template <class Message>
result<Message> parse_canonical(bytes_view in, bool check_type) {
  if (in.size() > max_key_bytes) return errc::invalid_key_encoding;
  Message m;
  // ParsePartial + our own required-field check: ParseFromArray logs every failure to stderr,
  // which untrusted peers could use to flood the log.
  if (!m.ParsePartialFromArray(in.data(), static_cast<int>(in.size())))
    return errc::invalid_key_encoding;
  if (!m.has_type() || !m.has_data()) return errc::invalid_key_encoding;
  // Unknown fields survive a parse/serialize round trip in protobuf-lite: reject them here.
  if (!m.unknown_fields().empty()) return errc::invalid_key_encoding;
  if (check_type && m.type() != pb::Ed25519) return errc::unsupported_key_type;
  std::string re;
  if (!m.SerializePartialToString(&re)) return errc::invalid_key_encoding;
  if (re != as_chars(in)) return errc::invalid_key_encoding;
  return m;
}

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}
}  // namespace

bytes encode_public_key(const crypto::ed25519_public& pub) {
  pb::PublicKey m;
  m.set_type(pb::Ed25519);
  m.set_data(pub.data(), pub.size());
  return to_bytes(m.SerializeAsString());
}

result<crypto::ed25519_public> decode_public_key(bytes_view in) {
  auto m = parse_canonical<pb::PublicKey>(in, true);
  if (!m) return m.error();
  const std::string& data = m->data();
  crypto::ed25519_public pub{};
  if (data.size() != pub.size()) return errc::invalid_key_length;
  std::copy(data.begin(), data.end(), pub.begin());
  return pub;
}

result<key_type> peek_key_type(bytes_view in) {
  auto m = parse_canonical<pb::PublicKey>(in, false);
  if (!m) return m.error();
  return static_cast<key_type>(m->type());
}

bytes encode_private_key(const crypto::ed25519_keypair& kp) {
  pb::PrivateKey m;
  std::string data;
  data.append(reinterpret_cast<const char*>(kp.seed.data()), kp.seed.size());
  data.append(reinterpret_cast<const char*>(kp.pub.data()), kp.pub.size());
  m.set_type(pb::Ed25519);
  m.set_data(std::move(data));
  std::string out = m.SerializeAsString();
  bytes b = to_bytes(out);
  std::fill(out.begin(), out.end(), '\0');
  m.mutable_data()->assign(m.data().size(), '\0');
  return b;
}

result<crypto::ed25519_keypair> decode_private_key(bytes_view in) {
  auto m = parse_canonical<pb::PrivateKey>(in, true);
  if (!m) return m.error();
  std::string& data = *m->mutable_data();
  if (data.size() != 64 && data.size() != 96) {
    std::fill(data.begin(), data.end(), '\0');
    return errc::invalid_key_length;
  }
  crypto::ed25519_seed seed{};
  crypto::ed25519_public pub{};
  std::copy_n(data.begin(), 32, seed.begin());
  std::copy_n(data.begin() + 32, 32, pub.begin());
  const bool legacy_ok =
      data.size() == 64 || std::equal(data.begin() + 32, data.begin() + 64, data.begin() + 64);
  std::fill(data.begin(), data.end(), '\0');
  auto kp = crypto::ed25519_from_seed(seed);
  seed.fill(0);
  if (!legacy_ok || kp.pub != pub) return errc::key_mismatch;
  return kp;
}

}  // namespace starling::multiformats
