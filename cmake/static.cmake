# Targets the layers link for logging, libsodium, zstd and SQLite: shared libraries normally, static
# archives (and header-only spdlog + fmt) when STARLING_STATIC is on. See
# docs/decisions/0006-static-release.md for why, and docs/benchmarks.md for what it saves.
add_library(starling_log INTERFACE)
add_library(starling_sodium INTERFACE)
add_library(starling_sqlite INTERFACE)
add_library(starling_zstd INTERFACE)
add_library(starling_png INTERFACE)  # the CLI's QR codes (decision 0011)
# Linked by the programs we ship or run as one self-contained binary (`starling`, the plain
# bench drivers), not by ones that load a shared C++ library of their own (Google Benchmark):
# those must not carry a second, static libstdc++.
add_library(starling_static_runtime INTERFACE)
find_package(SQLite3 REQUIRED)

if(NOT STARLING_STATIC)
  target_link_libraries(starling_log INTERFACE spdlog::spdlog)
  target_link_libraries(starling_sodium INTERFACE PkgConfig::SODIUM)
  target_link_libraries(starling_zstd INTERFACE PkgConfig::ZSTD)
  target_link_libraries(starling_sqlite INTERFACE SQLite::SQLite3)
  target_link_libraries(starling_png INTERFACE PkgConfig::PNG)
  return()
endif()

# Debian ships spdlog and fmt only as shared libraries, and either one would load the shared
# libstdc++ again: use both header-only (spdlog's default without SPDLOG_COMPILED_LIB).
target_compile_definitions(starling_log INTERFACE SPDLOG_FMT_EXTERNAL)
target_link_libraries(starling_log INTERFACE fmt::fmt-header-only Threads::Threads)

find_library(STARLING_SODIUM_A NAMES libsodium.a HINTS ${SODIUM_LIBRARY_DIRS} REQUIRED)
target_include_directories(starling_sodium INTERFACE ${SODIUM_INCLUDE_DIRS})
target_link_libraries(starling_sodium INTERFACE ${STARLING_SODIUM_A} Threads::Threads)

find_library(STARLING_ZSTD_A NAMES libzstd.a HINTS ${ZSTD_LIBRARY_DIRS} REQUIRED)
target_include_directories(starling_zstd INTERFACE ${ZSTD_INCLUDE_DIRS})
target_link_libraries(starling_zstd INTERFACE ${STARLING_ZSTD_A})

get_filename_component(sqlite_dir "${SQLite3_LIBRARY}" DIRECTORY)
find_library(STARLING_SQLITE_A NAMES libsqlite3.a HINTS ${sqlite_dir} REQUIRED)
target_include_directories(starling_sqlite INTERFACE ${SQLite3_INCLUDE_DIRS})
target_link_libraries(starling_sqlite INTERFACE ${STARLING_SQLITE_A} Threads::Threads ${CMAKE_DL_LIBS} m)

find_library(STARLING_PNG_A NAMES libpng16.a HINTS ${PNG_LIBRARY_DIRS} REQUIRED)
find_library(STARLING_Z_A NAMES libz.a HINTS ${PNG_LIBRARY_DIRS} REQUIRED)
target_include_directories(starling_png INTERFACE ${PNG_INCLUDE_DIRS})
target_link_libraries(starling_png INTERFACE ${STARLING_PNG_A} ${STARLING_Z_A} m)

# Every function and object in its own section, so that the linker can drop what nothing uses.
add_compile_options(-ffunction-sections -fdata-sections)
add_link_options(-Wl,--gc-sections)
target_link_options(starling_static_runtime INTERFACE -static-libstdc++ -static-libgcc)
