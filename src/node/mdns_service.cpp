// The mDNS service's socket shell: group sockets, per-interface sends, pktinfo receives, one
// deadline timer for the core and a rescan timer for interfaces.
#include "node/mdns_service.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>
#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <map>
#include <optional>

#include "io/clock.hpp"
#include "node/host.hpp"

#ifndef IP_MULTICAST_ALL
#define IP_MULTICAST_ALL 49
#endif
#ifndef IPV6_MULTICAST_ALL
#define IPV6_MULTICAST_ALL 29
#endif

namespace starling::node {

namespace asio = boost::asio;
using udp = asio::ip::udp;

namespace {

constexpr std::size_t max_datagrams_per_wakeup = 64;
constexpr std::size_t receive_buffer_bytes = dns::max_message_bytes + 1;  // +1: spot truncation

std::error_code last_errno() {
  return {errno, std::system_category()};
}

result<void> set_int(int fd, int level, int name, int value) {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return last_errno();
  return {};
}

std::error_code to_std(const boost::system::error_code& ec) {
  return ec;
}

// The options every mDNS socket gets before bind.
result<void> prepare(udp::socket& s, bool v6, unsigned ifindex) {
  boost::system::error_code ec;
  s.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return to_std(ec);
  const int fd = s.native_handle();
  STARLING_TRY(set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1));
  if (v6) {
    STARLING_TRY(set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1));
    (void)set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL,
                  0);  // older kernels: not needed, bound to the interface
    STARLING_TRY(set_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1));
    STARLING_TRY(set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, 255));
    STARLING_TRY(set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 1));
    STARLING_TRY(set_int(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, static_cast<int>(ifindex)));
  } else {
    (void)set_int(fd, IPPROTO_IP, IP_MULTICAST_ALL, 0);  // only where available
    STARLING_TRY(set_int(fd, IPPROTO_IP, IP_PKTINFO, 1));
    STARLING_TRY(set_int(fd, IPPROTO_IP, IP_MULTICAST_TTL, 255));
    STARLING_TRY(set_int(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 1));
  }
  s.non_blocking(true, ec);
  if (ec) return to_std(ec);
  return {};
}

ip_mreqn mreq_v4(unsigned ifindex) {
  ip_mreqn m{};
  ::inet_pton(AF_INET, std::string(mdns::group_v4).c_str(), &m.imr_multiaddr);
  m.imr_ifindex = static_cast<int>(ifindex);
  return m;
}

asio::ip::address_v6 group_v6(unsigned ifindex) {
  auto g = asio::ip::make_address_v6(std::string(mdns::group_v6));
  g.scope_id(ifindex);
  return g;
}

}  // namespace

struct mdns_service::impl : std::enable_shared_from_this<impl> {
  struct iface {
    std::string name;
    unsigned index = 0;
    bool v4 = false;                  ///< joined on the IPv4 socket
    std::shared_ptr<udp::socket> v6;  ///< this interface's IPv6 socket
    std::vector<std::string> addrs;   ///< announced here
  };

  impl(host& h, mdns_options o, callbacks c)
      : m_host(h),
        m_opts(std::move(o)),
        m_cb(std::move(c)),
        m_timer(h.context()),
        m_rescan_timer(h.context()),
        m_buf(receive_buffer_bytes) {}

  result<void> open_v4();
  void scan(bool started);
  void add_or_update(const std::string& name, unsigned index, bool has_v4, bool has_v6,
                     const std::vector<io::interface_address>& all, bool started);
  void remove(unsigned index);
  void read(std::shared_ptr<udp::socket> s, bool v6, unsigned ifindex);
  void drain(udp::socket& s, bool v6, unsigned ifindex);
  void process();
  void send(const mdns::outgoing& o);
  void arm_timer();
  void arm_rescan();
  void close();

  host& m_host;
  mdns_options m_opts;
  callbacks m_cb;
  std::optional<mdns::core> m_core;
  std::shared_ptr<udp::socket> m_v4;
  std::map<unsigned, iface> m_ifaces;
  asio::steady_timer m_timer;
  asio::steady_timer m_rescan_timer;
  time_point m_armed = no_deadline;
  mdns_stats m_stats;
  bool m_closed = false;
  bool m_in_process = false;
  std::vector<std::uint8_t> m_buf;
};

result<void> mdns_service::impl::open_v4() {
  auto s = std::make_shared<udp::socket>(m_host.context());
  boost::system::error_code ec;
  s->open(udp::v4(), ec);
  if (ec) {
    spdlog::warn("mdns: cannot open an IPv4 UDP socket: {}", ec.message());
    return to_std(ec);
  }
  if (auto r = prepare(*s, false, 0); !r) {
    spdlog::warn("mdns: cannot set IPv4 socket options: {}", r.error().message());
    return r.error();
  }
  s->bind(udp::endpoint(asio::ip::make_address_v4(std::string(mdns::group_v4)), mdns::port), ec);
  if (ec) {
    spdlog::warn("mdns: cannot bind {}:{}: {}", mdns::group_v4, mdns::port, ec.message());
    return to_std(ec);
  }
  m_v4 = s;
  read(s, false, 0);
  return {};
}

void mdns_service::impl::scan(bool started) {
  const auto all = io::list_interface_addresses();
  const auto names = select_interfaces(all, m_opts);
  struct want {
    std::string name;
    bool v4 = false, v6 = false;
  };
  std::map<unsigned, want> wanted;
  for (const auto& a : all) {
    if (a.index == 0 || !std::binary_search(names.begin(), names.end(), a.name)) continue;
    auto& w = wanted[a.index];
    w.name = a.name;
    w.v4 |= a.address.is_v4() && m_opts.ipv4 && m_v4;
    w.v6 |= a.address.is_v6() && m_opts.ipv6;
  }
  std::vector<unsigned> gone;
  for (const auto& [index, i] : m_ifaces) {
    auto it = wanted.find(index);
    if (it == wanted.end() || it->second.name != i.name || (!it->second.v4 && !it->second.v6)) {
      gone.push_back(index);
    }
  }
  for (unsigned index : gone)
    remove(index);
  for (const auto& [index, w] : wanted) {
    if (w.v4 || w.v6) add_or_update(w.name, index, w.v4, w.v6, all, started);
  }
}

void mdns_service::impl::add_or_update(const std::string& name, unsigned index, bool has_v4,
                                       bool has_v6, const std::vector<io::interface_address>& all,
                                       bool started) {
  const bool fresh = !m_ifaces.count(index);
  iface& i = m_ifaces[index];
  i.name = name;
  i.index = index;
  if (has_v4 && !i.v4) {
    const ip_mreqn m = mreq_v4(index);
    if (::setsockopt(m_v4->native_handle(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) == 0 ||
        errno == EADDRINUSE) {
      i.v4 = true;
    } else {
      spdlog::warn("mdns: cannot join {} on {}: {}", mdns::group_v4, name, std::strerror(errno));
    }
  } else if (!has_v4 && i.v4) {
    const ip_mreqn m = mreq_v4(index);
    (void)::setsockopt(m_v4->native_handle(), IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
    i.v4 = false;
  }
  if (has_v6 && !i.v6) {
    auto s = std::make_shared<udp::socket>(m_host.context());
    boost::system::error_code ec;
    s->open(udp::v6(), ec);
    result<void> r = ec ? result<void>(to_std(ec)) : prepare(*s, true, index);
    if (r) s->bind(udp::endpoint(group_v6(index), mdns::port), ec);
    if (r && !ec) s->set_option(asio::ip::multicast::join_group(group_v6(index), index), ec);
    if (!r || ec) {
      spdlog::warn("mdns: no IPv6 on {}: {}", name, r ? ec.message() : r.error().message());
    } else {
      i.v6 = s;
      read(s, true, index);
    }
  } else if (!has_v6 && i.v6) {
    boost::system::error_code ignored;
    i.v6->close(ignored);
    i.v6.reset();
  }
  if (!i.v4 && !i.v6) {  // no way to talk on it
    m_ifaces.erase(index);
    return;
  }
  auto addrs = addresses_for_interface(m_host.bound_addrs(), all, index);
  if (!fresh && addrs == i.addrs) return;
  i.addrs = addrs;
  if (fresh) {
    spdlog::info("mdns: using {} (index {}{}{}), announcing {} address{}", name, index,
                 i.v4 ? ", IPv4" : "", i.v6 ? ", IPv6" : "", addrs.size(),
                 addrs.size() == 1 ? "" : "es");
  } else {
    spdlog::info("mdns: {} now announces {} address{}", name, addrs.size(),
                 addrs.size() == 1 ? "" : "es");
  }
  if (!started) return;  // start() hands the list to the core's config
  if (auto r = m_core->set_interface({index, addrs}, io::now()); !r) {
    spdlog::warn("mdns: addresses of {} rejected: {}", name, r.error().message());
    (void)m_core->set_interface({index, {}}, io::now());
  }
}

void mdns_service::impl::remove(unsigned index) {
  auto it = m_ifaces.find(index);
  if (it == m_ifaces.end()) return;
  spdlog::info("mdns: no longer using {} (index {})", it->second.name, index);
  if (m_core) {
    m_core->remove_interface(index);
    process();  // the goodbye goes out while the sockets are still there
  }
  it = m_ifaces.find(index);
  if (it == m_ifaces.end()) return;
  if (it->second.v4 && m_v4) {
    const ip_mreqn m = mreq_v4(index);
    (void)::setsockopt(m_v4->native_handle(), IPPROTO_IP, IP_DROP_MEMBERSHIP, &m, sizeof m);
  }
  if (it->second.v6) {
    boost::system::error_code ignored;
    it->second.v6->close(ignored);
  }
  m_ifaces.erase(it);
}

void mdns_service::impl::read(std::shared_ptr<udp::socket> s, bool v6, unsigned ifindex) {
  s->async_wait(udp::socket::wait_read,
                [self = shared_from_this(), s, v6, ifindex](const boost::system::error_code& ec) {
                  if (ec || self->m_closed || !s->is_open()) return;
                  self->drain(*s, v6, ifindex);
                  if (self->m_closed || !s->is_open()) return;
                  self->process();
                  if (!self->m_closed && s->is_open()) self->read(s, v6, ifindex);
                });
}

void mdns_service::impl::drain(udp::socket& s, bool v6, unsigned socket_ifindex) {
  for (std::size_t n = 0; n < max_datagrams_per_wakeup && !m_closed; ++n) {
    sockaddr_storage from{};
    iovec iov{m_buf.data(), m_buf.size()};
    alignas(cmsghdr) std::array<unsigned char, 256> control{};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    const ssize_t got = ::recvmsg(s.native_handle(), &msg, MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      return;  // EAGAIN, or an error the next wakeup will show again
    }
    ++m_stats.packets_received;
    m_stats.bytes_received += static_cast<std::uint64_t>(got);
    if ((msg.msg_flags & MSG_TRUNC) || static_cast<std::size_t>(got) >= m_buf.size()) {
      ++m_stats.malformed;  // over the largest mDNS message
      continue;
    }
    unsigned ifindex = 0;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
        in_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        ifindex = static_cast<unsigned>(info.ipi_ifindex);
      } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
        in6_pktinfo info{};
        std::memcpy(&info, CMSG_DATA(c), sizeof info);
        ifindex = info.ipi6_ifindex;
      }
    }
    if (v6 && ifindex == 0) ifindex = socket_ifindex;
    // Only what arrived on an interface we run on (and, for IPv6, on the socket's own one).
    if (ifindex == 0 || !m_ifaces.count(ifindex) || (v6 && ifindex != socket_ifindex)) continue;
    char text[INET6_ADDRSTRLEN] = {};
    std::uint16_t port = 0;
    if (from.ss_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(&from);
      ::inet_ntop(AF_INET, &sin->sin_addr, text, sizeof text);
      port = ntohs(sin->sin_port);
    } else if (from.ss_family == AF_INET6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&from);
      ::inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof text);
      port = ntohs(sin6->sin6_port);
    }
    const std::string source =
        v6 ? "[" + std::string(text) + "%" + m_ifaces[ifindex].name + "]:" + std::to_string(port)
           : std::string(text) + ":" + std::to_string(port);
    auto r = m_core->feed(bytes_view(m_buf.data(), static_cast<std::size_t>(got)), ifindex, source,
                          io::now());
    if (!r && r.error() != mdns::errc::unknown_interface) {
      ++m_stats.malformed;
      spdlog::debug("mdns: dropped a packet from {}: {}", source, r.error().message());
    }
  }
}

void mdns_service::impl::send(const mdns::outgoing& o) {
  auto it = m_ifaces.find(o.interface_index);
  if (it == m_ifaces.end() || o.packet.empty()) return;
  auto count = [&](const boost::system::error_code& ec, std::size_t n) {
    if (ec) {
      ++m_stats.send_errors;
      spdlog::debug("mdns: send on {} failed: {}", it->second.name, ec.message());
    } else {
      ++m_stats.packets_sent;
      m_stats.bytes_sent += n;
    }
  };
  if (it->second.v4 && m_v4 && m_v4->is_open()) {
    const ip_mreqn m = mreq_v4(o.interface_index);
    boost::system::error_code ec;
    if (::setsockopt(m_v4->native_handle(), IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
      count(ec, 0);
    } else {
      const udp::endpoint to(asio::ip::make_address_v4(std::string(mdns::group_v4)), mdns::port);
      const std::size_t n = m_v4->send_to(asio::buffer(o.packet), to, 0, ec);
      count(ec, n);
    }
  }
  if (it->second.v6 && it->second.v6->is_open()) {
    boost::system::error_code ec;
    const std::size_t n = it->second.v6->send_to(
        asio::buffer(o.packet), udp::endpoint(group_v6(o.interface_index), mdns::port), 0, ec);
    count(ec, n);
  }
}

void mdns_service::impl::process() {
  if (!m_core || m_in_process) return;
  m_in_process = true;  // a callback that calls back into us does not recurse
  auto self = shared_from_this();
  while (!m_closed) {
    auto e = m_core->poll_event();
    if (!e) break;
    if (auto* d = std::get_if<mdns::peer_discovered>(&*e)) {
      if (m_cb.discovered) m_cb.discovered(*d);
    } else if (auto* x = std::get_if<mdns::peer_expired>(&*e)) {
      if (m_cb.expired) m_cb.expired(*x);
    } else if (auto* s = std::get_if<mdns::peer_seen>(&*e)) {
      if (m_cb.seen) m_cb.seen(s->peer_id, s->interface_index);
    }
  }
  while (auto o = m_core->poll_transmit())
    send(*o);
  m_stats.queries_suppressed = m_core->queries_suppressed();
  m_in_process = false;
  if (!m_closed) arm_timer();
}

void mdns_service::impl::arm_timer() {
  const time_point due = m_core->next_deadline();
  if (due == m_armed) return;
  m_armed = due;
  if (due == no_deadline) {
    m_timer.cancel();
    return;
  }
  m_timer.expires_at(std::chrono::time_point_cast<asio::steady_timer::clock_type::duration>(due));
  m_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->m_closed) return;
    self->m_armed = no_deadline;
    self->m_core->on_deadline(io::now());
    self->process();
  });
}

void mdns_service::impl::arm_rescan() {
  if (m_opts.rescan.count() <= 0) return;
  m_rescan_timer.expires_after(m_opts.rescan);
  m_rescan_timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (ec || self->m_closed) return;
    self->scan(true);
    self->process();
    if (!self->m_closed) self->arm_rescan();
  });
}

void mdns_service::impl::close() {
  if (m_closed) return;
  if (m_core) {
    m_core->shutdown();
    while (auto o = m_core->poll_transmit())
      send(*o);  // goodbyes
  }
  m_closed = true;
  m_cb = {};
  boost::system::error_code ignored;
  m_timer.cancel();
  m_rescan_timer.cancel();
  if (m_v4) m_v4->close(ignored);
  for (auto& [index, i] : m_ifaces) {
    if (i.v6) i.v6->close(ignored);
  }
  m_ifaces.clear();
}

// ---- the public face ----

mdns_service::mdns_service(std::shared_ptr<impl> p) : m_impl(std::move(p)) {}

mdns_service::~mdns_service() {
  shutdown();
}

result<std::unique_ptr<mdns_service>> mdns_service::start(host& h, mdns_options o, callbacks cb) {
  o.core.peer_id = h.id().to_string();
  o.core.interfaces.clear();
  auto p = std::make_shared<impl>(h, std::move(o), std::move(cb));
  if (p->m_opts.ipv4) STARLING_TRY(p->open_v4());
  for (const auto& n : unknown_interfaces(io::list_interface_addresses(), p->m_opts)) {
    spdlog::warn("mdns: no interface named {} (is it up?)", n);
  }
  p->scan(false);
  mdns::config cfg = p->m_opts.core;
  for (const auto& [index, i] : p->m_ifaces)
    cfg.interfaces.push_back({index, i.addrs});
  auto core = mdns::core::create(cfg, h.rng());
  if (!core) {
    // A bound address that does not parse: start without announcements rather than not at all.
    for (auto& i : cfg.interfaces)
      i.addrs.clear();
    core = mdns::core::create(cfg, h.rng());
    if (!core) {
      p->close();
      return core.error();
    }
  }
  p->m_core.emplace(std::move(*core));
  p->m_core->start(io::now());
  p->process();
  p->arm_rescan();
  return std::unique_ptr<mdns_service>(new mdns_service(std::move(p)));
}

void mdns_service::listen_addrs_changed() {
  if (m_impl->m_closed) return;
  m_impl->scan(true);
  m_impl->process();
}

void mdns_service::rescan() {
  listen_addrs_changed();
}

void mdns_service::shutdown() {
  if (m_impl) m_impl->close();
}

std::vector<std::string> mdns_service::interfaces() const {
  std::vector<std::string> out;
  for (const auto& [index, i] : m_impl->m_ifaces)
    out.push_back(i.name);
  std::sort(out.begin(), out.end());
  return out;
}

mdns_stats mdns_service::stats() const {
  return m_impl->m_stats;
}

const std::string& mdns_service::peer_name() const {
  static const std::string none;
  return m_impl->m_core ? m_impl->m_core->peer_name() : none;
}

}  // namespace starling::node
