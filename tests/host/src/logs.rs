//! Per-component stdout and stderr, kept as `spin up` keeps them.
//!
//! `spin up` appends each component's output to `<log dir>/<component>_stdout.txt` and
//! `<component>_stderr.txt`, the log dir being `.spin/logs` beside `spin.toml` unless configured.
//! The host does the same, also keeps stderr in memory so tests can assert on a component's
//! log lines ([`crate::RunningApp::component_log`]), and optionally echoes to the terminal.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use anyhow::Context as _;
use tokio::io::AsyncWrite;

/// Where one output stream of one component goes.
#[derive(Clone)]
pub(crate) struct LogSink {
    inner: Arc<Mutex<SinkInner>>,
}

struct SinkInner {
    file: Option<File>,
    memory: Option<Vec<u8>>,
    echo: Echo,
}

/// Whether a sink also echoes to the host's own stdout or stderr.
#[derive(Clone, Copy)]
pub(crate) enum Echo {
    None,
    Stdout,
    Stderr,
}

impl LogSink {
    /// Opens (appending) `<dir>/<component>_<stream>.txt` when `dir` is set.
    pub(crate) fn open(
        dir: Option<&Path>,
        component: &str,
        stream: &str,
        keep_in_memory: bool,
        echo: Echo,
    ) -> anyhow::Result<Self> {
        let file = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create log directory {}", dir.display()))?;
                let path = dir.join(format!("{component}_{stream}.txt"));
                Some(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                        .with_context(|| format!("cannot open log file {}", path.display()))?,
                )
            }
            None => None,
        };
        Ok(Self {
            inner: Arc::new(Mutex::new(SinkInner {
                file,
                memory: keep_in_memory.then(Vec::new),
                echo,
            })),
        })
    }

    /// Everything written so far (empty unless kept in memory).
    pub(crate) fn captured(&self) -> String {
        let inner = self.lock();
        String::from_utf8_lossy(inner.memory.as_deref().unwrap_or_default()).into_owned()
    }

    fn write_all(&self, buf: &[u8]) {
        let mut inner = self.lock();
        // Log writes are best effort: a full disk must not fail the guest's request.
        if let Some(file) = inner.file.as_mut() {
            let _ = file.write_all(buf);
        }
        if let Some(memory) = inner.memory.as_mut() {
            memory.extend_from_slice(buf);
        }
        match inner.echo {
            Echo::None => {}
            Echo::Stdout => {
                let _ = std::io::stdout().write_all(buf);
            }
            Echo::Stderr => {
                let _ = std::io::stderr().write_all(buf);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl wasmtime_wasi::cli::IsTerminal for LogSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LogSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for LogSink {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_all(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
