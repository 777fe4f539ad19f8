//! Spin runtime-config files (`--runtime-config-file`), the parts this host serves.
//!
//! As in Spin's `crates/runtime-config`: `state_dir` and `log_dir` (relative to the current
//! directory), `[key_value_store.<label>]`, and `[[variables_provider]]` (alias
//! `[[config_provider]]`) of `type = "env"` (`prefix`, `dotenv_path`) or `"static"` (`values`).
//!
//! Key-value stores, with the fields of Spin's store crates: `type = "spin"` with an optional
//! `path` (relative to the runtime-config file's directory; no path means in-memory), `"redis"`
//! with `url` (served, see `kv_redis`), and the cloud stores `"aws_dynamo"` (`region`, `table`,
//! optional `consistency`, `access_key`, `secret_key`, `token`) and `"azure_cosmos"`
//! (`account`, `database`, `container`, optional `key`, `region`, `auth_type`, `client_id`).
//! The cloud stores are checked field by field, so that the deployment examples in `deploy/` are
//! validated, but this host cannot serve them: starting an app on one is an error naming it.
//! Spin rejects keys it does not use; so does this host (within a store's table too, where Spin
//! is laxer, because there an unknown key is most likely a typo in an example).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
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
    /// A Redis server at this URL.
    Redis(String),
    /// A valid store of a type this host cannot serve (`aws_dynamo`, `azure_cosmos`).
    Unserved(String),
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

/// `[key_value_store.<label>]` by `type`, with each Spin store crate's fields.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", deny_unknown_fields)]
enum RawKvStore {
    Spin {
        #[serde(default)]
        path: Option<PathBuf>,
    },
    Redis {
        url: String,
    },
    AwsDynamo {
        #[serde(rename = "region")]
        _region: String,
        #[serde(rename = "table")]
        _table: String,
        #[serde(default, rename = "consistency")]
        _consistency: Option<DynamoConsistency>,
        #[serde(default, rename = "access_key")]
        _access_key: Option<String>,
        #[serde(default, rename = "secret_key")]
        _secret_key: Option<String>,
        #[serde(default, rename = "token")]
        _token: Option<String>,
    },
    AzureCosmos {
        #[serde(rename = "account")]
        _account: String,
        #[serde(rename = "database")]
        _database: String,
        #[serde(rename = "container")]
        _container: String,
        #[serde(default, rename = "key")]
        _key: Option<String>,
        #[serde(default, rename = "region")]
        _region: Option<String>,
        #[serde(default, rename = "auth_type")]
        _auth_type: Option<CosmosAuth>,
        #[serde(default, rename = "client_id")]
        _client_id: Option<String>,
    },
}

/// DynamoDB read consistency, as Spin spells it.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum DynamoConsistency {
    Strong,
    Eventual,
}

/// The Azure AD credentials Spin's Cosmos store accepts when no `key` is given.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum CosmosAuth {
    ManagedIdentity,
    WorkloadIdentity,
    ServicePrincipal,
    DeveloperTools,
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

    pub(crate) fn parse(text: &str, dir: &Path) -> anyhow::Result<Self> {
        let raw: RawRuntimeConfig = toml::from_str(text)?;
        let opt_dir = |v: Option<String>| v.map(|s| (!s.is_empty()).then(|| PathBuf::from(s)));
        let mut key_value_stores = BTreeMap::new();
        for (label, table) in raw.key_value_store {
            let kind = table
                .get("type")
                .and_then(|t| t.as_str())
                .unwrap_or("")
                .to_owned();
            let cfg: RawKvStore = toml::Value::Table(table).try_into().with_context(|| {
                format!(
                    "invalid [key_value_store.{label}] of type {kind:?} (known types: \"spin\", \"redis\", \"aws_dynamo\", \"azure_cosmos\")"
                )
            })?;
            let store = match cfg {
                RawKvStore::Spin { path: Some(p) } => KvStoreConfig::Sqlite(dir.join(p)),
                RawKvStore::Spin { path: None } => KvStoreConfig::InMemory,
                RawKvStore::Redis { url } => KvStoreConfig::Redis(url),
                RawKvStore::AwsDynamo { .. } | RawKvStore::AzureCosmos { .. } => {
                    KvStoreConfig::Unserved(kind)
                }
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
    fn redis_and_cloud_stores_parse_with_spins_fields() {
        let rc = RuntimeConfig::parse(
            r#"
[key_value_store.default]
type = "redis"
url = "redis://127.0.0.1:6379"
[key_value_store.dynamo]
type = "aws_dynamo"
region = "eu-west-1"
table = "closeloop"
consistency = "strong"
[key_value_store.cosmos]
type = "azure_cosmos"
account = "acct"
database = "db"
container = "kv"
auth_type = "workload_identity"
"#,
            Path::new("."),
        )
        .unwrap();
        assert_eq!(
            rc.key_value_stores["default"],
            KvStoreConfig::Redis("redis://127.0.0.1:6379".into())
        );
        assert_eq!(
            rc.key_value_stores["dynamo"],
            KvStoreConfig::Unserved("aws_dynamo".into())
        );
        assert_eq!(
            rc.key_value_stores["cosmos"],
            KvStoreConfig::Unserved("azure_cosmos".into())
        );
    }

    #[test]
    fn unknown_keys_store_types_and_missing_fields_are_errors() {
        for (text, named) in [
            ("bogus = 1", "bogus"),
            ("[key_value_store.a]\ntype = \"memcached\"", "memcached"),
            ("[key_value_store.a]\ntype = \"redis\"", "url"),
            (
                "[key_value_store.a]\ntype = \"aws_dynamo\"\nregion = \"r\"\ntable = \"t\"\nconsistency = \"weak\"",
                "weak",
            ),
            (
                "[key_value_store.a]\ntype = \"azure_cosmos\"\naccount = \"a\"\ndatabase = \"d\"",
                "container",
            ),
            (
                "[key_value_store.a]\ntype = \"redis\"\nurl = \"redis://x\"\nurll = \"y\"",
                "urll",
            ),
        ] {
            let err = format!(
                "{:#}",
                RuntimeConfig::parse(text, Path::new(".")).unwrap_err()
            );
            assert!(err.contains(named), "{text}: {err}");
        }
    }
}
