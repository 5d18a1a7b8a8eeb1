//! Lifecycle benchmark on the simulated host:
//! 1. `jailctl list --json` with 1,000 jails (defined, cloned, running): wall time of the
//!    real binary and of `ops::status` in process. Listing must stay one `jls` and one
//!    `zfs get` however many jails there are; the command count is printed too.
//!    `jailctl status --json` likewise, with live usage read for all jails at once.
//! 2. The number of mutating commands `up` runs for a new plain jail (target ≤ 6): the
//!    commands jailctl runs, and those jail(8) runs itself on top.
//!
//! Run: `cargo bench --bench lifecycle` (option: `-- --jails N`).
//!
//! The 1,000 jails are made in one locked session of the simulator (`SimHost::with_state`):
//! the same `zfs clone` and `jail -c` commands `up` runs, without a process per command.

use jailctl::host::Cmd;
use jailctl_sim::{SimConfig, SimHost};
use std::path::Path;
use std::time::Instant;

const CONFIG: &str = "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\ndefault_base = \"14.3-RELEASE\"\n";

fn sim(ctx: &mut jailctl_sim::Ctx<'_>, prog: &str, args: &[String]) {
    let out = ctx.exec(&Cmd::new(prog, args.iter().cloned())).unwrap();
    assert!(out.success(), "{prog} {args:?}: {}", out.stderr);
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A simulated host with a base holding the directories a jail needs.
fn host_with_base(dir: &Path) -> SimHost {
    let h = SimHost::open_with(dir, SimConfig::default()).unwrap();
    let mp = "/usr/local/jails/.bases/14.3-RELEASE";
    h.with_state(|ctx| {
        sim(
            ctx,
            "/sbin/zfs",
            &s(&[
                "create",
                "-p",
                "-o",
                &format!("mountpoint={mp}"),
                "zroot/jailctl/bases/14.3-RELEASE",
            ]),
        );
    })
    .unwrap();
    for d in ["dev", "etc", "tmp"] {
        std::fs::create_dir_all(dir.join("root").join(&mp[1..]).join(d)).unwrap();
    }
    h.with_state(|ctx| {
        sim(
            ctx,
            "/sbin/zfs",
            &s(&[
                "snapshot",
                "zroot/jailctl/bases/14.3-RELEASE@20260101-000000",
            ]),
        );
    })
    .unwrap();
    h
}

fn mutating(line: &str) -> bool {
    ![
        "/sbin/zfs get ",
        "/sbin/zpool list ",
        "/usr/sbin/jls ",
        "/sbin/sysctl -n ",
        "/usr/bin/rctl jail:",
        "/sbin/ifconfig -l",
        "/sbin/mount -p",
    ]
    .iter()
    .any(|p| line.starts_with(p))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .iter()
        .position(|a| a == "--jails")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let bin = env!("CARGO_BIN_EXE_jailctl");

    // 1. list with N jails.
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("sim");
    let cfg = t.path().join("etc");
    std::fs::create_dir_all(cfg.join("jails")).unwrap();
    std::fs::write(cfg.join("jailctl.toml"), CONFIG).unwrap();
    let h = host_with_base(&dir);
    let made = Instant::now();
    h.with_state(|ctx| {
        sim(
            ctx,
            "/sbin/zfs",
            &s(&["create", "-o", "mountpoint=none", "zroot/jailctl/jails"]),
        );
        for i in 0..n {
            let name = format!("j{i:04}");
            sim(
                ctx,
                "/sbin/zfs",
                &[
                    "clone".to_string(),
                    "-o".into(),
                    "jailctl:managed=yes".into(),
                    "-o".into(),
                    "jailctl:base=zroot/jailctl/bases/14.3-RELEASE@20260101-000000".into(),
                    "-o".into(),
                    format!("mountpoint=/usr/local/jails/{name}"),
                    "zroot/jailctl/bases/14.3-RELEASE@20260101-000000".into(),
                    format!("zroot/jailctl/jails/{name}"),
                ],
            );
            sim(
                ctx,
                "/usr/sbin/jail",
                &[
                    "-c".to_string(),
                    format!("name={name}"),
                    format!("path=/usr/local/jails/{name}"),
                    format!("host.hostname={name}.example.org"),
                    "persist".into(),
                ],
            );
        }
    })
    .unwrap();
    for i in 0..n {
        std::fs::write(
            cfg.join(format!("jails/j{i:04}.toml")),
            format!("hostname = \"j{i:04}.example.org\"\n"),
        )
        .unwrap();
    }
    println!(
        "built {n} running jails in the simulator in {:.2?}",
        made.elapsed()
    );
    // list: one zfs get and one jls. status: the same plus live usage, read for all jails in
    // one kernel query (not an `rctl -u` per jail).
    for (what, counts) in [
        (
            "list",
            (|j: &serde_json::Value| j["state"] == "running") as fn(&_) -> bool,
        ),
        ("status", |j| j["usage"]["memoryuse"].is_u64()),
    ] {
        let before = h.snapshot().unwrap().history.len();
        let mut best = f64::MAX;
        for _ in 0..3 {
            let t0 = Instant::now();
            let out = std::process::Command::new(bin)
                .args(["-q", "--simulate"])
                .arg(&dir)
                .arg("--config-dir")
                .arg(&cfg)
                .args([what, "--json"])
                .env_remove("JAILCTL_SIM_FAULTS")
                .env_remove("JAILCTL_SIM_LATENCY")
                .output()
                .unwrap();
            best = best.min(t0.elapsed().as_secs_f64());
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let seen = v.as_array().unwrap().iter().filter(|j| counts(j)).count();
            assert_eq!(seen, n, "{what}: jails running (with usage, for status)");
        }
        let per_run = (h.snapshot().unwrap().history.len() - before) / 3;
        println!(
            "jailctl {what} --json, {n} jails: {:.1} ms (best of 3, whole process), {per_run} commands per {what}",
            best * 1e3
        );
    }
    let cfgd = jailctl::config::load(&cfg).unwrap();
    let t0 = Instant::now();
    let st = jailctl::ops::status(&h, &cfgd.jails, &cfgd.global).unwrap();
    println!(
        "ops::status in process, {} jails: {:.1} ms",
        st.len(),
        t0.elapsed().as_secs_f64() * 1e3
    );

    // 2. Mutating commands of `up` for a new plain jail.
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("sim");
    let cfg = t.path().join("etc");
    std::fs::create_dir_all(cfg.join("jails")).unwrap();
    std::fs::write(cfg.join("jailctl.toml"), CONFIG).unwrap();
    std::fs::write(
        cfg.join("jails/plain.toml"),
        "hostname = \"plain.example.org\"\n",
    )
    .unwrap();
    let h = host_with_base(&dir);
    // The parent dataset exists on any host that already has a jail.
    h.with_state(|ctx| {
        sim(
            ctx,
            "/sbin/zfs",
            &s(&["create", "-o", "mountpoint=none", "zroot/jailctl/jails"]),
        )
    })
    .unwrap();
    let dry = std::process::Command::new(bin)
        .args(["-q", "--simulate"])
        .arg(&dir)
        .arg("--config-dir")
        .arg(&cfg)
        .args(["up", "plain", "--dry-run"])
        .output()
        .unwrap();
    let dry = String::from_utf8(dry.stdout).unwrap();
    let own: Vec<&str> = dry.lines().filter(|l| !l.starts_with('#')).collect();
    let before = h.snapshot().unwrap().history.len();
    let st = std::process::Command::new(bin)
        .args(["-q", "--simulate"])
        .arg(&dir)
        .arg("--config-dir")
        .arg(&cfg)
        .args(["up", "plain"])
        .status()
        .unwrap();
    assert!(st.success());
    let all: Vec<String> = h.snapshot().unwrap().history[before..]
        .iter()
        .map(|e| e.cmd.to_string())
        .filter(|l| mutating(l))
        .collect();
    // The dry run's commands are what `up` really ran: each appears, in order, among the
    // executed ones; the rest are commands jail(8) ran itself (its devfs mount).
    let mut rest = all.iter();
    for c in &own {
        assert!(
            rest.any(|e| e == c),
            "dry-run command not executed in order: {c}\nexecuted: {all:#?}"
        );
    }
    println!(
        "up of a new plain jail: {} mutating commands run by jailctl (target <= 6), {} including those jail(8) runs itself:",
        own.len(),
        all.len()
    );
    for c in &all {
        println!("    {c}");
    }
}
