//! Exports libc's `malloc` from the wasm module: the allocator older proxy-wasm modules offer the host.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg=--export=malloc");
    }
}
