// noise_vectors: runs Noise test-vector files (cacophony and snow formats) against the generic
// handshake_state. Usage: noise_vectors FILE.json [FILE.json ...]
// Exit status: 0 when every supported vector passed and at least one ran; 1 otherwise.
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/crypto/crypto.hpp"
#include "core/noise/handshake_state.hpp"

using namespace starling;
using json = nlohmann::json;

namespace {

struct counts {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
};

// A vector that is not usable is a failure with a reason; returning a string keeps it simple.
using failure = std::optional<std::string>;

bytes hex_field(const json& v, const char* key) {
  bytes out;
  if (!v.contains(key)) return out;
  if (!v[key].is_string() || !from_hex(v[key].get<std::string>(), out)) {
    throw std::runtime_error(std::string("bad hex in field ") + key);
  }
  return out;
}

std::optional<crypto::x25519_key> key_field(const json& v, const char* key) {
  if (!v.contains(key)) return std::nullopt;
  bytes b = hex_field(v, key);
  if (b.size() != 32) throw std::runtime_error(std::string("key of wrong size: ") + key);
  crypto::x25519_key k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

// psks: a list "init_psks" (cacophony, snow) or a single "init_psk" (older files).
std::vector<noise::psk> psk_field(const json& v, const char* list_key, const char* single_key) {
  std::vector<bytes> raw;
  if (v.contains(list_key)) {
    if (!v[list_key].is_array()) throw std::runtime_error(std::string(list_key) + " is not a list");
    for (const auto& p : v[list_key]) {
      bytes b;
      if (!p.is_string() || !from_hex(p.get<std::string>(), b))
        throw std::runtime_error("bad psk hex");
      raw.push_back(std::move(b));
    }
  } else if (v.contains(single_key)) {
    raw.push_back(hex_field(v, single_key));
  }
  std::vector<noise::psk> out;
  for (const auto& b : raw) {
    if (b.size() != 32) throw std::runtime_error("psk of wrong size");
    noise::psk p{};
    std::copy(b.begin(), b.end(), p.begin());
    out.push_back(p);
  }
  return out;
}

noise::handshake_config side_config(const json& v, const std::string& name, bool initiator) {
  const std::string pre = initiator ? "init_" : "resp_";
  noise::handshake_config c;
  c.protocol_name = name;
  c.initiator = initiator;
  c.prologue = hex_field(v, (pre + "prologue").c_str());
  if (auto s = key_field(v, (pre + "static").c_str()))
    c.local_static = crypto::x25519_from_private(*s);
  if (auto e = key_field(v, (pre + "ephemeral").c_str())) {
    c.local_ephemeral = crypto::x25519_from_private(*e);
  }
  c.remote_static = key_field(v, (pre + "remote_static").c_str());
  c.remote_ephemeral = key_field(v, (pre + "remote_ephemeral").c_str());
  c.psks = psk_field(v, (pre + "psks").c_str(), (pre + "psk").c_str());
  return c;
}

// Runs one vector; returns the failure reason (with the message index) or nothing on success.
failure run_vector(const json& v, const std::string& name) {
  crypto::seeded_rng rng(1);  // unused when ephemerals are preset, which vectors always do
  auto init = noise::handshake_state::create(side_config(v, name, true), rng);
  auto resp = noise::handshake_state::create(side_config(v, name, false), rng);
  if (!init) return "initiator setup: " + init.error().message();
  if (!resp) return "responder setup: " + resp.error().message();
  if (!v.contains("messages") || !v["messages"].is_array()) return std::string("no messages");
  const auto& msgs = v["messages"];

  std::optional<std::pair<noise::cipher_state, noise::cipher_state>> ic, rc;
  const bool one_way = init->handshake_pattern().one_way;
  for (std::size_t i = 0; i < msgs.size(); ++i) {
    const std::string at = "message " + std::to_string(i) + ": ";
    const bytes payload = hex_field(msgs[i], "payload");
    const bytes expect = hex_field(msgs[i], "ciphertext");
    // Two-way patterns alternate for every message, handshake and transport alike; one-way
    // patterns only ever send initiator -> responder.
    const bool from_init = one_way || (i % 2) == 0;
    bytes wire, got;
    if (!ic) {
      auto& w = from_init ? *init : *resp;
      auto& rd = from_init ? *resp : *init;
      if (auto r = w.write_message(payload, wire); !r) return at + "write: " + r.error().message();
      if (wire != expect) return at + "ciphertext mismatch: got " + to_hex(wire);
      if (auto r = rd.read_message(wire, got); !r) return at + "read: " + r.error().message();
      if (got != payload) return at + "payload mismatch";
      if (init->is_finished() != resp->is_finished()) return at + "sides disagree on the end";
      if (init->is_finished()) {
        if (v.contains("handshake_hash")) {
          const bytes hh = hex_field(v, "handshake_hash");
          if (bytes(init->handshake_hash().begin(), init->handshake_hash().end()) != hh ||
              bytes(resp->handshake_hash().begin(), resp->handshake_hash().end()) != hh) {
            return at + "handshake_hash mismatch";
          }
        }
        auto si = init->split();
        auto sr = resp->split();
        if (!si || !sr) return at + "split failed";
        ic = *si;
        rc = *sr;
      }
    } else {
      // first = initiator -> responder, second = responder -> initiator.
      auto& enc = from_init ? ic->first : rc->second;
      auto& dec = from_init ? rc->first : ic->second;
      if (auto r = enc.encrypt_with_ad({}, payload, wire); !r)
        return at + "encrypt: " + r.error().message();
      if (wire != expect) return at + "transport ciphertext mismatch: got " + to_hex(wire);
      if (auto r = dec.decrypt_with_ad({}, wire, got); !r)
        return at + "decrypt: " + r.error().message();
      if (got != payload) return at + "transport payload mismatch";
    }
  }
  if (!ic) return std::string("handshake did not finish");
  return std::nullopt;
}

bool run_file(const char* path, counts& c) {
  std::ifstream in(path);
  if (!in) {
    std::fprintf(stderr, "noise_vectors: cannot read %s\n", path);
    return false;
  }
  json doc;
  try {
    doc = json::parse(in);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "noise_vectors: cannot parse %s: %s\n", path, e.what());
    return false;
  }
  const json* list = &doc;
  if (doc.is_object() && doc.contains("vectors")) list = &doc["vectors"];
  if (!list->is_array()) {
    std::fprintf(stderr, "noise_vectors: %s has no vector list\n", path);
    return false;
  }
  for (std::size_t idx = 0; idx < list->size(); ++idx) {
    const json& v = (*list)[idx];
    std::string name;
    if (v.contains("protocol_name") && v["protocol_name"].is_string()) {
      name = v["protocol_name"].get<std::string>();
    } else if (v.contains("name") && v["name"].is_string()) {
      name = v["name"].get<std::string>();
    }
    if (!noise::parse_protocol_name(name)) {
      ++c.skipped;
      continue;
    }
    failure f;
    try {
      f = run_vector(v, name);
    } catch (const std::exception& e) {
      f = std::string("malformed vector: ") + e.what();
    }
    if (f) {
      ++c.failed;
      std::printf("FAIL %s [%s #%zu] %s\n", name.c_str(), path, idx, f->c_str());
    } else {
      ++c.passed;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!crypto::init()) {
    std::fprintf(stderr, "noise_vectors: libsodium init failed\n");
    return 1;
  }
  if (argc < 2) {
    std::fprintf(stderr, "usage: noise_vectors FILE.json [FILE.json ...]\n");
    return 1;
  }
  counts c;
  bool files_ok = true;
  for (int i = 1; i < argc; ++i)
    files_ok = run_file(argv[i], c) && files_ok;
  std::printf("noise_vectors: %d passed, %d failed, %d skipped (unsupported protocol)\n", c.passed,
              c.failed, c.skipped);
  if (!files_ok || c.failed > 0 || c.passed == 0) return 1;
  return 0;
}
