//! One wasmtime engine per process and a cache of compiled components.
//!
//! Compiling a component with Cranelift takes seconds, and every test starts an app. The engine
//! is shared, compiled components are kept in memory by path and modification time, and also
//! serialized next to the `.wasm` (`<dir>/spin-test-host-cache/`) keyed by a hash of the bytes
//! and the engine's compatibility hash, so later test processes skip compilation.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use anyhow::Context as _;
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// The process-wide engine.
pub(crate) fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).expect("wasmtime engine configuration is valid")
    })
}

type CacheKey = (PathBuf, SystemTime, u64);

/// Loads (compiling or reusing) the component at `path`.
pub(crate) fn load_component(path: &Path) -> anyhow::Result<Component> {
    static CACHE: OnceLock<Mutex<HashMap<CacheKey, Component>>> = OnceLock::new();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = (path.to_path_buf(), meta.modified()?, meta.len());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(c) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(c.clone());
    }
    let component = load_uncached(path)?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, component.clone());
    Ok(component)
}

fn load_uncached(path: &Path) -> anyhow::Result<Component> {
    let engine = engine();
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut hasher = std::hash::DefaultHasher::new();
    bytes.hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let cache_dir = path
        .parent()
        .unwrap_or(Path::new("."))
        .join("spin-test-host-cache");
    let cached = cache_dir.join(format!("{stem}-{:016x}.cwasm", hasher.finish()));
    if cached.exists() {
        // SAFETY: the file was written by `Component::serialize` of an engine with the same
        // compatibility hash (it is part of the file name) and is not modified afterwards.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &cached) } {
            return Ok(c);
        }
    }
    let component = Component::new(engine, &bytes)
        .map_err(anyhow::Error::from)
        .with_context(|| format!("cannot compile component {}", path.display()))?;
    // The disk cache is an optimisation: failing to write it is not an error.
    if let Ok(serialized) = component.serialize()
        && std::fs::create_dir_all(&cache_dir).is_ok()
    {
        let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, serialized).is_ok() {
            let _ = std::fs::rename(&tmp, &cached);
        }
    }
    Ok(component)
}
