//! Read and preview commands change nothing, through the real binary: after an `up` killed
//! with SIGKILL after its clone (so an undo journal is pending), every read command and every
//! `--dry-run` leaves the simulated host's directory byte for byte as it was (every file,
//! directory, mode and symbolic link; only lock files and the simulator's command log are
//! left out, and every command the log gained must be a read). The dry run says what a real
//! run would undo first; the real `up` then finishes that undo and succeeds.

use super::support::{examples_config, history, host_with_base};
use jailctl::host::readonly::is_read_only;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Every entry under `dir`: kind, mode and contents (files) or target (links).
pub fn fingerprint(dir: &Path) -> BTreeMap<PathBuf, (u32, Vec<u8>)> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<PathBuf, (u32, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            let name = rel.file_name().unwrap().to_string_lossy().to_string();
            // Locks (flock files) and the command log are not host state.
            if name == "lock" || name.ends_with(".lock") || name == "history.jsonl" {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let body = if m.file_type().is_symlink() {
                std::fs::read_link(&p)
                    .unwrap()
                    .to_string_lossy()
                    .as_bytes()
                    .to_vec()
            } else if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            out.insert(rel, (m.mode(), body));
            if m.is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn jailctl(sim: &Path, cfg: &Path, args: &[&str], latency: Option<&str>) -> Command {
    let mut c = crate::support::jailctl_loud(sim, cfg);
    c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    if let Some(l) = latency {
        c.env("JAILCTL_SIM_LATENCY", l);
    }
    c
}

/// `up resolver` killed while `jail -c` is under way, after its clone and files.
fn killed_up(s: &Path, cfg: &Path) -> PathBuf {
    let mut a = jailctl(s, cfg, &["up", "resolver"], Some("jail=30s"))
        .spawn()
        .unwrap();
    let journal = s.join("root/var/db/jailctl/journal/resolver.json");
    let t0 = Instant::now();
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("jail -f")) {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the journal never reached jail -c"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    journal
}

#[test]
fn previews_and_reads_leave_a_host_with_a_pending_journal_untouched() {
    let t = tempfile::tempdir().unwrap();
    let (s, cfg) = (t.path().join("sim"), t.path().join("etc"));
    host_with_base(&s);
    examples_config(&cfg);
    let journal = killed_up(&s, &cfg);
    assert!(journal.exists(), "a killed run leaves its journal");

    let before = fingerprint(&s);
    let ran_before = history(&s).len();
    let previews: &[&[&str]] = &[
        &["plan"],
        &["plan", "resolver"],
        &["list"],
        &["list", "--json"],
        &["status"],
        &["status", "resolver"],
        &["render", "resolver"],
        &["show", "resolver"],
        &["validate"],
        &["base", "list"],
        &["snapshot", "list"],
        &["up", "resolver", "--dry-run"],
        &["up", "--all", "--dry-run"],
        &["down", "resolver", "--dry-run"],
        &["down", "--all", "--dry-run"],
        &["restart", "resolver", "--dry-run"],
        &["destroy", "resolver", "--dry-run"],
        &["destroy", "resolver", "--volumes", "--dry-run"],
        // Without --yes and without a terminal: previews, then refuses to go on.
        &["destroy", "resolver"],
    ];
    for args in previews {
        let out = jailctl(&s, &cfg, args, None).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            !err.contains("read-only preview"),
            "{args:?} tried to change the host:\n{err}"
        );
        assert!(
            !err.contains("finished the undo"),
            "{args:?} ran the undo:\n{err}"
        );
        let refused_without_yes = args == &["destroy", "resolver"];
        assert_eq!(
            out.status.success(),
            !refused_without_yes,
            "{args:?}:\n{stdout}\n{err}"
        );
        let previews_up = args.first() == Some(&"plan");
        if (args.contains(&"--dry-run") && args.contains(&"resolver")) || previews_up {
            assert!(
                err.contains(
                    "a real run would first finish the undo of an interrupted run on jail resolver"
                ) && err.contains("undo: /sbin/zfs destroy -r zroot/jailctl/jails/resolver"),
                "{args:?} does not say what a real run would undo first:\n{err}"
            );
        }
        let after = fingerprint(&s);
        if after != before {
            let changed: Vec<&PathBuf> = before
                .keys()
                .chain(after.keys())
                .filter(|k| before.get(*k) != after.get(*k))
                .collect();
            panic!("{args:?} changed the host: {changed:?}");
        }
    }
    assert!(journal.exists(), "a preview removed the journal");
    let ran = history(&s);
    for h in &ran[ran_before..] {
        assert!(is_read_only(&h.cmd), "a preview ran `{}`", h.cmd);
    }
    assert!(ran.len() > ran_before, "the previews read nothing");

    // The real run finishes the undo first, then succeeds.
    let out = jailctl(&s, &cfg, &["up", "resolver"], None)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("finished the undo of an interrupted run"),
        "{err}"
    );
    assert!(!journal.exists());
}
