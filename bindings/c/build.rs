//! Generates `include/gotrue_session.h` from `src/lib.rs` with cbindgen, writing it only when its
//! content changes (so an unchanged header keeps its timestamp and `make`-style builds stay quiet).
//! The header is committed; `scripts/check-c-header` fails CI when the committed copy is stale.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    // A hand-edited or deleted header is put back on the next build, so the check sees it.
    println!("cargo:rerun-if-changed=include/gotrue_session.h");
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&dir);
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml is readable");
    let bindings = match cbindgen::Builder::new().with_crate(dir).with_config(config).generate() {
        Ok(b) => b,
        Err(e) => panic!("cbindgen could not generate the C header: {e}"),
    };
    let mut text = Vec::new();
    bindings.write(&mut text);
    let path = dir.join("include").join("gotrue_session.h");
    if std::fs::read(&path).ok().as_deref() != Some(text.as_slice()) {
        std::fs::create_dir_all(path.parent().expect("the header has a folder")).expect("include/ can be created");
        std::fs::write(&path, &text).expect("the header can be written");
    }
}
