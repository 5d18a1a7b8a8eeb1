//! How jailctl's cost per jail grows with the fleet, on the simulated host, whole processes:
//! `jailctl up --all` of N new jails (plain alias jails with a memory limit), then `list`,
//! `status` and `plan` of the N running jails. For each N it prints the wall time and the
//! CPU time (user + system, getrusage(2) of the waited-for child) per jail of `up --all`, the
//! host commands per jail, and the wall time and command count of the three reads.
//!
//! Run: `cargo bench --bench scale` (option `-- --jails 10,100,1000`). The simulator runs
//! inside the jailctl process (its state is a log each changing command appends its changed
//! entries to), so the times include the simulator's; the command count per jail is
//! jailctl's own share, and flat. `cargo bench --bench own_cpu` separates the two.

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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--jails")
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.split(',')
                .map(|n| n.parse().expect("--jails N,N,..."))
                .collect()
        })
        .unwrap_or_else(|| vec![10, 100, 1000]);
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
    for n in sizes {
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
        let up = jailctl(bin, &sim, &cfg, &h, &["up", "--all"]);
        let list = jailctl(bin, &sim, &cfg, &h, &["list", "--json"]);
        let status = jailctl(bin, &sim, &cfg, &h, &["status", "--json"]);
        let plan = jailctl(bin, &sim, &cfg, &h, &["plan"]);
        println!(
            "{n:>6} {:>10.2} {:>13.2} {:>12.1} {:>12.2} | {:>5.0} ({:>1}) {:>5.0} ({:>1}) {:>5.0} ({:>1})",
            up.wall.as_secs_f64(),
            up.wall.as_secs_f64() * 1e3 / n as f64,
            up.commands as f64 / n as f64,
            up.cpu.as_secs_f64() * 1e3 / n as f64,
            list.wall.as_secs_f64() * 1e3,
            list.commands,
            status.wall.as_secs_f64() * 1e3,
            status.commands,
            plan.wall.as_secs_f64() * 1e3,
            plan.commands,
        );
    }
}
