#pragma once
/// What starling::session reports about the network its node belongs to (membership:
/// docs/protocols/membership.md). Plain data, no behaviour.

#include <cstdint>
#include <string>
#include <vector>

namespace starling {

/// The network a session's node belongs to (docs/protocols/membership.md).
struct network_info {
  std::string id;                  ///< the network id, hex
  std::string name;                ///< the name given at creation
  std::vector<std::string> roles;  ///< this node's roles
  bool owner = false;              ///< this node holds the owner key
  std::uint64_t log_height = 0;    ///< the membership log's head height
};

/// One key the membership log names.
struct member_info {
  std::string peer_id;
  std::vector<std::string> roles;
  bool admin = false;      ///< may invite, revoke and change roles
  bool owner = false;      ///< the owner key itself
  bool revoked = false;    ///< revoked for good
  bool connected = false;  ///< connected to this node now
  bool self = false;       ///< this node
};

}  // namespace starling
