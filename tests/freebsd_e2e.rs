//! End-to-end tests on a real FreeBSD host: the real `jailctl` binary creates, lists, enters,
//! stops and destroys a real jail on a real ZFS pool, and the rc.d script starts and stops it.
//! Outcomes are checked with the base system's own tools (jls, zfs, rctl), never with jailctl.
//!
//! The whole file is FreeBSD-only: elsewhere it compiles to an empty test binary, and the
//! FreeBSD build check (.ci/freebsd.sh) type-checks and lints it. The tests change the host, so
//! they run only as root and only when `JAILCTL_E2E_POOL` names a throw-away ZFS pool
//! (the FreeBSD job of .github/workflows/ci.yml makes a file-backed one). Otherwise each test
//! prints `SKIPPED: ...` on stderr and returns.
//!
//! Environment:
//! - `JAILCTL_E2E_POOL`: pool (or dataset) under which jailctl gets `<pool>/jailctl-e2e`.
//! - `JAILCTL_E2E_BASE_FROM`: what `base create --from` gets, a URL or a directory holding
//!   `base.txz` and `MANIFEST` (default: the 14.3-RELEASE directory on the FreeBSD mirror).
//!
//! The rc.d test installs `rc.d/jailctl` as `/usr/local/etc/rc.d/jailctl` and the binary as
//! `/usr/local/sbin/jailctl`, sets `jailctl_flags` in /etc/rc.conf, and puts back what was there
//! afterwards.
#![cfg(target_os = "freebsd")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

const RELEASE: &str = "14.3-RELEASE";
const DEFAULT_BASE_FROM: &str = "https://download.freebsd.org/releases/amd64/14.3-RELEASE/";
const MEMORY: &str = "256M";
const MEMORY_BYTES: u64 = 256 * 1024 * 1024;

/// The one place that knows the config format: a global file and one jail file.
/// Adjust here if the schema changes.
fn global_toml(zfs_root: &str, mount_root: &Path) -> String {
    format!(
        "zfs_root = \"{zfs_root}\"\nmount_root = \"{}\"\n",
        mount_root.display()
    )
}

/// A minimal jail definition. `memory` adds a memory limit (only asked for when RACCT is on).
fn jail_toml(hostname: &str, memory: Option<&str>, autostart: bool) -> String {
    let mut t =
        format!("hostname = \"{hostname}\"\nbase = \"{RELEASE}\"\nautostart = {autostart}\n");
    if let Some(m) = memory {
        t.push_str(&format!("\n[limits]\nmemory = \"{m}\"\n"));
    }
    t.push_str("\n[network]\nmode = \"inherit\"\n");
    t
}

/// Shared by all tests in this binary: the pool, the zfs_root and the base, created once.
struct Fixture {
    zfs_root: String,
    /// Kept so the directory lives as long as the base it describes.
    _base_config: tempfile::TempDir,
}

/// Tests share the base and the host's jail namespace; they run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// `None` (after saying why on stderr) when the tests may not touch this host.
fn fixture(test: &str) -> Option<&'static Fixture> {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: {test}: needs root (jail(8), zfs and rctl change the host)");
        return None;
    }
    let Ok(pool) = std::env::var("JAILCTL_E2E_POOL") else {
        eprintln!(
            "SKIPPED: {test}: set JAILCTL_E2E_POOL to a throw-away ZFS pool to run the FreeBSD end-to-end tests"
        );
        return None;
    };
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    Some(FIXTURE.get_or_init(|| {
        let zfs_root = format!("{pool}/jailctl-e2e");
        let base_config = config_dir(&zfs_root);
        let from =
            std::env::var("JAILCTL_E2E_BASE_FROM").unwrap_or_else(|_| DEFAULT_BASE_FROM.into());
        let out = jailctl(
            base_config.path(),
            &["base", "create", RELEASE, "--from", &from],
        );
        assert_ok(&out, "jailctl base create");
        let snaps = run(
            "/sbin/zfs",
            &[
                "list",
                "-H",
                "-t",
                "snapshot",
                "-o",
                "name",
                "-r",
                &format!("{zfs_root}/bases/{RELEASE}"),
            ],
        );
        assert_ok(&snaps, "zfs list the base's snapshots");
        assert!(
            text(&snaps.stdout)
                .lines()
                .any(|l| l.starts_with(&format!("{zfs_root}/bases/{RELEASE}@"))),
            "base create made no snapshot of {zfs_root}/bases/{RELEASE}:\n{}",
            text(&snaps.stdout)
        );
        Fixture {
            zfs_root,
            _base_config: base_config,
        }
    }))
}

/// A fresh config dir with the global file; jails are added with [`add_jail`].
fn config_dir(zfs_root: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("jce2e").tempdir().unwrap();
    let mount_root = dir.path().join("mnt");
    std::fs::create_dir_all(dir.path().join("jails")).unwrap();
    std::fs::create_dir_all(&mount_root).unwrap();
    std::fs::write(
        dir.path().join("jailctl.toml"),
        global_toml(zfs_root, &mount_root),
    )
    .unwrap();
    dir
}

fn add_jail(dir: &Path, name: &str, toml: &str) {
    std::fs::write(dir.join("jails").join(format!("{name}.toml")), toml).unwrap();
}

fn racct_on() -> bool {
    let state = jailctl::platform::racct_state();
    if !state.enforces_limits() {
        eprintln!(
            "SKIPPED (part): no memory limit and no rctl checks: {state}; {}",
            state.fix().unwrap_or_default()
        );
    }
    state.enforces_limits()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn jailctl(config: &Path, args: &[&str]) -> Output {
    let mut full = vec!["--config-dir", config.to_str().unwrap()];
    full.extend_from_slice(args);
    run(env!("CARGO_BIN_EXE_jailctl"), &full)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// The jid jls(8) reports for `name`, or `None` when no such jail runs.
fn jls_jid(name: &str) -> Option<i64> {
    let out = run("/usr/sbin/jls", &["-j", name, "jid"]);
    out.status
        .success()
        .then(|| text(&out.stdout).trim().parse().expect("jls prints a jid"))
}

fn dataset_exists(name: &str) -> bool {
    run("/sbin/zfs", &["list", "-H", "-o", "name", name])
        .status
        .success()
}

fn rctl_rules(name: &str) -> String {
    let out = run("/usr/bin/rctl", &[&format!("jail:{name}")]);
    text(&out.stdout)
}

/// The object `jailctl list --json` prints for `name`.
fn listed(config: &Path, name: &str) -> serde_json::Value {
    let out = jailctl(config, &["list", "--json"]);
    assert_ok(&out, "jailctl list --json");
    let all: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("list --json is not JSON ({e}):\n{}", text(&out.stdout)));
    let all = all.as_array().expect("list --json prints an array");
    all.iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("{name} missing from list --json: {all:?}"))
        .clone()
}

/// Best-effort removal of a test jail if a test fails part-way.
struct Cleanup<'a> {
    config: &'a Path,
    name: &'a str,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = jailctl(self.config, &["down", self.name]);
            let _ = jailctl(self.config, &["destroy", self.name, "--yes"]);
        }
    }
}

#[test]
fn up_list_exec_down_destroy_on_the_real_host() {
    let _serial = serial();
    let Some(fx) = fixture("up_list_exec_down_destroy_on_the_real_host") else {
        return;
    };
    let name = "e2elife";
    let limits = racct_on();
    let config = config_dir(&fx.zfs_root);
    add_jail(
        config.path(),
        name,
        &jail_toml("e2e.local", limits.then_some(MEMORY), false),
    );
    let _cleanup = Cleanup {
        config: config.path(),
        name,
    };
    let dataset = format!("{}/jails/{name}", fx.zfs_root);

    assert_ok(&jailctl(config.path(), &["up", name]), "jailctl up");
    let jid = jls_jid(name).unwrap_or_else(|| panic!("jls -j {name}: no such jail after up"));
    assert!(
        dataset_exists(&dataset),
        "zfs list {dataset}: missing after up"
    );
    if limits {
        let rules = rctl_rules(name);
        assert!(
            rules.contains(&format!("jail:{name}:memoryuse:deny={MEMORY_BYTES}")),
            "rctl jail:{name} lacks the memory rule:\n{rules}"
        );
    }

    let entry = listed(config.path(), name);
    assert_eq!(entry["state"], "running", "{entry}");
    assert_eq!(entry["jid"], jid, "{entry}");

    let out = jailctl(config.path(), &["exec", name, "--", "/bin/hostname"]);
    assert_ok(&out, "jailctl exec hostname");
    assert_eq!(text(&out.stdout).trim(), "e2e.local");
    let out = jailctl(
        config.path(),
        &["exec", name, "--", "/bin/sh", "-c", "exit 7"],
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "exec must pass on the command's exit status"
    );

    assert_ok(&jailctl(config.path(), &["down", name]), "jailctl down");
    assert_eq!(jls_jid(name), None, "jail {name} still running after down");
    assert!(dataset_exists(&dataset), "down must keep {dataset}");
    if limits {
        assert_eq!(
            rctl_rules(name).trim(),
            "",
            "down must remove the jail's rctl rules"
        );
    }
    assert_eq!(listed(config.path(), name)["state"], "stopped");

    assert_ok(
        &jailctl(config.path(), &["destroy", name, "--yes"]),
        "jailctl destroy",
    );
    assert_eq!(jls_jid(name), None);
    assert!(
        !dataset_exists(&dataset),
        "zfs list {dataset}: still there after destroy"
    );
    if limits {
        assert_eq!(rctl_rules(name).trim(), "");
    }
    // The base outlives its jails.
    assert!(dataset_exists(&format!("{}/bases/{RELEASE}", fx.zfs_root)));
}

/// Puts a file back as it was (or removes it) when dropped.
struct Restore {
    path: PathBuf,
    saved: Option<Vec<u8>>,
}

impl Restore {
    fn install(path: &str, contents: &[u8], mode: u32) -> Restore {
        use std::os::unix::fs::PermissionsExt;
        let path = PathBuf::from(path);
        let saved = std::fs::read(&path).ok();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        Restore { path, saved }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = match &self.saved {
            Some(old) => std::fs::write(&self.path, old),
            None => std::fs::remove_file(&self.path),
        };
    }
}

/// Sets an rc.conf variable with sysrc(8) and removes it again when dropped.
struct RcVar(&'static str);

impl RcVar {
    fn set(name: &'static str, value: &str) -> RcVar {
        assert_ok(
            &run("/usr/sbin/sysrc", &[&format!("{name}={value}")]),
            "sysrc",
        );
        RcVar(name)
    }
}

impl Drop for RcVar {
    fn drop(&mut self) {
        let _ = run("/usr/sbin/sysrc", &["-x", self.0]);
    }
}

#[test]
fn rc_d_script_starts_and_stops_autostart_jails() {
    let _serial = serial();
    let Some(fx) = fixture("rc_d_script_starts_and_stops_autostart_jails") else {
        return;
    };
    let name = "e2erc";
    let config = config_dir(&fx.zfs_root);
    add_jail(config.path(), name, &jail_toml("rc.e2e.local", None, true));
    let _cleanup = Cleanup {
        config: config.path(),
        name,
    };

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rc.d/jailctl");
    let script =
        std::fs::read(&script).unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()));
    let binary = std::fs::read(env!("CARGO_BIN_EXE_jailctl")).unwrap();
    let _rc = Restore::install("/usr/local/etc/rc.d/jailctl", &script, 0o555);
    let _bin = Restore::install("/usr/local/sbin/jailctl", &binary, 0o555);
    let flags = format!("--config-dir {}", config.path().display());
    let _flags = RcVar::set("jailctl_flags", &flags);

    assert_ok(
        &run("/usr/sbin/service", &["jailctl", "onestart"]),
        "service jailctl onestart",
    );
    assert!(
        jls_jid(name).is_some(),
        "jls -j {name}: rc.d onestart did not start it"
    );
    assert!(dataset_exists(&format!("{}/jails/{name}", fx.zfs_root)));

    assert_ok(
        &run("/usr/sbin/service", &["jailctl", "onestop"]),
        "service jailctl onestop",
    );
    assert_eq!(jls_jid(name), None, "rc.d onestop left {name} running");

    assert_ok(
        &jailctl(config.path(), &["destroy", name, "--yes"]),
        "jailctl destroy",
    );
    assert!(!dataset_exists(&format!("{}/jails/{name}", fx.zfs_root)));
}
