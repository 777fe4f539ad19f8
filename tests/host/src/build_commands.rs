//! Running each component's `[component.x.build] command`, like `spin build`.
//!
//! Commands run through `sh -c` in the manifest directory (or the component's `workdir`), in
//! manifest order. When a command builds for `wasm32-wasip2` and `rustup` reports that target
//! missing, `rustup target add wasm32-wasip2` runs first, so that the README's set-up commands
//! work on a fresh machine with no separate step; without `rustup` (a distribution's Rust), the
//! build runs as is and cargo's own error names the missing target. [`crate::build_components`] runs them once per manifest per process so that
//! many tests can call it; nested `cargo build` from inside `cargo test` is safe because cargo
//! releases its build-directory lock before it runs test binaries.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context as _, bail};

use crate::manifest::Manifest;

/// The target the components build for.
const WASM_TARGET: &str = "wasm32-wasip2";

/// Runs every build command of the manifest at `manifest_path`.
pub(crate) fn run_all(manifest: &Manifest) -> anyhow::Result<()> {
    let builds_wasm = manifest
        .components
        .values()
        .filter_map(|c| c.build.as_ref())
        .flat_map(|b| b.command.as_vec())
        .any(|command| command.contains(WASM_TARGET));
    if builds_wasm {
        ensure_wasm_target(&manifest.dir)?;
    }
    for (id, component) in &manifest.components {
        let Some(build) = &component.build else {
            continue;
        };
        let dir = match &build.workdir {
            Some(w) => manifest.dir.join(w),
            None => manifest.dir.clone(),
        };
        for command in build.command.as_vec() {
            eprintln!("Building component {id} with `{command}`");
            let status = Command::new("sh")
                .arg("-c")
                .arg(&command)
                .current_dir(&dir)
                .status()
                .with_context(|| {
                    format!("cannot run build command `{command}` of component {id:?}")
                })?;
            if !status.success() {
                bail!("build command `{command}` of component {id:?} failed ({status})");
            }
        }
    }
    Ok(())
}

/// Adds [`WASM_TARGET`] with rustup when rustup is present and lacks it.
fn ensure_wasm_target(dir: &Path) -> anyhow::Result<()> {
    // Run in the manifest directory: a rust-toolchain file there picks the toolchain.
    let Ok(listed) = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(dir)
        .output()
    else {
        return Ok(());
    };
    if !listed.status.success() || is_installed(&String::from_utf8_lossy(&listed.stdout)) {
        return Ok(());
    }
    eprintln!("Adding the {WASM_TARGET} target with `rustup target add {WASM_TARGET}`");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .current_dir(dir)
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("`rustup target add {WASM_TARGET}` failed ({status})");
    }
    Ok(())
}

/// Whether `rustup target list --installed` output lists [`WASM_TARGET`].
fn is_installed(listing: &str) -> bool {
    listing.lines().any(|line| line.trim() == WASM_TARGET)
}

/// [`run_all`], at most once per manifest per process.
pub(crate) fn run_once(manifest_path: &Path) -> anyhow::Result<()> {
    static DONE: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    let key = std::path::absolute(manifest_path)?;
    // Holding the lock while building serialises concurrent callers on the same work.
    let mut done = DONE.lock().unwrap_or_else(|e| e.into_inner());
    let done = done.get_or_insert_with(HashSet::new);
    if done.contains(&key) {
        return Ok(());
    }
    let manifest = Manifest::load(manifest_path)?;
    run_all(&manifest)?;
    done.insert(key);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_target_is_found_by_whole_line() {
        assert!(is_installed("x86_64-unknown-linux-gnu\nwasm32-wasip2\n"));
        assert!(!is_installed("x86_64-unknown-linux-gnu\nwasm32-wasip1\n"));
        assert!(!is_installed("wasm32-wasip2-threads\n"));
        assert!(!is_installed(""));
    }
}
