#include "qr_code.hpp"

#include <dlfcn.h>
#include <png.h>
#include <qrencode.h>

#include <cerrno>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

namespace starling::qr {
namespace {

using encode_fn = QRcode* (*)(const char*, int, QRecLevel, QRencodeMode, int);
using free_fn = void (*)(QRcode*);

/// libqrencode's two functions, looked up once.
struct library {
  encode_fn encode_string = nullptr;
  free_fn free_code = nullptr;
  std::string error;
};

const library& load() {
  static const library lib = [] {
    library l;
    void* handle = ::dlopen("libqrencode.so.4", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = ::dlerror();
      l.error = std::string("QR codes need libqrencode4 (apt install libqrencode4): ") +
                (why != nullptr ? why : "cannot load libqrencode.so.4");
      return l;
    }
    l.encode_string = reinterpret_cast<encode_fn>(::dlsym(handle, "QRcode_encodeString"));
    l.free_code = reinterpret_cast<free_fn>(::dlsym(handle, "QRcode_free"));
    if (l.encode_string == nullptr || l.free_code == nullptr) {
      l.error = "libqrencode.so.4 lacks QRcode_encodeString or QRcode_free";
      l.encode_string = nullptr;
      l.free_code = nullptr;
    }
    // The handle stays open for the life of the process.
    return l;
  }();
  return lib;
}

node::detailed_error error(std::errc code, std::string message) {
  return {std::make_error_code(code), std::move(message)};
}

}  // namespace

node::detailed_result<matrix> encode(std::string_view text) {
  if (text.empty()) return error(std::errc::invalid_argument, "nothing to encode");
  const library& lib = load();
  if (lib.encode_string == nullptr) return error(std::errc::function_not_supported, lib.error);
  const std::string copy(text);
  // Mode hint 8-bit with case kept: libqrencode still picks the alphanumeric mode for the
  // parts that fit it (an upper-case setup code), which makes a smaller symbol.
  QRcode* code = lib.encode_string(copy.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1);
  if (code == nullptr) {
    return error(std::errc::invalid_argument,
                 "cannot encode " + std::to_string(text.size()) + " bytes as a QR code");
  }
  matrix m;
  m.size = code->width;
  const auto n = static_cast<std::size_t>(m.size) * static_cast<std::size_t>(m.size);
  m.dark.resize(n);
  for (std::size_t i = 0; i < n; ++i)
    m.dark[i] = code->data[i] & 1;
  lib.free_code(code);
  return m;
}

std::string render_text(const matrix& m, bool ansi, int margin) {
  // Each character cell shows two modules, the upper one and the lower one.
  static constexpr std::string_view glyph[4] = {" ", "\u2584", "\u2580", "\u2588"};
  std::string out;
  const int from = -margin;
  const int to = m.size + margin;
  for (int y = from; y < to; y += 2) {
    if (ansi) out += "\x1b[30;47m";
    for (int x = from; x < to; ++x) {
      const int index = (m.at(x, y) ? 2 : 0) | (y + 1 < to && m.at(x, y + 1) ? 1 : 0);
      out += glyph[index];
    }
    if (ansi) out += "\x1b[0m";
    out += '\n';
  }
  return out;
}

node::detailed_result<void> write_png(const matrix& m, const std::string& path, int scale) {
  if (m.size <= 0 || scale <= 0 || scale > 64) {
    return error(std::errc::invalid_argument, "bad QR matrix or scale");
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "wb"),
                                                       &std::fclose);
  if (!file) {
    return error(static_cast<std::errc>(errno),
                 "cannot write " + path + ": " + std::strerror(errno));
  }
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    return error(std::errc::not_enough_memory, "libpng could not start");
  }
  constexpr int quiet = 4;
  const int modules = m.size + 2 * quiet;
  const auto side = static_cast<png_uint_32>(modules * scale);
  std::vector<png_byte> row(side);
  // libpng reports errors by longjmp; nothing with a destructor is created after this point.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return error(std::errc::io_error, "libpng failed to write " + path);
  }
  png_init_io(png, file.get());
  png_set_IHDR(png, info, side, side, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < modules; ++y) {
    for (int x = 0; x < modules; ++x) {
      const png_byte v = m.at(x - quiet, y - quiet) ? 0 : 255;
      std::memset(row.data() + static_cast<std::size_t>(x * scale), v,
                  static_cast<std::size_t>(scale));
    }
    for (int r = 0; r < scale; ++r)
      png_write_row(png, row.data());
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fflush(file.get()) != 0) {
    return error(static_cast<std::errc>(errno),
                 "cannot write " + path + ": " + std::strerror(errno));
  }
  return {};
}

}  // namespace starling::qr
