// The Android library module of gotrue-session: the hand-written Kotlin layer (../src/main/kotlin),
// the Android additions (src/main/kotlin), the bindings generated from the Rust library, and the
// native libraries for each ABI.
//
// NOT BUILT HERE: this repository's CI has no Android SDK and no Maven repository. It is provided
// as a starting point; check versions against your toolchain. Needs cargo-ndk
// (`cargo install cargo-ndk`), the Android NDK, and the Rust targets:
//   rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android

plugins {
    id("com.android.library") version "8.5.2"
    kotlin("android") version "2.0.20"
}

// This module lives in kotlin/android of the repository.
val repoRoot = projectDir.resolve("../..").canonicalFile
val generatedKotlin = layout.buildDirectory.dir("generated/uniffi")
val generatedJniLibs = layout.buildDirectory.dir("generated/jniLibs")

android {
    namespace = "io.supabase.gotruesession"
    compileSdk = 34
    defaultConfig {
        minSdk = 26 // FileSessionStorage uses java.nio.file
        consumerProguardFiles("consumer-rules.pro")
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    sourceSets["main"].apply {
        java.srcDirs("../src/main/kotlin", "src/main/kotlin", generatedKotlin)
        jniLibs.srcDir(generatedJniLibs)
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The AAR carries libjnidispatch.so for every Android ABI.
    implementation("net.java.dev.jna:jna:5.13.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.8.0")
    implementation("androidx.annotation:annotation:1.8.2")
    implementation("androidx.lifecycle:lifecycle-process:2.8.4")
}

// cargo ndk builds libgotrue_session_ffi.so for each ABI (release: panic = "unwind", fat LTO).
val buildRust by tasks.registering(Exec::class) {
    workingDir = repoRoot
    commandLine(
        "cargo", "ndk", "-t", "arm64-v8a", "-t", "armeabi-v7a", "-t", "x86_64",
        "-o", generatedJniLibs.get().asFile.path, "build", "--release", "-p", "gotrue-session-ffi",
    )
}

// The bindings come from the host build of the same crate, with the in-repo uniffi-bindgen.
val generateBindings by tasks.registering(Exec::class) {
    workingDir = repoRoot
    val hostLib = repoRoot.resolve("target/release/libgotrue_session_ffi.so")
    commandLine(
        "sh", "-c",
        "cargo build --release -p gotrue-session-ffi --features bindgen && " +
            "target/release/uniffi-bindgen generate ${hostLib.path} --language kotlin --no-format " +
            "--config kotlin/android/uniffi-android.toml --out-dir ${generatedKotlin.get().asFile.path}",
    )
}

tasks.named("preBuild") { dependsOn(buildRust, generateBindings) }
