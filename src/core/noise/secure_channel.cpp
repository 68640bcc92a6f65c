#include "core/noise/secure_channel.hpp"

#include <algorithm>
#include <cstring>

#include "core/noise/errc.hpp"

namespace starling::noise {

secure_channel::secure_channel(cipher_state send, cipher_state recv, bytes pending)
    : m_send(send), m_recv(recv), m_pending(std::move(pending)) {}

std::size_t secure_channel::frames_size(std::size_t plain_len) noexcept {
  const std::size_t frames =
      plain_len == 0 ? 1 : (plain_len + max_frame_plaintext - 1) / max_frame_plaintext;
  return plain_len + frames * (2 + crypto::aead_tag_size);
}

result<void> secure_channel::encrypt(bytes_view plain, bytes& out) {
  if (m_failed) return make_error_code(errc::channel_failed);
  reserve_more(out, frames_size(plain.size()));
  do {
    const std::size_t n = std::min(plain.size(), max_frame_plaintext);
    const std::size_t body = n + crypto::aead_tag_size;
    const std::size_t at = out.size();
    out.push_back(static_cast<std::uint8_t>(body >> 8));
    out.push_back(static_cast<std::uint8_t>(body & 0xff));
    out.insert(out.end(), plain.begin(), plain.begin() + static_cast<std::ptrdiff_t>(n));
    out.resize(out.size() + crypto::aead_tag_size);
    auto r = m_send.encrypt_inplace({}, std::span<std::uint8_t>(out).subspan(at + 2, body));
    if (!r) {
      out.resize(at);
      m_failed = true;
      return r;
    }
    plain = plain.subspan(n);
  } while (!plain.empty());
  return {};
}

void secure_channel::reserve_more(bytes& out, std::size_t extra) {
  // Grow geometrically: reserving the exact size on every call would reallocate (and copy
  // everything already queued) each time a caller appends frame after frame.
  const std::size_t need = out.size() + extra;
  if (need > out.capacity()) out.reserve(std::max(need, 2 * out.capacity()));
}

result<void> secure_channel::seal(bytes& buf, std::size_t at) {
  if (m_failed) return make_error_code(errc::channel_failed);
  const std::size_t plain_len = buf.size() - at - frame_header_size;
  if (plain_len > max_frame_plaintext) {
    // More than one frame: the plaintext has to move to make room for headers and tags.
    const bytes plain(buf.begin() + static_cast<std::ptrdiff_t>(at + frame_header_size), buf.end());
    buf.resize(at);
    auto r = encrypt(plain, buf);
    if (!r) buf.resize(at);
    return r;
  }
  const std::size_t body = plain_len + crypto::aead_tag_size;
  buf[at] = static_cast<std::uint8_t>(body >> 8);
  buf[at + 1] = static_cast<std::uint8_t>(body & 0xff);
  reserve_more(buf, crypto::aead_tag_size);
  buf.resize(buf.size() + crypto::aead_tag_size);
  auto r = m_send.encrypt_inplace(
      {}, std::span<std::uint8_t>(buf).subspan(at + frame_header_size, body));
  if (!r) {
    buf.resize(at);
    m_failed = true;
  }
  return r;
}

result<void> secure_channel::open_frame(bytes_view body, bytes& plain_out) {
  // Copy the ciphertext straight to its final place and decrypt there: one copy per byte.
  const std::size_t at = plain_out.size();
  plain_out.insert(plain_out.end(), body.begin(), body.end());
  auto r = m_recv.decrypt_inplace({}, std::span<std::uint8_t>(plain_out).subspan(at));
  if (!r) {
    plain_out.resize(at);
    m_failed = true;
    return r;
  }
  plain_out.resize(plain_out.size() - crypto::aead_tag_size);
  return {};
}

result<void> secure_channel::process(bytes_view in, bytes& plain_out) {
  // First complete a frame left partial by the previous call.
  if (!m_rx.empty()) {
    if (m_rx.size() < 2) {
      const std::size_t take = std::min<std::size_t>(2 - m_rx.size(), in.size());
      append(m_rx, in.first(take));
      in = in.subspan(take);
      if (m_rx.size() < 2) return {};
    }
    const std::size_t len = (std::size_t{m_rx[0]} << 8) | m_rx[1];
    const std::size_t have = m_rx.size() - 2;
    const std::size_t take = std::min(len - have, in.size());
    append(m_rx, in.first(take));
    in = in.subspan(take);
    if (m_rx.size() - 2 < len) return {};
    auto r = open_frame(bytes_view(m_rx).subspan(2), plain_out);
    m_rx.clear();
    if (!r) return r;
  }
  // Then every complete frame directly from the input, without buffering.
  while (in.size() >= 2) {
    const std::size_t len = (std::size_t{in[0]} << 8) | in[1];
    if (in.size() - 2 < len) break;
    auto r = open_frame(in.subspan(2, len), plain_out);
    if (!r) return r;
    in = in.subspan(2 + len);
  }
  append(m_rx, in);
  return {};
}

result<void> secure_channel::open_inplace(std::span<std::uint8_t> in,
                                          std::vector<bytes_view>& plain) {
  if (m_failed) return make_error_code(errc::channel_failed);
  if (!m_pending.empty()) {  // handshake leftovers (connection cores drain them at once)
    m_pending_plain.clear();
    auto r = feed({}, m_pending_plain);
    if (!r) return r;
    if (!m_pending_plain.empty()) plain.push_back(m_pending_plain);
  }
  auto open_at = [&](std::span<std::uint8_t> body) -> result<void> {
    auto r = m_recv.decrypt_inplace({}, body);
    if (!r) {
      m_failed = true;
      return r;
    }
    plain.emplace_back(body.data(), body.size() - crypto::aead_tag_size);
    return {};
  };
  // First complete a frame left partial by the previous call (copied: it spans two reads).
  if (!m_rx.empty()) {
    if (m_rx.size() < 2) {
      const std::size_t take = std::min<std::size_t>(2 - m_rx.size(), in.size());
      append(m_rx, bytes_view(in.first(take)));
      in = in.subspan(take);
      if (m_rx.size() < 2) return {};
    }
    const std::size_t len = (std::size_t{m_rx[0]} << 8) | m_rx[1];
    const std::size_t take = std::min(len - (m_rx.size() - 2), in.size());
    append(m_rx, bytes_view(in.first(take)));
    in = in.subspan(take);
    if (m_rx.size() - 2 < len) return {};
    std::swap(m_rx, m_rx_done);  // m_rx_done keeps the plaintext alive; m_rx is reused
    m_rx.clear();
    if (auto r = open_at(std::span<std::uint8_t>(m_rx_done).subspan(2)); !r) return r;
  }
  // Then every complete frame where it lies.
  while (in.size() >= 2) {
    const std::size_t len = (std::size_t{in[0]} << 8) | in[1];
    if (in.size() - 2 < len) break;
    if (auto r = open_at(in.subspan(2, len)); !r) return r;
    in = in.subspan(2 + len);
  }
  append(m_rx, bytes_view(in));
  return {};
}

result<void> secure_channel::feed(bytes_view in, bytes& plain_out) {
  if (m_failed) return make_error_code(errc::channel_failed);
  if (!m_pending.empty()) {
    const bytes pending = std::move(m_pending);
    m_pending.clear();
    auto r = process(pending, plain_out);
    if (!r) return r;
  }
  return process(in, plain_out);
}

}  // namespace starling::noise
