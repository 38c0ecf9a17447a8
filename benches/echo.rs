//! Echo over loopback TCP: sockeye's tokio adapter running the plain echo loop of
//! `examples/echo_server.rs`, against the other crates' echo servers (plain and hand-batched)
//! and a plain TCP echo (the ceiling), driven by one load generator (`echo/load.rs`) that
//! validates every echoed byte.
//!
//! Each server runs in a fresh process (this binary, re-executed), first warmed by an untimed
//! connection of 50 messages of the cell's size. Run it pinned to one CPU
//! (`taskset -c 1`, as `benches/run.sh` does): the generator and the server then share that
//! core, and a cell measures how much CPU the echo pair needs per message.
//!
//! - table mode (`SOCKEYE_BENCH=table`): the matrix — sizes × connections × messages in flight
//!   (`SOCKEYE_ECHO_SIZES`, `_CONNS`, `_WINDOWS`; default 16 B, 1 KiB, 64 KiB, 1 MiB × 1, 64 ×
//!   1, 64), each cell run `SOCKEYE_ECHO_REPEATS` times (3) with the servers interleaved and
//!   their order rotated per repeat, `SOCKEYE_ECHO_SECS` measured (1.5) after 0.5 s of warm-up;
//!   medians of msg/s, server CPU per message and p99 round trip, ratios to the plain TCP echo
//!   and to the best other crate in the same cell. `SOCKEYE_ECHO_SERVERS=a,b` picks servers.
//! - criterion mode (`cargo bench -p sockeye-benches --bench echo`): per server, the time to
//!   echo N messages at 16 B with 64 in flight on one connection, and at 1 KiB on 64
//!   connections.

#[path = "common/mod.rs"]
mod common;
#[path = "echo/load.rs"]
mod load;
#[path = "echo/servers.rs"]
mod servers;

use std::fmt::Write as _;
use std::process::{Child, Command};
use std::rc::Rc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use load::{Cell, Frames, Limit, Outcome};
use servers::{Role, SERVERS};

const BASE_PORT: u16 = 19_300;

fn main() {
    if let Ok(spec) = std::env::var("SOCKEYE_ECHO_SERVER") {
        let (name, port) = spec.split_once(':').expect("NAME:PORT");
        servers::serve(name, port.parse().expect("port"));
    }
    match std::env::var("SOCKEYE_BENCH").as_deref() {
        Ok("table") => table(),
        Ok(m) if m.starts_with("iters:") => {} // nothing to count instructions of here
        _ => criterion(),
    }
}

/// A server process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(name: &str, port: u16) -> Server {
        let exe = std::env::current_exe().expect("current_exe");
        let child = Command::new(exe)
            .env("SOCKEYE_ECHO_SERVER", format!("{name}:{port}"))
            .env_remove("SOCKEYE_BENCH")
            .spawn()
            .expect("spawn server");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{name} did not start listening on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Server { child, port }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: sends a signal to our own child, by its pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn selected_servers() -> Vec<(usize, &'static str, Role)> {
    let only = std::env::var("SOCKEYE_ECHO_SERVERS").ok();
    SERVERS
        .iter()
        .enumerate()
        .filter(|(_, (name, role))| {
            *role == Role::Baseline
                || only
                    .as_deref()
                    .is_none_or(|o| o.split(',').any(|x| x.trim() == *name))
        })
        .map(|(i, (n, r))| (i, *n, *r))
        .collect()
}

/// One measured run on a fresh server: warm-up connection, then the cell.
fn measure(
    name: &str,
    role: Role,
    port: u16,
    cell: Cell,
    limit: Limit,
    frames: &Rc<Frames>,
) -> Outcome {
    let server = Server::start(name, port);
    let raw = role == Role::Baseline;
    let warm = Cell {
        size: cell.size,
        conns: 1,
        window: 1,
    };
    load::run(
        server.port,
        raw,
        warm,
        Limit::Count(50),
        frames,
        server.pid(),
    );
    load::run(server.port, raw, cell, limit, frames, server.pid())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn table() {
    let sizes = env_list("SOCKEYE_ECHO_SIZES", &[16, 1024, 64 << 10, 1 << 20]);
    let conns = env_list("SOCKEYE_ECHO_CONNS", &[1, 64]);
    let windows = env_list("SOCKEYE_ECHO_WINDOWS", &[1, 64]);
    let repeats = env_list("SOCKEYE_ECHO_REPEATS", &[3])[0].max(1);
    let secs: f64 = std::env::var("SOCKEYE_ECHO_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.5);
    let limit = Limit::Timed {
        warmup: Duration::from_millis(500),
        measure: Duration::from_secs_f64(secs),
    };
    let servers = selected_servers();
    let started = Instant::now();
    let load_at_start = common::loadavg();
    let mut md = String::from("### echo\n\n");
    let mut summary = String::from(
        "#### Summary\n\n| cell | sockeye msg/s | × raw TCP | best other | × best other | sockeye µs/msg | best other µs/msg |\n|---|---:|---:|---|---:|---:|---:|\n",
    );
    for &size in &sizes {
        let frames = Rc::new(Frames::new(size));
        for &c in &conns {
            for &w in &windows {
                let cell = Cell {
                    size,
                    conns: c,
                    window: w,
                };
                let cell_name = format!("{} · {c} conn · {w} in flight", common::size_name(size));
                let mut runs: Vec<Vec<Outcome>> = vec![Vec::new(); servers.len()];
                for r in 0..repeats {
                    for k in 0..servers.len() {
                        let i = (k + r) % servers.len();
                        let (idx, name, role) = servers[i];
                        let o = measure(name, role, BASE_PORT + idx as u16, cell, limit, &frames);
                        eprintln!(
                            "{cell_name} {name}: {:.0} msg/s, {:.2} µs/msg server, p50 {:.0} µs, p99 {:.0} µs, errors {}, clean closes {}/{c}",
                            o.msgs_per_s(),
                            o.server_us_per_msg(),
                            o.p50_ns as f64 / 1e3,
                            o.p99_ns as f64 / 1e3,
                            o.errors,
                            o.clean_closes
                        );
                        runs[i].push(o);
                    }
                }
                let rows: Vec<(&str, Role, f64, f64, f64, u64, usize)> = servers
                    .iter()
                    .zip(&runs)
                    .map(|((_, name, role), os)| {
                        (
                            *name,
                            *role,
                            median(os.iter().map(|o| o.msgs_per_s()).collect()),
                            median(os.iter().map(|o| o.server_us_per_msg()).collect()),
                            median(os.iter().map(|o| o.p99_ns as f64 / 1e3).collect()),
                            os.iter().map(|o| o.errors).sum(),
                            os.iter().map(|o| o.clean_closes).min().unwrap_or(0),
                        )
                    })
                    .collect();
                let raw = rows.iter().find(|r| r.1 == Role::Baseline).map(|r| r.2);
                let best = rows
                    .iter()
                    .filter(|r| r.1 == Role::Other)
                    .max_by(|a, b| a.2.total_cmp(&b.2));
                let _ = writeln!(md, "#### {cell_name}\n\n| server | msg/s | × raw TCP | × best other | server µs/msg | p99 µs | errors | clean closes |\n|---|---:|---:|---:|---:|---:|---:|---:|");
                for r in &rows {
                    let tag = match r.1 {
                        Role::Baseline => " *(ceiling)*",
                        Role::Sockeye => " **(sockeye)**",
                        Role::Variant => " *(sockeye in axum)*",
                        Role::Other => "",
                    };
                    let _ = writeln!(
                        md,
                        "| {}{tag} | {:.0} | {} | {} | {:.2} | {:.0} | {} | {}/{c} |",
                        r.0,
                        r.2,
                        raw.map_or("—".into(), |x| format!("{:.2}", r.2 / x)),
                        best.map_or("—".into(), |b| format!("{:.2}", r.2 / b.2)),
                        r.3,
                        r.4,
                        r.5,
                        r.6
                    );
                }
                md.push('\n');
                if let Some(sk) = rows.iter().find(|r| r.1 == Role::Sockeye) {
                    let min_other_cpu = rows
                        .iter()
                        .filter(|r| r.1 == Role::Other)
                        .map(|r| r.3)
                        .fold(f64::INFINITY, f64::min);
                    let _ = writeln!(
                        summary,
                        "| {cell_name} | {:.0} | {} | {} | {} | {:.2} | {:.2} |",
                        sk.2,
                        raw.map_or("—".into(), |x| format!("{:.2}", sk.2 / x)),
                        best.map_or("—", |b| b.0),
                        best.map_or("—".into(), |b| format!("{:.2}", sk.2 / b.2)),
                        sk.3,
                        min_other_cpu
                    );
                }
                eprint!("{md}");
            }
        }
    }
    md.push_str(&summary);
    let _ = writeln!(
        md,
        "\n{repeats} repeats per cell, servers interleaved (order rotated per repeat), median; {secs} s measured after 0.5 s warm-up, each run on a fresh server process warmed by 50 messages; load average {load_at_start} at start, {} at end; {:.0} s.",
        common::loadavg(),
        started.elapsed().as_secs_f64()
    );
    println!("{md}");
    common::write_table("echo", &md);
}

fn criterion() {
    let mut c = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let cells = [
        Cell {
            size: 16,
            conns: 1,
            window: 64,
        },
        Cell {
            size: 1024,
            conns: 64,
            window: 64,
        },
    ];
    for cell in cells {
        let frames = Rc::new(Frames::new(cell.size));
        let mut g = c.benchmark_group(format!(
            "echo/{}/{}conn/{}inflight",
            common::size_name(cell.size),
            cell.conns,
            cell.window
        ));
        g.throughput(criterion::Throughput::Elements(cell.conns as u64));
        for (idx, name, role) in selected_servers() {
            let server = Server::start(name, BASE_PORT + idx as u16);
            let raw = role == Role::Baseline;
            g.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let t = Instant::now();
                    let o = load::run(
                        server.port,
                        raw,
                        cell,
                        Limit::Count(iters),
                        &frames,
                        server.pid(),
                    );
                    assert_eq!(o.errors, 0, "{name}: echo errors");
                    t.elapsed()
                })
            });
        }
        g.finish();
    }
    c.final_summary();
}
