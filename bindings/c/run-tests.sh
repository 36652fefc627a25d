#!/usr/bin/env bash
# Tests of the C API, from C:
#  1. the generated header parses as C and as C++, and the cdylib exports every function it
#     declares (and no other gs_ symbol);
#  2. tests/replay.c (a scenario driver in C, with cJSON), tests/api.c (direct calls: the checks
#     of the configuration, the error of a `complete` output) and examples/minimal.c compile with
#     gcc -Wall -Wextra -Werror against the staticlib and against the cdylib;
#  3. same bytes: every scenario of tests/scenarios replayed through the C API (both links)
#     prints the same trace, byte for byte, and exits with the same code as `gotrue-session
#     replay`; the named scenarios below must also meet their expectations (exit 0);
#  4. tests/api.c passes, and valgrind's memcheck finds no error and no leak in it (both links),
#     in the named scenarios through both links, the whole corpus through the static link, and
#     the example.
# Needs gcc, g++, valgrind and libcjson-dev (.ci/run installs them). Prints
# `c-api: N passed, N failed` and exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Scenarios that must be there and pass, one per area the C driver has to get right.
named=(
  get-user-session-not-found-transient      # get_user: a suspicion verified by a refresh
  get-user-network-error                    # get_user: transport failure
  get-user-session-not-found-after-verify-unconfirmed # get_user: session_unconfirmed, session kept
  get-user-verify-cooldown-zero-verifies-again        # the verify_cooldown_ms option
  refresh-retry-burst-then-cooldown         # refresh retries on the virtual clock, cooldown
  refresh-retry-after-then-ok               # Retry-After header
  sign-out-global-session-not-found-removes # sign-out
  sign-out-local-offline                    # offline_ms windows
  exchange-code-ok                          # PKCE exchange, verifier in storage
  exchange-code-password-recovery           # PKCE recovery flow
  storage-write-fails-retried-after-1s      # storage_fail injection, retried writes
  init-storage-read-fails-then-get-user     # failed storage reads
  restart-while-refresh-in-flight           # restart: answers lost, storage kept
  auto-refresh-before-expiry                # timers firing during advance_ms
  lifecycle-foreground-refreshes-at-once    # lifecycle input
  network-online-ends-cooldown              # network input
)

target=${CARGO_TARGET_DIR:-$PWD/target}
lib=$target/release
out=$target/c-api
mkdir -p "$out"
passed=0
failed=0
pass() { passed=$((passed + 1)); }
fail() {
  failed=$((failed + 1))
  echo "FAIL: $*" >&2
}
# check NAME COMMAND...: runs the command, counting it.
check() {
  local name=$1
  shift
  if "$@"; then pass; else fail "$name"; fi
}

echo "-- building the C library (static and dynamic) and the replay command (release)"
cargo build --release --locked --quiet -p gotrue-session-c -p gotrue-session-cli
# Private copies: a cargo build running meanwhile (another checkout's tests) cannot swap them.
mkdir -p "$out/lib"
cp "$lib/libgotrue_session_c.a" "$lib/libgotrue_session_c.so" "$lib/gotrue-session" "$out/lib/"
lib=$out/lib
cli=$lib/gotrue-session
header=bindings/c/include/gotrue_session.h

echo "-- the header"
check "header parses as C" gcc -std=c99 -Wall -Wextra -Werror -fsyntax-only -x c "$header"
check "header parses as C++" g++ -std=c++11 -Wall -Wextra -Werror -fsyntax-only -x c++ "$header"
declared=$(grep -oE '\bgs_[a-z_]+\(' "$header" | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$lib/libgotrue_session_c.so" | awk '{print $3}' | grep '^gs_' | sort -u || true)
if [ -n "$declared" ] && [ "$declared" == "$exported" ]; then
  pass
else
  fail "the header declares [$(echo $declared)] but the library exports [$(echo $exported)]"
fi

echo "-- compiling with gcc -Wall -Wextra -Werror"
cflags=(-std=c11 -Wall -Wextra -Werror -O1 -g -Ibindings/c/include)
static_link=("$lib/libgotrue_session_c.a" -lcjson -lpthread -ldl -lm)
dynamic_link=(-L"$lib" -lgotrue_session_c -Wl,-rpath,"$lib" -lcjson -lpthread -ldl -lm)
for prog in tests/replay tests/api examples/minimal; do
  name=$(basename "$prog")
  check "compile $name (static)" gcc "${cflags[@]}" "bindings/c/$prog.c" "${static_link[@]}" -o "$out/$name-static"
  check "compile $name (dynamic)" gcc "${cflags[@]}" "bindings/c/$prog.c" "${dynamic_link[@]}" -o "$out/$name-dynamic"
done
# The README's example is examples/minimal.c (from its first #include), so the one shown compiles.
if diff <(sed -n '/^```c$/,/^```$/p' bindings/c/README.md | sed '1d;$d') \
  <(sed -n '/^#include/,$p' bindings/c/examples/minimal.c) >/dev/null; then
  pass
else
  fail "the example in bindings/c/README.md differs from bindings/c/examples/minimal.c"
fi
# ldd's output is read whole first: under pipefail, `ldd | grep -q` fails at random when grep
# exits on its match and ldd, still writing, dies of SIGPIPE.
deps_dynamic=$(ldd "$out/replay-dynamic")
deps_static=$(ldd "$out/replay-static")
if grep -q "libgotrue_session_c.so => $lib/" <<<"$deps_dynamic"; then pass; else fail "replay-dynamic does not load the cdylib"; fi
if grep -q libgotrue_session_c <<<"$deps_static"; then fail "replay-static loads the cdylib"; else pass; fi

echo "-- same bytes: every scenario through the C API and through the Rust replay"
for name in "${named[@]}"; do
  [ -f "tests/scenarios/$name.json" ] || fail "named scenario $name.json is missing from tests/scenarios"
done
files=(tests/scenarios/*.json)
for f in "${files[@]}"; do
  want_rc=0
  "$cli" replay "$f" >"$out/want.txt" 2>/dev/null || want_rc=$?
  for link in static dynamic; do
    got_rc=0
    "$out/replay-$link" "$f" >"$out/got.txt" 2>"$out/got.err" || got_rc=$?
    if cmp -s "$out/want.txt" "$out/got.txt" && [ "$got_rc" == "$want_rc" ]; then
      pass
    else
      fail "$f ($link): trace or exit code differs (C exit $got_rc, Rust exit $want_rc)"
      diff "$out/want.txt" "$out/got.txt" | head -5 >&2 || true
      head -3 "$out/got.err" >&2
    fi
  done
done
named_files=()
for name in "${named[@]}"; do named_files+=("tests/scenarios/$name.json"); done
for link in static dynamic; do
  check "named scenarios meet their expectations ($link)" "$out/replay-$link" "${named_files[@]}" >/dev/null
done
echo "   ${#files[@]} scenarios compared"

echo "-- valgrind memcheck"
vg=(valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect,possible)
for link in static dynamic; do
  # Its own failures exit 1 and name themselves on stderr; valgrind's exit 99.
  check "tests/api.c under valgrind ($link)" "${vg[@]}" --error-exitcode=99 "$out/api-$link"
done
for link in static dynamic; do
  check "valgrind: named scenarios ($link)" "${vg[@]}" --error-exitcode=1 "$out/replay-$link" "${named_files[@]}" >/dev/null
  check "valgrind: minimal example ($link)" "${vg[@]}" --error-exitcode=1 "$out/minimal-$link" >/dev/null
done
# The whole corpus in one process; 99 tells valgrind's verdict from an expectation's exit 1.
want_rc=0
"$cli" replay "${files[@]}" >"$out/want-all.txt" 2>/dev/null || want_rc=$?
got_rc=0
"${vg[@]}" --error-exitcode=99 "$out/replay-static" "${files[@]}" >"$out/got-all.txt" 2>"$out/valgrind.err" || got_rc=$?
if [ "$got_rc" == "$want_rc" ] && cmp -s "$out/want-all.txt" "$out/got-all.txt"; then
  pass
else
  fail "valgrind: the whole corpus (exit $got_rc, expected $want_rc)"
  head -20 "$out/valgrind.err" >&2
fi

echo "c-api: $passed passed, $failed failed"
[ "$failed" == 0 ]
