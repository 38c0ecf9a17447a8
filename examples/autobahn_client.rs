//! The client side of the Autobahn|Testsuite: runs every case of a `wstest -m fuzzingserver`.
//!
//! ```text
//! cargo run --release --example autobahn_client -- [URL] [AGENT]
//!     (defaults: ws://127.0.0.1:9001 and sockeye)
//! ```
//!
//! It asks `/getCaseCount`, then connects to `/runCase?case=N&agent=AGENT` for each case and
//! echoes every message until the server closes, and finally asks the server to write its
//! reports with `/updateReports?agent=AGENT`. One line per case goes to stderr.

use std::process::ExitCode;

use sockeye_tokio::{ClientOptions, Closure, Compression, Config, Error, Message, WebSocket};

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let base = args.next().unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let base = base.trim_end_matches('/').to_owned();
    let agent = args.next().unwrap_or_else(|| "sockeye".into());
    let agent_query = percent_encode(&agent);

    let count = match case_count(&base).await {
        Ok(count) => count,
        Err(e) => {
            eprintln!("autobahn_client: cannot get the case count from {base}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("autobahn_client: {count} cases, agent {agent}");
    for case in 1..=count {
        let url = format!("{base}/runCase?case={case}&agent={agent_query}");
        match echo(&url).await {
            Ok(closure) => eprintln!(
                "case {case}/{count}: code={} {closure}",
                closure.code().as_u16()
            ),
            Err(e) => eprintln!("case {case}/{count}: {e}"),
        }
    }
    let url = format!("{base}/updateReports?agent={agent_query}");
    match echo(&url).await {
        Ok(_) => {
            eprintln!("autobahn_client: reports updated");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("autobahn_client: updateReports failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reads the number of cases: the server sends it as a text message, then closes.
async fn case_count(base: &str) -> Result<u32, Error> {
    let mut ws = WebSocket::connect(&format!("{base}/getCaseCount")).await?;
    let mut count = None;
    loop {
        match ws.recv().await {
            Ok(Message::Text(text)) => count = text.trim().parse().ok(),
            Ok(_) => {}
            Err(Error::Closed(closure)) => {
                return count.ok_or(Error::Closed(closure));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Connects and echoes every message until the connection ends.
async fn echo(url: &str) -> Result<Closure, Error> {
    // Offers permessage-deflate as browsers do, for sections 12 and 13.
    let options = ClientOptions::new()
        .with_config(Config::default().with_compression(Some(Compression::new())));
    let mut ws = WebSocket::connect_with(url, &options).await?;
    loop {
        match ws.recv().await {
            Ok(message) => match ws.send(message).await {
                Ok(()) => {}
                Err(Error::Closed(closure)) => return Ok(*closure),
                // The server's Close arrived meanwhile: `recv` reports the end next.
                Err(_) => {}
            },
            Err(Error::Closed(closure)) => return Ok(*closure),
            Err(e) => return Err(e),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters, for the query string.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
