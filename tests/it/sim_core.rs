//! The simulated host's core: state shared by concurrent processes without lost updates,
//! fault injection (counted across processes), latency injection (slept outside the lock),
//! and the `jailctl sim` command that exposes a simulated tool on the command line.

use assert_cmd::Command;
use jailctl::host::{Cmd, Runner, tools};
use jailctl_sim::{SimConfig, SimHost, faults};
use predicates::prelude::*;
use std::time::{Duration, Instant};

fn jailctl(dir: &std::path::Path) -> Command {
    let mut c = crate::support::bin();
    c.arg("-q").arg("--simulate").arg(dir);
    Command::from_std(c)
}

#[test]
fn two_processes_mutating_one_host_lose_no_update() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    SimHost::open_with(&dir, SimConfig::default()).unwrap();
    let n = 15;
    let workers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    jailctl(&dir)
                        .args(["sim", "zfs", "create", &format!("zroot/{w}{i}")])
                        .assert()
                        .success();
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let out = jailctl(&dir)
        .args(["sim", "zfs", "list", "-H", "-o", "name", "-d", "1", "zroot"])
        .output()
        .unwrap();
    let names = String::from_utf8(out.stdout).unwrap();
    assert_eq!(names.lines().count(), 1 + 2 * n, "{names}");
    let h = SimHost::open_with(&dir, SimConfig::default()).unwrap();
    assert_eq!(h.snapshot().unwrap().history.len(), 2 * n + 1);
}

#[test]
fn sim_prints_the_tools_output_and_exits_with_its_status() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    jailctl(&dir)
        .args(["sim", "zfs", "create", "zroot/a"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
    jailctl(&dir)
        .args(["sim", "/sbin/zfs", "create", "zroot/a"])
        .assert()
        .code(1)
        .stdout("")
        .stderr("cannot create 'zroot/a': dataset already exists\n");
    jailctl(&dir)
        .args(["sim", "zfs", "create", "-z", "zroot/q"])
        .assert()
        .code(2)
        .stderr(predicates::str::starts_with("invalid option 'z'\nusage:\n"));
    jailctl(&dir)
        .args([
            "sim",
            "zfs",
            "get",
            "-H",
            "-o",
            "value",
            "mountpoint",
            "zroot/a",
        ])
        .assert()
        .success()
        .stdout("/zroot/a\n");
}

#[test]
fn sim_announces_the_simulated_host_once_unless_quiet() {
    let d = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("jailctl")
        .unwrap()
        .args(["--simulate"])
        .arg(d.path())
        .args(["sim", "zpool", "list", "-H", "-o", "name"])
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.matches("simulated FreeBSD host").count(), 1, "{err}");
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "zroot\n");
}

#[test]
fn sim_needs_a_simulated_host_and_a_known_tool() {
    Command::cargo_bin("jailctl")
        .unwrap()
        .env_remove("JAILCTL_SIMULATE")
        .args(["sim", "zfs", "list"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "runs tools on a simulated host only",
        ));
    let d = tempfile::tempdir().unwrap();
    jailctl(d.path())
        .args(["sim", "rm", "-rf", "/"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "`rm` is not a tool the simulated host provides",
        ));
}

#[test]
fn fault_fires_on_the_nth_match_counted_across_processes() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    let fault = "zfs create zroot/*|3|1|cannot create 'zroot/x': out of space";
    let run = |name: &str| {
        jailctl(&dir)
            .env("JAILCTL_SIM_FAULTS", fault)
            .args(["sim", "zfs", "create", name])
            .output()
            .unwrap()
    };
    assert!(run("zroot/one").status.success());
    // A command that does not match does not count.
    jailctl(&dir)
        .env("JAILCTL_SIM_FAULTS", fault)
        .args(["sim", "zfs", "list"])
        .assert()
        .success();
    assert!(run("zroot/two").status.success());
    let third = run("zroot/three");
    assert_eq!(third.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(third.stderr).unwrap(),
        "cannot create 'zroot/x': out of space\n"
    );
    assert!(run("zroot/four").status.success());
    // The failed command changed nothing.
    jailctl(&dir)
        .args(["sim", "zfs", "list", "zroot/three"])
        .assert()
        .code(1);
}

#[test]
fn faults_toml_in_the_host_directory() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("faults.toml"),
        "[[fault]]\ncommand = \"zfs clone *\"\nnth = 1\ncount = 2\nstatus = 1\nstderr = \"cannot create 'zroot/c': I/O error\"\n",
    )
    .unwrap();
    let h = SimHost::open(&dir).unwrap();
    let run = |args: &[&str]| {
        h.output(&Cmd::new(tools::ZFS, args.iter().copied()))
            .unwrap()
    };
    assert!(run(&["create", "zroot/b"]).success());
    assert!(run(&["snapshot", "zroot/b@s"]).success());
    for _ in 0..2 {
        let o = run(&["clone", "zroot/b@s", "zroot/c"]);
        assert_eq!(
            (o.status, o.stderr.as_str()),
            (1, "cannot create 'zroot/c': I/O error\n")
        );
    }
    assert!(run(&["clone", "zroot/b@s", "zroot/c"]).success());
}

#[test]
fn bad_fault_settings_are_refused_with_the_reason() {
    let d = tempfile::tempdir().unwrap();
    jailctl(d.path())
        .env("JAILCTL_SIM_LATENCY", "jail=fast")
        .args(["sim", "zfs", "list"])
        .assert()
        .failure()
        .stderr(
            predicates::str::contains("`fast`")
                .and(predicates::str::contains("fix the simulator setting")),
        );
    assert!(faults::parse_faults("zfs *|one|1|x").is_err());
}

#[test]
fn latency_is_slept_outside_the_lock_so_callers_overlap() {
    let d = tempfile::tempdir().unwrap();
    let config = SimConfig {
        latency: faults::parse_latency("zfs=1500ms").unwrap(),
        ..Default::default()
    };
    let h = std::sync::Arc::new(SimHost::open_with(&d.path().join("sim"), config).unwrap());
    let start = Instant::now();
    let workers: Vec<_> = (0..2)
        .map(|i| {
            let h = h.clone();
            std::thread::spawn(move || {
                let t = Instant::now();
                let o = h
                    .output(&Cmd::new(tools::ZFS, ["create", &format!("zroot/l{i}")]))
                    .unwrap();
                assert!(o.success(), "{}", o.stderr);
                t.elapsed()
            })
        })
        .collect();
    for w in workers {
        assert!(w.join().unwrap() >= Duration::from_millis(1500));
    }
    let total = start.elapsed();
    // Serialized latency would take at least 3 s; overlapping callers take about 1.5 s. The
    // latency is long so that the margin (over a second) absorbs a loaded machine.
    assert!(total < Duration::from_millis(2700), "took {total:?}");
    // A tool without configured latency is not delayed by the configured 1.5 s.
    let t = Instant::now();
    h.output(&Cmd::new(tools::ZPOOL, ["list"])).unwrap();
    assert!(t.elapsed() < Duration::from_millis(1500));
}
