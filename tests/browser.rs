//! A real browser against our tokio server with permessage-deflate: headless Chromium (Debian
//! package `chromium`; `.ci/run` installs it) loads a page that opens a WebSocket to this test,
//! offering `permessage-deflate; client_max_window_bits` as every browser does.
//!
//! The test is the server. It sends a few hundred messages — text and binary, compressible
//! and not, 0 B to 1 MiB — which the page echoes; then asks the page to send its own (the same
//! deterministic generator on both sides, compressed by the browser with context takeover over
//! all of them, so our inflater must follow the browser's window across messages); then
//! closes with 1000. The page reports what it saw (`extensions:`, `error:`) over the same
//! socket. Without Chromium the test fails saying what to install (`sockeye_test_support::browser`);
//! it never passes unrun.

use std::path::PathBuf;
use std::time::Duration;

use sockeye_test_support::browser::Chromium;

use sockeye_tokio::{CloseCode, ClosureKind, Compression, Config, Decision, Message, WebSocket};
use tokio::net::TcpListener;

/// The page: echoes what the server sends; on `cmd:generate` sends its own messages, then
/// `done`. Errors and the negotiated extensions are reported as text messages.
const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>sockeye permessage-deflate</title>
<script>
const ws = new WebSocket("ws://127.0.0.1:PORT/");
ws.binaryType = "arraybuffer";
function xorshift(seed, len) {
  const out = new Uint8Array(len);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let j = 0; j < len; j++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[j] = x & 0xff;
  }
  return out;
}
function generate() {
  for (let i = 0; i < 300; i++) {
    ws.send(JSON.stringify({ i: i, pad: "x".repeat((i * 37) % 5000) }));
    if (i % 10 === 0) ws.send(xorshift(i, (i * 101) % 70000));
  }
  ws.send("done");
}
ws.onopen = () => ws.send("extensions:" + ws.extensions);
ws.onmessage = (event) => {
  if (typeof event.data === "string" && event.data.startsWith("cmd:")) {
    if (event.data === "cmd:generate") generate();
    return;
  }
  ws.send(event.data);
};
ws.onerror = () => { document.title = "error"; };
</script>
"#;

/// The page's generator, in Rust.
fn xorshift(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// The page as a file of its own (the browser opens it with `file://`); removed on drop.
struct PageFile(PathBuf);

impl PageFile {
    fn write(html: &str) -> PageFile {
        let path =
            std::env::temp_dir().join(format!("sockeye-deflate-page-{}.html", std::process::id()));
        std::fs::write(&path, html).expect("write the page");
        PageFile(path)
    }

    fn url(&self) -> String {
        format!("file://{}", self.0.display())
    }
}

impl Drop for PageFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn text_of(len: usize, seed: usize) -> String {
    let words = [
        "sockeye ",
        "deflate ",
        "window ",
        "{\"k\":1} ",
        "héllo ",
        "ünïcode ",
    ];
    let mut s = String::new();
    let mut i = seed;
    while s.len() < len {
        s.push_str(words[i % words.len()]);
        i += 1;
    }
    while s.len() > len {
        s.pop();
    }
    s
}

/// What the server sends, in order: compressible and incompressible, text and binary.
fn server_messages() -> Vec<Message> {
    let mut out = Vec::new();
    for (i, len) in [0, 1, 31, 32, 125, 126, 1000, 65535, 65536, 300_000, 1 << 20]
        .into_iter()
        .enumerate()
    {
        out.push(Message::Text(text_of(len, i)));
        out.push(Message::Binary(text_of(len, i + 1).into_bytes()));
        out.push(Message::Binary(xorshift(i as u32 + 7, len)));
    }
    for i in 0..200 {
        out.push(Message::Text(format!(
            "{{\"n\":{i},\"msg\":\"{}\"}}",
            text_of(i * 13 % 700, i)
        )));
    }
    out
}

/// What the page sends after `cmd:generate`.
fn page_messages() -> Vec<Message> {
    let mut out = Vec::new();
    for i in 0..300usize {
        out.push(Message::Text(format!(
            "{{\"i\":{i},\"pad\":\"{}\"}}",
            "x".repeat((i * 37) % 5000)
        )));
        if i % 10 == 0 {
            out.push(Message::Binary(xorshift(i as u32, (i * 101) % 70000)));
        }
    }
    out.push(Message::Text("done".into()));
    out
}

fn short(m: &Message) -> String {
    match m {
        Message::Text(t) => format!("text of {} bytes: {:?}", t.len(), &t[..t.len().min(60)]),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        other => format!("{other:?}"),
    }
}

#[test]
fn chromium_exchanges_compressed_messages_with_our_server_and_closes_cleanly() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let page = PageFile::write(&PAGE.replace("PORT", &port.to_string()));
        let _browser = Chromium::open(&page.url());
        let work = async {
            let (stream, _) = listener.accept().await.unwrap();
            let config = Config::default().with_compression(Some(Compression::new()));
            let mut ws = WebSocket::accept_with(stream, config, |_| Decision::accept())
                .await
                .expect("the browser's handshake");
            let params = ws
                .deflate()
                .expect("the browser negotiated permessage-deflate");
            assert!(!params.client_no_context_takeover, "{params:?}");
            match ws.recv().await.expect("the page's first message") {
                Message::Text(t) => assert!(
                    t.starts_with("extensions:permessage-deflate"),
                    "the page saw {t:?}"
                ),
                other => panic!("{}", short(&other)),
            }
            let sent = server_messages();
            for message in &sent {
                ws.send(message.clone()).await.expect("send");
                let echo = ws.recv().await.expect("the page's echo");
                assert!(
                    echo == *message,
                    "sent {}, got {}",
                    short(message),
                    short(&echo)
                );
            }
            ws.send(Message::Text("cmd:generate".into())).await.unwrap();
            for expected in page_messages() {
                let got = ws.recv().await.expect("the page's message");
                assert!(
                    got == expected,
                    "expected {}, got {}",
                    short(&expected),
                    short(&got)
                );
            }
            let closure = ws.close(CloseCode::NORMAL, "bye").await.expect("close");
            assert!(
                matches!(closure.kind(), ClosureKind::Clean { .. }),
                "{closure}"
            );
            sent.len()
        };
        let n = tokio::time::timeout(Duration::from_secs(120), work)
            .await
            .expect("the browser session finished within 120 s (is Chromium working?)");
        println!(
            "chromium: {n} messages echoed and {} received, compressed",
            page_messages().len()
        );
    });
}
