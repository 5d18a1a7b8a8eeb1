//! `boot` and `shutdown` are serialised by the fleet lock and re-read the running set under
//! it; `shutdown` never waits for a lock its own run holds. Through the real binary on the
//! simulated host with injected latency.

use crate::shared_layout::{fresh_host, running, scratch, slow};
use crate::support::history;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Each running jail's dependencies, from the configuration directory.
fn depends_on(cfg: &Path) -> BTreeMap<String, Vec<String>> {
    let c = jailctl::config::load(cfg).unwrap();
    c.jails
        .iter()
        .map(|j| (j.name.clone(), j.depends_on.clone()))
        .collect()
}

fn copy_tree(from: &Path, to: &Path) {
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn boot_racing_shutdown_never_leaves_a_jail_without_its_dependencies() {
    const TRIALS: u64 = 20;
    let t = scratch();
    // Examples (web needs db and cache) plus chains g00 <- g01 <- g02 and g04 <- g05.
    let (template, cfg) = fresh_host(&t.path().join("template"), 6);
    let deps = depends_on(&cfg);
    let mut orders = BTreeMap::<&str, u32>::new();
    for n in 0..TRIALS {
        let simdir = t.path().join(format!("race{n}"));
        copy_tree(&template, &simdir);
        let boot = slow(&simdir, &cfg)
            .args(["boot", "--parallel", "4"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // From "shutdown first" to well inside the boot.
        std::thread::sleep(Duration::from_millis(n * 40));
        let down = slow(&simdir, &cfg)
            .args(["shutdown", "--parallel", "4"])
            .output()
            .unwrap();
        let boot = boot.wait_with_output().unwrap();
        let say = |o: &std::process::Output| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            )
        };
        assert!(
            boot.status.success(),
            "trial {n}: boot failed:\n{}",
            say(&boot)
        );
        assert!(
            down.status.success(),
            "trial {n}: shutdown failed:\n{}",
            say(&down)
        );
        let up = running(&simdir);
        for j in &up {
            for d in &deps[j] {
                assert!(
                    up.contains(d),
                    "trial {n}: {j} runs without its dependency {d}; running: {up:?}\nboot:\n{}\nshutdown:\n{}",
                    say(&boot),
                    say(&down)
                );
            }
        }
        let forced: Vec<String> = history(&simdir)
            .iter()
            .map(|h| h.cmd.to_string())
            .filter(|c| c.starts_with("/usr/sbin/jail -R"))
            .collect();
        assert!(forced.is_empty(), "trial {n}: force-removed: {forced:?}");
        // One ran wholly before the other: all up (shutdown first) or none (boot first).
        let order = match up.len() {
            0 => "boot, then shutdown",
            n if n == deps.len() => "shutdown, then boot",
            _ => panic!("trial {n}: a mix of running and stopped jails: {up:?}"),
        };
        *orders.entry(order).or_default() += 1;
        std::fs::remove_dir_all(&simdir).unwrap();
    }
    // Which order the fleet lock chose, for the test's log.
    eprintln!("boot racing shutdown, {TRIALS} trials: {orders:?}");
}

#[test]
fn shutdown_alone_never_waits_for_its_own_locks() {
    let t = scratch();
    let (simdir, cfg) = fresh_host(t.path(), 6);
    let out = slow(&simdir, &cfg)
        .args(["boot", "--parallel", "4"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(running(&simdir).len(), 10);
    // Stops of db and cache both cover web, which the run holds: nobody waits for it.
    let out = slow(&simdir, &cfg)
        .args(["shutdown", "--parallel", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("locked"), "{stderr}");
    assert!(running(&simdir).is_empty());
    // A real second process is waited for, and says so.
    let held = jailctl::apply::lock::Held::acquire(
        &jailctl_sim::SimHost::open(&simdir).unwrap(),
        &[(
            jailctl::apply::LockKey::Fleet,
            jailctl::apply::Mode::Exclusive,
        )],
        |_| {},
    )
    .unwrap();
    let waiting = slow(&simdir, &cfg)
        .arg("shutdown")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the fleet is locked by another jailctl; waiting"),
        "{stderr}"
    );
}
