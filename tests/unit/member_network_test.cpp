#include <gtest/gtest.h>

#include "core/member/network.hpp"

using namespace starling;

TEST(MemberNetwork, IdDependsOnTheOwnerKeyAndRoundTripsThroughHex) {
  member::public_key a{};
  member::public_key b{};
  b[31] = 1;
  const auto ia = member::network_id_of(a);
  const auto ib = member::network_id_of(b);
  EXPECT_NE(ia, ib);
  EXPECT_EQ(ia, member::network_id_of(a));
  const auto text = member::to_hex(ia);
  ASSERT_EQ(text.size(), 64u);
  EXPECT_EQ(member::short_name(ia), text.substr(0, 16));
  EXPECT_EQ(member::network_id_from_hex(text), ia);
  std::string upper = text;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(member::network_id_from_hex(upper), ia);
}

TEST(MemberNetwork, HexParserRefusesWrongLengthAndNonHex) {
  EXPECT_FALSE(member::network_id_from_hex(""));
  EXPECT_FALSE(member::network_id_from_hex(std::string(63, 'a')));
  EXPECT_FALSE(member::network_id_from_hex(std::string(65, 'a')));
  EXPECT_FALSE(member::network_id_from_hex(std::string(63, 'a') + "g"));
  EXPECT_TRUE(member::network_id_from_hex(std::string(64, 'a')));
}

TEST(MemberNetwork, IdIsTheDomainSeparatedHashOfTheOwnerKey) {
  member::public_key k{};
  for (std::size_t i = 0; i < k.size(); ++i)
    k[i] = static_cast<std::uint8_t>(i);
  std::string input = "starling/network/v1";
  input.append(reinterpret_cast<const char*>(k.data()), k.size());
  const auto digest = crypto::sha256(as_bytes(input));
  EXPECT_TRUE(std::equal(digest.begin(), digest.end(), member::network_id_of(k).bytes.begin()));
}
