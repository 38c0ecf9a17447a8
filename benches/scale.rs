//! Scale: many mostly-idle connections. How much memory a server keeps per open WebSocket
//! connection, how much CPU it spends answering keepalive Pings, and whether memory comes back
//! down after a burst of traffic — sockeye's tokio adapter running the plain echo loop of
//! `examples/echo_server.rs` against tokio-tungstenite (default configuration and with a
//! 4 KiB read buffer), tokio-websockets and fastwebsockets (the plain echo loops of the echo
//! bench), and a floor: a tokio task that only holds the `TcpStream`.
//!
//! Two processes: this binary is the load, and re-executes itself as the server
//! (`SOCKEYE_SCALE_SERVER=NAME:PORT`), one fresh server process per contender, one after the
//! other, each killed at the end of its run. For each server:
//!
//! 1. RSS (`VmRSS` of `/proc/PID/status`) once it listens, before any connection;
//! 2. `SOCKEYE_SCALE_N` WebSocket connections (15 000), 256 being opened at a time, client
//!    sockets bound round robin to the addresses of `SOCKEYE_SCALE_SOURCES` (`127.0.0.1`; give
//!    more, `127.0.0.1,127.0.0.2,…`, to go past one address's ephemeral ports); after
//!    `SOCKEYE_SCALE_SETTLE_SECS` (2) of idleness, RSS again: the idle cost per connection;
//! 3. keepalive from the clients: `SOCKEYE_SCALE_PING_ROUNDS` (3) rounds
//!    `SOCKEYE_SCALE_PING_SECS` (2 s) apart, every connection pinging once per round at its own
//!    offset in the interval, each Pong checked byte for byte; the server's CPU time (all its
//!    threads, `/proc/PID/task/*/schedstat`) over the rounds, per second, and RSS after them;
//! 4. a burst: every connection at once sends `SOCKEYE_SCALE_BURST_MSGS` (10) binary messages
//!    of `SOCKEYE_SCALE_BURST_SIZE` (4 KiB) in one write and reads the echoes, checked byte
//!    for byte; the peak RSS meanwhile (`VmHWM`, reset before the burst through
//!    `/proc/PID/clear_refs`, and sampled every 5 ms), then RSS after
//!    `SOCKEYE_SCALE_SETTLE_SECS`: does memory come back down?
//!
//! Memory is reported per connection: (RSS − RSS before any connection) ÷ connections. RSS is
//! user-space memory only; the kernel's socket buffers are not in it (and are the same for
//! every server).
//!
//! Both processes raise their open-file limit to the hard limit and stop with a message when
//! N + 100 does not fit. `SOCKEYE_SCALE_SERVERS=a,b` picks servers (the floor always runs).
//! Run without `--bench` (as `cargo test --benches` does), it is a quick check: 50
//! connections, one ping round 0.2 s long, unless the variables say otherwise.

#[path = "common/mod.rs"]
mod common;
#[path = "echo/servers.rs"]
#[allow(dead_code)] // the scale servers use the plain loops only
mod echo_servers;
#[path = "scale/load.rs"]
mod load;
#[path = "scale/servers.rs"]
mod servers;

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader, Write as _};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use load::{Burst, Plan};
use servers::{Role, SERVERS};

const BASE_PORT: u16 = 19_400;

/// The system allocator, keeping count of the bytes allocated and not yet freed: what the
/// server's code holds, as opposed to what the allocator keeps resident (RSS). One relaxed
/// atomic add per allocation and free, the same for every server.
struct LiveBytes;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: defers to `System` for every operation; only counts on the side.
unsafe impl GlobalAlloc for LiveBytes {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: LiveBytes = LiveBytes;

fn main() {
    let limit = common::raise_nofile_limit();
    if let Ok(spec) = std::env::var("SOCKEYE_SCALE_SERVER") {
        let (name, port) = spec.split_once(':').expect("NAME:PORT");
        check_fds(env_parse("SOCKEYE_SCALE_N", 0usize), limit, "server");
        control();
        servers::serve(name, port.parse().expect("port"));
    }
    if matches!(std::env::var("SOCKEYE_BENCH").as_deref(), Ok(m) if m.starts_with("iters:")) {
        return; // nothing to count instructions of here
    }
    let full = std::env::args().any(|a| a == "--bench");
    let plan = plan_from_env(full);
    check_fds(plan.n, limit, "load");
    check_ports(&plan);
    run(&plan, full);
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?}: not a valid value")),
        Err(_) => default,
    }
}

fn plan_from_env(full: bool) -> Plan {
    let sources: Vec<Ipv4Addr> = std::env::var("SOCKEYE_SCALE_SOURCES")
        .unwrap_or_else(|_| "127.0.0.1".into())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse()
                .unwrap_or_else(|_| panic!("SOCKEYE_SCALE_SOURCES: {s:?} is not an IPv4 address"))
        })
        .collect();
    assert!(!sources.is_empty(), "SOCKEYE_SCALE_SOURCES is empty");
    for s in &sources {
        assert!(
            s.is_loopback(),
            "SOCKEYE_SCALE_SOURCES: {s} is not a loopback address (127.0.0.0/8)"
        );
    }
    let secs = |name: &str, default: f64| Duration::from_secs_f64(env_parse(name, default));
    Plan {
        n: env_parse("SOCKEYE_SCALE_N", if full { 15_000 } else { 50 }),
        sources,
        rounds: env_parse("SOCKEYE_SCALE_PING_ROUNDS", if full { 3 } else { 1 }),
        interval: secs("SOCKEYE_SCALE_PING_SECS", if full { 2.0 } else { 0.2 }),
        burst_msgs: env_parse("SOCKEYE_SCALE_BURST_MSGS", 10),
        burst_size: env_parse("SOCKEYE_SCALE_BURST_SIZE", 4096),
        settle: secs("SOCKEYE_SCALE_SETTLE_SECS", if full { 2.0 } else { 0.2 }),
        parallel: env_parse("SOCKEYE_SCALE_PARALLEL", 256),
    }
}

/// Each process holds N sockets plus a few files (listener, epoll, pipes, /proc reads).
fn check_fds(n: usize, limit: u64, who: &str) {
    if n as u64 + 100 > limit {
        eprintln!(
            "scale: the {who} process needs N + 100 = {} open files for N = {n} connections, but \
             its open-file limit is {limit} (the soft limit is already raised to the hard one): \
             lower SOCKEYE_SCALE_N, or raise the hard limit (ulimit -Hn) where you can",
            n + 100
        );
        std::process::exit(2);
    }
}

/// One source address offers one ephemeral port range per server port.
fn check_ports(plan: &Plan) {
    let Ok(range) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return;
    };
    let v: Vec<usize> = range
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if let [lo, hi] = v[..] {
        let ports = (hi + 1).saturating_sub(lo) * plan.sources.len();
        if plan.n > ports {
            eprintln!(
                "scale: N = {} connections need more source ports than the {} source address(es) \
                 offer ({ports}, ephemeral range {lo}–{hi}): add addresses to \
                 SOCKEYE_SCALE_SOURCES (127.0.0.2, 127.0.0.3, …)",
                plan.n,
                plan.sources.len()
            );
            std::process::exit(2);
        }
    }
}

/// The server's side of its stdin/stdout pipes to the load process: `heap` answers the live
/// heap bytes, `trim` runs `malloc_trim(0)` (free memory back to the system) and answers
/// `ok`. When stdin closes — the load process is gone — the server exits.
fn control() {
    std::thread::spawn(|| {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            let answer = match line.trim() {
                "heap" => LIVE.load(Ordering::Relaxed).to_string(),
                "trim" => {
                    // SAFETY: no preconditions; glibc trims every arena.
                    unsafe { libc::malloc_trim(0) };
                    "ok".into()
                }
                other => format!("unknown command {other:?}"),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{answer}");
            let _ = out.flush();
        }
        std::process::exit(0);
    });
}

/// A server process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(name: &str, port: u16, n: usize) -> Server {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .env("SOCKEYE_SCALE_SERVER", format!("{name}:{port}"))
            .env("SOCKEYE_SCALE_N", n.to_string())
            .env_remove("SOCKEYE_BENCH")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn server");
        let stdin = child.stdin.take().expect("server stdin");
        let stdout = BufReader::new(child.stdout.take().expect("server stdout"));
        let mut server = Server {
            child,
            stdin,
            stdout,
        };
        // The server says `ready` once it listens; EOF means it exited (its stderr says why).
        assert!(
            server.line().as_deref() == Some("ready"),
            "{name}: the server process did not start listening on 127.0.0.1:{port}"
        );
        server
    }

    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.stdout.read_line(&mut line) {
            Ok(n) if n > 0 => Some(line.trim().to_string()),
            _ => None,
        }
    }

    /// Sends a command to the server's control thread and returns its answer.
    fn ask(&mut self, command: &str) -> Option<String> {
        writeln!(self.stdin, "{command}").ok()?;
        self.stdin.flush().ok()?;
        self.line()
    }

    /// Bytes the server's code holds on the heap (0 if the server is gone).
    fn heap(&mut self) -> u64 {
        self.ask("heap").and_then(|a| a.parse().ok()).unwrap_or(0)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
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

fn rss(pid: u32) -> u64 {
    common::proc_status_bytes(pid, "VmRSS").unwrap_or(0)
}

/// Samples the peak RSS of `pid` on a thread until the returned flag is set.
fn sample_peak(pid: u32) -> (Arc<AtomicBool>, std::thread::JoinHandle<u64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut peak = 0;
        while !flag.load(Ordering::Relaxed) {
            peak = peak.max(rss(pid));
            std::thread::sleep(Duration::from_millis(5));
        }
        peak.max(rss(pid))
    });
    (stop, handle)
}

/// One server's results.
struct Row {
    name: &'static str,
    role: Role,
    conns: usize,
    failed: usize,
    first_error: Option<String>,
    setup_secs: f64,
    base: u64,
    idle: u64,
    after_pings: u64,
    cpu_ns: u64,
    ping_secs: f64,
    alive: usize,
    peak: u64,
    peak_from_hwm: bool,
    after_burst: u64,
    burst_ok: usize,
    /// RSS after `malloc_trim(0)`, after the burst.
    after_trim: u64,
    /// Live heap bytes before any connection, idle, after the burst.
    heap_base: u64,
    heap_idle: u64,
    heap_after_burst: u64,
    exited: bool,
}

impl Row {
    /// Growth over the RSS before any connection, per connection.
    fn per_conn(&self, rss: u64) -> f64 {
        (rss as f64 - self.base as f64) / self.conns.max(1) as f64
    }
    fn heap_per_conn(&self, heap: u64) -> f64 {
        (heap as f64 - self.heap_base as f64) / self.conns.max(1) as f64
    }
    fn cpu_ms_per_s(&self) -> f64 {
        self.cpu_ns as f64 / 1e6 / self.ping_secs
    }
}

async fn measure(
    server: &mut Server,
    name: &'static str,
    role: Role,
    port: u16,
    plan: &Plan,
    burst: &Burst,
) -> (Row, Vec<tokio::net::TcpStream>) {
    let pid = server.pid();
    let raw = role == Role::Floor;
    let base = rss(pid);
    let heap_base = server.heap();
    let t = Instant::now();
    let (mut conns, failed, first_error) = load::open(port, plan, raw).await;
    let setup_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "scale {name}: {} connections open in {setup_secs:.1} s ({failed} failed{})",
        conns.len(),
        first_error
            .as_deref()
            .map_or(String::new(), |e| format!("; first: {e}"))
    );
    tokio::time::sleep(plan.settle).await;
    let idle = rss(pid);
    let heap_idle = server.heap();

    let (cpu0, t0) = (common::process_cpu_ns(pid), Instant::now());
    let alive = load::ping_rounds(&mut conns, plan, raw).await;
    let (cpu1, ping_secs) = (common::process_cpu_ns(pid), t0.elapsed().as_secs_f64());
    let after_pings = rss(pid);

    // Peak RSS during the burst: VmHWM, reset to the current RSS first ("5" > clear_refs),
    // and a 5 ms sampler in case the reset is not allowed.
    let hwm_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    let (stop, sampler) = sample_peak(pid);
    let burst_ok = load::burst(&mut conns, burst, raw).await;
    let hwm = common::proc_status_bytes(pid, "VmHWM").unwrap_or(0);
    stop.store(true, Ordering::Relaxed);
    let sampled = sampler.join().unwrap_or(0);
    let peak = if hwm_reset { hwm.max(sampled) } else { sampled };
    tokio::time::sleep(plan.settle).await;
    let after_burst = rss(pid);
    let heap_after_burst = server.heap();
    // What the allocator keeps but could give back: trim, then RSS once more.
    let _ = server.ask("trim");
    let after_trim = rss(pid);
    let row = Row {
        name,
        role,
        conns: conns.len(),
        failed,
        first_error,
        setup_secs,
        base,
        idle,
        after_pings,
        cpu_ns: cpu1.saturating_sub(cpu0),
        ping_secs,
        alive,
        peak,
        peak_from_hwm: hwm_reset,
        after_burst,
        burst_ok,
        after_trim,
        heap_base,
        heap_idle,
        heap_after_burst,
        exited: server.exited(),
    };
    eprintln!(
        "scale {name}: RSS {:.1} MiB before; per connection: idle {:.0} B (heap {:.0}), after pings {:.0} B; keepalive {:.1} ms/s CPU ({:.1} µs/ping), alive {alive}/{}; burst peak {:.0} B, after {:.0} B (heap {:.0}), after malloc_trim {:.0} B; burst echoes {burst_ok}/{}",
        base as f64 / (1 << 20) as f64,
        row.per_conn(idle),
        row.heap_per_conn(heap_idle),
        row.per_conn(after_pings),
        row.cpu_ms_per_s(),
        row.cpu_ns as f64 / 1e3 / (row.conns.max(1) as f64 * plan.rounds.max(1) as f64),
        plan.n,
        row.per_conn(peak),
        row.per_conn(after_burst),
        row.heap_per_conn(heap_after_burst),
        row.per_conn(after_trim),
        plan.n,
    );
    (row, conns)
}

fn selected_servers() -> Vec<(usize, &'static str, Role)> {
    let only = std::env::var("SOCKEYE_SCALE_SERVERS").ok();
    SERVERS
        .iter()
        .enumerate()
        .filter(|(_, (name, role))| {
            *role == Role::Floor
                || only
                    .as_deref()
                    .is_none_or(|o| o.split(',').any(|x| x.trim() == *name))
        })
        .map(|(i, (n, r))| (i, *n, *r))
        .collect()
}

fn run(plan: &Plan, full: bool) {
    let started = Instant::now();
    let load_at_start = common::loadavg();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let burst = Burst::new(plan.burst_msgs, plan.burst_size);
    let mut rows = Vec::new();
    for (idx, name, role) in selected_servers() {
        let port = BASE_PORT + idx as u16;
        let mut server = Server::start(name, port, plan.n);
        let (row, conns) = rt.block_on(measure(&mut server, name, role, port, plan, &burst));
        // The server goes first (its sockets close with it), then the clients.
        drop(server);
        rt.block_on(async move { drop(conns) });
        rows.push(row);
        // Let the teardown of N sockets finish before the next server starts.
        std::thread::sleep(Duration::from_secs(1));
    }
    let md = render(plan, &rows, &load_at_start, started.elapsed().as_secs_f64());
    println!("{md}");
    if full {
        common::write_table("scale", &md);
    }
    let bad: Vec<&str> = rows
        .iter()
        .filter(|r| r.failed > 0 || r.alive < plan.n || r.burst_ok < plan.n || r.exited)
        .map(|r| r.name)
        .collect();
    if !bad.is_empty() {
        eprintln!("scale: not every connection of {bad:?} opened, stayed alive and echoed the burst (see the table)");
    }
}

fn render(plan: &Plan, rows: &[Row], load_at_start: &str, secs: f64) -> String {
    let n = plan.n;
    let mut md = String::from("### scale\n\n");
    let floor_idle = rows
        .iter()
        .find(|r| r.role == Role::Floor)
        .map(|r| r.per_conn(r.idle));
    md.push_str(
        "| server | idle B/conn | idle − floor | after pings B/conn | keepalive CPU ms/s | alive | burst peak B/conn | after burst B/conn | after burst ÷ idle | burst echoes | heap idle B/conn | heap after burst B/conn | after malloc_trim B/conn |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let tag = match r.role {
            Role::Floor => " *(floor)*",
            Role::Sockeye => " **(sockeye)**",
            Role::Other => "",
        };
        let idle = r.per_conn(r.idle);
        let after = r.per_conn(r.after_burst);
        let _ = writeln!(
            md,
            "| {}{tag}{} | {:.0} | {} | {:.0} | {:.1} | {}/{n} | {:.0}{} | {:.0} | {} | {}/{n} | {:.0} | {:.0} | {:.0} |",
            r.name,
            if r.exited { " (server exited!)" } else { "" },
            idle,
            floor_idle.map_or("—".into(), |f| format!("{:.0}", idle - f)),
            r.per_conn(r.after_pings),
            r.cpu_ms_per_s(),
            r.alive,
            r.per_conn(r.peak),
            if r.peak_from_hwm { "" } else { "†" },
            after,
            if idle > 0.0 {
                format!("{:.2}", after / idle)
            } else {
                "—".into()
            },
            r.burst_ok,
            r.heap_per_conn(r.heap_idle),
            r.heap_per_conn(r.heap_after_burst),
            r.per_conn(r.after_trim),
        );
    }
    let range = |f: &dyn Fn(&Row) -> f64| {
        let v: Vec<f64> = rows.iter().map(f).collect();
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lo, hi)
    };
    let (rss_lo, rss_hi) = range(&|r| r.base as f64 / (1 << 20) as f64);
    let (setup_lo, setup_hi) = range(&|r| r.setup_secs);
    let _ = writeln!(
        md,
        "\nN = {n} connections per server from {} source address(es) ({}), opened {} at a time \
         (in {setup_lo:.1}–{setup_hi:.1} s); RSS before any connection {rss_lo:.1}–{rss_hi:.1} MiB; \
         idle RSS after {:.1} s; {} ping rounds {:.1} s apart (every connection once per round, \
         spread over the interval; keepalive CPU = server CPU time over the rounds ÷ their \
         duration); burst: {} × {} binary messages per connection, all connections at once; \
         after-burst RSS {:.1} s later, then once more after `malloc_trim(0)`. \
         B/conn = (RSS − RSS before any connection) ÷ connections open; heap = bytes allocated \
         and not freed (a counting global allocator in the server), same base. \
         Load average {load_at_start} at start, {} at end; {secs:.0} s.",
        plan.sources.len(),
        plan.sources
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        plan.parallel,
        plan.settle.as_secs_f64(),
        plan.rounds,
        plan.interval.as_secs_f64(),
        plan.burst_msgs,
        common::size_name(plan.burst_size),
        plan.settle.as_secs_f64(),
        common::loadavg(),
    );
    if rows.iter().any(|r| !r.peak_from_hwm) {
        md.push_str("\n† peak sampled every 5 ms (VmHWM could not be reset).\n");
    }
    for r in rows.iter().filter(|r| r.failed > 0) {
        let _ = writeln!(
            md,
            "\n{}: {} of {n} connections failed to open; first error: {}",
            r.name,
            r.failed,
            r.first_error.as_deref().unwrap_or("?")
        );
    }
    md
}
