#!/usr/bin/env bash
# Checks every tracked C++ file (*.cpp, *.hpp) against .clang-format with clang-format 14.
# Prints each file that does not conform and exits 1 if there is any.
# Usage: scripts/check-format.sh          (check only, changes nothing)
#        scripts/check-format.sh --fix    (reformat the offending files in place)
# CLANG_FORMAT=/path/to/clang-format picks another binary; it must be version 14, since other
# versions lay out some constructs differently.
set -euo pipefail
cd "$(dirname "$0")/.."

fix=0
case "${1:-}" in
  "") ;;
  --fix) fix=1 ;;
  -h | --help)
    sed -n '2,7s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
  *)
    echo "check-format: unknown argument '$1' (use --fix or nothing)" >&2
    exit 2
    ;;
esac

clang_format=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$clang_format" >/dev/null; then
  echo "check-format: $clang_format not found (scripts/install-deps.sh installs clang-format-14)" >&2
  exit 2
fi
if ! "$clang_format" --version | grep -q 'version 14\.'; then
  echo "check-format: $clang_format is not clang-format 14: $("$clang_format" --version)" >&2
  exit 2
fi

mapfile -d '' files < <(git ls-files -z -- '*.cpp' '*.hpp')
if ((${#files[@]} == 0)); then
  echo "check-format: no tracked C++ files found" >&2
  exit 2
fi

# One clang-format run over every file (a process per file is slow on a busy machine). With
# --dry-run --Werror it reports each file that would change as "FILE:LINE:COL: error: code should
# be clang-formatted"; --ferror-limit=1 keeps that to one line per file.
status=0
report=$("$clang_format" --dry-run --Werror --ferror-limit=1 -- "${files[@]}" 2>&1) || status=$?
mapfile -t offenders < <(
  sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: code should be clang-formatted.*/\1/p' <<<"$report" | sort -u)
if ((status != 0 && ${#offenders[@]} == 0)); then
  # Failed for another reason (an unreadable file, a bad .clang-format): show why.
  printf '%s\n' "$report" >&2
  echo "check-format: $clang_format failed (exit $status)" >&2
  exit 2
fi

if ((${#offenders[@]} == 0)); then
  echo "check-format: all ${#files[@]} C++ files conform to .clang-format"
  exit 0
fi

if ((fix)); then
  "$clang_format" -i -- "${offenders[@]}"
  printf 'check-format: reformatted %s\n' "${offenders[@]}"
  echo "check-format: reformatted ${#offenders[@]} of ${#files[@]} C++ files"
  exit 0
fi

printf 'check-format: not formatted: %s\n' "${offenders[@]}" >&2
echo "check-format: ${#offenders[@]} of ${#files[@]} C++ files do not conform to .clang-format;" \
  "scripts/check-format.sh --fix reformats them, clang-format-14 --dry-run FILE shows the changes" >&2
exit 1
