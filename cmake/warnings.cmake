# One place for warning flags: every Starling target links starling_warnings.
add_library(starling_warnings INTERFACE)
target_compile_options(starling_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow
  -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wimplicit-fallthrough)
if(STARLING_WERROR)
  target_compile_options(starling_warnings INTERFACE -Werror)
endif()
