#pragma once
/// Where a node keeps its files, and the node's long-term identity in it.

#include <filesystem>
#include <string>

#include "core/common/bytes.hpp"
#include "core/common/result.hpp"
#include "core/crypto/crypto.hpp"
#include "node/detailed_error.hpp"

namespace starling::node {

/// The data directory used when none is given: $XDG_DATA_HOME/starling, else
/// $HOME/.local/share/starling, else ./.starling.
std::filesystem::path default_data_dir();

/// Errors of the identity store; messages are written for a person.
enum class identity_errc {
  unreadable = 1,  ///< the key file exists but cannot be read (permissions?)
  corrupt,         ///< the key file is not a libp2p Ed25519 private key
  not_private,     ///< the key file or the data directory is readable by others
  cannot_create,   ///< the directory or the key file could not be written
};
const std::error_category& identity_category() noexcept;
inline std::error_code make_error_code(identity_errc e) noexcept {
  return {static_cast<int>(e), identity_category()};
}

/// The identity key file inside a data directory.
std::filesystem::path identity_path(const std::filesystem::path& data_dir);

/// Loads the node's Ed25519 identity from `data_dir/identity.key`, creating the directory
/// (0700) and a new key (0600, written atomically) when there is no key file yet. An existing
/// file that cannot be read or parsed is an error, never replaced by a new identity: the
/// caller reports the error's message, which names the file, and exits.
detailed_result<crypto::ed25519_keypair> load_or_create_identity(
    const std::filesystem::path& data_dir, crypto::rng& rng);

/// Writes `data` to `file` (mode 0600, written to a temporary file, synced, then renamed over
/// `file`), creating `dir` (0700) first. Error: cannot_create, naming the path.
detailed_result<void> write_private_file(const std::filesystem::path& dir,
                                         const std::filesystem::path& file, bytes_view data);

/// Reads a libp2p Ed25519 private key file that must not be readable by others. Errors:
/// unreadable, not_private, corrupt, each naming the file.
detailed_result<crypto::ed25519_keypair> load_private_key(const std::filesystem::path& file);

}  // namespace starling::node

template <>
struct std::is_error_code_enum<starling::node::identity_errc> : std::true_type {};
