//! The simulated host's log (`state.jsonl`) under several writers at once, some of them
//! killed with SIGKILL at random moments: every process is a whole `jailctl sim zfs ...`,
//! as users run jailctl side by side on one simulated host.
//!
//! What must hold after every trial: the log loads; every command whose process exited 0 is
//! in the state; a killed command is either wholly there or not at all (its dataset exists
//! with the property it was created with, or does not exist); nothing else appeared; and a
//! handle that cached the state before sees the same state as one that reads the log afresh.

use crate::support;
use jailctl_sim::{SimConfig, SimHost};
use std::process::{Child, Command};
use std::time::Duration;

const TRIALS: u64 = 20;
const WRITERS: u64 = 4;

fn writer(dir: &std::path::Path, args: &[String]) -> Child {
    let mut c: Command = support::bin();
    c.arg("-q").arg("--simulate").arg(dir).arg("sim").arg("zfs");
    c.args(args);
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c.spawn().unwrap()
}

/// A small deterministic generator (the seed is printed), so a failing series repeats.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *seed >> 33
}

#[test]
fn writers_killed_at_random_leave_a_log_that_every_handle_reads_alike() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("sim");
    support::sim(&dir, &["zfs", "create", "zroot/k"]);
    let cached = SimHost::open_with(&dir, SimConfig::default()).unwrap();
    let mut seed = std::env::var("JAILCTL_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::process::id() as u64);
    println!("seed {seed}");
    let (mut landed, mut exited_ok) = (0, 0);
    let mut expect_there = vec![];
    let mut maybe_there = vec![];
    for trial in 0..TRIALS {
        // Warm the cached handle, so it must catch up on what this trial appends.
        let _ = cached.snapshot().unwrap();
        let mut kids: Vec<(String, Child)> = (0..WRITERS)
            .map(|w| {
                let name = format!("zroot/k/t{trial}w{w}");
                let args = [
                    "create".to_string(),
                    "-o".into(),
                    format!("jailctl:made=t{trial}w{w}"),
                    name.clone(),
                ];
                (name, writer(&dir, &args))
            })
            .collect();
        // Also a write every writer's process touches: the shared parent's property.
        let parent_set = writer(
            &dir,
            &[
                "set".into(),
                format!("jailctl:last=t{trial}"),
                "zroot/k".into(),
            ],
        );
        kids.push(("set".into(), parent_set));
        std::thread::sleep(Duration::from_millis(next(&mut seed) % 6));
        let victim = (next(&mut seed) % WRITERS) as usize;
        let running = kids[victim].1.try_wait().unwrap().is_none();
        let _ = kill(Pid::from_raw(kids[victim].1.id() as i32), Signal::SIGKILL);
        for (i, (name, mut c)) in kids.into_iter().enumerate() {
            let status = c.wait().unwrap();
            if name == "set" {
                continue;
            }
            if i == victim && running {
                landed += 1;
                maybe_there.push(name);
            } else if status.success() {
                exited_ok += 1;
                expect_there.push(name);
            } else {
                maybe_there.push(name);
            }
        }
    }
    let fresh = SimHost::open_with(&dir, SimConfig::default()).unwrap();
    let mut now = fresh.snapshot().unwrap();
    let mut seen_by_cached = cached.snapshot().unwrap();
    now.history.clear();
    seen_by_cached.history.clear();
    assert!(
        now == seen_by_cached,
        "a handle that cached the state reads another state than a fresh one (seed {seed})"
    );
    let z = &now.zfs.datasets;
    for n in &expect_there {
        assert!(
            z.contains_key(n),
            "{n}: its command exited 0 but it is gone (seed {seed})"
        );
    }
    for (n, ds) in z.iter().filter(|(n, _)| n.starts_with("zroot/k/")) {
        assert!(
            expect_there.contains(n) || maybe_there.contains(n),
            "{n}: no command made it (seed {seed})"
        );
        let made = ds.props.get("jailctl:made").map(String::as_str);
        assert_eq!(
            made,
            n.strip_prefix("zroot/k/"),
            "{n}: created without its property, half a command (seed {seed})"
        );
    }
    println!(
        "{TRIALS} trials, {} writers each, {landed} kills landed while the writer ran, \
         {exited_ok} writers exited 0",
        WRITERS + 1
    );
    assert!(exited_ok > 0, "no writer finished: the test proved nothing");
}
