#pragma once
/// `starling acl ...`: access policies (docs/protocols/membership.md, "Access rules").

#include <string>

namespace starling::app {

/// `starling acl test FILE`: parses the policy file and runs its own `[[test]]` cases. Prints
/// one line per failed test on stderr, then a summary; exit 0 when the file is valid and every
/// test passes, 1 otherwise (an invalid file prints its first problem with its line).
int run_acl_test(const std::string& path);

/// `starling acl show [--data-dir DIR]`: prints the policy in force (the file's text, or a
/// description of the default policy).
int run_acl_show(const std::string& data_dir);
/// `starling acl set FILE [--data-dir DIR]`: checks the file here (as `acl test`), then has
/// the node apply it as a signed log entry. Exit 0 with the new version, 1 with the reason.
int run_acl_set(const std::string& path, const std::string& data_dir);
/// `starling acl explain PEER OP KEY [--data-dir DIR]`: prints which rule decides.
int run_acl_explain(const std::string& peer, const std::string& op, const std::string& key,
                    const std::string& data_dir);

}  // namespace starling::app
