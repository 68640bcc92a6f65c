#include <gtest/gtest.h>

#include <sstream>

#include "qr_code.hpp"

using namespace starling;

namespace {
qr::matrix diagonal(int size) {
  qr::matrix m;
  m.size = size;
  m.dark.assign(static_cast<std::size_t>(size * size), 0);
  for (int i = 0; i < size; ++i)
    m.dark[static_cast<std::size_t>(i * size + i)] = 1;
  return m;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}
}  // namespace

TEST(QrCode, TextShowsTwoModuleRowsPerLineInsideTheQuietZone) {
  const auto text = qr::render_text(diagonal(3), false, 1);
  // 3 modules + 2 margin = 5 rows -> 3 lines of 5 cells.
  const auto l = lines(text);
  ASSERT_EQ(l.size(), 3u);
  // Row -1 (margin) and row 0: only (0,0) dark, in the lower half -> lower half block.
  EXPECT_EQ(l[0], " \u2584   ");
  // Rows 1 and 2: (1,1) upper, (2,2) lower.
  EXPECT_EQ(l[1], "  \u2580\u2584 ");
  // Row 3 (margin) alone: nothing dark.
  EXPECT_EQ(l[2], "     ");
}

TEST(QrCode, AnsiWrapsEveryLineInBlackOnWhite) {
  const auto l = lines(qr::render_text(diagonal(2), true, 2));
  ASSERT_EQ(l.size(), 3u);
  for (const auto& line : l) {
    EXPECT_EQ(line.rfind("\x1b[30;47m", 0), 0u);
    EXPECT_EQ(line.substr(line.size() - 4), "\x1b[0m");
  }
}

TEST(QrCode, PngRefusesABadScaleAndAnUnwritablePath) {
  EXPECT_FALSE(qr::write_png(diagonal(3), "/nonexistent-dir/x.png"));
  EXPECT_FALSE(qr::write_png(diagonal(3), "/tmp/unused.png", 0));
  EXPECT_FALSE(qr::write_png(qr::matrix{}, "/tmp/unused.png"));
}
