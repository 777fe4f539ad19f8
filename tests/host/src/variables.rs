//! `fermyon:spin/variables@2.0.0`: application variables, component templates and providers.
//!
//! Mirrors Spin's `crates/expressions` and `crates/variables`: a component may read only the
//! names in its `[component.x.variables]`, each a template over application variables
//! (`"https://{{ host }}/x"`). An application variable's value comes from the first provider that
//! has it, else its `default`; providers are, in order: values given through
//! [`crate::AppOptions::variable`] (a test hook, per app), the runtime config's
//! `[[variables_provider]]` entries, and Spin's default environment provider
//! (`SPIN_VARIABLE_<NAME>`, then a `.env` file in the current directory). Values are resolved
//! when the guest asks, as in Spin, so an environment change is seen by the next request.

use std::collections::{BTreeMap, HashMap};
use std::env::VarError;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use anyhow::{Context as _, bail, ensure};

use crate::bindings::fermyon::spin::variables::{self as wit, Error};
use crate::manifest::{Manifest, VariableDecl};
use crate::runtime_config::VariablesProviderConfig;

/// Spin's variable-name rule (`spin_expressions::Key::validate`).
pub(crate) fn validate_name(key: &str) -> anyhow::Result<()> {
    let reason = if key.is_empty() {
        "must not be empty".to_string()
    } else if let Some(c) = key
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
    {
        format!(
            "invalid character {c:?}. Variable names may contain only lower-case letters, numbers, and underscores."
        )
    } else if !key.as_bytes()[0].is_ascii_lowercase() {
        "must start with a lowercase ASCII letter".into()
    } else if !key.as_bytes()[key.len() - 1].is_ascii_alphanumeric() {
        "must end with a lowercase ASCII letter or digit".into()
    } else if key.contains("__") {
        "must not contain multiple consecutive underscores".into()
    } else {
        return Ok(());
    };
    bail!("{key:?}: {reason}")
}

/// A parsed `{{ name }}` template.
#[derive(Debug, Clone)]
pub(crate) struct Template(Vec<Part>);

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Var(String),
}

impl Template {
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_owned()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .with_context(|| format!("unclosed '{{{{' in template {text:?}"))?;
            let name = after[..end].trim();
            validate_name(name).with_context(|| format!("in template {text:?}"))?;
            parts.push(Part::Var(name.to_owned()));
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_owned()));
        }
        Ok(Self(parts))
    }

    fn vars(&self) -> impl Iterator<Item = &str> {
        self.0.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v.as_str()),
            Part::Lit(_) => None,
        })
    }
}

/// One source of variable values.
enum Provider {
    Fixed(HashMap<String, String>),
    Env {
        prefix: String,
        dotenv_path: Option<PathBuf>,
        dotenv: OnceLock<HashMap<String, String>>,
    },
}

impl Provider {
    fn env(prefix: Option<String>, dotenv_path: Option<PathBuf>) -> Self {
        Self::Env {
            prefix: prefix.unwrap_or_else(|| "SPIN_VARIABLE".into()),
            dotenv_path,
            dotenv: OnceLock::new(),
        }
    }

    fn get(&self, name: &str) -> anyhow::Result<Option<String>> {
        match self {
            Self::Fixed(values) => Ok(values.get(name).cloned()),
            Self::Env {
                prefix,
                dotenv_path,
                dotenv,
            } => {
                let key = if prefix.is_empty() {
                    name.to_ascii_uppercase()
                } else {
                    format!("{prefix}_{}", name.to_ascii_uppercase())
                };
                match std::env::var(&key) {
                    Ok(v) => Ok(Some(v)),
                    Err(VarError::NotPresent) => {
                        let Some(path) = dotenv_path else {
                            return Ok(None);
                        };
                        let values = match dotenv.get() {
                            Some(v) => v,
                            None => {
                                // Like Spin: a missing dotenv file is no error, a malformed one is.
                                let loaded = dotenvy::from_path_iter(path)
                                    .into_iter()
                                    .flatten()
                                    .collect::<Result<HashMap<_, _>, _>>()
                                    .with_context(|| {
                                        format!("failed to read dotenv file {}", path.display())
                                    })?;
                                dotenv.get_or_init(|| loaded)
                            }
                        };
                        Ok(values.get(&key).cloned())
                    }
                    Err(e) => Err(e).with_context(|| format!("failed to resolve env var {key}")),
                }
            }
        }
    }
}

/// Resolves application and component variables for one app.
pub(crate) struct Resolver {
    variables: BTreeMap<String, VariableDecl>,
    components: HashMap<String, BTreeMap<String, Template>>,
    providers: Vec<Provider>,
}

impl Resolver {
    /// Builds the resolver and checks, like `spin up`, that templates name declared variables
    /// and that every required variable has a value.
    pub(crate) fn new(
        manifest: &Manifest,
        overrides: &BTreeMap<String, String>,
        configured: &[VariablesProviderConfig],
    ) -> anyhow::Result<Self> {
        let mut providers = vec![Provider::Fixed(
            overrides
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )];
        for p in configured {
            providers.push(match p {
                VariablesProviderConfig::Env {
                    prefix,
                    dotenv_path,
                } => Provider::env(prefix.clone(), dotenv_path.clone()),
                VariablesProviderConfig::Static { values } => {
                    Provider::Fixed(values.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                }
            });
        }
        providers.push(Provider::env(None, Some(PathBuf::from(".env"))));

        let mut components = HashMap::new();
        for (id, comp) in &manifest.components {
            let mut templates = BTreeMap::new();
            for (key, text) in &comp.variables {
                let template = Template::parse(text)
                    .with_context(|| format!("component {id:?} variable {key:?}"))?;
                for var in template.vars() {
                    ensure!(
                        manifest.variables.contains_key(var),
                        "component {id:?} variable {key:?} refers to unknown variable {var:?} (declare it in [variables])"
                    );
                }
                templates.insert(key.clone(), template);
            }
            components.insert(id.clone(), templates);
        }
        let resolver = Self {
            variables: manifest.variables.clone(),
            components,
            providers,
        };
        for (name, decl) in &resolver.variables {
            if decl.required {
                let value = resolver.variable(name)?;
                ensure!(
                    value.is_some(),
                    "required variable {name:?} has no value: set SPIN_VARIABLE_{} (or a runtime-config variables provider)",
                    name.to_ascii_uppercase()
                );
            }
        }
        Ok(resolver)
    }

    fn variable(&self, name: &str) -> anyhow::Result<Option<String>> {
        for p in &self.providers {
            if let Some(v) = p.get(name)? {
                return Ok(Some(v));
            }
        }
        Ok(self.variables.get(name).and_then(|d| d.default.clone()))
    }

    /// Resolves a template against application variables (used for `allowed_outbound_hosts`).
    pub(crate) fn resolve_template(&self, template: &Template) -> Result<String, Error> {
        let mut out = String::new();
        for part in &template.0 {
            match part {
                Part::Lit(l) => out.push_str(l),
                Part::Var(v) => match self.variable(v) {
                    Ok(Some(value)) => out.push_str(&value),
                    Ok(None) if !self.variables.contains_key(v) => {
                        return Err(Error::InvalidName(v.clone()));
                    }
                    Ok(None) => {
                        return Err(Error::Provider(format!(
                            "no provider resolved required variable {v:?}"
                        )));
                    }
                    Err(e) => return Err(Error::Provider(format!("{e:?}"))),
                },
            }
        }
        Ok(out)
    }

    /// What `variables::get(key)` returns to `component`.
    pub(crate) fn get(&self, component: &str, key: &str) -> Result<String, Error> {
        validate_name(key).map_err(|e| Error::InvalidName(e.to_string()))?;
        let template = self
            .components
            .get(component)
            .and_then(|c| c.get(key))
            .ok_or_else(|| Error::Undefined(format!("no variable for {component:?}.{key:?}")))?;
        self.resolve_template(template)
    }
}

/// Per-instance state behind `fermyon:spin/variables`.
pub(crate) struct VariablesCtx {
    pub(crate) resolver: Arc<Resolver>,
    pub(crate) component: String,
}

impl wit::Host for VariablesCtx {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        Ok(self.resolver.get(&self.component, &name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_spin_rules() {
        for good in ["a", "abc", "a1b2c3", "a_1", "a_1_b_3"] {
            validate_name(good).unwrap();
        }
        for bad in ["", "aX", "1bc", "_x", "x.y", "x_", "a__b", "x-y"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_parse_literals_and_variables() {
        let t = Template::parse("https://{{ host }}:{{port}}/x").unwrap();
        assert_eq!(t.vars().collect::<Vec<_>>(), ["host", "port"]);
        assert!(Template::parse("{{ open").is_err());
        assert!(Template::parse("{{ Bad }}").is_err());
    }
}
