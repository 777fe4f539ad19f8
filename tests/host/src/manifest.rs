//! `spin.toml` (manifest version 2): the subset closeloop uses, parsed as strictly as Spin.
//!
//! Spin's schema (`crates/manifest/src/schema/v2.rs`) denies unknown fields in the document,
//! `[application]`, `[component.x]`, `[component.x.build]`, `[variables.x]` and the http trigger, so
//! a typo fails here as it fails in `spin up`. Errors name the file and the problem. Features
//! Spin has and this host does not serve (file mounts, remote sources, SQLite databases, ...)
//! are rejected by name rather than silently ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail, ensure};
use serde::Deserialize;

/// A loaded manifest with paths resolved against its directory.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file.
    pub path: PathBuf,
    /// The directory holding it (relative paths resolve against it).
    pub dir: PathBuf,
    /// `[application] name`.
    pub name: String,
    /// `[application] version`.
    pub version: String,
    /// `[variables]`.
    pub variables: BTreeMap<String, VariableDecl>,
    /// `[[trigger.http]]`, in order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[component.<id>]`, by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// An application variable.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    /// Value when no provider supplies one.
    #[serde(default)]
    pub default: Option<String>,
    /// Start-up fails when no provider supplies a value.
    #[serde(default)]
    pub required: bool,
    /// Only a marker, as in Spin.
    #[serde(default)]
    pub secret: bool,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
}

/// One `[[trigger.http]]` entry.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The component that handles the route.
    pub component: String,
    /// `None` for `{ private = true }`.
    pub route: Option<String>,
}

/// One `[component.<id>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentDecl {
    /// The `.wasm` path, relative to the manifest directory.
    pub source: PathBuf,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// `[component.x.variables]`: name -> template.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// WASI environment variables.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// Outbound network permissions (may hold templates).
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// Key-value store labels the component may open.
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    /// How to build `source`.
    #[serde(default)]
    pub build: Option<BuildDecl>,
    /// Settings for other tools; ignored, as Spin ignores them.
    #[serde(default)]
    pub tool: toml::Table,
}

/// `[component.x.build]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    /// One command or several, run through the shell.
    pub command: Commands,
    /// Working directory, relative to the manifest directory.
    #[serde(default)]
    pub workdir: Option<PathBuf>,
    /// Used by `spin watch`; ignored here.
    #[serde(default)]
    pub watch: Vec<String>,
}

/// `command = "..."` or `command = ["...", "..."]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Commands {
    /// A single command.
    One(String),
    /// Commands run in order.
    Many(Vec<String>),
}

impl Commands {
    /// The commands in order.
    pub fn as_vec(&self) -> Vec<String> {
        match self {
            Self::One(c) => vec![c.clone()],
            Self::Many(cs) => cs.clone(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: BTreeMap<String, Vec<toml::Table>>,
    #[serde(default)]
    component: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // fields read only to validate their shape, as Spin does
struct RawApplication {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    authors: Vec<String>,
    #[serde(default)]
    targets: Vec<toml::Value>,
    #[serde(default)]
    trigger: toml::Table,
    #[serde(default)]
    tool: toml::Table,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // `id` is read only to validate its shape, as Spin does
struct RawHttpTrigger {
    #[serde(default)]
    id: Option<String>,
    component: toml::Value,
    route: RawRoute,
    #[serde(default)]
    executor: Option<toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Route(String),
    Private(PrivateRoute),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PrivateRoute {
    private: bool,
}

/// Component fields Spin accepts that this host does not serve.
const UNSUPPORTED_COMPONENT_FIELDS: &[&str] = &[
    "files",
    "exclude_files",
    "allowed_http_hosts",
    "sqlite_databases",
    "ai_models",
    "dependencies",
    "dependencies_inherit_configuration",
    "profile",
];

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        Self::parse(path, &text).with_context(|| format!("invalid manifest {}", path.display()))
    }

    fn parse(path: &Path, text: &str) -> anyhow::Result<Self> {
        let raw: RawManifest = toml::from_str(text)?;
        ensure!(
            raw.spin_manifest_version.as_integer() == Some(2),
            "spin_manifest_version must be 2 (this host reads manifest version 2 only), found {}",
            raw.spin_manifest_version
        );
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();

        for (name, var) in &raw.variables {
            crate::variables::validate_name(name)
                .with_context(|| format!("invalid variable name {name:?}"))?;
            if var.required && var.default.is_some() {
                bail!("variable {name:?} cannot be both required and have a default");
            }
            if !var.required && var.default.is_none() {
                bail!("variable {name:?} must either be required or have a default");
            }
        }

        let mut components = BTreeMap::new();
        for (id, value) in raw.component {
            validate_kebab_id(&id).with_context(|| format!("invalid component id {id:?}"))?;
            if let Some(table) = value.as_table() {
                for field in UNSUPPORTED_COMPONENT_FIELDS {
                    ensure!(
                        !table.contains_key(*field),
                        "component {id:?}: `{field}` is not supported by spin-test-host"
                    );
                }
                if let Some(src) = table.get("source") {
                    ensure!(
                        src.is_str(),
                        "component {id:?}: only local file sources (`source = \"path.wasm\"`) are supported by spin-test-host"
                    );
                }
            }
            let decl: ComponentDecl = value
                .try_into()
                .with_context(|| format!("invalid component {id:?}"))?;
            for label in &decl.key_value_stores {
                ensure!(
                    validate_kebab_id(label).is_ok() || is_snake(label),
                    "component {id:?}: key_value_stores label {label:?}: expected kebab-case or snake_case"
                );
            }
            for name in decl.variables.keys() {
                crate::variables::validate_name(name)
                    .with_context(|| format!("component {id:?}: invalid variable name {name:?}"))?;
            }
            components.insert(id, decl);
        }

        let mut http_triggers = Vec::new();
        for (kind, triggers) in raw.trigger {
            ensure!(
                kind == "http",
                "trigger type {kind:?} is not supported by spin-test-host (only [[trigger.http]])"
            );
            for (i, t) in triggers.into_iter().enumerate() {
                let t: RawHttpTrigger = toml::Value::Table(t)
                    .try_into()
                    .with_context(|| format!("invalid [[trigger.http]] #{}", i + 1))?;
                if let Some(executor) = &t.executor {
                    let kind = executor.get("type").and_then(|v| v.as_str()).unwrap_or("");
                    ensure!(
                        kind == "http",
                        "[[trigger.http]] #{}: executor {kind:?} is not supported by spin-test-host",
                        i + 1
                    );
                }
                let Some(component) = t.component.as_str().map(str::to_owned) else {
                    bail!(
                        "[[trigger.http]] #{}: inline components are not supported by spin-test-host; use `component = \"<id>\"`",
                        i + 1
                    );
                };
                ensure!(
                    components.contains_key(&component),
                    "[[trigger.http]] #{} refers to component {component:?}, which is not defined in [component]",
                    i + 1
                );
                let route = match t.route {
                    RawRoute::Route(r) => Some(r),
                    RawRoute::Private(PrivateRoute { private: true }) => None,
                    RawRoute::Private(PrivateRoute { private: false }) => bail!(
                        "route must be a string pattern or '{{ private = true }}': '{component}' has {{ private = false }}"
                    ),
                };
                http_triggers.push(HttpTrigger { component, route });
            }
        }

        Ok(Self {
            path: path.to_path_buf(),
            dir,
            name: raw.application.name,
            version: raw.application.version,
            variables: raw.variables,
            http_triggers,
            components,
        })
    }

    /// The absolute-or-manifest-relative path of a component's `.wasm`.
    pub fn source_path(&self, component: &ComponentDecl) -> PathBuf {
        self.dir.join(&component.source)
    }
}

fn validate_kebab_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id.split('-').all(|part| {
            !part.is_empty()
                && part.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    ensure!(ok, "expected kebab-case (lower-case words joined by '-')");
    Ok(())
}

fn is_snake(id: &str) -> bool {
    !id.is_empty()
        && id.split('_').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "app"
[variables]
token = { required = true }
base = { default = "http://x" }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = { private = true }
component = "b"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["http://b.spin.internal"]
[component.a.build]
command = "cargo build"
[component.b]
source = "b.wasm"
key_value_stores = ["default"]
"#;

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        Manifest::parse(Path::new("dir/spin.toml"), text)
    }

    #[test]
    fn parses_routes_components_and_variables() {
        let m = parse(MINIMAL).unwrap();
        assert_eq!(m.http_triggers.len(), 2);
        assert_eq!(m.http_triggers[1].route, None);
        assert_eq!(m.source_path(&m.components["a"]), Path::new("dir/a.wasm"));
        assert!(m.variables["token"].required);
    }

    #[test]
    fn unknown_fields_are_errors_naming_the_field() {
        let bad = MINIMAL.replace("key_value_stores", "key_value_store");
        let err = format!("{:#}", parse(&bad).unwrap_err());
        assert!(err.contains("key_value_store"), "{err}");
    }

    #[test]
    fn variable_needs_exactly_one_of_required_or_default() {
        let bad = MINIMAL.replace(
            "{ required = true }",
            "{ required = true, default = \"x\" }",
        );
        assert!(parse(&bad).is_err());
    }

    #[test]
    fn trigger_must_name_a_defined_component() {
        let bad = MINIMAL.replace("component = \"b\"", "component = \"c\"");
        let err = format!("{:#}", parse(&bad).unwrap_err());
        assert!(err.contains("\"c\""), "{err}");
    }
}
