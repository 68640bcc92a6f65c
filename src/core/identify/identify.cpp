#include "core/identify/identify.hpp"

#include <string>

#include "core/multiformats/varint.hpp"
// protobuf_generate currently writes core/proto/identify.pb.h under proto_gen; the skeleton's
// docs name it "identify.pb.h". Accept either layout.
#if __has_include("identify.pb.h")
#include "identify.pb.h"
#else
#include "core/proto/identify.pb.h"
#endif

namespace starling::identify {

namespace {
class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "identify"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::malformed_frame:
        return "bad identify length prefix";
      case errc::malformed_message:
        return "identify protobuf does not parse";
      case errc::too_large:
        return "identify record too large";
      case errc::too_many_messages:
        return "too many identify messages";
      case errc::truncated:
        return "identify stream ended inside a message";
      case errc::no_message:
        return "identify stream ended without a message";
      case errc::already_finished:
        return "identify reader already finished";
    }
    return "unknown identify error";
  }
};

bytes to_bytes(const std::string& s) {
  return bytes(s.begin(), s.end());
}
std::string to_string(bytes_view b) {
  return std::string(as_chars(b));
}
}  // namespace

const std::error_category& category() noexcept {
  static const category_impl c;
  return c;
}

bytes encode(const info& i) {
  pb::Identify m;
  if (!i.protocol_version.empty()) m.set_protocolversion(i.protocol_version);
  if (!i.agent_version.empty()) m.set_agentversion(i.agent_version);
  if (!i.public_key.empty()) m.set_publickey(to_string(i.public_key));
  for (const auto& a : i.listen_addrs)
    m.add_listenaddrs(to_string(a));
  if (i.observed_addr) m.set_observedaddr(to_string(*i.observed_addr));
  for (const auto& p : i.protocols)
    m.add_protocols(p);
  if (i.signed_peer_record) m.set_signedpeerrecord(to_string(*i.signed_peer_record));
  const std::string body = m.SerializeAsString();
  bytes out;
  varint::write_frame(as_bytes(body), out);
  return out;
}

result<void> reader::fail(errc e) {
  m_error = make_error_code(e);
  m_buf.clear();
  m_info = {};
  return m_error;
}

result<void> reader::merge(bytes_view message) {
  pb::Identify m;
  if (!m.ParseFromArray(message.data(), static_cast<int>(message.size()))) {
    return fail(errc::malformed_message);
  }
  if (m.has_publickey()) m_info.public_key = to_bytes(m.publickey());
  for (const auto& a : m.listenaddrs())
    m_info.listen_addrs.push_back(to_bytes(a));
  for (const auto& p : m.protocols())
    m_info.protocols.push_back(p);
  if (m.has_observedaddr()) m_info.observed_addr = to_bytes(m.observedaddr());
  if (m.has_protocolversion()) m_info.protocol_version = m.protocolversion();
  if (m.has_agentversion()) m_info.agent_version = m.agentversion();
  if (m.has_signedpeerrecord()) m_info.signed_peer_record = to_bytes(m.signedpeerrecord());
  ++m_messages;
  return {};
}

result<void> reader::feed(bytes_view in) {
  if (m_error) return m_error;
  if (m_finished) return fail(errc::already_finished);
  if (in.size() > m_limits.max_total_bytes - m_total) return fail(errc::too_large);
  m_total += in.size();
  append(m_buf, in);
  std::size_t pos = 0;
  for (;;) {
    std::error_code ec;
    auto f = varint::read_frame(bytes_view(m_buf).subspan(pos), m_limits.max_total_bytes, ec);
    if (ec) return fail(ec == varint::errc::too_large ? errc::too_large : errc::malformed_frame);
    if (!f) break;
    if (m_messages == m_limits.max_messages) return fail(errc::too_many_messages);
    auto r = merge(f->payload);
    if (!r) return r;
    pos += f->consumed;
  }
  m_buf.erase(m_buf.begin(), m_buf.begin() + static_cast<std::ptrdiff_t>(pos));
  return {};
}

result<info> reader::on_eof() {
  if (m_error) return m_error;
  if (m_finished) return fail(errc::already_finished).error();
  m_finished = true;
  if (!m_buf.empty()) return fail(errc::truncated).error();
  if (m_messages == 0) return fail(errc::no_message).error();
  return std::move(m_info);
}

}  // namespace starling::identify
