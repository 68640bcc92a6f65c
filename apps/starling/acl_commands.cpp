#include "acl_commands.hpp"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "commands.hpp"
#include "node/control.hpp"
#include "node/control_api.hpp"
#include "node/policy_file.hpp"
#include "session_client.hpp"

namespace starling::app {

namespace {

std::optional<std::string> read_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    print_error("cannot read " + path);
    return std::nullopt;
  }
  // One byte more than the limit is enough for parse_policy to say the file is too large.
  std::string text(node::max_policy_file + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (in.bad()) {
    print_error("cannot read " + path);
    return std::nullopt;
  }
  return text;
}

}  // namespace

int run_acl_show(const std::string& data_dir) {
  auto r = ask_node(data_dir, node::api::acl_show_request{});
  if (!r) return 1;
  if (r->value("default", true)) {
    std::printf(
        "# the default policy (no policy was set): role \"admin\" may do everything, role "
        "\"member\" every data operation on \"**\"; anything else is denied\n");
  } else {
    std::printf("# policy version %llu\n%s",
                static_cast<unsigned long long>(r->value("version", 0ULL)),
                r->value("text", std::string()).c_str());
  }
  std::fflush(stdout);
  return 0;
}

int run_acl_set(const std::string& path, const std::string& data_dir) {
  auto text = read_policy_file(path);
  if (!text) return 1;
  auto doc = node::parse_policy(*text, path);
  if (!doc) {
    print_error(doc.error().message);
    return 1;
  }
  auto r = ask_node(data_dir, node::api::acl_set_request{*text});
  if (!r) return 1;
  std::printf("policy version %llu applied (%zu rules); it reaches every member within seconds\n",
              static_cast<unsigned long long>(r->value("version", 0ULL)), doc->policy.rules.size());
  return 0;
}

int run_acl_explain(const std::string& peer, const std::string& op, const std::string& key,
                    const std::string& data_dir) {
  auto r = ask_node(data_dir, node::api::acl_explain_request{peer, op, key});
  if (!r) return 1;
  std::printf("%s\n", r->value("explanation", std::string()).c_str());
  return 0;
}

int run_acl_test(const std::string& path) {
  auto read = read_policy_file(path);
  if (!read) return 1;
  const std::string& text = *read;
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
