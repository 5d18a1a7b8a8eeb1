//! Real-ZFS mode against a real ZFS (zfs-fuse here, `.ci/zfs-fuse.sh` sets it up): jailctl's
//! ZFS command forms work on it, mountpoints line up with the simulated host's files, and
//! destroy's ownership check reads it. The simulator's messages for impossible commands are
//! compared with the real tool's in zfs_strictness.rs.
//!
//! Needs `JAILCTL_TEST_ZFS_POOL=POOL` naming a pool of a running ZFS (a variable of the tests
//! only, so the rest of the suite stays fully simulated). Without it the tests say `SKIPPED`
//! on stderr; under `CI=true` a missing pool is a failure, not a skip.

use jailctl::host::{Cmd, HostFs, Output, Runner, tools};
use jailctl_sim::{SimConfig, SimHost};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The pool to use, or `None` after saying loudly why the test is skipped.
pub(crate) fn real_pool(test: &str) -> Option<String> {
    if let Ok(p) = std::env::var("JAILCTL_TEST_ZFS_POOL")
        && !p.is_empty()
    {
        return Some(p);
    }
    // In CI the whole suite runs inside .ci/zfs-fuse.sh, which provides the pool, so reaching
    // this point under CI=true means a run that would read as passed without touching ZFS.
    if std::env::var("CI").as_deref() == Ok("true") {
        let installed = Path::new(jailctl_sim::realzfs::REAL_ZFS).exists()
            && Path::new("/usr/sbin/zfs-fuse").exists();
        panic!(
            "{test}: CI=true but JAILCTL_TEST_ZFS_POOL is unset (zfs-fuse installed: {installed}); run the tests through .ci/zfs-fuse.sh"
        );
    }
    // Straight to fd 2, past the test harness's capture: a skip must be seen.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: zfs-fuse not available to this run (JAILCTL_TEST_ZFS_POOL is unset; `.ci/zfs-fuse.sh cargo test` runs them against zfs-fuse)"
    );
    None
}

/// A simulated host in real-ZFS mode with its own dataset `POOL/jt-PID-N`, destroyed on drop.
pub(crate) struct Real {
    pub(crate) host: SimHost,
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

impl Real {
    pub(crate) fn new(pool: &str) -> Real {
        let dir = tempfile::tempdir().unwrap();
        let config = SimConfig {
            real_zfs: Some(pool.to_string()),
            ..Default::default()
        };
        let host = SimHost::open_with(&dir.path().join("sim"), config).unwrap();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let base = format!("{pool}/jt-{}-{n}", std::process::id());
        let r = Real {
            host,
            base,
            _dir: dir,
        };
        r.ok(&["create", "-o", "mountpoint=/jt", &r.base.clone()]);
        r
    }
    pub(crate) fn zfs(&self, args: &[&str]) -> Output {
        self.host
            .output(&Cmd::new(tools::ZFS, args.iter().copied()))
            .unwrap()
    }
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        let o = self.zfs(args);
        assert_eq!(o.status, 0, "zfs {args:?}: {}", o.stderr);
        o.stdout
    }
    fn ds(&self, rest: &str) -> String {
        format!("{}{rest}", self.base)
    }
}

impl Drop for Real {
    fn drop(&mut self) {
        // zfs-fuse reports a just-mounted dataset busy for a moment: retry before giving up.
        let mut last = String::new();
        for _ in 0..25 {
            let o = self.zfs(&["destroy", "-R", &self.base.clone()]);
            if o.status == 0 {
                return;
            }
            last = o.stderr;
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        eprintln!("cleanup of {} failed: {last}", self.base);
    }
}

#[test]
fn clone_of_a_base_with_files_and_properties() {
    let Some(pool) = real_pool("clone_of_a_base_with_files_and_properties") else {
        return;
    };
    let r = Real::new(&pool);
    r.ok(&["create", "-p", &r.ds("/bases/14.2")]);
    assert_eq!(
        r.ok(&[
            "get",
            "-H",
            "-o",
            "value",
            "mountpoint",
            &r.ds("/bases/14.2")
        ]),
        "/jt/bases/14.2\n",
        "the mountpoint reads as a host path"
    );
    r.host
        .write(
            Path::new("/jt/bases/14.2/motd"),
            b"hello from the base",
            0o644,
        )
        .unwrap();
    r.ok(&["snapshot", &r.ds("/bases/14.2@p1")]);
    r.ok(&[
        "clone",
        "-p",
        "-o",
        "quota=100M",
        "-o",
        "jailctl:managed=yes",
        &r.ds("/bases/14.2@p1"),
        &r.ds("/jails/web"),
    ]);
    assert_eq!(
        r.host.read(Path::new("/jt/jails/web/motd")).unwrap(),
        b"hello from the base",
        "the clone's files appear under the simulated root"
    );
    let got = r.ok(&[
        "get",
        "-H",
        "-p",
        "-r",
        "-o",
        "name,property,value",
        "origin,quota,jailctl:managed,mountpoint",
        &r.ds("/jails"),
    ]);
    let m = jailctl::observe::zfs::parse_zfs_get(&got).unwrap();
    let web = &m[&r.ds("/jails/web")];
    assert_eq!(web.prop("origin"), Some(r.ds("/bases/14.2@p1").as_str()));
    assert_eq!(web.prop("quota"), Some("104857600"));
    assert_eq!(web.prop("jailctl:managed"), Some("yes"));
    assert_eq!(web.prop("mountpoint"), Some("/jt/jails/web"));
    let listed = r.ok(&[
        "list",
        "-H",
        "-o",
        "name,origin",
        "-t",
        "all",
        "-r",
        &r.ds("/jails"),
    ]);
    assert!(
        listed.contains(&format!(
            "{}\t{}\n",
            r.ds("/jails/web"),
            r.ds("/bases/14.2@p1")
        )),
        "{listed}"
    );
    r.ok(&["promote", &r.ds("/jails/web")]);
}

/// Destroy's ownership check on a real ZFS: the `source` column is there, a child made
/// below a managed dataset reads the property as inherited, and only it is foreign.
#[test]
fn ownership_is_the_locally_set_property_on_real_zfs() {
    let Some(pool) = real_pool("ownership_is_the_locally_set_property_on_real_zfs") else {
        return;
    };
    let r = Real::new(&pool);
    let jail = r.ds("/web");
    r.ok(&["create", "-o", "jailctl:managed=yes", &jail]);
    r.ok(&["create", "-o", "jailctl:managed=yes", &r.ds("/web/own")]);
    r.ok(&["create", &r.ds("/web/admin")]);
    r.ok(&["snapshot", &r.ds("/web@s")]);
    let out = r.host.output(&jailctl::ops::owned::get_cmd(&jail)).unwrap();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let foreign = jailctl::ops::owned::foreign_in(&out.stdout);
    assert_eq!(
        foreign.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
        [r.ds("/web/admin")],
        "{}",
        out.stdout
    );
    assert_eq!(
        foreign[0].why,
        format!("jailctl:managed=yes, inherited from {jail}")
    );
}
