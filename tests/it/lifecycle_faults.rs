//! Fault injection on every mutating step of `up`, `down` and `destroy` of a representative
//! jail (alias network, two nullfs mounts, a volume, limits, cpuset). The steps are taken from
//! a clean run's command history (the commands of the plan plus those jail(8) runs itself),
//! so no step is missed; each one is made to fail in turn on a fresh copy of the host, and the
//! host's state afterwards must equal the state before. Then a normal run succeeds.

use super::support::{
    examples_config, history, host_state, host_with_base, jailctl, line, mutating,
};
use std::path::Path;

const REP: &str = r#"
hostname = "rep.example.org"
cpuset = "0"

[network]
mode = "alias"
interface = "em0"
ip4 = ["192.168.1.30/24"]

[[mounts]]
source = "/srv/a"
target = "/mnt/a"

[[mounts]]
source = "/srv/b"
target = "/mnt/b"
read_only = true

[[volumes]]
name = "data"
target = "/var/data"
quota = "1G"

[limits]
memory = "256M"
processes = 100
"#;

fn copy(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// The mutating commands `jailctl ARGS` runs on a copy of `start`, each with its occurrence
/// number among identical command lines of that run.
fn steps(
    start: &Path,
    cfg: &Path,
    work: &Path,
    args: &[&str],
    top_level_only: bool,
) -> Vec<(String, usize)> {
    copy(start, work);
    // The commands jailctl itself runs, exactly as `--dry-run` prints them.
    let dry = jailctl(work, cfg)
        .args(args)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(dry.status.success());
    let dry = String::from_utf8(dry.stdout).unwrap();
    let top: Vec<&str> = dry.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(!top.is_empty(), "empty dry run for {args:?}");
    let before = history(work).len();
    jailctl(work, cfg).args(args).assert().success();
    let h = history(work);
    let run = &h[before..];
    let mut out = Vec::new();
    for (i, e) in run.iter().enumerate() {
        if mutating(e) && (!top_level_only || top.contains(&e.cmd.to_string().as_str())) {
            let l = line(e);
            let nth = run[..=i].iter().filter(|x| line(x) == l).count();
            out.push((l, nth));
        }
    }
    out
}

/// Fail each step of `jailctl ARGS` in turn, starting from the host in `start`; the host
/// must be as before every time, and a clean run must then succeed.
fn fail_each_step(
    root: &Path,
    start: &Path,
    cfg: &Path,
    args: &[&str],
    top_level_only: bool,
    min_steps: usize,
) {
    let all = steps(start, cfg, &root.join("golden"), args, top_level_only);
    let golden = host_state(&root.join("golden"));
    // Every command of the dry run is among the steps failed.
    if top_level_only {
        assert_eq!(all.len(), all.iter().filter(|(_, n)| *n == 1).count());
    }
    assert!(
        all.len() >= min_steps,
        "only {} mutating steps: {all:?}",
        all.len()
    );
    for (k, (cmd, nth)) in all.iter().enumerate() {
        let d = root.join(format!("f{k}"));
        copy(start, &d);
        let rule = format!(
            "[[fault]]\ncommand = {}\nnth = {nth}\nstderr = {}\n",
            toml_str(&glob::Pattern::escape(cmd)),
            toml_str("injected failure")
        );
        std::fs::write(d.join("faults.toml"), rule).unwrap();
        let before = host_state(&d);
        let out = jailctl(&d, cfg).args(args).output().unwrap();
        assert!(
            !out.status.success(),
            "`jailctl {}` succeeded although `{cmd}` (#{nth}) was made to fail",
            args.join(" ")
        );
        // `zfs destroy` cannot be undone: once one has run, a later failure leaves the
        // host part way, says so, and the next run finishes the job.
        if cmd.starts_with("zfs destroy ")
            && all[..k].iter().any(|(c, _)| c.starts_with("zfs destroy "))
        {
            // Past the point of no return: finished rather than undone, and what could not
            // be finished is named for the next run.
            let err = String::from_utf8_lossy(&out.stderr)
                .split_whitespace()
                .filter(|w| *w != "│")
                .collect::<Vec<_>>()
                .join(" ");
            assert!(
                err.contains("finished rather than undone")
                    && err.contains("NOT finished")
                    && err.contains("run the same command again"),
                "{err}"
            );
            std::fs::remove_file(d.join("faults.toml")).unwrap();
            jailctl(&d, cfg).args(args).assert().success();
            assert_eq!(host_state(&d).0["zfs"], golden.0["zfs"]);
            std::fs::remove_dir_all(&d).unwrap();
            continue;
        }
        let mut after = host_state(&d);
        if top_level_only {
            // Undoing a stop starts the jail again: same definition, addresses, mounts and
            // limits, but the kernel hands out a new jid, as it would on a real host.
            for (name, j) in after.0["jail"].as_object_mut().unwrap() {
                j["jid"] = before.0["jail"][name]["jid"].clone();
            }
        }
        assert_eq!(
            before.0,
            after.0,
            "state differs after failing `{cmd}` (#{nth}) of `jailctl {}`:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        let fb: Vec<_> = before.1.keys().collect();
        let fa: Vec<_> = after.1.keys().collect();
        assert_eq!(fb, fa, "files differ after failing `{cmd}` (#{nth})");
        assert_eq!(
            before.1, after.1,
            "file contents differ after failing `{cmd}`"
        );
        // The host is as before, and the report says so because it checked.
        let err: String = String::from_utf8_lossy(&out.stderr)
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect();
        assert!(
            err.contains("thehostisasbefore(checked)"),
            "failing `{cmd}` (#{nth}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::remove_file(d.join("faults.toml")).unwrap();
        jailctl(&d, cfg).args(args).assert().success();
        std::fs::remove_dir_all(&d).unwrap();
    }
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn setup(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (s, cfg) = (root.join("start"), root.join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    for f in ["cache", "db", "resolver", "web"] {
        std::fs::remove_file(cfg.join(format!("jails/{f}.toml"))).unwrap();
    }
    std::fs::write(cfg.join("jails/rep.toml"), REP).unwrap();
    (s, cfg)
}

#[test]
fn every_failed_step_of_up_leaves_the_host_as_before() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    // The jail's volume parent, volume, clone, alias, 3 nullfs + devfs mounts, jail -c,
    // rctl -a, cpuset (the shared parents are the host layout's, there before).
    fail_each_step(t.path(), &s, &cfg, &["up", "rep"], false, 11);
}

#[test]
fn every_failed_step_of_down_and_destroy_leaves_the_host_as_before() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    jailctl(&s, &cfg).args(["up", "rep"]).assert().success();
    // Only the commands jailctl runs: once jail(8) has removed the jail, a failure of its own
    // clean-up (umount, ifconfig -alias) cannot be rolled back on a real host either.
    fail_each_step(t.path(), &s, &cfg, &["down", "rep"], true, 2);
    std::fs::remove_dir_all(t.path().join("golden")).unwrap();
    fail_each_step(
        t.path(),
        &s,
        &cfg,
        &["destroy", "rep", "--yes", "--volumes"],
        true,
        4,
    );
}

/// A failure of jail(8)'s own umount inside `jail -r` (after the jail is removed) cannot be
/// rolled back; the checked report says so and names `jailctl down`, and the next `down`
/// unmounts what is left: the host ends as after a clean `down`. (A failed `ifconfig -alias`
/// there is covered by tests/it/undo_reports.rs: the report names the `ifconfig` command.)
#[test]
fn a_stop_that_fails_inside_jail_r_is_finished_by_the_next_down() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = setup(t.path());
    jailctl(&s, &cfg).args(["up", "rep"]).assert().success();
    let all = steps(&s, &cfg, &t.path().join("golden"), &["down", "rep"], false);
    let top = steps(
        &s,
        &cfg,
        &t.path().join("golden-top"),
        &["down", "rep"],
        true,
    );
    let golden = host_state(&t.path().join("golden"));
    let nested: Vec<_> = all
        .iter()
        .filter(|s| !top.contains(s) && s.0.starts_with("umount "))
        .collect();
    assert!(nested.len() >= 4, "{nested:?}"); // devfs, two mounts, the volume
    for (k, (cmd, nth)) in nested.iter().enumerate() {
        let d = t.path().join(format!("n{k}"));
        copy(&s, &d);
        std::fs::write(
            d.join("faults.toml"),
            format!(
                "[[fault]]\ncommand = {}\nnth = {nth}\n",
                toml_str(&glob::Pattern::escape(cmd))
            ),
        )
        .unwrap();
        let out = jailctl(&d, &cfg).args(["down", "rep"]).output().unwrap();
        assert!(
            !out.status.success(),
            "down succeeded although `{cmd}` failed"
        );
        // Not claimed as undone: the report says what stayed and what finishes the stop.
        let err: String = String::from_utf8_lossy(&out.stderr)
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '│')
            .collect();
        assert!(
            err.contains("thehostisNOTasbefore") && err.contains("`jailctldownrep`tofinish"),
            "failing `{cmd}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!err.contains("thehostisasbefore"), "{err}");
        std::fs::remove_file(d.join("faults.toml")).unwrap();
        jailctl(&d, &cfg).args(["down", "rep"]).assert().success();
        let after = host_state(&d);
        assert_eq!(after.0, golden.0, "after failing `{cmd}` and a second down");
        assert_eq!(after.1, golden.1, "files after failing `{cmd}`");
        std::fs::remove_dir_all(&d).unwrap();
    }
}
