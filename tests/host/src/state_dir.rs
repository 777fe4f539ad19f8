//! Where an app keeps its state: Spin 4.0.2's rules for the state directory, the log directory
//! and the default key-value store of a local app.
//!
//! Read in Spin's `crates/runtime-config` (`TomlResolver::state_dir` and `log_dir`,
//! `key_value_config_resolver`) and `crates/trigger/src/cli.rs` (`--state-dir`, `--log-dir`),
//! and checked with the `spin` 4.0.2 binary (`spin up` from several working directories, with
//! and without `-f`, runtime config, flags):
//!
//! - the app directory is the manifest's directory as given: `-f ../app` gives `../app`, no
//!   `-f` gives the current directory, and stays relative when given so;
//! - the state directory is `--state-dir` (`""`: none), else the runtime config's `state_dir`
//!   (`""`: none), else `<app dir>/.spin`. A directory given by flag or runtime config is made
//!   absolute against the working directory; the default stays relative. Giving both the flag
//!   and the key is refused ("unused runtime config key(s): state_dir");
//! - the log directory is `--log-dir`, else the runtime config's `log_dir` (`""`: none), else
//!   `<state dir>/logs`, else none (both given: refused likewise);
//! - the default store (label `default`, unless the runtime config defines it) is
//!   `<state dir>/sqlite_key_value.db`, in memory without a state directory. That path is
//!   resolved like a store `path` of the runtime config: against the runtime config file's
//!   directory when there is one. So with `--runtime-config-file dev/runtime-config.toml` the
//!   relative default `.spin` puts the store in `dev/.spin/sqlite_key_value.db` while the logs
//!   stay in `.spin/logs` (and from another directory, `-f ../app --runtime-config-file
//!   ../app/dev/rc.toml` stores in `../app/dev/../app/.spin`); an absolute state directory
//!   (`-f /abs/app`, `--state-dir`, `state_dir`) keeps store and logs together.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::runtime_config::{KvStoreConfig, RuntimeConfig};

/// Spin's default state directory name, inside the app directory.
const DEFAULT_STATE_DIR: &str = ".spin";
/// The default store's file name, inside the state directory.
const DEFAULT_STORE_FILE: &str = "sqlite_key_value.db";

/// A directory given on the command line (or through [`crate::AppOptions`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Given {
    /// Not given: the runtime config or the default decides.
    #[default]
    Default,
    /// Given empty: no directory at all.
    Unset,
    /// Given.
    Path(PathBuf),
}

impl Given {
    /// Spin's reading of a flag's value: empty means "none".
    pub(crate) fn from_flag(value: PathBuf) -> Self {
        if value.as_os_str().is_empty() {
            Self::Unset
        } else {
            Self::Path(value)
        }
    }
}

/// Where one app's state goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct StateDirs {
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) log_dir: Option<PathBuf>,
    /// The `default` label's store when the runtime config does not define one.
    pub(crate) default_store: KvStoreConfig,
}

/// A flag, else the runtime config's key (`Some(None)` when set to ""), else `default`; a
/// given path is made absolute against the working directory.
fn resolve(
    key: &str,
    flag: &Given,
    from_config: Option<&Option<PathBuf>>,
    default: impl FnOnce() -> Option<PathBuf>,
) -> anyhow::Result<Option<PathBuf>> {
    let absolute =
        |p: &Path| std::path::absolute(p).with_context(|| format!("invalid {key} {}", p.display()));
    match (flag, from_config) {
        (Given::Default, None) => Ok(default()),
        (Given::Default, Some(None)) | (Given::Unset, None) => Ok(None),
        (Given::Default, Some(Some(p))) | (Given::Path(p), None) => absolute(p).map(Some),
        (Given::Unset | Given::Path(_), Some(_)) => bail!("unused runtime config key(s): {key}"),
    }
}

impl StateDirs {
    /// Spin's directories for the app at `manifest` (the path as given, a file), run with the
    /// runtime config `config` read from `config_file`, and the `--state-dir` and `--log-dir`
    /// flags.
    pub(crate) fn resolve(
        manifest: &Path,
        config_file: Option<&Path>,
        config: &RuntimeConfig,
        state_dir: &Given,
        log_dir: &Given,
    ) -> anyhow::Result<Self> {
        let app_dir = manifest.parent().unwrap_or(Path::new(""));
        let state_dir = resolve("state_dir", state_dir, config.state_dir.as_ref(), || {
            Some(app_dir.join(DEFAULT_STATE_DIR))
        })?;
        let log_dir = resolve("log_dir", log_dir, config.log_dir.as_ref(), || {
            state_dir.as_ref().map(|d| d.join("logs"))
        })?;
        let config_dir = config_file.and_then(Path::parent);
        let default_store = match &state_dir {
            Some(dir) => {
                let file = dir.join(DEFAULT_STORE_FILE);
                KvStoreConfig::Sqlite(match config_dir {
                    Some(base) => base.join(file),
                    None => file,
                })
            }
            None => KvStoreConfig::InMemory,
        };
        Ok(Self {
            state_dir,
            log_dir,
            default_store,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str, file: &str) -> RuntimeConfig {
        RuntimeConfig::parse(text, Path::new(file).parent().unwrap()).unwrap()
    }

    fn dirs(manifest: &str, rc: Option<(&str, &str)>, state: Given, log: Given) -> StateDirs {
        let (file, config) = match rc {
            Some((file, text)) => (Some(Path::new(file)), config(text, file)),
            None => (None, RuntimeConfig::default()),
        };
        StateDirs::resolve(Path::new(manifest), file, &config, &state, &log).unwrap()
    }

    fn sqlite(path: &str) -> KvStoreConfig {
        KvStoreConfig::Sqlite(PathBuf::from(path))
    }

    fn abs(path: &str) -> PathBuf {
        std::path::absolute(path).unwrap()
    }

    #[test]
    fn defaults_stay_relative_to_the_manifest_as_given() {
        let d = dirs("spin.toml", None, Given::Default, Given::Default);
        assert_eq!(d.state_dir.as_deref(), Some(Path::new(".spin")));
        assert_eq!(d.log_dir.as_deref(), Some(Path::new(".spin/logs")));
        assert_eq!(d.default_store, sqlite(".spin/sqlite_key_value.db"));

        let d = dirs("../app/spin.toml", None, Given::Default, Given::Default);
        assert_eq!(d.log_dir.as_deref(), Some(Path::new("../app/.spin/logs")));
        assert_eq!(d.default_store, sqlite("../app/.spin/sqlite_key_value.db"));
    }

    #[test]
    fn with_a_runtime_config_the_default_store_follows_its_directory_and_the_logs_do_not() {
        let rc = Some(("dev/rc.toml", ""));
        let d = dirs("spin.toml", rc, Given::Default, Given::Default);
        assert_eq!(d.log_dir.as_deref(), Some(Path::new(".spin/logs")));
        assert_eq!(d.default_store, sqlite("dev/.spin/sqlite_key_value.db"));

        // From another directory: Spin's path, however odd.
        let rc = Some(("../app/dev/rc.toml", ""));
        let d = dirs("../app/spin.toml", rc, Given::Default, Given::Default);
        assert_eq!(d.log_dir.as_deref(), Some(Path::new("../app/.spin/logs")));
        assert_eq!(
            d.default_store,
            sqlite("../app/dev/../app/.spin/sqlite_key_value.db")
        );

        // An absolute app directory keeps them together.
        let d = dirs("/srv/app/spin.toml", rc, Given::Default, Given::Default);
        assert_eq!(
            d.default_store,
            sqlite("/srv/app/.spin/sqlite_key_value.db")
        );
    }

    #[test]
    fn a_given_state_dir_is_absolute_against_the_working_directory() {
        let rc = ("dev/rc.toml", "state_dir = \"st\"");
        for d in [
            dirs("app/spin.toml", Some(rc), Given::Default, Given::Default),
            dirs(
                "app/spin.toml",
                Some(("dev/rc.toml", "")),
                Given::Path("st".into()),
                Given::Default,
            ),
        ] {
            assert_eq!(d.state_dir, Some(abs("st")));
            assert_eq!(d.log_dir, Some(abs("st/logs")));
            assert_eq!(
                d.default_store,
                KvStoreConfig::Sqlite(abs("st/sqlite_key_value.db"))
            );
        }
    }

    #[test]
    fn an_empty_state_dir_means_memory_and_no_logs() {
        for d in [
            dirs("spin.toml", None, Given::Unset, Given::Default),
            dirs(
                "spin.toml",
                Some(("dev/rc.toml", "state_dir = \"\"")),
                Given::Default,
                Given::Default,
            ),
        ] {
            assert_eq!(d.state_dir, None);
            assert_eq!(d.log_dir, None);
            assert_eq!(d.default_store, KvStoreConfig::InMemory);
        }
        let d = dirs("spin.toml", None, Given::Unset, Given::Path("lg".into()));
        assert_eq!(d.log_dir, Some(abs("lg")));
    }

    #[test]
    fn log_dir_from_flag_or_config_and_empty_config_means_none() {
        let d = dirs("spin.toml", None, Given::Default, Given::Path("lg".into()));
        assert_eq!(d.log_dir, Some(abs("lg")));
        let rc = Some(("dev/rc.toml", "log_dir = \"lg\""));
        let d = dirs("spin.toml", rc, Given::Default, Given::Default);
        assert_eq!(d.log_dir, Some(abs("lg")));
        assert_eq!(d.default_store, sqlite("dev/.spin/sqlite_key_value.db"));
        let rc = Some(("dev/rc.toml", "log_dir = \"\""));
        assert_eq!(
            dirs("spin.toml", rc, Given::Default, Given::Default).log_dir,
            None
        );
    }

    #[test]
    fn a_flag_and_the_same_key_in_the_runtime_config_are_refused() {
        for (text, state, log, key) in [
            (
                "state_dir = \"st\"",
                Given::Path("x".into()),
                Given::Default,
                "state_dir",
            ),
            (
                "state_dir = \"st\"",
                Given::Unset,
                Given::Default,
                "state_dir",
            ),
            (
                "log_dir = \"lg\"",
                Given::Default,
                Given::Path("x".into()),
                "log_dir",
            ),
        ] {
            let rc = config(text, "dev/rc.toml");
            let err = StateDirs::resolve(
                Path::new("spin.toml"),
                Some(Path::new("dev/rc.toml")),
                &rc,
                &state,
                &log,
            )
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("unused runtime config key(s): {key}")
            );
        }
    }

    #[test]
    fn an_empty_flag_is_unset() {
        assert_eq!(Given::from_flag(PathBuf::new()), Given::Unset);
        assert_eq!(Given::from_flag("d".into()), Given::Path("d".into()));
    }
}
