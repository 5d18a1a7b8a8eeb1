//! Step → argv snapshots and executor tests on the simulated host (`sim_tests`): a failure is
//! the simulator's fault injection, "as before" is the whole host's fingerprint.

use super::exec::apply_inner;
use super::sim_tests::TestSim;
use super::*;
use crate::host::{HostFs, Runner};
use crate::plan::{self, Step};
use jailctl_core::fixtures::{global, spec};
use jailctl_sim::fingerprint::assert_same;
use std::collections::BTreeMap;
use std::path::Path;

fn up_plan(t: &TestSim, specs: &[crate::config::spec::JailSpec]) -> Plan {
    plan::plan(specs, &global(), &t.state(), &[]).unwrap()
}

/// The rctl rules of jail `name` on the host.
fn rules(t: &TestSim, name: &str) -> Vec<String> {
    t.state().rctl_rules.get(name).cloned().unwrap_or_default()
}

fn limited() -> crate::config::spec::JailSpec {
    let mut s = spec("web");
    s.limits.memory = Some(512 << 20);
    s.limits.processes = Some(64);
    s.cpuset = Some("0-1".into());
    s
}

#[test]
fn every_step_renders_exact_argv() {
    let mut props = BTreeMap::new();
    props.insert("jailctl:managed".to_string(), "yes".to_string());
    props.insert("quota".to_string(), "1073741824".to_string());
    let mut old = BTreeMap::new();
    old.insert("jailctl:spec".to_string(), Some("aaaa".to_string()));
    old.insert("compression".to_string(), None);
    old.insert("quota".to_string(), None);
    let mut set = BTreeMap::new();
    set.insert("jailctl:spec".to_string(), "bbbb".to_string());
    set.insert("compression".to_string(), "lz4".to_string());
    set.insert("quota".to_string(), "1073741824".to_string());
    let steps = vec![
        Step::CreateVolume {
            dataset: "zroot/jailctl/volumes/web/data".into(),
            mountpoint: "/usr/local/jails/.volumes/web/data".into(),
            quota: Some(1 << 30),
        },
        Step::CloneRoot {
            snapshot: "zroot/jailctl/bases/14.2-RELEASE@jailctl".into(),
            dataset: "zroot/jailctl/jails/web".into(),
            props,
        },
        Step::RetireRoot {
            dataset: "zroot/jailctl/jails/web".into(),
            retired: "zroot/jailctl/jails/web.retired".into(),
            mountpoint: "/usr/local/jails/web".into(),
        },
        Step::DestroyDataset {
            dataset: "zroot/jailctl/jails/web.retired".into(),
        },
        Step::CreateJail {
            name: "web".into(),
            conf: "/var/run/jailctl/web.conf".into(),
        },
        Step::RemoveJail {
            name: "web".into(),
            conf: "/var/run/jailctl/web.conf".into(),
            cpus: Some("0-1".into()),
        },
        Step::ModifyJail {
            name: "web".into(),
            params: vec!["host.hostname=new host".into()],
            undo: vec!["host.hostname=old".into()],
        },
        Step::SetLimits {
            name: "web".into(),
            old: vec!["jail:web:memoryuse:deny=1".into()],
            new: vec![
                "jail:web:memoryuse:deny=2".into(),
                "jail:web:maxproc:deny=10".into(),
            ],
        },
        Step::Cpuset {
            name: "web".into(),
            cpus: "0-1".into(),
            old: "all".into(),
        },
        Step::SetProps {
            dataset: "zroot/jailctl/jails/web".into(),
            props: set,
            old,
        },
    ];
    let mut out = String::new();
    for s in &steps {
        out.push_str(&format!("# {s}\n"));
        for (op, undo) in ops(s) {
            out.push_str(&format!("{op}\n"));
            for u in undo {
                out.push_str(&format!("    undo: {u}\n"));
            }
        }
    }
    insta::assert_snapshot!(out);
}

#[test]
fn new_plain_jail_runs_few_commands_and_leaves_no_journal() {
    let t = TestSim::with_base();
    let h = &t.host;
    let p = up_plan(&t, &[spec("web")]);
    let mark = t.history().len();
    let r = apply(h, &p).unwrap();
    assert!(r.commands <= 6, "{r:?}");
    assert_eq!(r.commands, 2, "{:?}", t.ran_since(mark));
    assert!(t.has_jail("web"));
    assert_eq!(
        h.read(Path::new("/usr/local/jails/web/etc/resolv.conf"))
            .unwrap(),
        b"nameserver 192.0.2.1\n"
    );
    let journals = h.read_dir(Path::new(JOURNAL_DIR)).unwrap_or_default();
    assert!(journals.is_empty(), "{journals:?}");
    // Converged: a second plan is empty.
    assert!(up_plan(&t, &[spec("web")]).is_empty());
}

#[test]
fn dry_run_lists_the_commands_without_running_them() {
    let t = TestSim::with_base();
    let p = up_plan(&t, &[limited()]);
    let mark = t.history().len();
    let text = dry_run(&p);
    insta::assert_snapshot!(text);
    assert!(t.ran_since(mark).is_empty());
    let before = t.fingerprint();
    apply(&t.host, &p).unwrap();
    let ran = t.jailctl_ran_since(mark);
    let listed: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(ran, listed);
    assert_ne!(before, t.fingerprint());
}

#[test]
fn failure_undoes_everything_and_reports_it() {
    let t = TestSim::with_base();
    let before = t.fingerprint();
    let p = up_plan(&t, &[limited()]);
    let h = t.failing(&["cpuset -l *"]);
    // Checked against what was observed to plan: the report may say "as before".
    let g = global();
    let state = crate::observe::observe(&h, &g).unwrap();
    let fp = crate::apply::exec::Before {
        print: crate::apply::verify::Fingerprint::of(&h, &state, &p, &g),
        global: &g,
    };
    let e = crate::apply::exec::apply_checked(&h, &p, &fp).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("jail `web`: pin web to CPUs 0-1 failed: `/usr/bin/cpuset -l 0-1 -j web` exited with status 1\n  stderr: injected failure"), "{msg}");
    assert!(msg.contains("; the host is as before (checked)"), "{msg}");
    assert_same(&before, &t.fingerprint());
    let log = t.jailctl_ran_since(0);
    // The undo ran in reverse: rules removed, jail removed, waited for until the kernel has
    // forgotten it (a dying jail keeps its root busy), root destroyed last (then the check
    // observed the host again).
    let n = log
        .iter()
        .rposition(|c| c.starts_with("/sbin/zfs destroy"))
        .unwrap()
        + 1;
    assert_eq!(
        log[n - 4..n],
        [
            "/usr/bin/rctl -r jail:web".to_string(),
            "/usr/sbin/jail -f /var/run/jailctl/web.conf -r web".to_string(),
            "/usr/sbin/jls -d -j web jid".to_string(),
            "/sbin/zfs destroy -r zroot/jailctl/jails/web".to_string(),
        ]
    );
}

#[test]
fn failed_undo_is_reported_and_journal_kept() {
    let t = TestSim::with_base();
    let p = up_plan(&t, &[limited()]);
    // cpuset fails, then the undo's `jail -r` fails too.
    let h = t.failing(&["cpuset -l *", "jail -f * -r web"]);
    let e = apply(&h, &p).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("could NOT be undone"), "{msg}");
    assert!(msg.contains("/var/db/jailctl/journal/web.json"), "{msg}");
    assert!(h.exists(Path::new("/var/db/jailctl/journal/web.json")));
}

#[test]
fn killed_run_is_undone_by_recover() {
    let t = TestSim::with_base();
    let h = &t.host;
    let before = t.fingerprint();
    let p = up_plan(&t, &[limited()]);
    // Killed after clone, rc.conf, resolv.conf, jail.conf and jail -c.
    let r = apply_inner(h, &p, Some(5), None).unwrap();
    assert_eq!(r.done.len(), 5);
    assert!(t.has_jail("web"));
    assert!(h.exists(Path::new("/var/db/jailctl/journal/web.json")));
    // Another jail's recovery does not touch web's journal.
    assert_eq!(recover(h, Some(&["db".to_string()])).unwrap(), None);
    let rep = recover(h, Some(&["web".to_string()])).unwrap().unwrap();
    assert!(rep.failed.is_empty(), "{rep}");
    assert_same(&before, &t.fingerprint());
    assert_eq!(recover(h, None).unwrap(), None);
}

#[test]
fn live_limit_change_is_undone_to_the_old_rules() {
    let t = TestSim::with_base();
    apply(&t.host, &up_plan(&t, &[limited()])).unwrap();
    let before = t.fingerprint();
    let mut s = limited();
    s.limits.memory = Some(1 << 30);
    s.hostname = "www.example.org".into();
    let p = up_plan(&t, &[s]);
    let h = t.failing(&["zfs set *"]);
    let e = apply(&h, &p).unwrap_err();
    // Without a fingerprint to compare with, the undo is reported, never claimed complete.
    assert!(e.to_string().contains("were undone"), "{e}");
    assert!(!e.to_string().contains("as before"), "{e}");
    assert_same(&before, &t.fingerprint());
}

#[test]
fn destroy_then_nothing_left() {
    let t = TestSim::with_base();
    let h = &t.host;
    apply(h, &up_plan(&t, &[limited()])).unwrap();
    assert!(!rules(&t, "web").is_empty());
    let p = plan::plan_destroy(
        &[limited()],
        &global(),
        &t.state(),
        &["web".to_string()],
        &plan::DownOptions::default(),
    )
    .unwrap();
    apply(h, &p).unwrap();
    let st = t.state();
    assert!(st.jails.is_empty(), "{:?}", st.jails);
    assert!(rules(&t, "web").is_empty());
    assert!(!st.datasets.contains_key("zroot/jailctl/jails/web"));
    assert!(!h.exists(Path::new("/var/run/jailctl/web.conf")));
}

#[test]
fn locks_serialize_same_jail_only() {
    let dir = tempfile::tempdir().unwrap();
    let sim = jailctl_sim::SimHost::open(dir.path()).unwrap();
    let a = JailLocks::acquire(&sim, &["web".into(), "db".into()], |_| {}).unwrap();
    assert_eq!(a.names(), ["db", "web"]);
    // An unrelated jail does not wait.
    let mut waited = false;
    let b = JailLocks::acquire(&sim, &["cache".into()], |_| waited = true).unwrap();
    assert!(!waited);
    drop(b);
    // The same jail from another thread waits until `a` is dropped.
    let path = dir.path().to_path_buf();
    let (tx, rx) = std::sync::mpsc::channel();
    let t = std::thread::spawn(move || {
        let sim = jailctl_sim::SimHost::open(&path).unwrap();
        let _l =
            JailLocks::acquire(&sim, &["web".into()], |n| tx.send(n.to_string()).unwrap()).unwrap();
    });
    assert_eq!(rx.recv().unwrap(), "web");
    drop(a);
    t.join().unwrap();
}

#[test]
fn partly_applied_rctl_add_is_undone() {
    // rctl -a adds rule by rule: when one is refused, the rules before it are in place.
    // FreeBSD refuses `deny` on cputime ("Operation not supported", rctl(8) RESOURCES: not
    // deniable), and the simulator adds the rules before it, as the kernel does.
    let t = TestSim::with_base();
    let before = t.fingerprint();
    let mut s = limited();
    s.limits.raw.push(crate::config::spec::RctlRule {
        resource: "cputime".into(),
        action: "deny".into(),
        amount: 10,
        per: None,
    });
    let p = up_plan(&t, &[s]);
    let mark = t.history().len();
    let e = apply(&t.host, &p).unwrap_err();
    assert!(e.to_string().contains("Operation not supported"), "{e}");
    assert!(e.to_string().contains("were undone"), "{e}");
    assert!(!e.to_string().contains("as before"), "{e}");
    // The refused rctl -a had added rules, which the undo removed.
    let h = t.host.snapshot().unwrap();
    let add = h.history[mark..]
        .iter()
        .find(|e| e.cmd.program == crate::host::tools::RCTL && e.cmd.args[0] == "-a")
        .expect("an rctl -a ran");
    assert_ne!(add.status, 0);
    assert!(add.cmd.args.len() > 2, "{}", add.cmd);
    assert_same(&before, &t.fingerprint());
}

/// The directories a volume's mount made are removed by the undo, also when the run was
/// killed and the next run's recovery does the undo (on the simulated host, which makes and
/// removes them as ZFS does).
#[test]
fn a_killed_runs_recovery_removes_the_directories_a_mount_made() {
    use jailctl_sim::{SimConfig, SimHost};
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open_with(&d.path().join("sim"), SimConfig::default()).unwrap();
    h.run(&Cmd::new(
        tools::ZFS,
        [
            "create",
            "-p",
            "-o",
            "mountpoint=none",
            "zroot/jailctl/volumes",
        ],
    ))
    .unwrap();
    let mp = Path::new("/usr/local/jails/.volumes/web/data");
    let plan = Plan {
        jails: vec![crate::plan::JailPlan {
            name: "web".into(),
            action: crate::plan::Action::Create,
            reasons: vec![],
            steps: vec![
                Step::CreateParent {
                    dataset: "zroot/jailctl/volumes/web".into(),
                },
                Step::CreateVolume {
                    dataset: "zroot/jailctl/volumes/web/data".into(),
                    mountpoint: mp.into(),
                    quota: None,
                },
                // Never reached: the run is killed before it.
                Step::WriteFile {
                    path: "/var/run/jailctl/web.conf".into(),
                    contents: "web {}\n".into(),
                    mode: 0o600,
                    root: None,
                },
            ],
        }],
    };
    let base_dirs = Path::new("/usr/local/jails");
    assert!(!h.exists(base_dirs.join(".volumes").as_path()));
    // Killed after two ops: the volume is mounted, its directories made.
    apply_inner(&h, &plan, Some(2), None).unwrap();
    assert!(h.exists(mp));
    let r = recover(&h, None).unwrap().expect("a journal to recover");
    assert!(r.failed.is_empty(), "{r}");
    assert!(
        r.undone.iter().any(|u| u.starts_with("rmdir ")),
        "{:?}",
        r.undone
    );
    // Not compared with a before it does not have: no claim.
    assert!(!r.to_string().contains("as before"), "{r}");
    assert!(!h.exists(&base_dirs.join(".volumes/web")));
    assert!(!h.exists(&base_dirs.join(".volumes")));
}
