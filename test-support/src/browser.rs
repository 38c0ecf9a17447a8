//! A real browser for tests: headless Chromium (Debian package `chromium`, which `.ci/run`
//! installs) opened on a URL, and the lines a process under test prints, to wait for what the
//! page reported.
//!
//! The page reports by itself — typically with a `fetch` to its own server, which prints the
//! result — so this module only starts the browser, waits with a deadline and cleans up:
//! [`Chromium::open`] starts it with a fresh profile (deleted on drop) and kills it when
//! dropped; [`LineLog`] collects a child process's stdout and stderr, and
//! [`LineLog::wait_for`] fails with everything seen so far when the deadline passes.
//!
//! A test that cannot find Chromium fails, saying what to install: it never passes without a
//! browser.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

/// Where Chromium is: `$CHROMIUM` if set, else the first of `/usr/bin/chromium`,
/// `/usr/bin/chromium-browser` and `/usr/bin/google-chrome` that exists.
pub fn chromium_path() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .ok_or_else(|| {
        "Chromium is not installed: `apt-get install chromium` (Debian), or set CHROMIUM to its path"
            .to_string()
    })
}

/// A headless Chromium showing one page. Killed, and its profile deleted, when dropped.
#[derive(Debug)]
pub struct Chromium {
    child: Child,
    profile: PathBuf,
    /// What the browser printed (its own diagnostics), for failure messages.
    pub log: LineLog,
}

impl Chromium {
    /// Opens `url` in a new headless Chromium with a fresh profile, certificate errors
    /// ignored (for a test certificate), QUIC off (so HTTPS goes over TCP and ALPN), no
    /// background traffic, and no sandbox (tests run as root in CI).
    ///
    /// Panics, saying what to install, when Chromium is missing.
    pub fn open(url: &str) -> Chromium {
        Chromium::open_with(url, &[])
    }

    /// [`open`](Self::open) with extra command-line switches.
    pub fn open_with(url: &str, extra: &[&str]) -> Chromium {
        let path = chromium_path().unwrap_or_else(|e| panic!("{e}"));
        let profile = std::env::temp_dir().join(format!(
            "sockeye-chromium-{}-{}",
            std::process::id(),
            PROFILE_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("cannot create a Chromium profile directory");
        let mut child = Command::new(&path)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--ignore-certificate-errors",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display()));
        let log = LineLog::capture(&mut child);
        Chromium {
            child,
            profile,
            log,
        }
    }
}

static PROFILE_COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The lines a child process prints on stdout and stderr, in the order they arrive.
#[derive(Debug)]
pub struct LineLog {
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl LineLog {
    /// Takes `child`'s piped stdout and stderr (whichever were piped) and reads them on two
    /// threads.
    pub fn capture(child: &mut Child) -> LineLog {
        let (tx, rx) = channel();
        if let Some(out) = child.stdout.take() {
            forward(out, tx.clone());
        }
        if let Some(err) = child.stderr.take() {
            forward(err, tx);
        }
        LineLog {
            lines: rx,
            seen: Vec::new(),
        }
    }

    /// Waits up to `timeout` for a line that satisfies `wanted`, and returns it. The lines
    /// before it are kept ([`seen`](Self::seen)). On timeout, or when the process closed its
    /// output first, the error lists every line seen.
    pub fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&str) -> bool,
    ) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return Ok(line);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!(
                        "nothing matched within {timeout:?}; lines seen:\n{}",
                        self.seen.join("\n")
                    ))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(format!(
                        "the process closed its output; lines seen:\n{}",
                        self.seen.join("\n")
                    ))
                }
            }
        }
    }

    /// Every line received so far by [`wait_for`](Self::wait_for).
    pub fn seen(&self) -> &[String] {
        &self.seen
    }
}

fn forward(stream: impl Read + Send + 'static, tx: Sender<String>) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
}
