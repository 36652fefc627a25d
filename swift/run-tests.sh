#!/usr/bin/env bash
# The Swift checks. First, with or without a Swift toolchain: the bindings are regenerated and
# their C side is checked (swift/check-ffi-header.sh: the header parses with gcc, every function
# it declares is exported by the library, every FFI function the Swift calls is declared).
# Then, without `swift` on PATH, it prints `SKIPPED: swift (no toolchain)` and exits 0. With it,
# it builds the CLI, starts the fake GoTrue server, runs `swift test` against it, and stops it.
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

# A `swift` that is not the Swift toolchain (Debian's python3-swiftclient installs an OpenStack
# client under that name) counts as none.
if ! command -v swift >/dev/null 2>&1 || ! swift --version 2>&1 | grep -q "Swift version"; then
  echo "SKIPPED: swift (no toolchain)"
  exit 0
fi

started=$(date +%s)
echo "== swift: $(swift --version 2>&1 | head -1)"
cargo build --locked -q -p gotrue-session-cli

# One fake server for the whole run; each test resets it through its admin routes first.
log=$(mktemp)
"$target/debug/gotrue-session" serve --port 0 >"$log" 2>&1 &
server_pid=$!
stop_server() {
  if kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -f "$log"
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
cmd=(swift test --package-path swift)
if [ "${#filter[@]}" -gt 0 ]; then cmd+=(--filter "${filter[0]}"); fi
# A hung test must not hang CI (macOS has no `timeout` unless coreutils is installed).
if command -v timeout >/dev/null 2>&1; then cmd=(timeout --kill-after=10 1800 "${cmd[@]}"); fi
# The package links the debug library cargo built (Package.swift: GOTRUE_SESSION_LIB_DIR),
# never an XCFramework, whatever the host.
GOTRUE_FAKE_URL=${url%/auth/v1} GOTRUE_SESSION_LIB_DIR=$target/debug GOTRUE_SESSION_LINK=local \
  LD_LIBRARY_PATH=$target/debug${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "${cmd[@]}"
echo "swift tests passed ($(($(date +%s) - started)) s)"
