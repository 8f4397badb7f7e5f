//! Links tend with its functions in the order of a symbol ordering file when
//! scripts/build-static.sh asks for it (TEND_SYMBOL_ORDER, a path): what start-up,
//! supervision and exit run then sits side by side at the start of the code instead of
//! across the whole binary. Cargo relinks whenever the file changes. The flag is lld's,
//! the linker rustc uses for x86_64-unknown-linux-gnu.
fn main() {
    println!("cargo:rerun-if-env-changed=TEND_SYMBOL_ORDER");
    if let Some(path) = std::env::var_os("TEND_SYMBOL_ORDER") {
        let path = path.to_string_lossy();
        println!("cargo:rerun-if-changed={path}");
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={path}");
        // Names that are gone are expected after edits; build-static.sh counts them.
        println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
}
