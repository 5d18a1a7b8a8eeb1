//! The simulated host writes files atomically, as the real one does: a run killed with
//! SIGKILL inside a journal write (after the new contents are complete, before they replace
//! the old: `JAILCTL_SIM_KILL_IN_WRITE`) leaves the previous journal whole, never an empty or
//! half-written one, and the next run finishes its undo and succeeds. Every journal write of
//! an `up` is tried in turn.

use super::support::{examples_config, host_with_base};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};

fn run(sim: &Path, cfg: &Path, args: &[&str], kill_in_write: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jailctl"));
    c.env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIM_LATENCY")
        .env_remove("JAILCTL_SIM_KILL_IN_WRITE")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .arg("--simulate")
        .arg(sim)
        .arg("--config-dir")
        .arg(cfg)
        .args(args);
    if let Some(k) = kill_in_write {
        c.env("JAILCTL_SIM_KILL_IN_WRITE", k);
    }
    c.output().unwrap()
}

#[test]
fn a_kill_inside_any_journal_write_leaves_a_whole_journal() {
    let t = tempfile::tempdir().unwrap();
    let cfg = t.path().join("etc");
    examples_config(&cfg);
    let mut killed = 0;
    for nth in 1..=60 {
        let s = t.path().join(format!("sim{nth}"));
        host_with_base(&s);
        let journal = s.join("root/var/db/jailctl/journal/resolver.json");
        let spec = format!("/var/db/jailctl/journal/resolver.json|{nth}");
        let out = run(&s, &cfg, &["up", "resolver"], Some(&spec));
        if out.status.success() {
            // Past the last journal write: the run finished and removed its journal.
            assert!(!journal.exists());
            break;
        }
        assert_eq!(
            out.status.signal(),
            Some(9),
            "write {nth}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        killed += 1;
        // The first write replaces the file atomically: the kill leaves its temporary file
        // and no journal. The later ones are appends: the kill leaves a line without its
        // end after the whole lines before it, and the last whole line is the journal.
        if nth == 1 {
            assert!(journal.with_extension("jailctl-tmp").exists(), "write 1");
            assert!(!journal.exists(), "write 1");
        } else {
            let bytes = std::fs::read(&journal).unwrap();
            assert!(
                !bytes.ends_with(b"\n"),
                "write {nth}: the append was not cut"
            );
            let lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
            assert_eq!(lines.len(), nth as usize, "write {nth}: one line per write");
            let torn = lines[lines.len() - 1];
            assert!(
                serde_json::from_slice::<serde_json::Value>(torn).is_err(),
                "write {nth}: the cut line reads whole"
            );
            let j: serde_json::Value = serde_json::from_slice(lines[lines.len() - 2])
                .unwrap_or_else(|e| panic!("write {nth}: damaged journal: {e}"));
            assert!(
                j["entries"].as_array().is_some_and(|e| !e.is_empty()),
                "{j}"
            );
        }
        let again = run(&s, &cfg, &["up", "resolver"], None);
        let err = String::from_utf8_lossy(&again.stderr);
        assert!(again.status.success(), "after write {nth}: {err}");
        assert!(!err.contains("damaged"), "{err}");
        assert!(!journal.exists());
    }
    eprintln!("killed inside {killed} journal write(s) of `up resolver`");
    // Every write but the first is an append, and every one of them was cut.
    assert!(killed >= 3, "only {killed} journal write(s) were tried");
}
