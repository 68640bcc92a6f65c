#include "core/data/store.hpp"

#include <algorithm>
#include <tuple>
#include <utility>

namespace starling::data {

namespace {

/// Samples order by (timestamp, source).
bool older(std::uint64_t ts_a, const std::string& src_a, std::uint64_t ts_b,
           const std::string& src_b) {
  return std::tie(ts_a, src_a) < std::tie(ts_b, src_b);
}

}  // namespace

store::store(store_limits limits) : m_limits(limits) {
  m_limits.keep = std::clamp<std::size_t>(m_limits.keep, 1, max_keep);
  m_limits.max_keys = std::max<std::size_t>(m_limits.max_keys, 1);
  m_limits.max_bytes = std::max<std::size_t>(m_limits.max_bytes, 1);
}

std::size_t store::cost(const std::string& key, const stored_sample& s) {
  return key.size() + s.source.size() + s.encoding.size() + s.payload.size();
}

void store::touch(slot& sl) {
  if (sl.written != 0) m_by_write.erase(sl.written);
  sl.written = m_next_write++;
  m_by_write.emplace(sl.written, sl.key.str());
  m_dirty.insert(sl.key.str());
}

void store::erase_key(std::map<std::string, slot>::iterator it) {
  m_bytes -= it->second.bytes;
  m_by_write.erase(it->second.written);
  m_dirty.insert(it->first);
  m_entries.erase(it);
}

void store::trim(slot& sl, std::size_t keep) {
  auto& v = sl.entry.samples;
  while (v.size() > keep) {
    const std::size_t c = cost(sl.key.str(), v.front());
    sl.bytes -= c;
    m_bytes -= c;
    v.erase(v.begin());
    ++m_stats.trimmed_samples;
  }
}

void store::make_room(const std::string& keep_key) {
  // Least recently written keys go first; never the key being written.
  auto it = m_by_write.begin();
  while (m_bytes > m_limits.max_bytes && it != m_by_write.end()) {
    if (it->second == keep_key) {
      ++it;
      continue;
    }
    auto victim = m_entries.find(it->second);
    ++it;
    if (victim != m_entries.end()) {
      erase_key(victim);
      ++m_stats.evicted_keys;
    }
  }
  if (m_bytes <= m_limits.max_bytes) return;
  // The written key alone is over: its oldest samples go (its newest one fits, see insert).
  auto self = m_entries.find(keep_key);
  if (self == m_entries.end()) return;
  auto& v = self->second.entry.samples;
  while (m_bytes > m_limits.max_bytes && v.size() > 1) {
    trim(self->second, v.size() - 1);
  }
}

store_outcome store::insert(const keyexpr::key& key, stored_sample s, bool del) {
  const std::string& k = key.str();
  const std::size_t c = cost(k, s);
  if (!del && c > m_limits.max_bytes) {
    ++m_stats.refused;
    return store_outcome::refused;
  }
  auto it = m_entries.find(k);
  if (it != m_entries.end()) {
    const store_entry& e = it->second.entry;
    if (e.tombstone != 0) {
      if (e.tombstone == s.timestamp && e.tombstone_source == s.source) {
        ++m_stats.duplicates;
        return store_outcome::duplicate;
      }
      if (older(s.timestamp, s.source, e.tombstone, e.tombstone_source)) {
        ++m_stats.stale;
        return store_outcome::stale;
      }
    }
  } else {
    // A new key: make room by count first (its bytes are checked once it is in).
    while (m_entries.size() >= m_limits.max_keys && !m_by_write.empty()) {
      auto victim = m_entries.find(m_by_write.begin()->second);
      if (victim == m_entries.end()) {
        m_by_write.erase(m_by_write.begin());
        continue;
      }
      erase_key(victim);
      ++m_stats.evicted_keys;
    }
    it = m_entries.emplace(k, slot{key, {}, 0, 0}).first;
  }
  slot& sl = it->second;
  auto& v = sl.entry.samples;

  if (del) {
    // Values older than the delete go; a put newer than it (it overtook the delete) stays.
    std::size_t older_count = 0;
    while (older_count < v.size() &&
           older(v[older_count].timestamp, v[older_count].source, s.timestamp, s.source)) {
      ++older_count;
    }
    if (older_count < v.size() && v[older_count].timestamp == s.timestamp &&
        v[older_count].source == s.source) {
      ++older_count;  // a delete with the stamp of a put we hold replaces it
    }
    for (std::size_t i = 0; i < older_count; ++i) {
      const std::size_t ci = cost(k, v[i]);
      sl.bytes -= ci;
      m_bytes -= ci;
    }
    v.erase(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(older_count));
    if (sl.entry.tombstone == 0) {
      sl.bytes += k.size();
      m_bytes += k.size();
    }
    sl.entry.tombstone = s.timestamp;
    sl.entry.tombstone_source = std::move(s.source);
    ++m_stats.deletes;
    touch(sl);
    make_room(k);
    return store_outcome::stored;
  }

  auto pos = std::lower_bound(v.begin(), v.end(), s, [](const stored_sample& a, const auto& b) {
    return older(a.timestamp, a.source, b.timestamp, b.source);
  });
  if (pos != v.end() && pos->timestamp == s.timestamp && pos->source == s.source) {
    ++m_stats.duplicates;
    return store_outcome::duplicate;
  }
  if (pos == v.begin() && v.size() >= m_limits.keep) {
    ++m_stats.stale;
    return store_outcome::stale;
  }
  v.insert(pos, std::move(s));
  sl.bytes += c;
  m_bytes += c;
  trim(sl, m_limits.keep);
  ++m_stats.stored;
  touch(sl);
  make_room(k);
  return store_outcome::stored;
}

void store::query(
    const keyexpr::keyexpr& selector, std::size_t last,
    const std::function<void(const std::string& key, const stored_sample&)>& fn) const {
  for (const auto& [k, sl] : m_entries) {
    const auto& v = sl.entry.samples;
    if (v.empty() || !keyexpr::matches(selector, sl.key)) continue;
    const std::size_t first = last == 0 || last >= v.size() ? 0 : v.size() - last;
    for (std::size_t i = first; i < v.size(); ++i)
      fn(k, v[i]);
  }
}

std::size_t store::collect_tombstones(std::uint64_t horizon) {
  std::size_t n = 0;
  for (auto it = m_entries.begin(); it != m_entries.end();) {
    slot& sl = it->second;
    if (sl.entry.tombstone == 0 || sl.entry.tombstone >= horizon) {
      ++it;
      continue;
    }
    ++n;
    if (sl.entry.samples.empty()) {
      erase_key(it++);
      continue;
    }
    // Newer puts stay; only the tombstone goes.
    sl.entry.tombstone = 0;
    sl.entry.tombstone_source.clear();
    sl.bytes -= it->first.size();
    m_bytes -= it->first.size();
    m_dirty.insert(it->first);
    ++it;
  }
  m_stats.tombstones_collected += n;
  return n;
}

const store_entry* store::find(const std::string& key) const {
  auto it = m_entries.find(key);
  return it == m_entries.end() ? nullptr : &it->second.entry;
}

std::set<std::string> store::take_dirty() {
  return std::exchange(m_dirty, {});
}

}  // namespace starling::data
