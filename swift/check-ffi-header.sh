#!/usr/bin/env bash
# Checks the Swift bindings' C side without a Swift compiler (it runs where there is none too,
# before swift/run-tests.sh looks for one), after swift/generate.sh:
#
#   1. the generated header parses as C11 with gcc, warnings as errors (clang's nullability
#      qualifiers _Nullable/_Nonnull defined away: gcc does not know them);
#   2. every function it declares (as gcc parsed them: `-aux-info`, not a regex over the text) is
#      exported by the library the tests link (`nm -D --defined-only`);
#   3. every FFI function the generated Swift calls is declared in the header;
#   4. module.modulemap names the C module the Swift imports and the header beside it.
#
# It then prints `FFI header OK: N functions ...`. Needs gcc and nm (binutils).
#
#   swift/check-ffi-header.sh             build, generate, check
#   swift/check-ffi-header.sh --no-build  check what swift/generate.sh produced last
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}

case "${1:-}" in
  --no-build) ;;
  "") swift/generate.sh ;;
  *) echo "usage: swift/check-ffi-header.sh [--no-build]" >&2; exit 2 ;;
esac

ffi_dir=$root/swift/Sources/GoTrueSessionFFIFFI
header=$ffi_dir/GoTrueSessionFFIFFI.h
modulemap=$ffi_dir/module.modulemap
swift_file=$root/swift/Sources/GoTrueSessionFFI/GoTrueSessionFFI.swift
case "$(uname -s)" in
  Darwin) lib=$target/debug/libgotrue_session_ffi.dylib ;;
  *) lib=$target/debug/libgotrue_session_ffi.so ;;
esac
for f in "$header" "$modulemap" "$swift_file" "$lib"; do
  [ -f "$f" ] || { echo "error: $f is missing: run swift/generate.sh first" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# 1. The header parses. It is included from a file of its own (not compiled as the main file,
# where `#pragma once` warns), twice, as a second include in a Swift build would.
printf '#include "%s"\n#include "%s"\n' "$header" "$header" >"$tmp/check.c"
if ! gcc -std=c11 -Wall -Wextra -Werror -fsyntax-only -D_Nullable= -D_Nonnull= \
  -aux-info "$tmp/aux.txt" "$tmp/check.c"; then
  echo "error: $header does not parse as C11" >&2
  exit 1
fi

# 2. Every declared function is exported. -aux-info prints one prototype a line, as
# `/* FILE:LINE:NC */ extern RET NAME (ARGS);`; only the header's own declarations count.
grep -F "/* $header:" "$tmp/aux.txt" | perl -ne 'print "$1\n" if /\*\/ extern .*?\b(\w+) \(/' | sort -u >"$tmp/declared"
declared=$(wc -l <"$tmp/declared")
if [ "$declared" -lt 10 ]; then
  echo "error: gcc found only $declared function declarations in $header" >&2
  exit 1
fi
case "$(uname -s)" in
  Darwin) nm -gU "$lib" | awk '{print $3}' | sed 's/^_//' | sort -u >"$tmp/exported" ;;
  *) nm -D --defined-only "$lib" | awk 'NF >= 3 {print $3}' | sort -u >"$tmp/exported" ;;
esac
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
if [ -n "$missing" ]; then
  echo "error: declared in the header but not exported by $(basename "$lib"):" >&2
  echo "$missing" | sed 's/^/  /' >&2
  fail=1
fi

# 3. The Swift calls only declared functions (uniffi's C names all start with these prefixes).
grep -oE '\b(uniffi|ffi)_gotrue_session_ffi_[A-Za-z0-9_]+\b' "$swift_file" | sort -u >"$tmp/called"
called=$(wc -l <"$tmp/called")
undeclared=$(comm -23 "$tmp/called" "$tmp/declared")
if [ -n "$undeclared" ]; then
  echo "error: called by GoTrueSessionFFI.swift but not declared in the header:" >&2
  echo "$undeclared" | sed 's/^/  /' >&2
  fail=1
fi

# 4. The module map: the module the Swift imports, the header next to it.
module=$(sed -n 's/^module \([A-Za-z0-9_]*\) {$/\1/p' "$modulemap")
mapped_header=$(sed -n 's/^ *header "\(.*\)"$/\1/p' "$modulemap")
if [ "$module" != GoTrueSessionFFIFFI ] || [ "$mapped_header" != "$(basename "$header")" ]; then
  echo "error: $modulemap declares module '$module' with header '$mapped_header'" >&2
  fail=1
fi
if ! grep -q "^import $module\$" "$swift_file"; then
  echo "error: GoTrueSessionFFI.swift does not import $module" >&2
  fail=1
fi

[ "$fail" = 0 ] || exit 1
echo "FFI header OK: $declared functions declared, all exported by $(basename "$lib"); $called called from Swift, all declared; module $module"
