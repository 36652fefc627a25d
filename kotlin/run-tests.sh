#!/usr/bin/env bash
# Builds the native library and the Kotlin bindings, compiles the Kotlin layer and its tests with
# kotlinc (no Gradle: the Maven repository is out of reach here), and runs the tests on the JVM
# against the real library and the fake GoTrue server over loopback. The last line is the count,
# `N passed, N failed`.
#
# Installs what is missing, idempotently: kotlinc from the npm package `kotlin-compiler` into a
# cache outside the clone ($GOTRUE_SESSION_CACHE, default ~/.cache/gotrue-session), JNA from
# Debian's `libjna-java`, and a Java runtime if there is none. Generated code and classes go to
# target/kotlin (never committed).
#
#   kotlin/run-tests.sh                 install what is missing, build, run every test
#   kotlin/run-tests.sh --install-only  install what is missing and stop (.ci/run uses this)
#   kotlin/run-tests.sh FILTER          run only the tests whose name contains FILTER
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)
install_only=
filter=()
case "${1:-}" in
  --install-only) install_only=1 ;;
  "") ;;
  *) filter=("$1") ;;
esac

kotlin_version=2.4.20
cache=${GOTRUE_SESSION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gotrue-session}
kotlin_home=$cache/kotlin-compiler-$kotlin_version
target=${CARGO_TARGET_DIR:-$root/target}
build=$target/kotlin
jna=/usr/share/java/jna.jar

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "error: installing packages needs root (or sudo): $*" >&2
    exit 1
  fi
}

apt_install() {
  # The package lists are refreshed only when a package is missing, and only once.
  if [ -z "${apt_updated:-}" ]; then
    as_root timeout 600 apt-get update -qq
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "$@" >/dev/null
}

echo "== kotlin: toolchain"
if ! command -v java >/dev/null 2>&1; then
  apt_install default-jre-headless
fi
if [ ! -f "$jna" ]; then
  apt_install libjna-java
fi
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
  command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to fetch kotlin-compiler $kotlin_version" >&2; exit 1; }
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.download.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && timeout 600 npm pack --silent "kotlin-compiler@$kotlin_version" >/dev/null && mkdir unpacked &&
    tar xzf "kotlin-compiler-$kotlin_version.tgz" -C unpacked)
  rm -rf "$kotlin_home"
  mv "$tmp/unpacked/package" "$kotlin_home"
  rm -rf "$tmp"
  trap - EXIT
fi
kotlin_lib=$kotlin_home/lib
for jar in kotlin-stdlib.jar kotlin-test.jar kotlinx-coroutines-core-jvm.jar; do
  [ -f "$kotlin_lib/$jar" ] || { echo "error: $kotlin_lib/$jar is missing" >&2; exit 1; }
done
echo "kotlinc $kotlin_version ($kotlin_home), $(java -version 2>&1 | head -1), JNA $jna"
[ -z "$install_only" ] || exit 0

echo "== kotlin: native library, bindgen and the fake server"
cargo build --locked -q -p gotrue-session-ffi --features bindgen
cargo build --locked -q -p gotrue-session-cli
lib=$target/debug/libgotrue_session_ffi.so
rm -rf "$build/generated" "$build/readme"
mkdir -p "$build/generated" "$build/readme"
"$target/debug/uniffi-bindgen" generate "$lib" --language kotlin --config uniffi.toml --no-format \
  --out-dir "$build/generated" >/dev/null

# The README's usage example is compiled (and run) with the tests.
awk '/<!-- readme-example:start -->/{on=1; next} /<!-- readme-example:end -->/{on=0} on && !/^```/' \
  kotlin/README.md >"$build/readme/ReadmeExample.kt"
[ -s "$build/readme/ReadmeExample.kt" ] || { echo "error: no usage example found in kotlin/README.md" >&2; exit 1; }

echo "== kotlin: compile"
classpath=$jna:$kotlin_lib/kotlinx-coroutines-core-jvm.jar:$kotlin_lib/kotlin-test.jar
mapfile -t sources < <(find "$build/generated" "$build/readme" kotlin/src/main/kotlin kotlin/src/test/kotlin -name '*.kt' | sort)
# Skips kotlinc when no source changed since the last successful compile.
stamp=$( (echo "$kotlin_version"; cat "${sources[@]}") | sha256sum | cut -d' ' -f1)
if [ "$(cat "$build/classes.stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$build/classes" "$build/classes.stamp"
  JAVA_OPTS="-Xmx1g -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m" timeout 600 "$kotlin_home/bin/kotlinc" -nowarn \
    -cp "$classpath" -d "$build/classes" "${sources[@]}"
  echo "$stamp" >"$build/classes.stamp"
else
  echo "(unchanged since the last compile)"
fi

echo "== kotlin: tests (built in $(($(date +%s) - started)) s)"
# The tests start their own fake servers (target/debug/gotrue-session serve --port 0) and stop them.
timeout --kill-after=10 900 java -Djna.library.path="$target/debug" \
  -Dgotrue.cli="$target/debug/gotrue-session" -Dgotrue.scenarios="$root/tests/scenarios" \
  -cp "$build/classes:$classpath:$kotlin_lib/kotlin-stdlib.jar" io.supabase.gotruesession.test.MainKt "${filter[@]}"
