#!/usr/bin/env bash
# Builds swift/GoTrueSessionFFIFFI.xcframework: the Rust library (gotrue-session-ffi) as a static
# library for iOS devices and simulators, with the C header and module map of the Swift bindings.
# Package.swift uses it as a binary target when it exists. macOS with Xcode and rustup only.
#
#   swift/build-xcframework.sh           aarch64-apple-ios; aarch64-apple-ios-sim + x86_64-apple-ios (lipo)
#   swift/build-xcframework.sh --macos   also aarch64-apple-darwin + x86_64-apple-darwin (lipo)
#
# Also writes GoTrueSessionFFIFFI.xcframework.zip and prints its SwiftPM checksum, for a release
# whose Package.swift uses `.binaryTarget(name: "GoTrueSessionFFIFFI", url: ..., checksum: ...)`.
# Deployment targets: IPHONEOS_DEPLOYMENT_TARGET (default 15.0) and MACOSX_DEPLOYMENT_TARGET
# (default 12.0), as in Package.swift.
set -euo pipefail

if [ "$(uname -s)" != Darwin ]; then
  echo "error: build-xcframework.sh builds an XCFramework for iOS and needs macOS with Xcode" >&2
  echo "(xcodebuild, lipo and the iOS SDKs); this machine runs $(uname -s). Nothing was built." >&2
  exit 1
fi
macos=
case "${1:-}" in
  --macos) macos=1 ;;
  "") ;;
  *) echo "usage: swift/build-xcframework.sh [--macos]" >&2; exit 2 ;;
esac
for tool in xcodebuild xcrun lipo cargo rustup ditto; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool is not installed (Xcode and rustup are needed)" >&2; exit 1; }
done

cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
out=$root/swift/GoTrueSessionFFIFFI.xcframework
staging=$root/swift/build/xcframework
export IPHONEOS_DEPLOYMENT_TARGET=${IPHONEOS_DEPLOYMENT_TARGET:-15.0}
export MACOSX_DEPLOYMENT_TARGET=${MACOSX_DEPLOYMENT_TARGET:-12.0}

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
[ -z "$macos" ] || targets+=(aarch64-apple-darwin x86_64-apple-darwin)
installed=$(rustup target list --installed)
for t in "${targets[@]}"; do
  grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

echo "== xcframework: static libraries (release)"
for t in "${targets[@]}"; do
  echo "-- $t"
  cargo build --locked --release -p gotrue-session-ffi --lib --target "$t"
done
lib=libgotrue_session_ffi.a

echo "== xcframework: header and module map"
swift/generate.sh
rm -rf "$staging" "$out" "$out.zip"
mkdir -p "$staging/include" "$staging/ios-simulator" "$staging/macos"
# The module map sits at the root of each slice's Headers, where Xcode's explicit-module scanner
# looks for it.
cp swift/Sources/GoTrueSessionFFIFFI/GoTrueSessionFFIFFI.h swift/Sources/GoTrueSessionFFIFFI/module.modulemap \
  "$staging/include/"

lipo -create "$target/aarch64-apple-ios-sim/release/$lib" "$target/x86_64-apple-ios/release/$lib" \
  -output "$staging/ios-simulator/$lib"
args=(-library "$target/aarch64-apple-ios/release/$lib" -headers "$staging/include"
  -library "$staging/ios-simulator/$lib" -headers "$staging/include")
if [ -n "$macos" ]; then
  lipo -create "$target/aarch64-apple-darwin/release/$lib" "$target/x86_64-apple-darwin/release/$lib" \
    -output "$staging/macos/$lib"
  args+=(-library "$staging/macos/$lib" -headers "$staging/include")
fi

echo "== xcframework: xcodebuild -create-xcframework"
xcodebuild -create-xcframework "${args[@]}" -output "$out"
(cd "$(dirname "$out")" && ditto -c -k --sequesterRsrc --keepParent "$(basename "$out")" "$(basename "$out").zip")
echo "built $out"
if command -v swift >/dev/null 2>&1; then
  echo "SwiftPM checksum of $(basename "$out").zip: $(swift package compute-checksum "$out.zip")"
fi
