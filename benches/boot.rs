//! Boot scheduler benchmark: how close `jailctl::boot::boot` gets to the best possible wall
//! time. By default 200 jails in 10 dependency levels, each start a fixed sleep; the wall time
//! is compared with a lower bound no scheduler can beat and with starting the jails one by
//! one.
//!
//! Run: `cargo bench --bench boot` (options: `-- --latency-ms 20 --runs 3 --sim-latency-ms 10
//! --sim-runs 1`, `--no-sim` for the scheduler alone, `--shutdown-only` for the shutdown part
//! alone, `--shutdown-latency-ms 50`).
//!
//! The fleet's shape: `--levels 200x10` (200 jails in 10 levels, the default) and/or
//! `--chains 100x10` (100 independent chains of 10 jails, each depending on the one before
//! it); with both, every part runs for each shape in turn. `--parallel 4,16` sets the
//! parallelisms of the simulated boot and shutdown (default 4,8,16 and 4,16), `--no-bare`
//! skips the runs without latency that measure the fixed cost per command, and `--sim-dir
//! DIR` puts the simulated hosts under DIR (default: the build's own temporary directory,
//! `target/tmp`, on the repository's disk; the file system found there is printed).
//!
//! The third part is `shutdown` of the same 200 jails through the real driver, under the locks
//! `jailctl shutdown` takes (the fleet and every jail, handed to each stop), with the latency
//! injected into every command of the stops: the graph is the shutdown graph (dependents
//! first), so the bound is computed on it the same way, with d = commands per stop × latency,
//! after the one observation of the host every stop waits for (its `jls` and `zfs get` run at
//! the same time: one latency). Until 2026-12-06 the two observing commands were spread over
//! the stops instead, which left that latency out of the bound.
//!
//! The second part drives the same graph through the real driver ([`OpsDriver`]: lock,
//! observe, plan, apply per jail) on the simulated host with the same latency injected into
//! every tool command, so the jail start is d = c·l for c commands per jail of latency l. The
//! simulator serializes changing commands on its state lock (reads take it shared; a
//! changing command appends what it changed to its log); the latency is slept outside the lock, so what the
//! lock and the rest of jailctl cost shows up as wall time above the bound. That overhead is
//! measured separately with no latency at all. The simulated host lives in a temporary
//! directory (`TMPDIR`): its file system's cost is part of the overhead measured.
//!
//! Lower bound, for unit jobs of length d on P slots: a jail whose longest chain of
//! dependencies has k jails cannot start before k·d, and at most P jails run at any instant,
//! so the jails whose chain has ≥ k jails need at least ceil(count/P)·d more. The bound is the
//! maximum over k of (k + ceil(count_k / P))·d. k = 0 gives the work bound ceil(N/P)·d; the
//! largest k gives the critical path. Results below the bound would mean a broken clock.

use jailctl::apply::{Held, LockKey, Mode};
use jailctl::boot::{
    BootGraph, BootOptions, DriverError, GraphEntry, JailDriver, OpsDriver, ShutdownOptions, boot,
    shutdown_with,
};
use jailctl::host::{Cmd, Host, HostFs, Output, ProcessError, Runner};
use jailctl_sim::{SimConfig, SimHost};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The dependency graph of a benchmark fleet.
#[derive(Clone, Copy, Debug)]
enum Shape {
    /// `jails` in `levels` levels; each jail below the first depends on 1–3 of the level
    /// above.
    Levels { jails: usize, levels: usize },
    /// `count` independent chains of `length` jails, each depending on the one before it.
    Chains { count: usize, length: usize },
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Levels { jails, levels } => write!(f, "{jails} jails in {levels} levels"),
            Shape::Chains { count, length } => {
                write!(f, "{} jails in {count} chains of {length}", count * length)
            }
        }
    }
}

/// `AxB` as two numbers.
fn pair(v: &str, what: &str) -> (usize, usize) {
    let (a, b) = v
        .split_once('x')
        .unwrap_or_else(|| panic!("{what} AxB, e.g. 100x10"));
    (
        a.parse().expect("a number before x"),
        b.parse().expect("a number after x"),
    )
}

fn graph(shape: Shape) -> BootGraph {
    match shape {
        Shape::Levels { jails, levels } => levels_graph(jails, levels),
        Shape::Chains { count, length } => BootGraph::new(
            (0..count)
                .flat_map(|c| {
                    (0..length).map(move |k| GraphEntry {
                        name: format!("c{c}-{k}"),
                        depends_on: if k == 0 {
                            vec![]
                        } else {
                            vec![format!("c{c}-{}", k - 1)]
                        },
                        health: None,
                    })
                })
                .collect(),
        ),
    }
}

struct Sleeper(Duration);

impl JailDriver for Sleeper {
    fn start(&self, _: &str) -> Result<(), DriverError> {
        std::thread::sleep(self.0);
        Ok(())
    }
    fn healthy(&self, _: &str) -> Result<bool, DriverError> {
        Ok(true)
    }
    fn stop(&self, _: &str) -> Result<(), DriverError> {
        Ok(())
    }
    fn force_stop(&self, _: &str) -> Result<(), DriverError> {
        Ok(())
    }
}

/// `levels` levels of `jails / levels` jails; each jail below the first depends on 1–3 jails
/// of the level above, picked by a fixed linear congruential generator so every run sees the
/// same graph.
fn levels_graph(jails: usize, levels: usize) -> BootGraph {
    let per = jails / levels;
    let mut seed: u64 = 0x5eed_1a11;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut entries = Vec::new();
    for l in 0..levels {
        for k in 0..per {
            let mut deps = Vec::new();
            if l > 0 {
                for _ in 0..1 + next() % 3 {
                    let d = format!("j{}-{}", l - 1, next() % per);
                    if !deps.contains(&d) {
                        deps.push(d);
                    }
                }
            }
            entries.push(GraphEntry {
                name: format!("j{l}-{k}"),
                depends_on: deps,
                health: None,
            });
        }
    }
    BootGraph::new(entries)
}

/// Jobs on the longest chain ending at each jail (itself included).
fn chain_lengths(g: &BootGraph) -> Vec<usize> {
    let mut memo = vec![0usize; g.len()];
    fn depth(g: &BootGraph, i: usize, memo: &mut [usize]) -> usize {
        if memo[i] == 0 {
            let d = g.nodes()[i]
                .deps
                .iter()
                .map(|&j| depth(g, j, memo))
                .max()
                .unwrap_or(0);
            memo[i] = d + 1;
        }
        memo[i]
    }
    (0..g.len()).map(|i| depth(g, i, &mut memo)).collect()
}

fn lower_bound(chain: &[usize], p: usize, d: Duration) -> Duration {
    let longest = chain.iter().copied().max().unwrap_or(0);
    let units = (0..longest)
        .map(|k| {
            // Jails with more than k jails before them on some chain start at k·d or later.
            let count = chain.iter().filter(|&&c| c > k).count();
            k + count.div_ceil(p)
        })
        .max()
        .unwrap_or(0);
    d * units as u32
}

/// The simulated host, counting the commands jailctl runs itself (a tool's nested commands,
/// like jail(8) mounting devfs, are in the simulator's history but carry no latency).
struct Counting {
    inner: SimHost,
    commands: AtomicUsize,
}

impl Runner for Counting {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        self.commands.fetch_add(1, Ordering::Relaxed);
        self.inner.output(cmd)
    }
    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        self.commands.fetch_add(1, Ordering::Relaxed);
        self.inner.interactive(cmd)
    }
}

impl HostFs for Counting {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.inner.read(path)
    }
    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        self.inner.write(path, contents, mode)
    }
    fn append(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        self.inner.append(path, contents, mode)
    }
    fn mkdir_p(&self, path: &Path, mode: u32) -> std::io::Result<()> {
        self.inner.mkdir_p(path, mode)
    }
    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.inner.remove_file(path)
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        self.inner.read_dir(path)
    }
    fn local_path(&self, path: &Path) -> std::path::PathBuf {
        self.inner.local_path(path)
    }
}

impl Host for Counting {
    fn simulated(&self) -> Option<String> {
        self.inner.simulated()
    }
}

/// The tools jailctl runs during `up`; each gets the injected latency.
const TOOLS: [&str; 9] = [
    "zfs", "zpool", "jail", "jls", "rctl", "cpuset", "ifconfig", "mount", "sysctl",
];

/// A configuration directory with the benchmark graph as jail files, and a fresh simulated
/// host holding the base they clone.
fn sim_fleet(
    dir: &Path,
    g: &BootGraph,
    config: SimConfig,
) -> (Arc<Counting>, jailctl::config::Config) {
    let cfg = dir.join("cfg");
    std::fs::create_dir_all(cfg.join("jails")).unwrap();
    std::fs::write(
        cfg.join("jailctl.toml"),
        "zfs_root = \"zroot/jailctl\"\ndefault_base = \"14.2\"\n",
    )
    .unwrap();
    for n in g.nodes() {
        let deps: Vec<String> = n
            .deps
            .iter()
            .map(|&j| format!("\"{}\"", g.nodes()[j].name))
            .collect();
        std::fs::write(
            cfg.join("jails").join(format!("{}.toml", n.name)),
            format!("autostart = true\ndepends_on = [{}]\n", deps.join(", ")),
        )
        .unwrap();
    }
    let sim = dir.join("sim");
    let setup = SimHost::open_with(&sim, SimConfig::default()).unwrap();
    let root = sim.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    let zfs = |args: &[&str]| {
        setup
            .run(&Cmd::new("/sbin/zfs", args.iter().copied()))
            .unwrap();
    };
    zfs(&[
        "create",
        "-p",
        "-o",
        "mountpoint=/usr/local/jails/.bases/14.2",
        "zroot/jailctl/bases/14.2",
    ]);
    zfs(&["create", "zroot/jailctl/jails"]);
    for d in ["dev", "etc"] {
        std::fs::create_dir_all(root.join("usr/local/jails/.bases/14.2").join(d)).unwrap();
    }
    zfs(&["snapshot", "zroot/jailctl/bases/14.2@jailctl"]);
    let loaded = jailctl::config::load(&cfg).unwrap();
    let host = Counting {
        inner: SimHost::open_with(&sim, config).unwrap(),
        commands: AtomicUsize::new(0),
    };
    (Arc::new(host), loaded)
}

/// One boot of the whole graph through the real driver on a fresh simulated host: wall time
/// and the number of tool commands jailctl ran (each one slept the latency once).
fn sim_boot(g: &BootGraph, latency: Duration, p: usize) -> (Duration, usize) {
    let dir = tempfile::tempdir_in(sim_dir()).unwrap();
    let mut lat = BTreeMap::new();
    if !latency.is_zero() {
        for t in TOOLS {
            lat.insert(t.to_string(), latency);
        }
    }
    let (host, cfg) = sim_fleet(
        dir.path(),
        g,
        SimConfig {
            latency: lat,
            ..SimConfig::default()
        },
    );
    let driver = OpsDriver::new(host.clone(), cfg.jails.clone(), cfg.global.clone());
    let graph = BootGraph::for_boot(&cfg.jails, &[]).unwrap();
    let t0 = Instant::now();
    let report = boot(&graph, &driver, &BootOptions { parallelism: p });
    let wall = t0.elapsed();
    assert!(report.ok(), "{report}");
    let commands = host.commands.load(Ordering::Relaxed);
    (wall, commands)
}

/// One measured shutdown: its wall time, the commands of its first observation of the host
/// and of its stops, and the shutdown graph (for its bound).
struct Shutdown {
    wall: Duration,
    observe_commands: usize,
    stop_commands: usize,
    graph: BootGraph,
}

/// Boot the whole graph without latency, then `shutdown` it with `latency` per command at
/// parallelism `p`, as `jailctl shutdown` does.
fn sim_shutdown(g: &BootGraph, latency: Duration, p: usize) -> Shutdown {
    let dir = tempfile::tempdir_in(sim_dir()).unwrap();
    let (setup, cfg) = sim_fleet(dir.path(), g, SimConfig::default());
    let starter = OpsDriver::new(setup.clone(), cfg.jails.clone(), cfg.global.clone());
    let graph = BootGraph::for_boot(&cfg.jails, &[]).unwrap();
    let report = boot(&graph, &starter, &BootOptions { parallelism: 8 });
    assert!(report.ok(), "{report}");
    let mut lat = BTreeMap::new();
    for t in TOOLS {
        lat.insert(t.to_string(), latency);
    }
    let host = Arc::new(Counting {
        inner: SimHost::open_with(
            &dir.path().join("sim"),
            SimConfig {
                latency: lat,
                ..SimConfig::default()
            },
        )
        .unwrap(),
        commands: AtomicUsize::new(0),
    });
    let names: Vec<String> = cfg.jails.iter().map(|j| j.name.clone()).collect();
    let t0 = Instant::now();
    let mut wanted = vec![(LockKey::Fleet, Mode::Exclusive)];
    wanted.extend(
        names
            .iter()
            .map(|n| (LockKey::Jail(n.clone()), Mode::Exclusive)),
    );
    let held = Held::acquire(host.as_ref(), &wanted, |k| panic!("waited for {k}")).unwrap();
    let down = BootGraph::for_shutdown(&cfg.jails, &names, &[]).unwrap();
    let known =
        jailctl::observe::host::observe_jails_concurrently(host.as_ref(), &cfg.global).unwrap();
    let observe_commands = host.commands.load(Ordering::Relaxed);
    let driver = Arc::new(
        OpsDriver::new(host.clone(), cfg.jails.clone(), cfg.global.clone())
            .with_held(Arc::new(held))
            .with_known(known),
    );
    let opts = ShutdownOptions {
        parallelism: p,
        timeout: Duration::from_secs(3600),
        ..ShutdownOptions::default()
    };
    let report = shutdown_with(&down, driver, &opts, &mut |_| {});
    let wall = t0.elapsed();
    assert!(report.ok(), "{report}");
    Shutdown {
        wall,
        observe_commands,
        stop_commands: host.commands.load(Ordering::Relaxed) - observe_commands,
        graph: down,
    }
}

fn shutdown_bench(g: &BootGraph, latency: Duration, runs: usize, parallel: &[usize]) {
    let n = g.len();
    println!();
    println!(
        "shutdown, simulated host, real driver under the shutdown's locks: {n} jails, latency {} ms per command, best of {runs} runs",
        latency.as_millis()
    );
    println!(
        "{:>11} {:>10} {:>12} {:>9} {:>9}",
        "parallelism", "wall ms", "bound ms", "wall/bound", "cmds/stop"
    );
    for &p in parallel {
        let mut best: Option<Shutdown> = None;
        for _ in 0..runs {
            let r = sim_shutdown(g, latency, p);
            if best.as_ref().is_none_or(|b| r.wall < b.wall) {
                best = Some(r);
            }
        }
        let r = best.unwrap();
        let per_stop = r.stop_commands as f64 / n as f64;
        let chain = chain_lengths(&r.graph);
        // No stop can begin before the host has been observed once (`jls` and `zfs get`,
        // run at the same time: one command's latency), then the stops' critical path.
        let observe = if r.observe_commands > 0 {
            latency
        } else {
            Duration::ZERO
        };
        let bound = observe + lower_bound(&chain, p, latency.mul_f64(per_stop));
        println!(
            "{p:>11} {:>10.1} {:>12.1} {:>9.3}x {:>9.1}",
            r.wall.as_secs_f64() * 1e3,
            bound.as_secs_f64() * 1e3,
            r.wall.as_secs_f64() / bound.as_secs_f64(),
            per_stop
        );
    }
    println!(
        "bound: one observation of the host (its two commands at once: one latency), then the stops' critical path at the stops' own commands"
    );
}

fn sim_bench(
    g: &BootGraph,
    chain: &[usize],
    latency: Duration,
    runs: usize,
    parallel: &[usize],
    bare: bool,
) {
    let n = g.len();
    // Without latency: what the simulator (state lock, state file) and jailctl itself cost.
    let (bare1, commands) = sim_boot(g, Duration::ZERO, 1);
    let per_jail = commands as f64 / n as f64;
    println!();
    println!(
        "simulated host, real driver: {commands} commands for {n} jails ({per_jail:.1} per jail), latency {} ms per command, best of {runs} runs",
        latency.as_millis()
    );
    if bare {
        let per_cmd = bare1.as_secs_f64() / commands as f64;
        println!(
            "no latency, one at a time: {:.0} ms, {:.2} ms per command (simulator lock + state file + jailctl)",
            bare1.as_secs_f64() * 1e3,
            per_cmd * 1e3
        );
        let (bare8, _) = sim_boot(g, Duration::ZERO, 8);
        println!(
            "no latency, parallelism 8: {:.0} ms (commands serialize on the state lock; jailctl's work between them overlaps)",
            bare8.as_secs_f64() * 1e3
        );
    }
    let d = latency.mul_f64(per_jail);
    println!(
        "{:>11} {:>10} {:>12} {:>9} {:>14}",
        "parallelism", "wall ms", "bound ms", "wall/bound", "seq/wall"
    );
    let sequential = d * n as u32;
    for &p in parallel {
        let bound = lower_bound(chain, p, d);
        let best = (0..runs).map(|_| sim_boot(g, latency, p).0).min().unwrap();
        println!(
            "{p:>11} {:>10.1} {:>12.1} {:>9.3}x {:>13.1}x",
            best.as_secs_f64() * 1e3,
            bound.as_secs_f64() * 1e3,
            best.as_secs_f64() / bound.as_secs_f64(),
            sequential.as_secs_f64() / best.as_secs_f64()
        );
    }
    println!(
        "one by one (latency only, N*d): {:.0} ms; d = {per_jail:.1} commands x {} ms",
        sequential.as_secs_f64() * 1e3,
        latency.as_millis()
    );
}

/// Where the simulated hosts live (`--sim-dir`, default the build's `target/tmp`).
static SIM_DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

fn sim_dir() -> &'static Path {
    SIM_DIR.get_or_init(|| env!("CARGO_TARGET_TMPDIR").into())
}

/// The file system type of the mount holding `dir` (the longest mount point above it in
/// /proc/mounts), so the figures say what disk they ran on.
fn fs_type(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.len() > 2 && dir.starts_with(f[1]))
                .then(|| (f[1].len(), format!("{} on {}", f[2], f[0])))
        })
        .max()
        .map(|(_, t)| t)
        .unwrap_or_else(|| "unknown".into())
}

/// Comma-separated numbers.
fn numbers(v: &str, what: &str) -> Vec<usize> {
    v.split(',')
        .map(|x| x.parse().unwrap_or_else(|_| panic!("{what} N,N,...")))
        .collect()
}

fn main() {
    let mut latency = Duration::from_millis(20);
    let mut runs = 3usize;
    let mut sim_latency = Duration::from_millis(10);
    let mut sim_runs = 1usize;
    let mut sim = true;
    let mut shutdown_only = false;
    let mut shutdown_latency = Duration::from_millis(50);
    let mut shapes: Vec<Shape> = Vec::new();
    let mut parallel: Option<Vec<usize>> = None;
    let mut bare = true;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--latency-ms" => {
                latency = Duration::from_millis(args[i + 1].parse().expect("--latency-ms N"));
                i += 1;
            }
            "--runs" => {
                runs = args[i + 1].parse().expect("--runs N");
                i += 1;
            }
            "--sim-latency-ms" => {
                sim_latency =
                    Duration::from_millis(args[i + 1].parse().expect("--sim-latency-ms N"));
                i += 1;
            }
            "--sim-runs" => {
                sim_runs = args[i + 1].parse().expect("--sim-runs N");
                i += 1;
            }
            "--no-sim" => sim = false,
            "--shutdown-only" => shutdown_only = true,
            "--shutdown-latency-ms" => {
                shutdown_latency =
                    Duration::from_millis(args[i + 1].parse().expect("--shutdown-latency-ms N"));
                i += 1;
            }
            "--levels" => {
                let (jails, levels) = pair(&args[i + 1], "--levels");
                assert!(
                    levels > 0 && jails % levels == 0,
                    "--levels JAILSxLEVELS: JAILS a multiple of LEVELS"
                );
                shapes.push(Shape::Levels { jails, levels });
                i += 1;
            }
            "--chains" => {
                let (count, length) = pair(&args[i + 1], "--chains");
                shapes.push(Shape::Chains { count, length });
                i += 1;
            }
            "--parallel" => {
                parallel = Some(numbers(&args[i + 1], "--parallel"));
                i += 1;
            }
            "--no-bare" => bare = false,
            "--sim-dir" => {
                SIM_DIR.set(args[i + 1].clone().into()).unwrap();
                i += 1;
            }
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }
    if shapes.is_empty() {
        shapes.push(Shape::Levels {
            jails: 200,
            levels: 10,
        });
    }
    if sim {
        std::fs::create_dir_all(sim_dir()).unwrap();
        println!(
            "simulated hosts under {} ({})",
            sim_dir().display(),
            fs_type(sim_dir())
        );
    }
    let boot_parallel = parallel.clone().unwrap_or_else(|| vec![4, 8, 16]);
    let stop_parallel = parallel.unwrap_or_else(|| vec![4, 16]);
    for shape in shapes {
        let g = graph(shape);
        println!();
        println!("== {shape}");
        if shutdown_only {
            shutdown_bench(&g, shutdown_latency, sim_runs, &stop_parallel);
            continue;
        }
        scheduler_bench(&g, latency, runs);
        if sim {
            let chain = chain_lengths(&g);
            sim_bench(&g, &chain, sim_latency, sim_runs, &boot_parallel, bare);
            shutdown_bench(&g, shutdown_latency, sim_runs, &stop_parallel);
        }
    }
}

/// The scheduler alone, each start a sleep of `latency`.
fn scheduler_bench(g: &BootGraph, latency: Duration, runs: usize) {
    let n = g.len();
    let chain = chain_lengths(g);
    let driver = Sleeper(latency);
    let sequential = latency * n as u32;
    println!(
        "boot: {n} jails, {} levels, {} edges, start latency {} ms, best of {runs} runs",
        chain.iter().copied().max().unwrap_or(0),
        g.nodes().iter().map(|n| n.deps.len()).sum::<usize>(),
        latency.as_millis()
    );
    println!(
        "{:>11} {:>10} {:>12} {:>9} {:>14}",
        "parallelism", "wall ms", "bound ms", "wall/bound", "seq/wall"
    );
    let mut worst: f64 = 0.0;
    for p in [2usize, 4, 8, 16, 32] {
        let bound = lower_bound(&chain, p, latency);
        let best = (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                let report = boot(g, &driver, &BootOptions { parallelism: p });
                let wall = t0.elapsed();
                assert!(report.ok(), "{report}");
                wall
            })
            .min()
            .unwrap();
        let ratio = best.as_secs_f64() / bound.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "{p:>11} {:>10.1} {:>12.1} {:>9.3}x {:>13.1}x",
            best.as_secs_f64() * 1e3,
            bound.as_secs_f64() * 1e3,
            ratio,
            sequential.as_secs_f64() / best.as_secs_f64()
        );
    }
    println!(
        "sequential (one at a time): {:.0} ms; worst wall/bound {worst:.3}x (target <= 1.10x)",
        sequential.as_secs_f64() * 1e3
    );
}
