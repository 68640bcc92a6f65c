#pragma once
/// Starling's public C++ API, all of it: `#include <starling/starling.hpp>` and link
/// `Starling::starling` (find_package(Starling)).
///
/// The API embeds a node in the application's process (starling::session); talking to a
/// running `starling node` daemon is not offered yet. Publish/subscribe on key expressions,
/// queries (get, queryable) and liveliness tokens are here. Only standard-library types
/// appear in these headers. Errors are returned (starling::result), never thrown.
///
///     auto s = starling::session::open();
///     auto sub = s->declare_subscriber("home/*/temp", [](const starling::sample& x) {
///       std::printf("%s %.*s\n", x.key.c_str(), int(x.text().size()), x.text().data());
///     });
///     s->put("home/kitchen/temp", "21.5");

#include "starling/error.hpp"
#include "starling/liveliness.hpp"
#include "starling/publisher.hpp"
#include "starling/publisher_options.hpp"
#include "starling/query.hpp"
#include "starling/reply.hpp"
#include "starling/result.hpp"
#include "starling/sample.hpp"
#include "starling/session.hpp"
#include "starling/subscriber.hpp"

/// The library's version (major, minor, patch).
#define STARLING_VERSION_MAJOR 0
#define STARLING_VERSION_MINOR 1
#define STARLING_VERSION_PATCH 0
