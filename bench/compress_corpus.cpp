// Compression of data frames (core/data/compress.hpp) on a deterministic corpus of JSON sensor
// readings, batched as the engine batches them: each frame holds the key aliases of keys not
// yet declared on the link, then one `push` per reading (encoding application/json), up to N
// samples or the engine's 64 KiB frame size. Reports, per zstd level and batch size, the
// compression ratio (raw frame bytes / compressed frame bytes) and the CPU cost: µs per frame
// and MB/s (of raw bytes) to compress and to decompress, on one core. A last row compresses
// random bytes (an already compressed payload) to show what trying costs.
// usage: compress_corpus [--seconds S] [--levels 1,3,6] [--batches 1,4,8,16,64,256,full]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/data/compress.hpp"
#include "core/data/wire.hpp"
#include "core/multiformats/varint.hpp"

using namespace starling;
using namespace starling::data;

namespace {

using clock_type = std::chrono::steady_clock;

/// One reading as a sensor would publish it.
struct reading {
  std::string key;
  std::string json;
  std::uint64_t ts = 0;
};

/// 5 floors x 20 rooms x 5 kinds of sensors, one reading every 10 ms across the building, with
/// values that drift like real ones (seeded, so every run sees the same corpus).
std::vector<reading> make_corpus(std::size_t n) {
  static constexpr const char* kinds[] = {"temp", "humidity", "co2", "pressure", "lux"};
  static constexpr const char* units[] = {"C", "%", "ppm", "hPa", "lx"};
  static constexpr double base[] = {21.0, 45.0, 600.0, 1013.0, 300.0};
  static constexpr double spread[] = {3.0, 15.0, 400.0, 10.0, 250.0};
  std::mt19937_64 rng(20261124);
  std::normal_distribution<double> drift(0.0, 0.05);
  std::uniform_int_distribution<int> floor_d(1, 5), room_d(1, 20), kind_d(0, 4);
  std::unordered_map<std::string, double> last;
  std::vector<reading> out;
  out.reserve(n);
  std::uint64_t ts = 1'795'000'000'000;  // ms since 1970
  char buf[256];
  for (std::size_t i = 0; i < n; ++i) {
    const int f = floor_d(rng), r = room_d(rng), k = kind_d(rng);
    std::snprintf(buf, sizeof buf, "building/floor%d/room%d/%s", f, r, kinds[k]);
    std::string key = buf;
    auto [it, fresh] = last.try_emplace(key, base[k]);
    it->second += drift(rng) * spread[k];
    it->second = std::clamp(it->second, base[k] - spread[k], base[k] + spread[k]);
    ts += 10;
    std::snprintf(buf, sizeof buf,
                  R"({"sensor":"floor%d/room%d/%s","value":%.2f,"unit":"%s","ts":%llu})", f, r,
                  kinds[k], it->second, units[k], static_cast<unsigned long long>(ts));
    out.push_back({std::move(key), buf, ts});
  }
  return out;
}

/// The corpus cut into frame bodies of `per_frame` samples (0: up to the engine's 64 KiB).
std::vector<bytes> make_frames(const std::vector<reading>& corpus, std::size_t per_frame) {
  constexpr std::size_t batch_bytes = 64 * 1024;
  std::unordered_map<std::string, std::uint64_t> aliases;
  std::vector<bytes> frames;
  bytes body;
  std::size_t in_frame = 0;
  std::uint64_t seq = 0;
  for (const auto& r : corpus) {
    auto [it, fresh] = aliases.try_emplace(r.key, aliases.size() + 1);
    if (fresh) (void)encode(key_alias{it->second, r.key}, body);
    push p;
    p.flags = push_flags::reliable | push_flags::has_encoding |
              (static_cast<int>(priority::data) << push_flags::priority_shift);
    p.source = 0;
    p.publisher = 7;
    p.seq = ++seq;
    p.key = it->second;
    p.timestamp = (r.ts / 1000 + 2'208'988'800ULL) << 32 | ((r.ts % 1000) << 22);
    p.encoding = "application/json";
    p.payload = as_bytes(r.json);
    (void)encode(p, body);
    ++in_frame;
    if ((per_frame != 0 && in_frame == per_frame) ||
        (per_frame == 0 && body.size() >= batch_bytes)) {
      frames.push_back(std::move(body));
      body.clear();
      in_frame = 0;
    }
  }
  if (!body.empty()) frames.push_back(std::move(body));
  return frames;
}

struct result_row {
  double raw_bytes = 0, z_bytes = 0;  // per frame, whole frames
  double comp_us = 0, decomp_us = 0;  // per frame
  std::size_t kept = 0, frames = 0;   // frames whose compressed form was smaller
};

result_row measure(const std::vector<bytes>& bodies, int level, double seconds) {
  zstd_compressor c(level);
  zstd_decompressor d;
  result_row row;
  bytes out, back, scratch;
  // Sizes of whole frames as sent: the compressed frame when it is smaller, else the raw one.
  for (const auto& b : bodies) {
    const double raw = static_cast<double>(varint::encoded_size(1 + b.size()) + 1 + b.size());
    row.raw_bytes += raw;
    auto z = c.compress_frame(b, out);
    ++row.frames;
    if (z) ++row.kept;
    row.z_bytes += z ? static_cast<double>(z->size()) : raw;
  }
  // Time: repeat the whole set until `seconds` have passed.
  std::size_t n = 0;
  auto t0 = clock_type::now();
  do {
    for (const auto& b : bodies) {
      scratch.clear();
      if (!c.compress(b, scratch)) std::abort();
      ++n;
    }
  } while (std::chrono::duration<double>(clock_type::now() - t0).count() < seconds);
  row.comp_us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() /
                static_cast<double>(n);
  // Decompression of what was compressed (zstd frames without our header).
  std::vector<bytes> zframes;
  for (const auto& b : bodies) {
    bytes z;
    if (!c.compress(b, z)) std::abort();
    zframes.push_back(std::move(z));
  }
  n = 0;
  t0 = clock_type::now();
  do {
    for (std::size_t i = 0; i < zframes.size(); ++i) {
      if (!d.decompress(zframes[i], back, max_frame - 1)) std::abort();
      if (back.size() != bodies[i].size()) std::abort();
      ++n;
    }
  } while (std::chrono::duration<double>(clock_type::now() - t0).count() < seconds);
  row.decomp_us = std::chrono::duration<double, std::micro>(clock_type::now() - t0).count() /
                  static_cast<double>(n);
  const double frames = static_cast<double>(row.frames);
  row.raw_bytes /= frames;
  row.z_bytes /= frames;
  return row;
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t comma = s.find(',', at);
    out.push_back(s.substr(at, comma == std::string::npos ? std::string::npos : comma - at));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 0.5;
  std::string levels = "1,3,6";
  std::string batches = "1,4,8,16,64,256,full";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view opt = argv[i];
    if (opt == "--seconds") {
      seconds = std::atof(argv[i + 1]);
    } else if (opt == "--levels") {
      levels = argv[i + 1];
    } else if (opt == "--batches") {
      batches = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "usage: compress_corpus [--seconds S] [--levels 1,3,6] [--batches "
                   "1,4,8,16,64,256,full]\n");
      return 2;
    }
  }
  const auto corpus = make_corpus(200'000);
  std::size_t json_bytes = 0;
  std::unordered_map<std::string, int> keys;
  for (const auto& r : corpus) {
    json_bytes += r.json.size();
    keys[r.key] = 1;
  }
  std::printf("corpus: %zu JSON readings, %zu distinct keys, %.1f B per reading, e.g. %s\n",
              corpus.size(), keys.size(),
              static_cast<double>(json_bytes) / static_cast<double>(corpus.size()),
              corpus.front().json.c_str());
  std::printf("%-6s %-8s %10s %10s %7s %6s %12s %12s %12s %12s\n", "level", "batch", "raw B",
              "zstd B", "ratio", "kept", "comp us", "comp MB/s", "decomp us", "decomp MB/s");
  for (const auto& lv : split(levels)) {
    const int level = std::atoi(lv.c_str());
    for (const auto& b : split(batches)) {
      const std::size_t per = b == "full" ? 0 : static_cast<std::size_t>(std::atol(b.c_str()));
      // Skip the first frames, which carry most key declarations.
      auto frames = make_frames(corpus, per);
      const std::size_t skip = std::min<std::size_t>(frames.size() / 4, per == 0 ? 2 : 2000);
      frames.erase(frames.begin(), frames.begin() + static_cast<std::ptrdiff_t>(skip));
      if (per != 0 && frames.size() > 2000) frames.resize(2000);
      const auto row = measure(frames, level, seconds);
      std::printf("%-6d %-8s %10.0f %10.0f %7.2f %5.0f%% %12.2f %12.1f %12.2f %12.1f\n", level,
                  b.c_str(), row.raw_bytes, row.z_bytes, row.raw_bytes / row.z_bytes,
                  100.0 * static_cast<double>(row.kept) / static_cast<double>(row.frames),
                  row.comp_us, row.raw_bytes / row.comp_us, row.decomp_us,
                  row.raw_bytes / row.decomp_us);
    }
  }
  // Already compressed content: what trying costs (the result is never kept).
  std::mt19937_64 rng(1);
  std::vector<bytes> noise(16, bytes(64 * 1024));
  for (auto& f : noise) {
    for (auto& x : f)
      x = static_cast<std::uint8_t>(rng());
  }
  for (const auto& lv : split(levels)) {
    const auto row = measure(noise, std::atoi(lv.c_str()), seconds);
    std::printf("%-6s %-8s %10.0f %10.0f %7.2f %5.0f%% %12.2f %12.1f %12s %12s\n", lv.c_str(),
                "random", row.raw_bytes, row.z_bytes, row.raw_bytes / row.z_bytes,
                100.0 * static_cast<double>(row.kept) / static_cast<double>(row.frames),
                row.comp_us, row.raw_bytes / row.comp_us, "-", "-");
  }
  return 0;
}
