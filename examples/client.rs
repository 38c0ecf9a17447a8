//! A WebSocket client for diagnosing connections: it sends stdin lines as text messages,
//! prints what arrives, and says how every connection ended.
//!
//! ```text
//! cargo run --example client -- ws[s]://HOST:PORT/path [--ping-interval S] [--reconnect] [--proxy URL] [--ca FILE] [--no-deflate]
//! ```
//!
//! Each connection's end is one line with its close code and the closure's diagnosis — the
//! cause, the time since the last byte from the peer, and a hint:
//!
//! ```text
//! * closed after 3.2 s: code=1006 closed abnormally (1006): the connection was reset (TCP RST)
//!   between frames, 3.1 s after the last byte from the peer; hint: the peer process died or an
//!   intermediary (proxy, firewall, load balancer) aborted the connection
//! ```
//!
//! - `--ping-interval S`: keepalive — a Ping after S seconds without any byte from the peer,
//!   and 1006 (keepalive timeout) if nothing arrives within max(S/2, 1 s) after it. Without it
//!   a peer that vanishes without a FIN or RST is only noticed when the OS gives up on TCP.
//! - `--reconnect`: reconnect per the default policy (after 1006 and 1001, 1011–1014; not after
//!   1000 or the codes that say a retry would fail the same way), printing each attempt and
//!   delay. Without it the client exits after the first closure.
//! - `--proxy http://[USER:PASS@]HOST:PORT`: tunnel through this HTTP proxy (`CONNECT`).
//!   Without it the proxy environment is honoured: `http_proxy` (`ws://`), `https_proxy`,
//!   `all_proxy`, and `no_proxy` for hosts to reach directly. A proxy's refusal, or its demand
//!   for credentials, is printed as such.
//! - `--no-deflate`: do not offer permessage-deflate (RFC 7692). By default it is offered as
//!   browsers do (`permessage-deflate; client_max_window_bits`); a line after `* connected`
//!   says when the server took it.
//! - `wss://` runs TLS (rustls) and trusts the Mozilla roots built in; `--ca FILE` trusts the
//!   CA certificates in FILE (PEM) instead — a private CA, or a test server's. A certificate
//!   that is not trusted, is for another name or has expired, or a server that refuses the TLS
//!   handshake, is one `* cannot connect: TLS: …` line that names the cause and what to check;
//!   a TLS session cut without `close_notify` is named in the closure's line.
//! - End of input (Ctrl-D, or the end of a piped file) or Ctrl-C closes with 1000, bounded by
//!   the close timeout (5 s). To only listen, keep stdin open: `sleep infinity | client …`.
//!
//! Exit status: 0 if the last connection closed cleanly (the closing handshake completed),
//! 1 otherwise, 2 for bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use sockeye_tokio::{
    BackoffConfig, ClientOptions, Closure, Compression, Config, EngineConfig, Error, Keepalive,
    Message, ProxySetting, ReconnectConfig, ReconnectEvent, ReconnectingClient, TlsConnector,
};
use tokio::io::{AsyncBufReadExt, BufReader};

const USAGE: &str =
    "usage: client ws[s]://HOST:PORT/path [--ping-interval SECONDS] [--reconnect] [--proxy http://[USER:PASS@]HOST:PORT] [--ca FILE] [--no-deflate]";

/// Received binary messages are shown as their size and at most this many bytes in hex.
const HEX_PREVIEW: usize = 32;

struct Args {
    url: String,
    ping_interval: Option<Duration>,
    reconnect: bool,
    proxy: Option<String>,
    ca: Option<String>,
    deflate: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut url = None;
    let mut ping_interval = None;
    let mut reconnect = false;
    let mut proxy = None;
    let mut ca = None;
    let mut deflate = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reconnect" => reconnect = true,
            "--no-deflate" => deflate = false,
            "--proxy" => proxy = Some(args.next().ok_or("--proxy needs a URL")?),
            "--ca" => ca = Some(args.next().ok_or("--ca needs a PEM file")?),
            "--ping-interval" => {
                let value = args.next().ok_or("--ping-interval needs a value")?;
                let secs: f64 = value
                    .parse()
                    .map_err(|_| format!("--ping-interval: not a number: {value}"))?;
                if !(secs > 0.0 && secs <= 86_400.0) {
                    return Err(format!("--ping-interval: out of range (0, 86400]: {value}"));
                }
                ping_interval = Some(Duration::from_secs_f64(secs));
            }
            "-h" | "--help" => return Err("".into()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            _ if url.is_some() => return Err(format!("unexpected argument {arg}")),
            _ => url = Some(arg),
        }
    }
    Ok(Args {
        url: url.ok_or("missing the URL")?,
        ping_interval,
        reconnect,
        proxy,
        ca,
        deflate,
    })
}

/// Without `--reconnect`: one attempt, and no retry whatever the closure.
fn connect_once() -> ReconnectConfig {
    fn never(_: &Closure) -> bool {
        false
    }
    let mut backoff = BackoffConfig::new();
    backoff.retry = never;
    ReconnectConfig::new()
        .with_backoff(backoff)
        .with_max_attempts(Some(1))
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("client: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let status = runtime.block_on(run());
    // tokio reads stdin with a blocking read on a pool thread, which cannot be cancelled:
    // dropping the runtime normally would wait for it, i.e. for the next line or EOF.
    runtime.shutdown_background();
    status
}

async fn run() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("client: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    let mut engine = EngineConfig::default();
    let mut keepalive_note = String::new();
    if let Some(interval) = args.ping_interval {
        let timeout = (interval / 2).max(Duration::from_secs(1));
        engine = engine.with_keepalive(Some(Keepalive { interval, timeout }));
        keepalive_note = format!(
            " (keepalive: ping after {} of silence, timeout {})",
            secs(interval),
            secs(timeout)
        );
    }
    // The proxy environment (https_proxy, http_proxy, all_proxy, no_proxy), or --proxy.
    let proxy = match &args.proxy {
        Some(url) => ProxySetting::Url(url),
        None => ProxySetting::FromEnv,
    };
    // --ca FILE: trust the CA certificates in FILE for wss:// (otherwise the built-in roots).
    let connector = match &args.ca {
        Some(path) => {
            let pem = match std::fs::read(path) {
                Ok(pem) => pem,
                Err(e) => {
                    eprintln!("client: --ca {path}: {e}");
                    return ExitCode::from(2);
                }
            };
            match TlsConnector::with_ca_pem(&pem) {
                Ok(connector) => Some(connector),
                Err(e) => {
                    eprintln!("client: --ca {path}: {e}");
                    return ExitCode::from(2);
                }
            }
        }
        None => None,
    };
    let compression = args.deflate.then(Compression::new);
    let mut options = ClientOptions::new()
        .with_config(
            Config::default()
                .with_engine(engine)
                .with_compression(compression),
        )
        .with_proxy(proxy);
    if let Some(connector) = &connector {
        options = options.with_tls(connector);
    }
    let config = if args.reconnect {
        ReconnectConfig::new()
    } else {
        connect_once()
    };
    let mut client = match ReconnectingClient::with_options(&args.url, &options, config) {
        Ok(client) => client,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::from(2);
        }
    };
    println!("* connecting to {}{keepalive_note}", args.url);

    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut stopping = false;
    let mut last: Option<Closure> = None;

    loop {
        // Lines are read only while a connection is open: piped input waits for it.
        let reading = stdin_open && !stopping && client.is_connected();
        let mut stop = None;
        tokio::select! {
            event = client.next() => match event {
                Some(event) => {
                    let connected = matches!(event, ReconnectEvent::Connected { .. });
                    report(event, args.reconnect, &mut last);
                    if let (true, Some(ws)) = (connected, client.connection_mut()) {
                        if let Some(p) = ws.deflate() {
                            println!(
                                "* permessage-deflate: windows 2^{} (server) / 2^{} (client), context takeover {} / {}",
                                p.server_max_window_bits,
                                p.client_max_window_bits,
                                if p.server_no_context_takeover { "off" } else { "on" },
                                if p.client_no_context_takeover { "off" } else { "on" },
                            );
                        }
                    }
                }
                None => break,
            },
            line = stdin.next_line(), if reading => match line {
                Ok(Some(line)) => {
                    if let Some(ws) = client.connection_mut() {
                        // Sending waits while the peer does not read; Ctrl-C still stops.
                        tokio::select! {
                            sent = ws.send_text(&line) => match sent {
                                // The connection ended: its closure is the next event.
                                Ok(()) | Err(Error::Closed(_)) => {}
                                Err(e) => println!("* not sent: {e}"),
                            },
                            _ = &mut ctrl_c => stop = Some("interrupted"),
                        }
                    }
                }
                Ok(None) => {
                    stdin_open = false;
                    stop = Some("end of input");
                }
                Err(e) => {
                    stdin_open = false;
                    println!("* stdin: {e}");
                    stop = Some("stdin failed");
                }
            },
            _ = &mut ctrl_c, if !stopping => stop = Some("interrupted"),
        }
        if let Some(why) = stop {
            stopping = true;
            if client.is_connected() {
                println!("* {why}: closing with 1000");
            } else {
                println!("* {why}: stopping");
            }
            client.stop();
        }
    }
    match last {
        Some(closure) if closure.is_clean() => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

fn report(event: ReconnectEvent, reconnect: bool, last: &mut Option<Closure>) {
    match event {
        ReconnectEvent::Connected { attempt } if reconnect => {
            println!("* connected (attempt {attempt})")
        }
        ReconnectEvent::Connected { .. } => println!("* connected"),
        ReconnectEvent::Message(Message::Text(text)) => println!("< {text}"),
        ReconnectEvent::Message(Message::Binary(data)) => {
            let hex: String = data
                .iter()
                .take(HEX_PREVIEW)
                .map(|b| format!("{b:02x}"))
                .collect();
            let more = if data.len() > HEX_PREVIEW { "…" } else { "" };
            println!("< binary, {} bytes: {hex}{more}", data.len());
        }
        ReconnectEvent::Message(_) => {}
        ReconnectEvent::Disconnected {
            closure,
            connected_for,
        } => {
            println!(
                "* closed after {}: code={} {closure}",
                secs(connected_for),
                closure.code().as_u16()
            );
            *last = Some(closure);
        }
        ReconnectEvent::ConnectFailed { error, attempt } if reconnect => {
            println!("* attempt {attempt} failed: {error}")
        }
        ReconnectEvent::ConnectFailed { error, .. } => println!("* cannot connect: {error}"),
        ReconnectEvent::Retrying { attempt, delay } => {
            println!("* reconnecting: attempt {attempt} in {}", secs(delay))
        }
        ReconnectEvent::GaveUp { reason } if reconnect => println!("* giving up: {reason}"),
        _ => {}
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}
