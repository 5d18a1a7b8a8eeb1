//! Crash tests through the real binary: a command runs on a simulated host with injected
//! latency (so its steps are spread over a second or more), is killed with SIGKILL at a
//! random moment, and is then run again to completion. The second run must succeed and leave
//! the host exactly as a run that was never interrupted leaves it: the whole host's
//! fingerprint (`jailctl_sim::fingerprint`), not a few chosen facts.
//!
//! Scenarios: `up --all` of a fresh host; `boot` of a host whose jails exist but are stopped
//! (the usual boot; stopped by `down --all`); `boot` of a fresh host (the first boot); `up`
//! of a VNET jail killed right after its epair is created; and, without a kill, `shutdown` of
//! a VNET jail and its dependency. The fleet is
//! the four shipped examples plus jails with a volume, nullfs mounts, an alias address and
//! two VNET jails (one with a pool address), with dependencies between them.
//!
//! The kill moment is uniform within the measured duration of a clean run; the seed is
//! printed, and `JAILCTL_KILL_SEED=N` repeats a series (the interleaving of parallel steps
//! still varies with the machine's load). `JAILCTL_KILL_TRIALS=N` changes the number of
//! trials (default 30), `JAILCTL_KILL_KEEP=1` keeps the host directories of failed trials.
//! Every trial is counted and the test fails on any failure, listing each with its seed,
//! the last command the killed run made, and what differed. The machinery is
//! `support::kill`, for other commands' crash tests.

use crate::support::TestHost;
use crate::support::kill::{Series, check, text};

/// Jails beyond the four examples: a volume, nullfs mounts (one read-only), an alias
/// address, two VNET jails on the examples' bridge0 (the second takes the next pool address,
/// after the first, so both runs give it the same one).
fn add_fleet(h: &TestHost) {
    h.jail(
        "vol1",
        r#"extends = "minimal"
[network]
mode = "alias"
interface = "em0"
ip4 = ["192.168.1.31/24"]
[[volumes]]
name = "data"
target = "/data"
quota = "1G"
"#,
    );
    h.jail(
        "mnt1",
        r#"extends = "minimal"
depends_on = ["vol1"]
[[mounts]]
source = "/srv/a"
target = "/mnt/a"
[[mounts]]
source = "/srv/b"
target = "/mnt/b"
read_only = true
"#,
    );
    h.jail(
        "vnet1",
        r#"extends = "vnet"
[network]
mode = "vnet"
bridge = "bridge0"
ip4 = ["10.20.0.11/24"]
"#,
    );
    h.jail(
        "vnet2",
        r#"extends = "vnet"
depends_on = ["vnet1"]
"#,
    );
}

fn fleet() -> TestHost {
    let h = TestHost::examples();
    add_fleet(&h);
    h
}

#[test]
fn kill_up_all_at_random_points_then_up_again_converges() {
    let s = Series {
        what: "up --all (fresh host)",
        args: &["up", "--all"],
        reference: None,
        template: fleet(),
    };
    check(s.run());
}

#[test]
fn kill_boot_of_stopped_jails_at_random_points_then_boot_again_converges() {
    let template = fleet();
    template.ok(&["up", "--all"]);
    // `down --all` rather than `shutdown`: shutdown of this fleet can force-remove vnet1
    // (see the test below), and the host before boot must be the same for every trial.
    template.ok(&["down", "--all"]);
    let s = Series {
        what: "boot (jails stopped)",
        args: &["boot"],
        reference: None,
        template,
    };
    check(s.run());
}

#[test]
fn kill_first_boot_at_random_points_then_boot_again_converges() {
    // The expected host is that of a first boot one jail at a time: a parallel first boot's
    // own failures (shared parents created by two jails at once) must not define it. The
    // parallel clean run still has to succeed, and counts as a failed trial when it does not.
    let s = Series {
        what: "boot (fresh host)",
        args: &["boot"],
        reference: Some(&["boot", "--parallel", "1"]),
        template: fleet(),
    };
    check(s.run());
}

/// A kill between `ifconfig epairN create` (N chosen and journaled first) and the renaming
/// of its ends to `e0a_JAIL`/`e0b_JAIL`: the random series above reach this window about once
/// in 30 trials, this test every time. On a fresh host the create is the first command
/// naming an `epair`.
#[test]
fn kill_right_after_epair_create_then_up_again_converges() {
    let template = TestHost::examples();
    add_fleet(&template);
    let s = Series {
        what: "up vnet1 (fresh host)",
        args: &["up", "vnet1"],
        reference: None,
        template,
    };
    let t = s.run_after("ifconfig epair", 3);
    assert!(
        t.interrupted == t.trials,
        "the command ended before the kill in {} of {} trials",
        t.trials - t.interrupted,
        t.trials
    );
    assert!(
        t.failures.is_empty(),
        "{} of {} kill trials and 1 clean run failed:\n{}",
        t.failures.len(),
        t.trials,
        t.failures.join("\n\n")
    );
}

/// `shutdown` stops dependents first, so no orderly stop is refused and nothing is removed by
/// force. A VNET jail stays dying for a moment after `jail -r` (the simulator keeps it for a
/// few commands, as the kernel keeps it while tearing down its network stack): the stop of
/// the jail it depends on must not count it as running.
#[test]
fn shutdown_stops_a_vnet_dependent_and_its_dependency_without_force() {
    let h = TestHost::examples();
    add_fleet(&h);
    h.ok(&["up", "vnet2"]);
    let o = h.run(&["shutdown"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(!out.contains("force"), "{out}");
    // Stopped VNET jails may still be dying; none may be running.
    let st = h.fingerprint();
    let running: Vec<&String> = st
        .entries
        .iter()
        .filter(|(k, v)| k.starts_with("jail ") && v.contains("dying=false"))
        .map(|(k, _)| k)
        .collect();
    assert!(running.is_empty(), "running after shutdown: {running:?}");
}

/// The same without `shutdown`: `down vnet1` right after `down vnet2`, while vnet2 is still
/// dying, is an orderly stop with nothing running that depends on vnet1.
#[test]
fn down_is_not_refused_by_a_dependent_that_is_still_dying() {
    let h = TestHost::examples();
    add_fleet(&h);
    h.ok(&["up", "vnet2"]);
    h.ok(&["down", "vnet2"]);
    let o = h.run(&["down", "vnet1"]);
    assert!(o.status.success(), "{}", text(&o));
}
