#include "acl_commands.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "node/policy_file.hpp"

namespace starling::app {

int run_acl_test(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    print_error("cannot read " + path);
    return 1;
  }
  // One byte more than the limit is enough for parse_policy to say the file is too large.
  std::string text(node::max_policy_file + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) {
    print_error("cannot read " + path);
    return 1;
  }
  auto doc = node::parse_policy(text, path);
  if (!doc) {
    print_error(doc.error().message);
    return 1;
  }
  const auto failures = node::run_tests(doc->policy, doc->tests);
  for (const auto& f : failures)
    std::fprintf(stderr, "%s: %s\n", path.c_str(), f.message.c_str());
  const std::size_t total = doc->tests.size();
  if (!failures.empty()) {
    std::fprintf(stderr, "%s: %zu of %zu tests failed\n", path.c_str(), failures.size(), total);
    return 1;
  }
  std::printf("%s: policy version %llu, %zu rules, %zu tests passed\n", path.c_str(),
              static_cast<unsigned long long>(doc->policy.version), doc->policy.rules.size(),
              total);
  return 0;
}

}  // namespace starling::app
