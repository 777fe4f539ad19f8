//! Running each component's `[component.x.build] command`, like `spin build`.
//!
//! Commands run through `sh -c` in the manifest directory (or the component's `workdir`), in
//! manifest order. [`crate::build_components`] runs them once per manifest per process so that
//! many tests can call it; nested `cargo build` from inside `cargo test` is safe because cargo
//! releases its build-directory lock before it runs test binaries.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use anyhow::{Context as _, bail};

use crate::manifest::Manifest;

/// Runs every build command of the manifest at `manifest_path`.
pub(crate) fn run_all(manifest: &Manifest) -> anyhow::Result<()> {
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
