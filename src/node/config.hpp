#pragma once
/// The node's TOML config file (`starling node --config node.toml`), read and checked in full
/// before anything starts.
///
/// Every key is checked: its type (arrays element by element), its range, and its name, at
/// every depth. A key or table the node does not know is an error, not something skipped, so a
/// misspelt `lisen` cannot leave the node running on defaults. The first problem in the file
/// (by position) is reported as one line a person can act on:
///
///     node.toml:3: mesh.target_connections: expected an integer, got a string
///     node.toml:1: unknown key 'lisen' (did you mean 'listen'?)
///
/// Error channel: a `config_result`, i.e. `boost::system::result<T, config_error>`. A
/// `std::error_code` cannot say which key on which line, and a second `std::string&` channel
/// is what HOUSE_STYLE asks us to avoid, so the error value is the message itself.
///
/// The parser only reports what the file says (a struct of optionals); it knows no defaults
/// and no command-line flags. The caller merges: flags win over the file, the file over the
/// defaults.

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starling::node {

/// Why a config file was refused: one line for a person, starting `<source>:<line>: ` when
/// the problem has a place in the file (every problem but an unreadable file).
struct config_error {
  std::string message;
};

/// A value or a config_error.
template <class T>
using config_result = boost::system::result<T, config_error>;

/// Called by `config_result::value()` on an error (Boost finds it by argument-dependent
/// lookup): throws std::runtime_error with the message, as `result::value()` throws for an
/// error code. Check the result first; nothing in Starling lets this escape.
[[noreturn]] void throw_exception_from_error(const config_error& e,
                                             const boost::source_location& loc);

/// Limits on values, shared with the command-line flags that set the same things.
inline constexpr std::size_t max_target_connections = 100000;
inline constexpr std::chrono::milliseconds max_dead_peer_timeout{3600000};
/// The most samples per key a storage keeps (`[[storage]] keep`).
inline constexpr std::size_t max_storage_keep = 1024;

/// What a config file sets; every member is nullopt when the file leaves it out.
struct config_file {
  /// `data_dir`: identity and state; never empty.
  std::optional<std::string> data_dir;
  /// `listen`: multiaddrs to listen on; each one parses as a multiaddr.
  std::optional<std::vector<std::string>> listen;
  /// `bootstrap`: peer multiaddrs (`/p2p/` optional); each one parses.
  std::optional<std::vector<std::string>> bootstrap;
  /// `early_muxer`: offer Yamux inside the Noise handshake.
  std::optional<bool> early_muxer;

  /// The `[mdns]` table.
  struct mdns_table {
    std::optional<bool> enabled;                         ///< `enabled`
    std::optional<std::vector<std::string>> interfaces;  ///< `interfaces`: allow list by name
    std::optional<std::vector<std::string>> deny;        ///< `deny`: names, `prefix*` patterns
  };
  /// `[mdns]`
  mdns_table mdns;

  /// The `[mesh]` table.
  struct mesh_table {
    /// `target_connections`: 0 to max_target_connections.
    std::optional<std::size_t> target_connections;
    /// `dead_peer_timeout_ms`: 0 (keep-alive off) to max_dead_peer_timeout.
    std::optional<std::chrono::milliseconds> dead_peer_timeout;
  };
  /// `[mesh]`
  mesh_table mesh;

  /// The `[limits]` table (node::host_config); each value is 1 or more.
  struct limits_table {
    std::optional<std::size_t> max_connections;         ///< `max_connections`
    std::optional<std::size_t> max_pending_handshakes;  ///< `max_pending_handshakes`
    std::optional<std::size_t> max_pending_per_ip;      ///< `max_pending_per_ip`
    std::optional<std::size_t> max_per_peer;            ///< `max_per_peer`
    std::optional<std::size_t> max_inbound_streams;     ///< `max_inbound_streams`
  };
  /// `[limits]`
  limits_table limits;

  /// One `[[storage]]` table: keep the last samples of a key expression and answer queries.
  struct storage_table {
    std::string expr;                    ///< `expr` (required): a valid key expression
    std::optional<std::size_t> keep;     ///< `keep`: samples per key, 1 to max_storage_keep
    std::optional<std::string> backend;  ///< `backend`: "memory" or "sqlite"
  };
  /// `[[storage]]`, in file order; no two with the same (canonical) expression.
  std::optional<std::vector<storage_table>> storage;
};

/// Parses and checks a config file's text. `source_name` (usually the path) starts every
/// message. Errors: a TOML syntax error (with its line), a key or table the node does not know
/// (with a suggestion when a known key is close), a value of the wrong type or out of range
/// (naming the key, or the array element, and what was expected). Only the first problem in
/// the file is reported; the caller prints it and does not start the node.
config_result<config_file> parse_config(std::string_view toml_text, std::string_view source_name);

/// Reads the file at `path` and parses it with parse_config (messages start with the path as
/// given). Errors besides parse_config's: the file is missing, unreadable (a directory, no
/// permission) or larger than 1 MiB; the message names the path and the reason.
config_result<config_file> load_config(const std::filesystem::path& path);

}  // namespace starling::node
