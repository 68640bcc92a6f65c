# Sanitizers apply to the whole build so that every library is instrumented alike.
if(STARLING_SANITIZE)
  add_compile_options(-fsanitize=${STARLING_SANITIZE} -fno-omit-frame-pointer -g)
  add_link_options(-fsanitize=${STARLING_SANITIZE})
  if(STARLING_SANITIZE MATCHES "undefined")
    add_compile_options(-fno-sanitize-recover=undefined)
  endif()
endif()
if(STARLING_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "STARLING_FUZZ needs Clang (libFuzzer)")
  endif()
  # Instrument everything for coverage; the fuzzer main is linked only into fuzz targets. Line
  # tables are all that sanitizer and fuzzer reports need (file:line in each frame), and full
  # debug information would cost an eighth of this build's compile time.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
    -gline-tables-only)
  add_link_options(-fsanitize=address,undefined)
endif()
