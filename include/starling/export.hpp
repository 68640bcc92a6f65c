#pragma once
/// STARLING_API marks what libstarling exports; everything else in the library is hidden.

#if defined(__GNUC__) || defined(__clang__)
#define STARLING_API __attribute__((visibility("default")))
#else
#define STARLING_API
#endif
