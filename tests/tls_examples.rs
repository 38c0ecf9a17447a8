//! The examples over TLS, as a user runs them: `echo_server --tls CERT KEY` serving `wss://`,
//! and the `client` example talking to it with `--ca`, through tinyproxy from `https_proxy`,
//! and failing — a CA it does not trust, a certificate for another name, an expired one — each
//! failure one `* cannot connect: TLS: …` line that names the cause. Certificates are made by
//! the test (rcgen).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sockeye_test_support::{TestPki, Tinyproxy};

/// The longest a client run may take.
const WAIT: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/<name>`, built by `cargo test` with the tests.
fn example_path(name: &str) -> PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: `cargo test` builds the examples with the tests",
        path.display()
    );
    path
}

/// `echo_server --tls CERT KEY` on an ephemeral port; killed on drop.
struct TlsEchoServer {
    child: Child,
    port: u16,
}

impl TlsEchoServer {
    fn start(pki: &TestPki, cert: &str) -> TlsEchoServer {
        let mut child = Command::new(example_path("echo_server"))
            .args([
                "127.0.0.1:0",
                "--tls",
                &pki.path(cert),
                &pki.path("key.pem"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting echo_server");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("echo_server printed {line:?}"));
        assert!(line.contains("wss://"), "{line}");
        TlsEchoServer { child, port }
    }
}

impl Drop for TlsEchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the `client` example with `args` and `env`, "hello" on its stdin; returns its exit
/// code and its output.
fn client(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut child = Command::new(example_path("client"))
        .args(args)
        .env_remove("https_proxy")
        .env_remove("HTTPS_PROXY")
        .env_remove("all_proxy")
        .env_remove("ALL_PROXY")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting the client example");
    // The line goes out once connected; end of input then closes with 1000.
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"hello\n");
    drop(stdin);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > WAIT {
            let _ = child.kill();
            panic!("the client example did not exit within {WAIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    (status.code(), out)
}

#[test]
fn client_example_talks_wss_to_echo_server_with_ca_and_through_the_proxy_env() {
    let pki = TestPki::new();
    let server = TlsEchoServer::start(&pki, "cert.pem");
    let url = format!("wss://localhost:{}/", server.port);
    let ca = pki.path("ca.pem");

    let (code, out) = client(&[&url, "--ca", &ca], &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("< hello"), "{out}");
    assert!(out.contains("code=1000 closed cleanly"), "{out}");

    let proxy = Tinyproxy::start("");
    let (code, out) = client(&[&url, "--ca", &ca], &[("https_proxy", &proxy.url(""))]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("< hello"), "{out}");
    assert!(
        proxy.log().contains(&format!("localhost:{}", server.port)),
        "the client did not go through the proxy: {}",
        proxy.log()
    );
}

/// Runs the client against a server with `cert`; returns the one diagnosis line.
fn failure_line(pki: &TestPki, cert: &str, ca: Option<&str>) -> String {
    let server = TlsEchoServer::start(pki, cert);
    let url = format!("wss://localhost:{}/", server.port);
    let mut args = vec![url.as_str()];
    if let Some(ca) = ca {
        args.extend(["--ca", ca]);
    }
    let (code, out) = client(&args, &[]);
    assert_eq!(code, Some(1), "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("* cannot connect"))
        .collect();
    assert_eq!(lines.len(), 1, "one diagnosis line expected:\n{out}");
    lines[0].to_owned()
}

#[test]
fn client_example_names_each_tls_failure_in_one_line() {
    let pki = TestPki::new();
    let ca = pki.path("ca.pem");
    // No --ca: the built-in public roots do not know the test CA.
    let line = failure_line(&pki, "cert.pem", None);
    assert!(
        line.contains("TLS: the server's certificate is not signed by a CA we trust"),
        "{line}"
    );
    assert!(line.contains("--ca FILE"), "{line}");
    let line = failure_line(&pki, "other.pem", Some(&ca));
    assert!(line.contains("not valid for the host in the URL"), "{line}");
    let line = failure_line(&pki, "expired.pem", Some(&ca));
    assert!(line.contains("has expired"), "{line}");
}
