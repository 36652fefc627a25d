#!/usr/bin/env bash
# The Swift checks. First, with or without a Swift toolchain: the bindings are regenerated and
# their C side is checked (swift/check-ffi-header.sh: the header parses with gcc, every function
# it declares is exported by the library, every FFI function the Swift calls is declared).
# Then, without a Swift toolchain, it prints `SKIPPED: swift (no toolchain)` and exits 0. With one:
#   1. every target (library and tests) is built in the Swift 6 language mode (complete
#      strict-concurrency checking) and again in the Swift 5 mode, warnings as errors;
#   2. the fake GoTrue server is started and `swift test` runs against it and the real Rust
#      library (the client tests, the adapters, the READMEs' examples, and every scenario of
#      tests/scenarios replayed through SessionMachine, byte for byte the Rust replay's trace);
#   3. the last line is `swift: N passed, N failed`.
#
#   swift/run-tests.sh           everything
#   swift/run-tests.sh FILTER    only the XCTest tests matching FILTER (swift test --filter)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
filter=("$@")

echo "== swift: bindings and their C header"
swift/check-ffi-header.sh

# A toolchain installed system-wide may be put on PATH by the login shell's profile only; a
# non-login shell (a CI runner's) then looks for it there.
if ! command -v swift >/dev/null 2>&1; then
  login_swift=$(bash -lc 'command -v swift' 2>/dev/null || true)
  if [ -n "$login_swift" ]; then PATH=$PATH:$(dirname "$login_swift"); fi
fi
# A `swift` that is not the Swift toolchain (Debian's python3-swiftclient installs an OpenStack
# client under that name) counts as none.
if ! command -v swift >/dev/null 2>&1 || ! swift --version 2>&1 | grep -q "Swift version"; then
  echo "SKIPPED: swift (no toolchain)"
  exit 0
fi

started=$(date +%s)
echo "== swift: $(swift --version 2>&1 | head -1)"
cargo build --locked -q -p gotrue-session-cli

# The package links the debug library cargo built (Package.swift: GOTRUE_SESSION_LIB_DIR),
# never an XCFramework, whatever the host.
export GOTRUE_SESSION_LIB_DIR=$target/debug GOTRUE_SESSION_LINK=local
export LD_LIBRARY_PATH=$target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# Both language modes, every target, no warning. The Swift 5 build has a folder of its own so
# that neither mode's build invalidates the other's.
echo "== swift: build, Swift 6 language mode, warnings as errors"
swift build --package-path swift --build-tests -Xswiftc -warnings-as-errors
echo "== swift: build, Swift 5 language mode, warnings as errors"
GOTRUE_SWIFT_LANGUAGE_MODE=5 swift build --package-path swift --build-tests \
  --scratch-path "$target/swift-5-mode" -Xswiftc -warnings-as-errors
echo "swift: both language modes built in $(($(date +%s) - started)) s"

# One fake server for the whole run; each test resets it through its admin routes first.
log=$(mktemp)
"$target/debug/gotrue-session" serve --port 0 >"$log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -f "$log" "${results:-}"
}
trap stop_server EXIT
url=
for _ in $(seq 1 200); do
  url=$(sed -n 's/^fake GoTrue listening at //p' "$log")
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$url" ]; then
  echo "error: the fake GoTrue server did not start:" >&2
  cat "$log" >&2
  exit 1
fi
echo "fake GoTrue server at $url (pid $server_pid)"

echo "== swift: swift test"
# XCTest only: the package has no Swift Testing tests, whose empty run would print a summary of 0.
cmd=(swift test --package-path swift --skip-build --disable-swift-testing)
if [ "${#filter[@]}" -gt 0 ]; then cmd+=(--filter "${filter[0]}"); fi
# A hung test must not hang CI (macOS has no `timeout` unless coreutils is installed).
if command -v timeout >/dev/null 2>&1; then cmd=(timeout --kill-after=10 1800 "${cmd[@]}"); fi
results=$(mktemp)
status=0
GOTRUE_FAKE_URL=${url%/auth/v1} GOTRUE_CLI=$target/debug/gotrue-session GOTRUE_SCENARIOS=$root/tests/scenarios \
  "${cmd[@]}" 2>&1 | tee "$results" || status=$?
# XCTest's last "Executed N tests, with M failures" line is the whole run's.
summary=$(grep -E '^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?' "$results" | tail -1 || true)
executed=$(echo "$summary" | sed -nE 's/^[[:space:]]*Executed ([0-9]+) tests?.*/\1/p')
failures=$(echo "$summary" | sed -nE 's/.*with ([0-9]+) failures?.*/\1/p')
if [ -z "$executed" ]; then
  echo "error: swift test printed no XCTest summary (exit $status)" >&2
  exit 1
fi
echo "swift tests took $(($(date +%s) - started)) s"
echo "swift: $((executed - failures)) passed, $failures failed"
if [ "$status" != 0 ] || [ "$failures" != 0 ] || [ "$executed" = 0 ]; then exit 1; fi
