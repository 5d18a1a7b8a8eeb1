//! Provisioning on the simulated host: the planned steps run against a live jail in order,
//! packages land in the jail, files are written with their mode, owners are resolved in the
//! jail's own passwd, and the fingerprint is recorded only when every step succeeded.

use jailctl::config::{Provision, ProvisionFile};
use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl::provision::{self, PROP_PROVISIONED, ProvisionError, Status};
use jailctl_sim::SimHost;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn run(h: &SimHost, tool: &str, args: &[&str]) -> Output {
    let o = h.output(&Cmd::new(tool, args.iter().copied())).unwrap();
    assert_eq!(o.status, 0, "{tool} {args:?}: {}", o.stderr);
    o
}

/// A running jail `web` on `zroot/web`, mounted at /j/web, whose passwd knows `www`.
fn live_jail() -> (tempfile::TempDir, SimHost) {
    let d = tempfile::tempdir().unwrap();
    let h = SimHost::open(&d.path().join("sim")).unwrap();
    run(
        &h,
        tools::ZFS,
        &["create", "-o", "mountpoint=/j/web", "zroot/web"],
    );
    h.mkdir_p(Path::new("/j/web/etc"), 0o755).unwrap();
    h.write(
        Path::new("/j/web/etc/passwd"),
        b"root:*:0:0:Charlie &:/root:/bin/sh\nwww:*:80:80:World Wide Web Owner:/nonexistent:/usr/sbin/nologin\n",
        0o644,
    )
    .unwrap();
    h.write(
        Path::new("/j/web/etc/group"),
        b"wheel:*:0:root\nwww:*:80:\n",
        0o644,
    )
    .unwrap();
    run(
        &h,
        tools::JAIL,
        &["-c", "name=web", "path=/j/web", "persist"],
    );
    (d, h)
}

fn recorded(h: &SimHost) -> String {
    run(
        h,
        tools::ZFS,
        &["get", "-H", "-o", "value", PROP_PROVISIONED, "zroot/web"],
    )
    .stdout
    .trim()
    .to_string()
}

fn spec(dir: &Path, owner: &str) -> Provision {
    let src = dir.join("nginx.conf");
    std::fs::write(&src, "worker_processes 2;\n").unwrap();
    Provision {
        packages: vec!["nginx".into()],
        files: vec![ProvisionFile {
            source: src,
            target: "/usr/local/etc/nginx/nginx.conf".into(),
            owner: Some(owner.into()),
            mode: Some(0o640),
        }],
        commands: vec!["true".into()],
    }
}

#[test]
fn provisioning_runs_on_a_live_jail_and_is_recorded() {
    let (d, h) = live_jail();
    let p = spec(d.path(), "www:www");
    assert_eq!(recorded(&h), "-");
    let plan = provision::plan("web", "zroot/web", Path::new("/j/web"), &p).unwrap();
    assert_eq!(
        provision::status(Some(&recorded(&h)), &plan.fingerprint),
        Status::Pending
    );
    provision::execute(&h, &plan).unwrap();

    let conf = h.local_path(Path::new("/j/web/usr/local/etc/nginx/nginx.conf"));
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "worker_processes 2;\n"
    );
    assert_eq!(
        std::fs::metadata(&conf).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    let state = h.snapshot().unwrap();
    assert_eq!(state.jail.jails["web"].packages, vec!["nginx"]);
    assert_eq!(recorded(&h), plan.fingerprint);
    assert_eq!(
        provision::status(Some(&recorded(&h)), &plan.fingerprint),
        Status::Done
    );
}

#[test]
fn an_unknown_owner_fails_and_nothing_is_recorded() {
    let (d, h) = live_jail();
    // `nginx` is a user on the host perhaps, but not in this jail's passwd.
    let p = spec(d.path(), "nginx");
    let plan = provision::plan("web", "zroot/web", Path::new("/j/web"), &p).unwrap();
    let e = provision::execute(&h, &plan).unwrap_err();
    assert!(matches!(e, ProvisionError::Step { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("chown: nginx: illegal user name"), "{msg}");
    assert!(
        msg.contains("setting the owner of /usr/local/etc/nginx/nginx.conf"),
        "{msg}"
    );
    assert_eq!(recorded(&h), "-");
}

#[test]
fn simulated_pkg_and_chown_are_strict() {
    let (_d, h) = live_jail();
    let o = h
        .output(&Cmd::new(
            tools::PKG,
            ["-j", "nope", "install", "-y", "nginx"],
        ))
        .unwrap();
    assert_eq!(
        (o.status, o.stderr.as_str()),
        (1, "pkg: jail \"nope\" not found\n")
    );
    let o = h
        .output(&Cmd::new(tools::PKG, ["install", "-y", "nginx"]))
        .unwrap();
    assert_eq!(o.status, 1);
    assert!(o.stderr.contains("not modelled"), "{}", o.stderr);
    let chown = |owner: &str, file: &str| {
        h.output(&Cmd::new(tools::JEXEC, ["web", tools::CHOWN, owner, file]))
            .unwrap()
    };
    let o = chown("www:staff", "/etc/passwd");
    assert_eq!(
        (o.status, o.stderr.as_str()),
        (67, "chown: staff: illegal group name\n")
    );
    let o = chown("www", "/etc/nothing");
    assert_eq!(
        (o.status, o.stderr.as_str()),
        (1, "chown: /etc/nothing: No such file or directory\n")
    );
    assert_eq!(chown("80:80", "/etc/passwd").status, 0);
}
