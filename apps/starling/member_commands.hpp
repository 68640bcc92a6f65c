#pragma once
/// `starling network create`, `invite`, `join`, `members`, `revoke` and `role`: membership
/// commands against the running node (docs/protocols/membership.md, docs/cli.md).

#include <string>
#include <vector>

namespace starling::app {

/// Options shared by the membership commands.
struct member_options {
  std::string data_dir;            ///< empty: node::default_data_dir()
  bool json = false;               ///< members: print the node's JSON
  std::string name = "home";       ///< network create
  std::string role;                ///< invite
  std::string expires = "10m";     ///< invite: 30s, 10m, 2h, 7d
  std::string png;                 ///< invite: also write the QR code here
  bool no_qr = false;              ///< invite: print the code only
  std::string code;                ///< join
  std::vector<std::string> peers;  ///< join: inviter addresses to try as well
  std::string peer;                ///< revoke, role
  std::vector<std::string> roles;  ///< role
};

/// A duration such as "90", "90s", "10m", "2h" or "7d" in seconds; 0 when malformed.
unsigned long long parse_duration_seconds(const std::string& text);

/// Each prints one "starling: ..." line on stderr and returns 1 on failure, 0 on success.
int run_network_create(const member_options& o);
/// Prints the code alone on the first line of stdout, then the QR code (unless --no-qr).
int run_invite(const member_options& o);
/// Exits 0 once admitted; the line says which network and roles.
int run_join(const member_options& o);
int run_members(const member_options& o);
int run_revoke(const member_options& o);
int run_role(const member_options& o);

}  // namespace starling::app
