//! The `spin-test-host` command line: `up`, `build` and `check`, shaped like the Spin CLI.
//!
//! `spin-test-host up [-f spin.toml] [--listen 127.0.0.1:3000] [--runtime-config-file FILE]
//! [--state-dir DIR] [-L|--log-dir DIR] [--build]` serves the app on a multi-threaded runtime
//! and prints its routes as `spin up` does; the directories follow Spin's rules (see
//! `state_dir`); `--build` first runs every component's build command, like `spin build --up`.
//! `build` only builds. `check` validates the manifest (and runtime config) without loading
//! components.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};

use crate::{AppOptions, Manifest};

const USAGE: &str = "\
spin-test-host: run a Spin app (spin.toml v2, wasi-http 0.2 components) without the Spin CLI

USAGE:
    spin-test-host up [-f <spin.toml|dir>] [--listen <addr>] [--runtime-config-file <file>]
                      [--state-dir <dir>] [-L|--log-dir <dir>] [--build]
    spin-test-host build [-f <spin.toml|dir>]
    spin-test-host check [-f <spin.toml|dir>] [--runtime-config-file <file>]

Defaults: -f ./spin.toml, --listen 127.0.0.1:3000, --state-dir <manifest dir>/.spin
(\"\" for none), --log-dir <state dir>/logs.
";

struct Args {
    command: String,
    manifest: PathBuf,
    listen: SocketAddr,
    runtime_config: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    log_dir: Option<PathBuf>,
    build: bool,
}

fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Args> {
    let command = args.next().context("missing command")?;
    let mut parsed = Args {
        command,
        manifest: PathBuf::from("spin.toml"),
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        runtime_config: None,
        state_dir: None,
        log_dir: None,
        build: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-f" | "--from" | "--file" => parsed.manifest = value(&arg)?.into(),
            "--listen" => {
                parsed.listen = value(&arg)?
                    .parse()
                    .context("--listen needs an address such as 127.0.0.1:3000")?
            }
            "--runtime-config-file" => parsed.runtime_config = Some(value(&arg)?.into()),
            "--state-dir" => parsed.state_dir = Some(value(&arg)?.into()),
            "-L" | "--log-dir" => parsed.log_dir = Some(value(&arg)?.into()),
            "--build" => parsed.build = true,
            other => bail!("unexpected argument {other:?}"),
        }
    }
    if parsed.manifest.is_dir() {
        parsed.manifest = parsed.manifest.join("spin.toml");
    }
    Ok(parsed)
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return if args.is_empty() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        };
    }
    match parse(args.into_iter()).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    match args.command.as_str() {
        "build" => crate::build_commands::run_all(&Manifest::load(&args.manifest)?),
        "check" => {
            let m = crate::check(&args.manifest, args.runtime_config.as_deref())?;
            println!(
                "{}: ok ({} components)",
                args.manifest.display(),
                m.components.len()
            );
            Ok(())
        }
        "up" => {
            if args.build {
                crate::build_commands::run_all(&Manifest::load(&args.manifest)?)?;
            }
            crate::executor::runtime().block_on(up(args))
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

async fn up(args: Args) -> anyhow::Result<()> {
    let mut opts = AppOptions::new(&args.manifest)
        .listen(args.listen)
        .echo_logs(true);
    if let Some(rc) = &args.runtime_config {
        opts = opts.runtime_config_file(rc);
    }
    if let Some(dir) = &args.state_dir {
        opts = opts.state_dir(dir);
    }
    if let Some(dir) = &args.log_dir {
        opts = opts.log_dir(dir);
    }
    let app = crate::start(opts).await?;
    let base = app.base_url();
    println!("\nServing {base}");
    println!("Available Routes:");
    for (component, route) in app.routes() {
        println!("  {component}: {base}{route}");
    }
    tokio::select! {
        _ = app.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}
