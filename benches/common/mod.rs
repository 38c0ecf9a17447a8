//! The harness the four benches share.
//!
//! Every bench is a list of *groups* (one per message size, …); a group holds its *contenders*
//! (sockeye, the other crates, reference loops and ceilings), each a closure that runs `iters`
//! iterations of the same work and returns the time they took. The same closures run in two
//! modes:
//!
//! - **criterion** (the default, `cargo bench -p sockeye-benches`): each contender is a
//!   criterion benchmark in the group, with its statistics, filters
//!   (`cargo bench -p sockeye-benches --bench decode -- 1KiB`) and baselines.
//! - **table** (`SOCKEYE_BENCH=table`, what `benches/run.sh` uses): the contenders of a group
//!   are calibrated to ~`SOCKEYE_BENCH_MS` per sample and then run *interleaved*, round after
//!   round with the order rotated each round, so that load from other processes on a shared
//!   machine hits them alike; the median of the rounds is reported, with ratios taken within the
//!   group (sockeye ÷ the best other crate, sockeye ÷ the ceiling). The table is markdown, on
//!   stdout and in `$CARGO_TARGET_DIR/bench-tables/<bench>.md`.
//!
//! Ratios, not absolute times, are what can be compared across runs on a noisy machine.
#![allow(dead_code)] // each bench uses a different part of it

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

pub mod wire;

/// What a contender is, for the ratio columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// sockeye itself.
    Sockeye,
    /// Another crate (or the loop that stands for one): what sockeye has to beat.
    Other,
    /// A bound no WebSocket implementation can pass (memcpy, a bare read, a minimal decoder).
    Ceiling,
    /// Shown for context only.
    Info,
}

type Run<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// One contender: a name, its kind, and the closure that runs `iters` iterations.
pub struct Contender<'a> {
    pub name: String,
    pub kind: Kind,
    run: Run<'a>,
}

/// Contenders doing the same work on the same input.
pub struct Group<'a> {
    pub name: String,
    /// Payload bytes per iteration (for GB/s).
    pub bytes: u64,
    /// Messages per iteration (0 when the notion does not apply).
    pub msgs: u64,
    contenders: Vec<Contender<'a>>,
}

impl<'a> Group<'a> {
    pub fn new(name: impl Into<String>, bytes: u64, msgs: u64) -> Self {
        Group {
            name: name.into(),
            bytes,
            msgs,
            contenders: Vec::new(),
        }
    }

    /// Adds a contender timed by the harness: `f` is one iteration.
    pub fn add<R>(&mut self, name: &str, kind: Kind, mut f: impl FnMut() -> R + 'a) {
        self.add_timed(name, kind, move |iters| {
            let t = CpuTimer::start();
            for _ in 0..iters {
                std::hint::black_box(f());
            }
            t.elapsed()
        });
    }

    /// Adds a contender that times itself (setup excluded): `f(iters)` returns the time taken.
    pub fn add_timed(&mut self, name: &str, kind: Kind, f: impl FnMut(u64) -> Duration + 'a) {
        self.contenders.push(Contender {
            name: name.to_string(),
            kind,
            run: Box::new(f),
        });
    }
}

/// Measures the CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), not wall time:
/// time the thread spends descheduled while other jobs run on its core is not counted, which
/// keeps in-process benches steady on a shared machine. (Cache pollution by those jobs still
/// shows; hence the medians.)
pub struct CpuTimer(Duration);

impl CpuTimer {
    pub fn start() -> CpuTimer {
        CpuTimer(thread_cpu_time())
    }

    pub fn elapsed(&self) -> Duration {
        thread_cpu_time().saturating_sub(self.0)
    }
}

pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// One measured contender.
pub struct Row {
    pub group: String,
    pub name: String,
    pub kind: Kind,
    pub bytes: u64,
    pub msgs: u64,
    /// Nanoseconds per iteration: median, min, max over the rounds.
    pub med: f64,
    pub min: f64,
    pub max: f64,
}

impl Row {
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 / self.med
    }
    pub fn msgs_per_s(&self) -> f64 {
        self.msgs as f64 / self.med * 1e9
    }
}

enum Mode {
    Criterion(Box<Criterion>),
    /// `SOCKEYE_BENCH=iters:N`: run each selected contender N iterations, once, and print
    /// nothing else — for `valgrind --tool=callgrind` (see benches/README.md).
    Fixed {
        iters: u64,
        filter: Option<String>,
    },
    Table {
        rounds: usize,
        target: Duration,
        filter: Option<String>,
        rows: Vec<Row>,
    },
}

/// Runs groups in the mode chosen by the environment; see the module documentation.
pub struct Harness {
    bench: String,
    mode: Mode,
    started: Instant,
    load_at_start: String,
    pub notes: Vec<String>,
}

fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Sum of the CPU time of every thread of `pid`, from /proc (nanoseconds).
pub fn process_cpu_ns(pid: u32) -> u64 {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, …), in bytes; `None` when the
/// process is gone.
pub fn proc_status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find(|l| l.strip_prefix(field).is_some_and(|r| r.starts_with(':')))?;
    let kib: u64 = line[field.len() + 1..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Raises this process's soft limit on open files to its hard limit; returns the new soft
/// limit.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here, not on every target
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to write to.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit; a soft limit up to the hard one is always allowed.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        }
    }
    lim.rlim_cur as u64
}

/// Writes a table to `<target dir>/bench-tables/<bench>.md` (best effort). The target dir is
/// `$CARGO_TARGET_DIR` when that is an absolute path, else the one this binary was built into
/// (`<target>/release/deps/<bench>-<hash>`): cargo runs a bench in its package's directory,
/// `benches/`, so neither the default `target` nor a relative `$CARGO_TARGET_DIR` would point
/// at the workspace's target dir from here.
pub fn write_table(bench: &str, md: &str) {
    let from_env = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .filter(|d| d.is_absolute());
    let from_exe = || {
        let exe = std::env::current_exe().ok()?;
        Some(exe.parent()?.parent()?.parent()?.to_path_buf())
    };
    let Some(target) = from_env.or_else(from_exe) else {
        return;
    };
    let dir = target.join("bench-tables");
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(dir.join(format!("{bench}.md")), md);
    }
}

impl Harness {
    pub fn from_env(bench: &str) -> Harness {
        let mode_var = std::env::var("SOCKEYE_BENCH").unwrap_or_default();
        // Arguments: cargo passes `--bench`; the first other argument keeps the contenders
        // whose "group/contender" contains it ("1KiB", "sockeye").
        let filter = std::env::args().skip(1).find(|a| !a.starts_with("--"));
        let mode = if let Some(n) = mode_var.strip_prefix("iters:") {
            Mode::Fixed {
                iters: n.parse().expect("SOCKEYE_BENCH=iters:N"),
                filter,
            }
        } else if mode_var == "table" {
            Mode::Table {
                rounds: env_num("SOCKEYE_BENCH_ROUNDS", 9.0) as usize,
                target: Duration::from_secs_f64(env_num("SOCKEYE_BENCH_MS", 40.0) / 1e3),
                filter,
                rows: Vec::new(),
            }
        } else {
            Mode::Criterion(Box::new(
                Criterion::default()
                    .sample_size(20)
                    .warm_up_time(Duration::from_millis(500))
                    .measurement_time(Duration::from_secs(2))
                    .configure_from_args(),
            ))
        };
        Harness {
            bench: bench.to_string(),
            mode,
            started: Instant::now(),
            load_at_start: loadavg(),
            notes: Vec::new(),
        }
    }

    pub fn is_table(&self) -> bool {
        matches!(self.mode, Mode::Table { .. })
    }

    /// Whether the contender `name` of `group` will run (table mode filters by argument), so
    /// that benches skip checking and building what is filtered out.
    pub fn selected(&self, group: &str, name: &str) -> bool {
        match &self.mode {
            Mode::Table {
                filter: Some(f), ..
            }
            | Mode::Fixed {
                filter: Some(f), ..
            } => format!("{group}/{name}").contains(f.as_str()),
            _ => true,
        }
    }

    pub fn run(&mut self, mut group: Group<'_>) {
        let selected: Vec<bool> = group
            .contenders
            .iter()
            .map(|c| self.selected(&group.name, &c.name))
            .collect();
        match &mut self.mode {
            Mode::Fixed { iters, .. } => {
                for (ct, sel) in group.contenders.iter_mut().zip(selected) {
                    if sel {
                        let t = (ct.run)(*iters);
                        eprintln!(
                            "{}/{}: {} iterations in {:?}",
                            group.name, ct.name, iters, t
                        );
                    }
                }
            }
            Mode::Criterion(c) => {
                let mut g = c.benchmark_group(&group.name);
                if group.bytes > 0 {
                    g.throughput(Throughput::Bytes(group.bytes));
                } else if group.msgs > 0 {
                    g.throughput(Throughput::Elements(group.msgs));
                }
                for ct in &mut group.contenders {
                    g.bench_function(&ct.name, |b| b.iter_custom(|iters| (ct.run)(iters)));
                }
                g.finish();
            }
            Mode::Table {
                rounds,
                target,
                filter: _,
                rows,
            } => {
                let mut keep = selected.into_iter();
                group.contenders.retain(|_| keep.next().unwrap_or(false));
                if group.contenders.is_empty() {
                    return;
                }
                let res = interleave(&mut group.contenders, *rounds, *target);
                for (ct, (med, min, max)) in group.contenders.iter().zip(res) {
                    rows.push(Row {
                        group: group.name.clone(),
                        name: ct.name.clone(),
                        kind: ct.kind,
                        bytes: group.bytes,
                        msgs: group.msgs,
                        med,
                        min,
                        max,
                    });
                }
                let start = rows.len() - group.contenders.len();
                eprint!("{}", render_group(&rows[start..]));
            }
        }
    }

    /// Prints the table (table mode) and finishes criterion.
    pub fn finish(self) {
        match self.mode {
            Mode::Criterion(c) => c.final_summary(),
            Mode::Fixed { .. } => {}
            Mode::Table {
                rounds,
                target,
                rows,
                ..
            } => {
                let mut md = format!("### {}\n\n", self.bench);
                let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
                groups.dedup();
                for g in groups {
                    let rs: Vec<&Row> = rows.iter().filter(|r| r.group == g).collect();
                    md.push_str(&render_group_refs(&rs));
                    md.push('\n');
                }
                md.push_str(&summary(&rows));
                for n in &self.notes {
                    md.push_str(&format!("\n{n}\n"));
                }
                let _ = writeln!(
                    md,
                    "\n{rounds} interleaved rounds of ~{} ms per contender, median; load average {} at start, {} at end; {:.0} s.",
                    target.as_millis(),
                    self.load_at_start,
                    loadavg(),
                    self.started.elapsed().as_secs_f64()
                );
                println!("{md}");
                write_table(&self.bench, &md);
            }
        }
    }
}

/// Calibrates every contender to ~`target` per sample, then runs `rounds` rounds, rotating the
/// order each round. Returns (median, min, max) nanoseconds per iteration.
fn interleave(cs: &mut [Contender<'_>], rounds: usize, target: Duration) -> Vec<(f64, f64, f64)> {
    let target_ns = target.as_nanos() as f64;
    let iters: Vec<u64> = cs
        .iter_mut()
        .map(|c| {
            let mut n = 1u64;
            loop {
                let ns = (c.run)(n).as_nanos() as f64;
                if ns >= target_ns / 4.0 || n >= 1 << 40 {
                    break ((target_ns / (ns / n as f64)).ceil() as u64).max(1);
                }
                n *= if ns < target_ns / 100.0 { 8 } else { 2 };
            }
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(rounds); cs.len()];
    for r in 0..rounds.max(1) {
        for k in 0..cs.len() {
            let i = (k + r) % cs.len();
            let ns = (cs[i].run)(iters[i]).as_nanos() as f64;
            samples[i].push(ns / iters[i] as f64);
        }
    }
    samples
        .into_iter()
        .map(|mut s| {
            s.sort_by(|a, b| a.total_cmp(b));
            (s[s.len() / 2], s[0], s[s.len() - 1])
        })
        .collect()
}

fn render_group(rows: &[Row]) -> String {
    render_group_refs(&rows.iter().collect::<Vec<_>>())
}

fn best<'r>(rows: &[&'r Row], kind: Kind) -> Option<&'r Row> {
    rows.iter()
        .filter(|r| r.kind == kind)
        .min_by(|a, b| a.med.total_cmp(&b.med))
        .copied()
}

fn render_group_refs(rows: &[&Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let sockeye = best(rows, Kind::Sockeye);
    let mut s = format!("#### {}\n\n", first.group);
    let msgs = first.msgs > 0;
    s.push_str(if msgs {
        "| contender | msg/s | GB/s | min–max GB/s | sockeye ÷ this |\n|---|---:|---:|---:|---:|\n"
    } else {
        "| contender | GB/s | min–max GB/s | ns/iter | sockeye ÷ this |\n|---|---:|---:|---:|---:|\n"
    });
    for r in rows {
        let ratio = match sockeye {
            Some(sk) if r.kind != Kind::Sockeye => format!("{:.2}", r.med / sk.med),
            _ => "—".into(),
        };
        let tag = match r.kind {
            Kind::Sockeye => " **(sockeye)**",
            Kind::Ceiling => " *(ceiling)*",
            Kind::Info => " *(context)*",
            Kind::Other => "",
        };
        let gb = |ns: f64| r.bytes as f64 / ns;
        if msgs {
            let _ = writeln!(
                s,
                "| {}{} | {:.3e} | {:.2} | {:.2}–{:.2} | {} |",
                r.name,
                tag,
                r.msgs_per_s(),
                r.gbps(),
                gb(r.max),
                gb(r.min),
                ratio
            );
        } else {
            let _ = writeln!(
                s,
                "| {}{} | {:.2} | {:.2}–{:.2} | {:.1} | {} |",
                r.name,
                tag,
                r.gbps(),
                gb(r.max),
                gb(r.min),
                r.med,
                ratio
            );
        }
    }
    s
}

/// One line per group: sockeye against the best other and against the ceiling.
fn summary(rows: &[Row]) -> String {
    let mut s = String::from(
        "#### Summary (ratios of throughput within each group)\n\n| group | sockeye | best other | sockeye ÷ best other | sockeye ÷ ceiling |\n|---|---:|---|---:|---:|\n",
    );
    let mut groups: Vec<&str> = rows.iter().map(|r| r.group.as_str()).collect();
    groups.dedup();
    for g in groups {
        let rs: Vec<&Row> = rows.iter().filter(|r| r.group == g).collect();
        let Some(sk) = best(&rs, Kind::Sockeye) else {
            continue;
        };
        let other = best(&rs, Kind::Other);
        let ceiling = best(&rs, Kind::Ceiling);
        let level = if sk.msgs > 0 {
            format!("{:.3e} msg/s", sk.msgs_per_s())
        } else {
            format!("{:.2} GB/s", sk.gbps())
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            g,
            level,
            other.map_or("—".into(), |o| o.name.clone()),
            other.map_or("—".into(), |o| format!("{:.2}×", o.med / sk.med)),
            ceiling.map_or("—".into(), |c| format!("{:.2}×", c.med / sk.med)),
        );
    }
    s
}

/// Human size: 16 B, 1 KiB, 64 KiB, 1 MiB.
pub fn size_name(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{}MiB", n >> 20)
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{}KiB", n >> 10)
    } else {
        format!("{n}B")
    }
}

/// Offset of the payload inside a masked client frame of this size: the payload a server
/// unmasks is never 8-byte aligned in its read buffer.
pub fn payload_offset(size: usize) -> usize {
    if size < 126 {
        6
    } else if size <= 0xFFFF {
        8
    } else {
        14
    }
}

/// A small deterministic generator (xorshift64*), so every run sees the same bytes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// `n` bytes of valid UTF-8 text, mostly ASCII with some 2-, 3- and 4-byte code points
    /// (like chat or JSON with names in it).
    pub fn text(&mut self, n: usize) -> Vec<u8> {
        const PIECES: [&str; 8] = [
            "hello ",
            "wörld ",
            "κόσμε ",
            "€ ",
            "{\"k\":1} ",
            "𝄞",
            "abc",
            "\n",
        ];
        let mut s = Vec::with_capacity(n + 8);
        while s.len() < n {
            let p = PIECES[(self.next() % PIECES.len() as u64) as usize].as_bytes();
            if s.len() + p.len() > n {
                s.extend(std::iter::repeat_n(b'x', n - s.len()));
            } else {
                s.extend_from_slice(p);
            }
        }
        s
    }
}
