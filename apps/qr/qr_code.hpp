#pragma once
/// QR codes for the CLI (`starling invite` shows its setup code as one): the module matrix
/// from libqrencode, drawn with Unicode half blocks for a terminal or written as a PNG.
///
/// libqrencode is loaded at run time (`libqrencode.so.4`, Debian's libqrencode4), not linked:
/// Debian ships it only as a shared library, and the release binary links everything but
/// glibc statically (docs/decisions/0011-qr-codes.md). Without it, encode() says so and the
/// caller prints the code alone.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "node/detailed_error.hpp"

namespace starling::qr {

/// A square of modules, row by row; true is dark.
struct matrix {
  int size = 0;
  std::vector<std::uint8_t> dark;  ///< size * size entries, 1 dark, 0 light
  bool at(int x, int y) const noexcept {
    return x >= 0 && y >= 0 && x < size && y < size &&
           dark[static_cast<std::size_t>(y) * static_cast<std::size_t>(size) +
                static_cast<std::size_t>(x)] != 0;
  }
};

/// Encodes `text` (error correction level M, the smallest version that fits).
/// Errors: errc::function_not_supported with "QR codes need libqrencode4 ..." when the library
/// cannot be loaded; errc::invalid_argument for empty text or text too long for a QR code.
node::detailed_result<matrix> encode(std::string_view text);

/// The matrix as text, two module rows per line, with a quiet zone of `margin` modules.
/// `ansi` wraps every line in black-on-white colour codes so the code reads the same on dark
/// and light terminals; without it, dark modules are drawn as blocks (dark on a light page).
std::string render_text(const matrix& m, bool ansi, int margin = 2);

/// Writes the matrix as a grey-scale PNG, `scale` pixels per module, with a quiet zone of 4
/// modules. Errors name the path and libpng's or the system's reason.
node::detailed_result<void> write_png(const matrix& m, const std::string& path, int scale = 8);

}  // namespace starling::qr
