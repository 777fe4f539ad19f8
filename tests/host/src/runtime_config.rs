//! Spin runtime-config files (`--runtime-config-file`), the parts this host serves.
//!
//! As in Spin's `crates/runtime-config`: `state_dir` and `log_dir` (relative to the current
//! directory), `[key_value_store.<label>]` of `type = "spin"` with an optional `path` (relative to
//! the runtime-config file's directory; no path means in-memory), and `[[variables_provider]]`
//! (alias `[[config_provider]]`) of `type = "env"` (`prefix`, `dotenv_path`) or `"static"`
//! (`values`). Spin rejects keys it does not use; so does this host, and it names the store and
//! provider types it does not implement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Deserialize;

/// A parsed runtime-config file.
#[derive(Debug, Default, Clone)]
pub struct RuntimeConfig {
    /// `state_dir`: `Some(None)` when set to "" (unset, as Spin treats it).
    pub state_dir: Option<Option<PathBuf>>,
    /// `log_dir`: `Some(None)` when set to "".
    pub log_dir: Option<Option<PathBuf>>,
    /// Key-value stores by label.
    pub key_value_stores: BTreeMap<String, KvStoreConfig>,
    /// Variable providers, consulted in order before the default environment provider.
    pub variables_providers: Vec<VariablesProviderConfig>,
}

/// Where a key-value label's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvStoreConfig {
    /// SQLite at this path.
    Sqlite(PathBuf),
    /// A temporary in-memory store.
    InMemory,
}

/// A `[[variables_provider]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
pub enum VariablesProviderConfig {
    /// Environment variables `<PREFIX>_<NAME>` (default prefix `SPIN_VARIABLE`), then a dotenv file.
    Env {
        /// The prefix, joined to the upper-cased name with `_`.
        #[serde(default)]
        prefix: Option<String>,
        /// A dotenv file consulted when the variable is not in the environment.
        #[serde(default)]
        dotenv_path: Option<PathBuf>,
    },
    /// Fixed values.
    Static {
        /// name -> value.
        values: BTreeMap<String, String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRuntimeConfig {
    #[serde(default)]
    state_dir: Option<String>,
    #[serde(default)]
    log_dir: Option<String>,
    #[serde(default)]
    key_value_store: BTreeMap<String, toml::Table>,
    #[serde(default)]
    variables_provider: Vec<toml::Table>,
    #[serde(default)]
    config_provider: Vec<toml::Table>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpinKvConfig {
    #[serde(rename = "type")]
    _type: String,
    #[serde(default)]
    path: Option<PathBuf>,
}

impl RuntimeConfig {
    /// Reads a runtime-config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("failed to read runtime config file '{}'", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir)
            .with_context(|| format!("invalid runtime config file '{}'", path.display()))
    }

    fn parse(text: &str, dir: &Path) -> anyhow::Result<Self> {
        let raw: RawRuntimeConfig = toml::from_str(text)?;
        let opt_dir = |v: Option<String>| v.map(|s| (!s.is_empty()).then(|| PathBuf::from(s)));
        let mut key_value_stores = BTreeMap::new();
        for (label, table) in raw.key_value_store {
            let kind = table.get("type").and_then(|t| t.as_str()).unwrap_or("");
            if kind != "spin" {
                bail!(
                    "[key_value_store.{label}]: type {kind:?} is not supported by spin-test-host (only \"spin\")"
                );
            }
            let cfg: SpinKvConfig = toml::Value::Table(table)
                .try_into()
                .with_context(|| format!("invalid [key_value_store.{label}]"))?;
            let store = match cfg.path {
                Some(p) => KvStoreConfig::Sqlite(dir.join(p)),
                None => KvStoreConfig::InMemory,
            };
            key_value_stores.insert(label, store);
        }
        let variables_providers = raw
            .variables_provider
            .into_iter()
            .chain(raw.config_provider)
            .enumerate()
            .map(|(i, t)| {
                toml::Value::Table(t).try_into().with_context(|| {
                    format!(
                        "invalid [[variables_provider]] #{} (spin-test-host serves types \"env\" and \"static\")",
                        i + 1
                    )
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self {
            state_dir: opt_dir(raw.state_dir),
            log_dir: opt_dir(raw.log_dir),
            key_value_stores,
            variables_providers,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stores_and_providers() {
        let rc = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "spin"
path = "data/kv.db"
[key_value_store.cache]
type = "spin"
[[variables_provider]]
type = "static"
values = { token = "t" }
[[variables_provider]]
type = "env"
prefix = "CLOSELOOP"
"#,
            Path::new("/cfg"),
        )
        .unwrap();
        assert_eq!(
            rc.key_value_stores["default"],
            KvStoreConfig::Sqlite(PathBuf::from("/cfg/data/kv.db"))
        );
        assert_eq!(rc.key_value_stores["cache"], KvStoreConfig::InMemory);
        assert_eq!(rc.variables_providers.len(), 2);
    }

    #[test]
    fn unknown_keys_and_store_types_are_errors() {
        assert!(RuntimeConfig::parse("bogus = 1", Path::new(".")).is_err());
        let redis = "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"";
        let err = format!(
            "{:#}",
            RuntimeConfig::parse(redis, Path::new(".")).unwrap_err()
        );
        assert!(err.contains("redis"), "{err}");
    }
}
