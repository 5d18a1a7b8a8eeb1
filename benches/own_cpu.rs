//! jailctl's own CPU time, apart from the simulated host's. The simulator runs inside the
//! jailctl process, so a whole-process figure (benches/scale.rs) mixes the two; a regression
//! in jailctl must be visible on its own. This benchmark runs the same library entry points
//! the command line calls, in process, on a simulated host wrapped so that every host command
//! (and every whole-fleet kernel read, `Host::racct_usage`) is timed in CPU time of the thread
//! running it (clock_gettime(2) CLOCK_THREAD_CPUTIME_ID before and after). Summed over all threads, that is
//! the host's (the tools') share; jailctl's own CPU is the process's CPU over the operation
//! (CLOCK_PROCESS_CPUTIME_ID, which counts every thread, ended ones too) minus that share.
//! Files jailctl reads and writes itself (`HostFs`) are jailctl's own on a real host too, so
//! they stay in its share; their CPU is printed as a column of its own.
//!
//! For each N: N plain alias jails with a memory limit and `autostart = true`, in dependency
//! chains of 10 (a chain of N for N < 10), on a fresh simulated host:
//! - `up --all`: `config::load`, `doctor::preflight`, `ops::up` (what `jailctl up --all` runs);
//! - `list` and `status`: `config::load_lenient` and `ops::status` / `ops::status_with_usage`;
//! - `shutdown`: `config::load_lenient`, `boot::prepare_shutdown`, `boot::shutdown_with`;
//! - `boot` of the stopped fleet: `config::load_lenient`, the fleet lock, `doctor::preflight`,
//!   `layout::ensure`, `ops::status`, `boot::boot_with` (what `jailctl boot` runs).
//!
//! With `--vnet` the jails are VNET jails on one bridge, each allocated the next free address
//! of its pool (a VNET start checks its address against every one recorded on the host).
//!
//! Run: `cargo bench --bench own_cpu` (options after `--`: `--jails 10,100,1000`,
//! `--parallel 4`, `--vnet`). Figures are per jail, except `list` and `status`: per 1,000 jails.

use jailctl::apply::lock::{Held, LockKey, Mode};
use jailctl::boot::{BootGraph, BootOptions, OpsDriver, ShutdownOptions};
use jailctl::host::{Cmd, Host, HostFs, Output, ProcessError, Runner};
use jailctl_sim::{SimConfig, SimHost};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The CPU time of `clock` so far. clock_gettime(2) with a CPU-time clock counts the time
/// the running thread has used up to the call; getrusage(2) RUSAGE_THREAD on Linux only
/// counts up to the last scheduler tick, too coarse for a command of a few microseconds.
fn cpu(clock: nix::time::ClockId) -> Duration {
    Duration::from(nix::time::clock_gettime(clock).unwrap())
}

/// CPU time of the calling thread so far.
fn thread_cpu() -> Duration {
    cpu(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
}

/// CPU time of the whole process (every thread, ended ones too) so far.
fn process_cpu() -> Duration {
    cpu(nix::time::ClockId::CLOCK_PROCESS_CPUTIME_ID)
}

/// The simulated host, with the CPU time spent inside it summed over all threads.
struct Measured {
    inner: SimHost,
    /// Nanoseconds of thread CPU inside host commands and kernel reads.
    host_ns: AtomicU64,
    /// Nanoseconds of thread CPU inside jailctl's own file reads and writes.
    fs_ns: AtomicU64,
    commands: AtomicUsize,
}

impl Measured {
    fn timed<T>(&self, into: &AtomicU64, f: impl FnOnce() -> T) -> T {
        let t0 = thread_cpu();
        let r = f();
        into.fetch_add((thread_cpu() - t0).as_nanos() as u64, Ordering::Relaxed);
        r
    }
    fn host<T>(&self, f: impl FnOnce() -> T) -> T {
        self.commands.fetch_add(1, Ordering::Relaxed);
        self.timed(&self.host_ns, f)
    }
    fn fs<T>(&self, f: impl FnOnce() -> T) -> T {
        self.timed(&self.fs_ns, f)
    }
    fn take(&self) -> (Duration, Duration, usize) {
        (
            Duration::from_nanos(self.host_ns.swap(0, Ordering::Relaxed)),
            Duration::from_nanos(self.fs_ns.swap(0, Ordering::Relaxed)),
            self.commands.swap(0, Ordering::Relaxed),
        )
    }
}

impl Runner for Measured {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        self.host(|| self.inner.output(cmd))
    }
    fn output_within(&self, cmd: &Cmd, deadline: Duration) -> Result<Output, ProcessError> {
        self.host(|| self.inner.output_within(cmd, deadline))
    }
    fn pipe(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn std::io::Read + Send)>,
        output: Option<&mut dyn std::io::Write>,
        deadline: Duration,
    ) -> Result<Output, ProcessError> {
        self.host(|| self.inner.pipe(cmd, input, output, deadline))
    }
    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        self.host(|| self.inner.interactive(cmd))
    }
}

impl HostFs for Measured {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        self.fs(|| self.inner.read(path))
    }
    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        self.fs(|| self.inner.write(path, contents, mode))
    }
    fn append(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        self.fs(|| self.inner.append(path, contents, mode))
    }
    fn mkdir_p(&self, path: &Path, mode: u32) -> std::io::Result<()> {
        self.fs(|| self.inner.mkdir_p(path, mode))
    }
    fn exists(&self, path: &Path) -> bool {
        self.fs(|| self.inner.exists(path))
    }
    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        self.fs(|| self.inner.remove_file(path))
    }
    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        self.fs(|| self.inner.remove_dir(path))
    }
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        self.fs(|| self.inner.read_dir(path))
    }
    fn local_path(&self, path: &Path) -> PathBuf {
        self.fs(|| self.inner.local_path(path))
    }
    fn link_target(&self, path: &Path) -> std::io::Result<Option<PathBuf>> {
        self.fs(|| self.inner.link_target(path))
    }
    fn write_in_root(
        &self,
        root: &Path,
        rel: &Path,
        contents: &[u8],
        mode: u32,
    ) -> std::io::Result<()> {
        self.fs(|| self.inner.write_in_root(root, rel, contents, mode))
    }
    fn read_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<Vec<u8>> {
        self.fs(|| self.inner.read_in_root(root, rel))
    }
    fn mkdir_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        self.fs(|| self.inner.mkdir_in_root(root, rel))
    }
    fn remove_in_root(&self, root: &Path, rel: &Path) -> std::io::Result<()> {
        self.fs(|| self.inner.remove_in_root(root, rel))
    }
}

impl Host for Measured {
    fn simulated(&self) -> Option<String> {
        self.inner.simulated()
    }
    fn racct_usage(
        &self,
        names: &[String],
    ) -> Option<Result<jailctl::platform::Usages, jailctl::platform::PlatformError>> {
        self.host(|| self.inner.racct_usage(names))
    }
}

/// One measured operation: wall time, the process's CPU, the host's share of it, the share
/// in jailctl's own file I/O, and the host commands run.
struct Split {
    wall: Duration,
    total: Duration,
    host: Duration,
    fs: Duration,
    commands: usize,
}

impl Split {
    /// jailctl's own CPU: everything but the host commands.
    fn own(&self) -> Duration {
        self.total.saturating_sub(self.host)
    }
}

fn measure(h: &Measured, f: impl FnOnce()) -> Split {
    h.take();
    let c0 = process_cpu();
    let t0 = Instant::now();
    f();
    let wall = t0.elapsed();
    let total = process_cpu() - c0;
    let (host, fs, commands) = h.take();
    Split {
        wall,
        total,
        host,
        fs,
        commands,
    }
}

const CONFIG: &str = "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\ndefault_base = \"14.3-RELEASE\"\n";

/// A configuration directory of `n` alias jails with a memory limit, autostart, in chains of
/// 10 (each jail depends on the one before it in its chain).
/// With `vnet`, VNET jails on one bridge instead, each given the next free address of the
/// bridge's pool (no `ip4` in the definition).
fn fleet(cfg: &Path, n: usize, vnet: bool) {
    std::fs::create_dir_all(cfg.join("jails")).unwrap();
    let bridge = "[bridges.bridge0]\nuplink = \"em0\"\nip4_pool = \"10.0.0.0/16\"\ngateway4 = \"10.0.0.1\"\n";
    let global = if vnet {
        format!("{CONFIG}{bridge}")
    } else {
        CONFIG.to_string()
    };
    std::fs::write(cfg.join("jailctl.toml"), global).unwrap();
    for i in 0..n {
        let deps = if i % 10 == 0 {
            String::new()
        } else {
            format!("\"j{:05}\"", i - 1)
        };
        let network = if vnet {
            "[network]\nmode = \"vnet\"\nbridge = \"bridge0\"\n".to_string()
        } else {
            format!(
                "[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"10.{}.{}.{}/8\"]\n",
                1 + i / 64000,
                (i / 250) % 256,
                1 + i % 250
            )
        };
        std::fs::write(
            cfg.join(format!("jails/j{i:05}.toml")),
            format!(
                "hostname = \"j{i:05}.example.org\"\nautostart = true\ndepends_on = [{deps}]\n{network}[limits]\nmemory = \"512M\"\n"
            ),
        )
        .unwrap();
    }
}

/// A simulated host with a base holding the directories a jail needs.
fn host_with_base(dir: &Path) -> SimHost {
    let h = SimHost::open_with(dir, SimConfig::default()).unwrap();
    let zfs = |args: &[&str]| {
        h.run(&Cmd::new("/sbin/zfs", args.iter().copied())).unwrap();
    };
    let mp = "/usr/local/jails/.bases/14.3-RELEASE";
    zfs(&[
        "create",
        "-p",
        "-o",
        &format!("mountpoint={mp}"),
        "zroot/jailctl/bases/14.3-RELEASE",
    ]);
    for d in ["dev", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join("root").join(&mp[1..]).join(d)).unwrap();
    }
    zfs(&[
        "snapshot",
        "zroot/jailctl/bases/14.3-RELEASE@20260101-000000",
    ]);
    h
}

fn up_all(h: &Measured, cfg: &Path) {
    let c = jailctl::config::load(cfg).unwrap();
    let fails = jailctl::doctor::preflight(h, &c.global, &c.jails);
    assert!(fails.is_empty(), "preflight refused");
    jailctl::ops::up(h, &c.jails, &c.global, &[], &jailctl::ops::Opts::default()).unwrap();
}

fn list(h: &Measured, cfg: &Path) {
    let l = jailctl::config::load_lenient(cfg).unwrap();
    let rows = jailctl::ops::status(h, &l.config.jails, &l.config.global).unwrap();
    std::hint::black_box(serde_json::to_string(&rows).unwrap());
}

fn status(h: &Measured, cfg: &Path) {
    let l = jailctl::config::load_lenient(cfg).unwrap();
    let rows = jailctl::ops::status_with_usage(h, &l.config.jails, &l.config.global, &[]).unwrap();
    std::hint::black_box(serde_json::to_string(&rows).unwrap());
}

fn shutdown(h: &Arc<Measured>, cfg: &Path, parallel: usize) {
    let l = jailctl::config::load_lenient(cfg).unwrap();
    let c = &l.config;
    let p = jailctl::boot::prepare_shutdown(h.as_ref(), &c.jails, &[], &c.global, &[]).unwrap();
    let driver = Arc::new(
        OpsDriver::new(h.clone(), c.jails.clone(), c.global.clone())
            .with_orphans(p.orphans)
            .with_held(Arc::new(p.held))
            .with_known(p.state),
    );
    let opts = ShutdownOptions {
        parallelism: parallel,
        timeout: Duration::from_secs(3600),
        ..ShutdownOptions::from_global(&c.global)
    };
    let report = jailctl::boot::shutdown_with(&p.graph, driver, &opts, &mut |_| {});
    assert!(report.ok(), "{report}");
}

fn boot(h: &Arc<Measured>, cfg: &Path, parallel: usize) {
    let l = jailctl::config::load_lenient(cfg).unwrap();
    let c = &l.config;
    let graph = BootGraph::for_boot_with_broken(&c.jails, &[], &[]).unwrap();
    let held = Held::acquire(h.as_ref(), &[(LockKey::Fleet, Mode::Exclusive)], |k| {
        panic!("waited for {k}")
    })
    .unwrap();
    let starting: Vec<_> = c
        .jails
        .iter()
        .filter(|j| graph.index_of(&j.name).is_some())
        .cloned()
        .collect();
    assert!(jailctl::doctor::preflight(h.as_ref(), &c.global, &starting).is_empty());
    jailctl::apply::layout::ensure(h.as_ref(), &held, &c.global).unwrap();
    let driver =
        OpsDriver::new(h.clone(), c.jails.clone(), c.global.clone()).with_held(Arc::new(held));
    let running = jailctl::ops::status(h.as_ref(), &c.jails, &c.global).unwrap();
    std::hint::black_box(running);
    let opts = BootOptions {
        parallelism: parallel,
    };
    let report = jailctl::boot::boot_with(&graph, &driver, &opts, &mut |_| {});
    assert!(report.ok(), "{report}");
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn row(what: &str, n: usize, per: f64, s: &Split) {
    println!(
        "{what:<9} {n:>6} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>9.3} {:>8.1}",
        ms(s.own()) / per,
        ms(s.fs) / per,
        ms(s.host) / per,
        ms(s.total) / per,
        ms(s.wall) / per,
        s.commands as f64 / per,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let sizes: Vec<usize> = opt("--jails")
        .map(|v| {
            v.split(',')
                .map(|n| n.parse().expect("--jails N,N,..."))
                .collect()
        })
        .unwrap_or_else(|| vec![10, 100, 1000]);
    let parallel: usize = opt("--parallel")
        .map(|v| v.parse().expect("--parallel N"))
        .unwrap_or(4);
    let vnet = args.iter().any(|a| a == "--vnet");
    let (load1, _) = std::fs::read_to_string("/proc/loadavg")
        .map(|s| (s.split(' ').next().unwrap_or("?").to_string(), ()))
        .unwrap_or_default();
    println!(
        "CPU ms per jail (list, status: per 1,000 jails); own = process CPU - CPU inside host commands; boot/shutdown parallelism {parallel}; {}load average {load1} at start",
        if vnet {
            "VNET jails on one bridge; "
        } else {
            ""
        }
    );
    println!(
        "{:<9} {:>6} {:>10} {:>10} {:>10} {:>10} {:>9} {:>8}",
        "what", "jails", "own", "of it fs", "host", "total", "wall", "cmds"
    );
    for n in sizes {
        let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let cfg = t.path().join("etc");
        fleet(&cfg, n, vnet);
        let h = Arc::new(Measured {
            inner: host_with_base(&t.path().join("sim")),
            host_ns: AtomicU64::new(0),
            fs_ns: AtomicU64::new(0),
            commands: AtomicUsize::new(0),
        });
        let per = n as f64;
        let per_k = n as f64 / 1000.0;
        row("up --all", n, per, &measure(&h, || up_all(&h, &cfg)));
        row("list", n, per_k, &measure(&h, || list(&h, &cfg)));
        row("status", n, per_k, &measure(&h, || status(&h, &cfg)));
        row(
            "shutdown",
            n,
            per,
            &measure(&h, || shutdown(&h, &cfg, parallel)),
        );
        row("boot", n, per, &measure(&h, || boot(&h, &cfg, parallel)));
    }
    if let Ok(s) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average at end: {}", s.trim());
    }
}
