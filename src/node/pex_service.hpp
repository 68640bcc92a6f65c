#pragma once
/// Stream handlers of /starling/pex/1.0.0 (docs/protocols/peer-exchange.md): the server that
/// answers with the peers we are connected to, and the client that reads such an answer.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/pex/pex.hpp"
#include "node/host.hpp"
#include "node/stream.hpp"

namespace starling::node {

/// Handler for inbound /starling/pex/1.0.0 streams: writes one uvarint-length-prefixed message
/// with `list(remote_peer_id_text)` and closes its write side. Before encoding, the asker's own
/// record is removed and loopback addresses are dropped unless the asker reached us over a
/// loopback address (pex::filter_for_asker); encoding applies the default pex::limits.
/// Register with `h.set_handler(std::string(pex::protocol_id), make_pex_server(...))`.
handler_factory make_pex_server(
    std::function<std::vector<pex::peer_record>(const std::string& asker)> list);

/// Stream handler for an outbound pex stream: sends nothing (half-closes at once), reads one
/// message (bounded by pex::limits), calls `done` once with the records or the error, then
/// closes (clean answer) or resets (bad answer). Errors passed to `done`: the pex::errc of the
/// reader (malformed_frame, too_large, malformed_message, trailing_data, truncated,
/// no_message) or the stream's error when it is reset or its connection closes. The caller
/// just drops a failed answer (and may ask another peer at the next round).
/// This variant has no timer: the stream lives until the peer answers or the connection closes.
std::unique_ptr<stream_handler> make_pex_client(
    std::function<void(result<std::vector<pex::peer_record>>)> done);

/// make_pex_client() with a deadline: when the whole answer has not arrived `timeout` after
/// the stream opened, `done` gets std::errc::timed_out and the stream is reset.
std::unique_ptr<stream_handler> make_pex_client(
    host& h, std::chrono::milliseconds timeout,
    std::function<void(result<std::vector<pex::peer_record>>)> done);

}  // namespace starling::node
