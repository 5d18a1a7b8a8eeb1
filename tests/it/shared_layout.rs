//! The host layout (`<zfs_root>` and its `jails`, `bases`, `volumes` parents, the mount root,
//! the runtime directories) has one owner, ensured once under the layout lock before any
//! per-jail work. Through the real binary on a fresh simulated host with injected latency:
//! 50 first boots of the examples plus 20 generated jails, with no failure; 2, 4 and 8
//! concurrent `up` of different jails; and a `--dry-run` that prints the layout steps and
//! changes nothing.

use crate::support::{examples_config, history, mutating, sim};
use std::path::Path;

/// Small per-command latency, so parallel runs overlap as they would on a real host while a
/// boot stays well under a second of sleeping.
const LATENCY: &str = "zfs=2ms,jail=2ms,jls=1ms,mount=1ms";

/// A fresh host as a new user has it: a base made by hand (with `zfs create -p`, so only
/// `<zfs_root>` and `bases` exist) holding what the example jails need, the host directories
/// the examples mount, and nothing else of jailctl's. Then the configuration: the shipped
/// examples plus `extra` generated jails `g00`…: a few chains, the rest independent.
pub fn fresh_host(dir: &Path, extra: usize) -> (std::path::PathBuf, std::path::PathBuf) {
    let (simdir, cfg) = (dir.join("sim"), dir.join("cfg"));
    let mp = "/usr/local/jails/.bases/14.3-RELEASE";
    sim(
        &simdir,
        &[
            "zfs",
            "create",
            "-p",
            "-o",
            &format!("mountpoint={mp}"),
            "zroot/jailctl/bases/14.3-RELEASE",
        ],
    );
    let root = simdir.join("root");
    let base = root.join(mp.trim_start_matches('/'));
    for d in [
        "dev",
        "etc",
        "tmp",
        "var/run",
        "usr/local",
        "usr/bin",
        "root",
    ] {
        std::fs::create_dir_all(base.join(d)).unwrap();
    }
    std::fs::write(base.join("etc/rc.conf"), "").unwrap();
    std::fs::write(
        base.join("etc/passwd"),
        "root:*:0:0:Charlie &:/root:/bin/sh\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(base.join("etc/group"), "wheel:*:0:root\nwww:*:80:\n").unwrap();
    // The base programs the examples' health checks run (an executable file stands for one).
    for prog in ["fetch", "drill"] {
        let p = base.join("usr/bin").join(prog);
        std::fs::write(&p, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    sim(
        &simdir,
        &[
            "zfs",
            "snapshot",
            "zroot/jailctl/bases/14.3-RELEASE@20260101-000000",
        ],
    );
    std::fs::create_dir_all(root.join("srv/www/example.org")).unwrap();
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
    examples_config(&cfg);
    for i in 0..extra {
        // Every fourth jail starts a chain of three; every other one has a volume, so the
        // volume parents are made under concurrency too.
        let deps = match i % 4 {
            1 | 2 => format!("depends_on = [\"g{:02}\"]\n", i - 1),
            _ => String::new(),
        };
        let volume = if i % 2 == 0 {
            "\n[[volumes]]\nname = \"data\"\ntarget = \"/var/data\"\n"
        } else {
            ""
        };
        std::fs::write(
            cfg.join(format!("jails/g{i:02}.toml")),
            format!(
                "extends = \"minimal\"\n{deps}\n[network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"192.168.7.{}/24\"]\n{volume}",
                10 + i
            ),
        )
        .unwrap();
    }
    (simdir, cfg)
}

/// `jailctl` on the host with the test latency, not quiet: its warnings (a wait for a lock)
/// are on stderr.
pub fn slow(simdir: &Path, cfg: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("jailctl"));
    for v in [
        "JAILCTL_SIM_FAULTS",
        "JAILCTL_SIM_REAL_ZFS",
        "JAILCTL_SIMULATE",
        "JAILCTL_CONFIG_DIR",
    ] {
        c.env_remove(v);
    }
    c.env("JAILCTL_SIM_LATENCY", LATENCY)
        .arg("--simulate")
        .arg(simdir)
        .arg("--config-dir")
        .arg(cfg);
    c
}

/// A scratch directory, in memory when the machine has `/dev/shm` (the simulator writes its
/// state file on every changing command).
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(t) = tempfile::tempdir_in(shm)
    {
        return t;
    }
    tempfile::tempdir().unwrap()
}

/// Running jails (not dying), sorted.
pub fn running(simdir: &Path) -> Vec<String> {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("jailctl"))
        .env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_LATENCY")
        .args(["-q", "--simulate"])
        .arg(simdir)
        .args(["sim", "jls", "name"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut v: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok, "cp -a {} {}", from.display(), to.display());
}

#[test]
fn fifty_fresh_first_boots_start_every_jail() {
    const BOOTS: usize = 50;
    const EXTRA: usize = 20;
    let t = scratch();
    let (template, cfg) = fresh_host(&t.path().join("template"), EXTRA);
    let mut failures = Vec::new();
    for n in 0..BOOTS {
        let simdir = t.path().join(format!("boot{n}"));
        copy_tree(&template, &simdir);
        let out = slow(&simdir, &cfg)
            .args(["boot", "--parallel", "8"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let up = running(&simdir);
        if !out.status.success() || up.len() != 4 + EXTRA || stderr.contains("locked") {
            failures.push(format!(
                "boot {n}: exit {:?}, {} running\n{}{stderr}",
                out.status.code(),
                up.len(),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        // The layout was made exactly once per host.
        let creates = history(&simdir)
            .iter()
            .filter(|h| {
                mutating(h)
                    && h.cmd
                        .args
                        .last()
                        .is_some_and(|a| a == "zroot/jailctl/jails")
            })
            .count();
        assert_eq!(
            creates, 1,
            "boot {n} created the jails parent {creates} times"
        );
        std::fs::remove_dir_all(&simdir).unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} of {BOOTS} first boots failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn concurrent_ups_of_different_jails_on_a_fresh_host_all_succeed() {
    let t = scratch();
    // g00, g03, g04, g07, …: the independent generated jails.
    let (template, cfg) = fresh_host(&t.path().join("template"), 32);
    let independent: Vec<String> = (0..32)
        .filter(|i| i % 4 == 0 || i % 4 == 3)
        .map(|i| format!("g{i:02}"))
        .collect();
    for n in [2usize, 4, 8] {
        let simdir = t.path().join(format!("up{n}"));
        copy_tree(&template, &simdir);
        let children: Vec<_> = independent[..n]
            .iter()
            .map(|name| {
                slow(&simdir, &cfg)
                    .args(["up", name])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (name, child) in independent[..n].iter().zip(children) {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{n} concurrent ups: `up {name}` failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let mut want = independent[..n].to_vec();
        want.sort();
        assert_eq!(running(&simdir), want, "{n} concurrent ups");
    }
}

#[test]
fn dry_run_on_a_fresh_host_prints_the_layout_steps_and_changes_nothing() {
    let t = scratch();
    let (simdir, cfg) = fresh_host(t.path(), 0);
    let before = history(&simdir).len();
    let out = slow(&simdir, &cfg)
        .args(["up", "resolver", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // `<zfs_root>` and `bases` came with the base; the mount root with its mountpoint.
    assert_eq!(
        lines[..4],
        [
            "/sbin/zfs create -o mountpoint=none zroot/jailctl/jails",
            "/sbin/zfs create -o mountpoint=none zroot/jailctl/volumes",
            "# mkdir -p -m 755 /var/run/jailctl",
            "# mkdir -p -m 700 /var/db/jailctl/journal",
        ],
        "{text}"
    );
    // The per-jail plan follows and creates no shared parent itself.
    let clone = lines
        .iter()
        .position(|l| l.starts_with("/sbin/zfs clone"))
        .expect("the plan clones the root");
    assert!(clone > 3, "{text}");
    assert_eq!(
        text.matches("zroot/jailctl/jails\n").count(),
        1,
        "the jails parent appears once, in the layout steps: {text}"
    );
    let after = history(&simdir);
    assert!(
        after[before..].iter().all(|h| !mutating(h)),
        "the dry run changed the host: {:?}",
        after[before..]
            .iter()
            .filter(|h| mutating(h))
            .map(|h| h.cmd.to_string())
            .collect::<Vec<_>>()
    );
    assert!(
        !simdir
            .join("root/usr/local/jails")
            .join("resolver")
            .exists()
    );
    // The real run makes the layout, then the jail.
    let out = slow(&simdir, &cfg)
        .args(["up", "resolver"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(running(&simdir), ["resolver"]);
}
