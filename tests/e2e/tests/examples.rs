//! Every deployment example in the repository is checked against the app it deploys, so an
//! example cannot rot while the manifest changes: each runtime config (deploy/ and dev/) with
//! the test host's `check` against spin.toml, and the SpinKube manifests for what ties them to
//! spin.toml (variable names, required secrets, the tick route, the Service name).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir` (recursively) whose name satisfies `pick`.
fn files(dir: &Path, pick: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path, pick));
        } else if path.file_name().and_then(|n| n.to_str()).is_some_and(pick) {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn every_runtime_config_example_passes_the_hosts_check() {
    let manifest = repo().join("spin.toml");
    spin_test_host::check(&manifest, None).expect("spin.toml");
    let configs: Vec<_> = ["deploy", "dev"]
        .iter()
        .flat_map(|d| files(&repo().join(d), &|n| n.ends_with(".toml")))
        .collect();
    // One per store type at least: Redis, DynamoDB, Cosmos, SpinKube's Redis, dev's variables.
    assert!(configs.len() >= 5, "{configs:?}");
    for config in &configs {
        if let Err(e) = spin_test_host::check(&manifest, Some(config)) {
            panic!("{}: {e:#}", config.display());
        }
    }
}

/// The values of `- name:` items in the YAML list that starts at the line `key:`.
fn yaml_list_names(yaml: &str, key: &str) -> Vec<String> {
    let mut lines = yaml.lines().skip_while(|l| l.trim() != key);
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let indent = header.len() - header.trim_start().len();
    lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .filter_map(|l| l.trim().strip_prefix("- name: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn spinkube_manifests_match_the_app() {
    let manifest = spin_test_host::check(&repo().join("spin.toml"), None).unwrap();
    let dir = repo().join("deploy/spinkube");
    let app = std::fs::read_to_string(dir.join("spinapp.yaml")).unwrap();

    let set: BTreeSet<String> = yaml_list_names(&app, "variables:").into_iter().collect();
    assert!(!set.is_empty());
    let declared: BTreeSet<String> = manifest.variables.keys().cloned().collect();
    let unknown: Vec<_> = set.difference(&declared).collect();
    assert!(unknown.is_empty(), "not in spin.toml: {unknown:?}");
    let required: BTreeSet<String> = manifest
        .variables
        .iter()
        .filter(|(_, v)| v.required)
        .map(|(k, _)| k.clone())
        .collect();
    let missing: Vec<_> = required.difference(&set).collect();
    assert!(missing.is_empty(), "required but not set: {missing:?}");
    assert!(app.contains("loadFromSecret: closeloop-runtime-config"));

    // The CronJob reaches the SpinApp's Service (named after it) on the tick route.
    let cron = std::fs::read_to_string(dir.join("tick-cronjob.yaml")).unwrap();
    assert!(app.contains("  name: closeloop\n"));
    assert!(cron.contains("http://closeloop/v1/tick"));
    assert!(
        manifest
            .http_triggers
            .iter()
            .any(|t| t.route.as_deref() == Some("/v1/tick")),
        "spin.toml has no /v1/tick route"
    );
    let secrets = std::fs::read_to_string(dir.join("secrets.example.yaml")).unwrap();
    for key in app
        .lines()
        .chain(cron.lines())
        .filter_map(|l| l.trim().strip_prefix("key: "))
    {
        assert!(
            secrets.contains(&format!("  {key}: ")),
            "secret key {key} missing from secrets.example.yaml"
        );
    }
}
