//! Unit tests of the provisioning plan: exact argv and order, fingerprint stability and
//! sensitivity, target checks, and execution on the simulated host.

use super::*;
use crate::config::ProvisionFile;
use crate::host::HostFs;

fn file(dir: &Path, name: &str, body: &str, target: &str) -> ProvisionFile {
    let source = dir.join(name);
    std::fs::write(&source, body).unwrap();
    ProvisionFile {
        source,
        target: target.into(),
        owner: None,
        mode: None,
    }
}

fn sample(dir: &Path) -> Provision {
    let mut conf = file(
        dir,
        "nginx.conf",
        "worker_processes 2;\n",
        "/usr/local/etc/nginx/nginx.conf",
    );
    conf.owner = Some("www:www".into());
    conf.mode = Some(0o640);
    Provision {
        packages: vec!["nginx".into(), "curl".into()],
        files: vec![conf, file(dir, "motd", "hello\n", "/etc/motd")],
        commands: vec![
            "sysrc nginx_enable=YES".into(),
            "echo 'a b' > /tmp/x".into(),
        ],
    }
}

fn argv(s: &Step) -> Vec<String> {
    match s {
        Step::Run { cmd, .. } => std::iter::once(cmd.program.clone())
            .chain(cmd.args.iter().cloned())
            .collect(),
        Step::Write { dest, mode, .. } => vec![format!("write {} {mode:o}", dest.display())],
    }
}

#[test]
fn steps_are_packages_files_commands_then_the_record() {
    let d = tempfile::tempdir().unwrap();
    let p = sample(d.path());
    let plan = plan(
        "web",
        "zroot/jailctl/jails/web",
        Path::new("/usr/local/jails/web"),
        &p,
    )
    .unwrap();
    let got: Vec<Vec<String>> = plan.steps.iter().map(argv).collect();
    let fp = plan.fingerprint.clone();
    let want: Vec<Vec<String>> = [
        vec![
            "/usr/sbin/pkg",
            "-j",
            "web",
            "install",
            "-y",
            "nginx",
            "curl",
        ],
        vec!["write /usr/local/jails/web/usr/local/etc/nginx/nginx.conf 640"],
        vec![
            "/usr/sbin/jexec",
            "web",
            "/usr/sbin/chown",
            "www:www",
            "/usr/local/etc/nginx/nginx.conf",
        ],
        vec!["write /usr/local/jails/web/etc/motd 644"],
        vec![
            "/usr/sbin/jexec",
            "-l",
            "web",
            "/bin/sh",
            "-c",
            "sysrc nginx_enable=YES",
        ],
        vec![
            "/usr/sbin/jexec",
            "-l",
            "web",
            "/bin/sh",
            "-c",
            "echo 'a b' > /tmp/x",
        ],
    ]
    .iter()
    .map(|v| v.iter().map(|s| s.to_string()).collect())
    .chain(std::iter::once(vec![
        "/sbin/zfs".to_string(),
        "set".into(),
        format!("jailctl:provisioned={fp}"),
        "zroot/jailctl/jails/web".into(),
    ]))
    .collect();
    assert_eq!(got, want);
    assert_eq!(fp.len(), 64);
    assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
    match &plan.steps[1] {
        Step::Write { contents, .. } => assert_eq!(contents, b"worker_processes 2;\n"),
        s => panic!("not a write: {s}"),
    }
}

#[test]
fn empty_provisioning_only_records() {
    let plan = plan(
        "db",
        "zroot/j/db",
        Path::new("/j/db"),
        &Provision::default(),
    )
    .unwrap();
    assert_eq!(plan.steps.len(), 1);
    assert_eq!(argv(&plan.steps[0])[1], "set");
}

#[test]
fn fingerprint_is_stable_and_sees_every_change() {
    let d = tempfile::tempdir().unwrap();
    let p = sample(d.path());
    let fp = |p: &Provision| {
        plan("web", "z/web", Path::new("/j/web"), p)
            .unwrap()
            .fingerprint
    };
    let base = fp(&p);
    assert_eq!(base, fp(&p), "same input, same fingerprint");
    // Pinned: the fingerprint of a fixed provisioning must not change between versions of
    // jailctl, or every jail would look changed after an upgrade. The value was computed
    // independently (Python's hashlib) from the canonical JSON in docs/provisioning.md.
    let fixed = Provision {
        packages: vec!["nginx".into()],
        files: vec![ProvisionFile {
            source: "/unused".into(),
            target: "/etc/motd".into(),
            owner: Some("root:wheel".into()),
            mode: None,
        }],
        commands: vec!["true".into()],
    };
    assert_eq!(
        fingerprint(&fixed, &[b"hello\n".to_vec()]),
        "b68f3e311f848184975d4dc926118f34b30e88e8872658702f61c2ec6b7e4c74"
    );
    let mut changes: Vec<Provision> = Vec::new();
    let mut q = p.clone();
    q.packages.reverse();
    changes.push(q);
    let mut q = p.clone();
    q.packages.push("git".into());
    changes.push(q);
    let mut q = p.clone();
    q.commands[0].push(' ');
    changes.push(q);
    let mut q = p.clone();
    q.files[0].mode = Some(0o600);
    changes.push(q);
    let mut q = p.clone();
    q.files[0].owner = None;
    changes.push(q);
    let mut q = p.clone();
    q.files[1].target = "/etc/motd.template".into();
    changes.push(q);
    // Moving a word between two commands is a change, not the same concatenation.
    let mut q = p.clone();
    q.commands = vec![
        "sysrc".into(),
        "nginx_enable=YES echo 'a b' > /tmp/x".into(),
    ];
    changes.push(q);
    for (i, q) in changes.iter().enumerate() {
        assert_ne!(fp(q), base, "change {i} not seen");
    }
    // The contents of a source file count, not its name.
    std::fs::write(d.path().join("motd"), "hello!\n").unwrap();
    assert_ne!(fp(&p), base, "edited file contents not seen");
    std::fs::write(d.path().join("motd"), "hello\n").unwrap();
    assert_eq!(fp(&p), base);
}

#[test]
fn status_from_the_recorded_property() {
    assert_eq!(status(None, "ab"), Status::Pending);
    assert_eq!(status(Some("-"), "ab"), Status::Pending);
    assert_eq!(status(Some("ab"), "ab"), Status::Done);
    assert_eq!(
        status(Some("cd"), "ab"),
        Status::Changed {
            recorded: "cd".into()
        }
    );
}

#[test]
fn targets_must_stay_inside_the_jail() {
    let d = tempfile::tempdir().unwrap();
    for (target, reason) in [
        ("/usr/../../etc/passwd", "`..`"),
        ("etc/motd", "not absolute"),
        ("/", "root directory"),
    ] {
        let p = Provision {
            files: vec![file(d.path(), "f", "x", target)],
            ..Default::default()
        };
        let e = plan("web", "z/web", Path::new("/j/web"), &p).unwrap_err();
        assert!(
            matches!(&e, ProvisionError::Target { reason: r, .. } if r.contains(reason)),
            "{target}: {e}"
        );
    }
    let p = Provision {
        files: vec![ProvisionFile {
            source: d.path().join("missing"),
            target: "/etc/x".into(),
            owner: None,
            mode: None,
        }],
        ..Default::default()
    };
    let e = plan("web", "z/web", Path::new("/j/web"), &p).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
}

#[test]
fn execute_writes_files_and_stops_at_the_first_failure() {
    use jailctl_sim::SimHost;
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(&d.path().join("sim")).unwrap();
    // The jail's root exists (the mounted clone); what is below it is made as needed.
    h.mkdir_p(Path::new("/j/web"), 0o755).unwrap();
    let p = Provision {
        files: vec![file(d.path(), "motd", "hello\n", "/etc/motd")],
        commands: vec!["exit 3".into()],
        ..Default::default()
    };
    // No jail `web` runs on this host: the command step fails, after the file was written,
    // and the record step is never reached.
    let plan = plan("web", "zroot/web", Path::new("/j/web"), &p).unwrap();
    let e = execute(&h, &plan).unwrap_err();
    assert!(
        matches!(&e, ProvisionError::Step { what, .. } if what.starts_with("command 1 of 1")),
        "{e}"
    );
    assert!(e.to_string().contains("jail \"web\" not found"), "{e}");
    assert_eq!(h.read(Path::new("/j/web/etc/motd")).unwrap(), b"hello\n");
    let history = h.snapshot().unwrap().history;
    assert!(
        !format!("{history:?}").contains("jailctl:provisioned"),
        "recorded although a step failed"
    );
}

#[test]
fn execute_never_writes_through_a_link_planted_in_the_root() {
    use jailctl_sim::SimHost;
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(&d.path().join("sim")).unwrap();
    h.mkdir_p(Path::new("/j/web"), 0o755).unwrap();
    h.mkdir_p(Path::new("/hostetc"), 0o755).unwrap();
    // The jail's `etc` is a link to a host directory.
    std::os::unix::fs::symlink(
        h.local_path(Path::new("/hostetc")),
        h.local_path(Path::new("/j/web/etc")),
    )
    .unwrap();
    let p = Provision {
        files: vec![file(d.path(), "motd", "hello\n", "/etc/motd")],
        ..Default::default()
    };
    let plan = plan("web", "zroot/web", Path::new("/j/web"), &p).unwrap();
    let e = execute(&h, &plan).unwrap_err();
    assert!(matches!(e, ProvisionError::Write { .. }), "{e}");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert!(!h.exists(Path::new("/hostetc/motd")));
}
