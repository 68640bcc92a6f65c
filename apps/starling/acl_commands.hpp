#pragma once
/// `starling acl ...`: access policies (docs/protocols/membership.md, "Access rules").

#include <string>

namespace starling::app {

/// `starling acl test FILE`: parses the policy file and runs its own `[[test]]` cases. Prints
/// one line per failed test on stderr, then a summary; exit 0 when the file is valid and every
/// test passes, 1 otherwise (an invalid file prints its first problem with its line).
int run_acl_test(const std::string& path);

}  // namespace starling::app
