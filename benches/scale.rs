//! How jailctl's cost per jail grows with the fleet, on the simulated host, whole processes:
//! `jailctl up --all` of N new jails (plain alias jails with a memory limit), then `list`,
//! `status` and `plan` of the N running jails. For each N it prints the wall time and the
//! CPU time (user + system, getrusage(2) of the waited-for child) per jail of `up --all`, the
//! host commands per jail, and the wall time and command count of the three reads.
//!
//! Run: `cargo bench --bench scale` (options `-- --jails 10,100,1000 --runs K`: K rounds,
//! the sizes alternating, then per N the median time per jail of `up --all` and its ratio to
//! the smallest N's). The simulator runs inside the jailctl process (its state is a log each
//! changing command appends its changed entries to), so the times include the simulator's;
//! the command count per jail is jailctl's own share, and flat. `cargo bench --bench
//! own_cpu` separates the two.

use jailctl_sim::{SimConfig, SimHost};
use std::path::Path;
use std::time::{Duration, Instant};

const CONFIG: &str = "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\ndefault_base = \"14.3-RELEASE\"\nparallelism = 4\n";

fn sim_ok(h: &SimHost, args: &[&str]) {
    h.with_state(|ctx| {
        let cmd = jailctl::host::Cmd::new("/sbin/zfs", args.iter().copied());
        let out = ctx.exec(&cmd).unwrap();
        assert!(out.success(), "{cmd}: {}", out.stderr);
    })
    .unwrap();
}

/// A simulated host with a base holding the directories a jail needs.
fn host_with_base(dir: &Path) -> SimHost {
    let h = SimHost::open_with(dir, SimConfig::default()).unwrap();
    let mp = "/usr/local/jails/.bases/14.3-RELEASE";
    sim_ok(
        &h,
        &[
            "create",
            "-p",
            "-o",
            &format!("mountpoint={mp}"),
            "zroot/jailctl/bases/14.3-RELEASE",
        ],
    );
    for d in ["dev", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join("root").join(&mp[1..]).join(d)).unwrap();
    }
    sim_ok(
        &h,
        &[
            "snapshot",
            "zroot/jailctl/bases/14.3-RELEASE@20260101-000000",
        ],
    );
    h
}

/// User + system CPU time of the children waited for so far.
fn children_cpu() -> Duration {
    let u = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    let tv = |t: nix::sys::time::TimeVal| {
        Duration::from_secs(t.tv_sec() as u64) + Duration::from_micros(t.tv_usec() as u64)
    };
    tv(u.user_time()) + tv(u.system_time())
}

struct Run {
    wall: Duration,
    cpu: Duration,
    commands: usize,
}

fn jailctl(bin: &str, sim: &Path, cfg: &Path, h: &SimHost, args: &[&str]) -> Run {
    let before = h.snapshot().unwrap().history.len();
    let cpu0 = children_cpu();
    let t0 = Instant::now();
    let out = std::process::Command::new(bin)
        .args(["-q", "--simulate"])
        .arg(sim)
        .arg("--config-dir")
        .arg(cfg)
        .args(args)
        .env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_LATENCY")
        .output()
        .unwrap();
    let wall = t0.elapsed();
    let cpu = children_cpu() - cpu0;
    assert!(
        out.status.success(),
        "jailctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        wall,
        cpu,
        commands: h.snapshot().unwrap().history.len() - before,
    }
}

/// One fleet of `n` generated jails on a fresh simulated host: `up --all`, then the reads.
struct Sample {
    up: Run,
    list: Run,
    status: Run,
    plan: Run,
}

/// The fleet's directory is returned too: the caller keeps it until every round is done (see
/// `main`).
fn sample(bin: &str, n: usize) -> (Sample, tempfile::TempDir) {
    let t = tempfile::tempdir().unwrap();
    let sim = t.path().join("sim");
    let cfg = t.path().join("etc");
    std::fs::create_dir_all(cfg.join("jails")).unwrap();
    std::fs::write(cfg.join("jailctl.toml"), CONFIG).unwrap();
    for i in 0..n {
        std::fs::write(
            cfg.join(format!("jails/j{i:05}.toml")),
            format!(
                "hostname = \"j{i:05}.example.org\"\n[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"10.{}.{}.{}/8\"]\n[limits]\nmemory = \"512M\"\n",
                1 + i / 64000,
                (i / 250) % 256,
                1 + i % 250
            ),
        )
        .unwrap();
    }
    let h = host_with_base(&sim);
    let s = Sample {
        up: jailctl(bin, &sim, &cfg, &h, &["up", "--all"]),
        list: jailctl(bin, &sim, &cfg, &h, &["list", "--json"]),
        status: jailctl(bin, &sim, &cfg, &h, &["status", "--json"]),
        plan: jailctl(bin, &sim, &cfg, &h, &["plan"]),
    };
    (s, t)
}

fn flag<T: std::str::FromStr>(args: &[String], name: &str) -> Option<Vec<T>> {
    let i = args.iter().position(|a| a == name)?;
    let v = args
        .get(i + 1)
        .unwrap_or_else(|| panic!("{name} needs a value"));
    Some(
        v.split(',')
            .map(|n| n.parse().unwrap_or_else(|_| panic!("{name} N,N,...: {v}")))
            .collect(),
    )
}

/// The median of `xs` (the mean of the middle two for an even count).
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

fn print_row(n: usize, s: &Sample) {
    println!(
        "{n:>6} {:>10.2} {:>13.2} {:>12.1} {:>12.2} | {:>5.0} ({:>1}) {:>5.0} ({:>1}) {:>5.0} ({:>1})",
        s.up.wall.as_secs_f64(),
        s.up.wall.as_secs_f64() * 1e3 / n as f64,
        s.up.commands as f64 / n as f64,
        s.up.cpu.as_secs_f64() * 1e3 / n as f64,
        s.list.wall.as_secs_f64() * 1e3,
        s.list.commands,
        s.status.wall.as_secs_f64() * 1e3,
        s.status.commands,
        s.plan.wall.as_secs_f64() * 1e3,
        s.plan.commands,
    );
}

/// With `--runs K` above 1: per N, the median and range over the K rounds of the wall and
/// CPU time per jail of `up --all`, and each against the smallest N's median.
fn print_medians(sizes: &[usize], samples: &[Vec<Sample>]) {
    let per_jail = |n: usize, ss: &[Sample], cpu: bool| -> Vec<f64> {
        ss.iter()
            .map(|s| {
                let d = if cpu { s.up.cpu } else { s.up.wall };
                d.as_secs_f64() * 1e3 / n as f64
            })
            .collect()
    };
    println!(
        "\n{:>6} {:>5} {:>22} {:>8} {:>22} {:>8}   (up --all, ms per jail; ratio to {} jails)",
        "jails",
        "runs",
        "wall median (min-max)",
        "ratio",
        "CPU median (min-max)",
        "ratio",
        sizes[0]
    );
    let base_wall = median(per_jail(sizes[0], &samples[0], false));
    let base_cpu = median(per_jail(sizes[0], &samples[0], true));
    for (&n, ss) in sizes.iter().zip(samples) {
        let (w, c) = (per_jail(n, ss, false), per_jail(n, ss, true));
        let range = |xs: &[f64]| {
            let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().copied().fold(0.0, f64::max);
            format!("{lo:.2}-{hi:.2}")
        };
        let (mw, mc) = (median(w.clone()), median(c.clone()));
        println!(
            "{n:>6} {:>5} {:>8.2} ({:>11}) {:>8.2} {:>8.2} ({:>11}) {:>8.2}",
            ss.len(),
            mw,
            range(&w),
            mw / base_wall,
            mc,
            range(&c),
            mc / base_cpu
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = flag(&args, "--jails").unwrap_or_else(|| vec![10, 100, 1000]);
    let runs: usize = flag(&args, "--runs").map_or(1, |v: Vec<usize>| v[0]).max(1);
    let bin = env!("CARGO_BIN_EXE_jailctl");
    println!(
        "{:>6} {:>10} {:>13} {:>12} {:>12} | {:>9} {:>9} {:>9} (whole process, ms; cmds)",
        "jails",
        "up --all s",
        "ms per jail",
        "cmds per jail",
        "CPU ms/jail",
        "list",
        "status",
        "plan"
    );
    // Rounds alternate the sizes (10, 100, 1000, 10, 100, ...) so a change in the machine's
    // load between rounds reaches every size alike.
    // Each fleet's directory (about 15 files and directories per jail) is removed only at
    // the end: on a Linux ext4 file system without a journal, every inode freed in the last
    // minutes is skipped, with a read of its inode table block, each time a new file is made
    // (`recently_deleted` in fs/ext4/ialloc.c), so removing a round's fleet would slow down
    // the rounds after it by how many inodes it freed, the largest fleet most.
    let mut samples: Vec<Vec<Sample>> = sizes.iter().map(|_| Vec::new()).collect();
    let mut dirs = Vec::new();
    for _ in 0..runs {
        for (k, &n) in sizes.iter().enumerate() {
            let (s, dir) = sample(bin, n);
            print_row(n, &s);
            samples[k].push(s);
            dirs.push(dir);
        }
    }
    if runs > 1 {
        print_medians(&sizes, &samples);
    }
}
