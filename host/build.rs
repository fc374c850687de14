//! Builds the default plugins (../plugins, a workspace of its own) for
//! wasm32-wasip2 so the binary can embed them and stay self-contained.
//!
//! The plugins get their own target directory: a nested cargo must not wait on
//! the lock of the build that runs this script.

use std::path::PathBuf;
use std::process::Command;

/// Embedded in the binary.
const PLUGINS: &[&str] = &[
    "ca-normaliser",
    "us-normaliser",
    "phase2-eligibility",
    "biographic-matcher",
    "https-transport",
];
/// Built for the test suite only (`ENTREX_TEST_PLUGIN_DIR`), never embedded.
const TEST_PLUGINS: &[&str] = &["hostile-normaliser", "forbidden-import", "template"];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_owned();
    let plugins = root.join("plugins");
    let target_dir = std::env::var_os("ENTREX_PLUGIN_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target").join("plugins"));

    println!("cargo:rerun-if-changed={}", root.join("wit").display());
    println!("cargo:rerun-if-changed={}", plugins.display());
    println!("cargo:rerun-if-env-changed=ENTREX_PLUGIN_TARGET_DIR");

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--release")
        .arg("--target")
        .arg("wasm32-wasip2")
        .arg("--manifest-path")
        .arg(plugins.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    for plugin in PLUGINS.iter().chain(TEST_PLUGINS) {
        cmd.arg("-p").arg(plugin);
    }
    // What the outer build set for itself (clippy's wrapper, its flags, its
    // target) must not leak into the plugin build.
    for var in [
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_RUSTFLAGS",
        // A shared build directory is locked by the outer build for as long
        // as this script runs: the nested build must not wait on it.
        "CARGO_BUILD_BUILD_DIR",
        "RUSTC",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("cannot run cargo to build the plugins");
    if !status.success() {
        panic!(
            "building the default plugins failed (see above). If the target is missing, run \
             `rustup target add wasm32-wasip2`."
        );
    }
    let out = target_dir.join("wasm32-wasip2").join("release");
    println!("cargo:rustc-env=ENTREX_TEST_PLUGIN_DIR={}", out.display());
    for plugin in PLUGINS {
        let file = out.join(format!("{}.wasm", plugin.replace('-', "_")));
        assert!(file.exists(), "plugin build produced no {}", file.display());
        let var = format!(
            "ENTREX_PLUGIN_{}",
            plugin.replace('-', "_").to_ascii_uppercase()
        );
        println!("cargo:rustc-env={var}={}", file.display());
    }
}
