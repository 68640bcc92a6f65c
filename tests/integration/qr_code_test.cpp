// QR codes end to end: libqrencode (loaded at run time) makes the symbol, libpng writes it, and
// zbarimg (zbar-tools, installed by scripts/install-deps.sh) reads it back.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "qr_code.hpp"

using namespace starling;

namespace {
std::string decode_png(const std::string& path) {
  const std::string command = "zbarimg --quiet --raw '" + path + "' 2>/dev/null";
  std::FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return "popen failed";
  // Only stdout: zbarimg also complains on stderr when there is no D-Bus, which is harmless.
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr)
    out += buf;
  ::pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
    out.pop_back();
  return out;
}
}  // namespace

TEST(QrCode, APngOfASetupCodeDecodesToTheSameText) {
  const std::string text = "K7QF-3M9X-2HDP-8ZR4-TV5W";
  auto m = qr::encode(text);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_GE(m->size, 21);
  EXPECT_EQ((m->size - 17) % 4, 0) << "a QR symbol is 17 + 4 * version modules wide";
  const auto dir =
      std::filesystem::temp_directory_path() / ("starling-qr-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto path = (dir / "code.png").string();
  ASSERT_TRUE(qr::write_png(*m, path, 4));
  EXPECT_EQ(decode_png(path), text);
  std::filesystem::remove_all(dir);
}

TEST(QrCode, EmptyTextIsRefused) {
  auto m = qr::encode("");
  ASSERT_FALSE(m);
  EXPECT_EQ(m.error().code, std::make_error_code(std::errc::invalid_argument));
}
