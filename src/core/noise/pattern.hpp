#pragma once
/// Noise handshake patterns (Noise spec rev 34, sections 7 and 9) and protocol-name parsing.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace starling::noise {

/// One token of a message or pre-message pattern.
enum class token { e, s, ee, es, se, ss, psk };

/// A handshake pattern with its modifiers applied.
struct pattern {
  std::string name;                  ///< e.g. "XXpsk3"
  std::vector<token> pre_initiator;  ///< initiator's pre-message ("-> s ...")
  std::vector<token> pre_responder;  ///< responder's pre-message ("<- s ...")
  std::vector<std::vector<token>>
      messages;               ///< message i is written by the initiator iff i is even
  bool one_way = false;       ///< N, K, X: transport goes initiator -> responder only
  bool has_psk = false;       ///< any psk modifier present
  std::size_t psk_count = 0;  ///< number of psk tokens
};

/// Looks up a pattern name with optional modifiers ("NN", "XXpsk3", "NNpsk0+psk2", "X1X1").
/// Returns nullopt for unknown names, unsupported modifiers (fallback) or bad psk positions.
std::optional<pattern> parse_pattern(std::string_view name);

/// Parses a full protocol name "Noise_<pattern>_25519_ChaChaPoly_SHA256". Returns nullopt when
/// the name is malformed or uses another DH, cipher or hash.
std::optional<pattern> parse_protocol_name(std::string_view protocol_name);

}  // namespace starling::noise
