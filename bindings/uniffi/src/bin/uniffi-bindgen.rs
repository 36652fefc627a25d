//! The project's own `uniffi-bindgen`, the same uniffi version as the bindings crate:
//! `cargo run -p gotrue-session-ffi --features uniffi/cli --bin uniffi-bindgen -- generate ...`.

fn main() {
    uniffi::uniffi_bindgen_main()
}
