//! End-to-end tests on a real FreeBSD host: the real `jailctl` binary makes a base, creates,
//! lists, enters, stops and destroys real jails on a real ZFS pool (an inherited-network jail,
//! a bare jail with nothing but a base, a VNET jail on a bridge, an alias jail on a loopback
//! clone reached through a pf port forward), exports, imports and clones one, and the rc.d
//! script starts and stops them. Outcomes are checked with the base system's own tools (jls, zfs, rctl, ifconfig,
//! mount), never with jailctl alone.
//!
//! The whole file is FreeBSD-only: elsewhere it compiles to an empty test binary, and the
//! FreeBSD build check (.ci/freebsd.sh) type-checks and lints it. The tests change the host, so
//! they run only as root and only when `JAILCTL_E2E_POOL` names a throw-away ZFS pool
//! (the FreeBSD job of .github/workflows/ci.yml makes a file-backed one). Otherwise each test
//! prints `SKIPPED: ...` on stderr and returns; CI fails on such a line. A check that needs a
//! kernel feature the host lacks (RACCT enabled at boot) prints `SKIPPED (part): ...` and the
//! rest of the test still runs.
//!
//! Environment:
//! - `JAILCTL_E2E_POOL`: pool (or dataset) under which jailctl gets `<pool>/jailctl-e2e`. A
//!   `<pool>/jailctl-e2e` left by an earlier run is destroyed first.
//! - `JAILCTL_E2E_BASE_FROM`: what `base create --from` gets, a URL or a directory holding
//!   `base.txz` and `MANIFEST` (default: the 14.3-RELEASE directory on the FreeBSD mirror).
//!
//! The rc.d test installs `rc.d/jailctl` as `/usr/local/etc/rc.d/jailctl`, points
//! `jailctl_binary` at the binary under test and `jailctl_flags` at its configuration in
//! /etc/rc.conf, and puts back what was there afterwards.
#![cfg(target_os = "freebsd")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

const RELEASE: &str = "14.3-RELEASE";
const DEFAULT_BASE_FROM: &str = "https://download.freebsd.org/releases/amd64/amd64/14.3-RELEASE/";
const MEMORY: &str = "256M";
const MEMORY_BYTES: u64 = 256 * 1024 * 1024;
/// A bridge name no real host uses, and a pool no real network uses (RFC 5737 space is for
/// documentation; this one is private and odd enough).
const BRIDGE: &str = "jce2e0";
const POOL4: &str = "10.231.77.0/24";
const GATEWAY4: &str = "10.231.77.1";
/// The first address the pool hands out: the network address and the gateway are skipped.
const FIRST4: &str = "10.231.77.2";

/// The one place that knows the global file's format (docs/configuration.md).
fn global_toml(zfs_root: &str, mount_root: &Path) -> String {
    format!(
        "zfs_root = \"{zfs_root}\"\nmount_root = \"{}\"\n\n[bridges.{BRIDGE}]\ncreate = true\nip4_pool = \"{POOL4}\"\ngateway4 = \"{GATEWAY4}\"\n",
        mount_root.display()
    )
}

/// The jail's own rc(8) runs at start and rc.shutdown at stop, as the `minimal` template
/// does; written out because `minimal` also sets a process limit, which needs RACCT.
const HOOKS: &str =
    "\n[hooks]\nstart = \"/bin/sh /etc/rc\"\nstop = \"/bin/sh /etc/rc.shutdown jail\"\n";

/// A jail sharing the host's network. With `limits` it builds on the shipped `minimal`
/// template (its `processes = 512`) and adds a memory limit; both need RACCT.
fn inherit_jail_toml(hostname: &str, limits: bool, autostart: bool) -> String {
    let mut t = String::new();
    if limits {
        t.push_str("extends = \"minimal\"\n");
    }
    t.push_str(&format!(
        "hostname = \"{hostname}\"\nbase = \"{RELEASE}\"\nautostart = {autostart}\n"
    ));
    if limits {
        t.push_str(&format!("\n[limits]\nmemory = \"{MEMORY}\"\n"));
    } else {
        t.push_str(HOOKS);
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
    Some(FIXTURE.get_or_init(|| make_base(&pool)))
}

/// `jailctl base create RELEASE --from SOURCE`, checked against the layout of
/// docs/bases.md: `<zfs_root>/bases/RELEASE`, marked managed, its release read from the
/// extracted `bin/freebsd-version`, one snapshot named by its UTC time.
fn make_base(pool: &str) -> Fixture {
    let zfs_root = format!("{pool}/jailctl-e2e");
    if dataset_exists(&zfs_root) {
        assert_ok(
            &run("/sbin/zfs", &["destroy", "-r", "-f", &zfs_root]),
            &format!("zfs destroy -r -f {zfs_root} (left by an earlier run)"),
        );
    }
    let base_config = config_dir(&zfs_root);
    let from = std::env::var("JAILCTL_E2E_BASE_FROM").unwrap_or_else(|_| DEFAULT_BASE_FROM.into());
    let out = jailctl(
        base_config.path(),
        &["base", "create", RELEASE, "--from", &from],
    );
    assert_ok(&out, "jailctl base create");

    let dataset = format!("{zfs_root}/bases/{RELEASE}");
    assert_eq!(zfs_get(&dataset, "jailctl:managed"), "yes", "{dataset}");
    let release = zfs_get(&dataset, "jailctl:release");
    assert!(
        release.starts_with(RELEASE),
        "jailctl:release of {dataset} is {release:?}, expected {RELEASE} (from bin/freebsd-version)"
    );
    assert_eq!(zfs_get(&dataset, "mounted"), "yes", "{dataset}");
    let mountpoint = PathBuf::from(zfs_get(&dataset, "mountpoint"));
    for file in [
        "bin/sh",
        "bin/freebsd-version",
        "etc/rc",
        "libexec/ld-elf.so.1",
    ] {
        assert!(
            mountpoint.join(file).is_file(),
            "{} missing from the extracted base",
            mountpoint.join(file).display()
        );
    }

    let snaps = run(
        "/sbin/zfs",
        &[
            "list", "-H", "-t", "snapshot", "-o", "name", "-d", "1", &dataset,
        ],
    );
    assert_ok(&snaps, "zfs list the base's snapshots");
    let snaps: Vec<String> = text(&snaps.stdout).lines().map(str::to_string).collect();
    assert_eq!(snaps.len(), 1, "one snapshot after base create: {snaps:?}");
    let tag = snaps[0]
        .strip_prefix(&format!("{dataset}@"))
        .unwrap_or_else(|| panic!("{} is not a snapshot of {dataset}", snaps[0]));
    assert!(
        is_timestamp(tag),
        "snapshot {tag:?} is not named YYYYMMDD-HHMMSS"
    );

    // `base list --json` reports what zfs says.
    let out = jailctl(base_config.path(), &["base", "list", "--json"]);
    assert_ok(&out, "jailctl base list --json");
    let bases = json(&out);
    let base = bases
        .as_array()
        .and_then(|a| a.iter().find(|b| b["name"] == RELEASE))
        .unwrap_or_else(|| panic!("{RELEASE} missing from base list --json: {bases}"));
    assert_eq!(base["dataset"], dataset.as_str(), "{base}");
    assert_eq!(base["managed"], true, "{base}");
    assert_eq!(base["snapshots"][0]["name"], tag, "{base}");

    Fixture {
        zfs_root,
        _base_config: base_config,
    }
}

/// `20250101-123456`.
fn is_timestamp(tag: &str) -> bool {
    let b = tag.as_bytes();
    b.len() == 15
        && b[8] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 8 || c.is_ascii_digit())
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

/// Whether rctl limits take effect here. The kernel answer jailctl's platform layer reads
/// (sysctl(3) through the rctl crate) must agree with sysctl(8).
fn racct_on() -> bool {
    let state = jailctl::platform::racct_state();
    let sysctl = run("/sbin/sysctl", &["-n", "kern.racct.enable"]);
    let by_tool = sysctl.status.success() && text(&sysctl.stdout).trim() == "1";
    assert_eq!(
        state.enforces_limits(),
        by_tool,
        "platform::racct_state() says {state}, sysctl -n kern.racct.enable says {:?}",
        text(&sysctl.stdout).trim()
    );
    if !state.enforces_limits() {
        eprintln!(
            "SKIPPED (part): no limits and no rctl checks: {state}; {}",
            state.fix().unwrap_or_default()
        );
    }
    state.enforces_limits()
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
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

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out.stdout)))
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
fn jls_jid(name: &str) -> Option<i32> {
    let out = run("/usr/sbin/jls", &["-j", name, "jid"]);
    out.status
        .success()
        .then(|| text(&out.stdout).trim().parse().expect("jls prints a jid"))
}

/// One parameter of a running jail, as `jls -j NAME PARAM` prints it.
fn jls_param(name: &str, param: &str) -> String {
    let out = run("/usr/sbin/jls", &["-j", name, param]);
    assert_ok(&out, &format!("jls -j {name} {param}"));
    text(&out.stdout).trim().to_string()
}

fn dataset_exists(name: &str) -> bool {
    run("/sbin/zfs", &["list", "-H", "-o", "name", name])
        .status
        .success()
}

fn zfs_get(dataset: &str, prop: &str) -> String {
    let out = run("/sbin/zfs", &["get", "-H", "-o", "value", prop, dataset]);
    assert_ok(&out, &format!("zfs get {prop} {dataset}"));
    text(&out.stdout).trim().to_string()
}

fn rctl_rules(name: &str) -> String {
    let out = run("/usr/bin/rctl", &[&format!("jail:{name}")]);
    text(&out.stdout)
}

/// Mount points under `dir`, from `mount -p` (fstab format: the second field).
fn mounts_under(dir: &Path) -> Vec<String> {
    let out = run("/sbin/mount", &["-p"]);
    assert_ok(&out, "mount -p");
    let dir = dir.display().to_string();
    text(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|m| *m == dir || m.starts_with(&format!("{dir}/")))
        .map(str::to_string)
        .collect()
}

fn interfaces() -> Vec<String> {
    let out = run("/sbin/ifconfig", &["-l"]);
    assert_ok(&out, "ifconfig -l");
    text(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// The object `jailctl list --json` prints for `name`.
fn listed(config: &Path, name: &str) -> serde_json::Value {
    let out = jailctl(config, &["list", "--json"]);
    assert_ok(&out, "jailctl list --json");
    let all = json(&out);
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

/// Checks common to every stopped-then-destroyed jail: `destroy` without `--yes` refuses
/// (stdin is not a terminal), `destroy --yes` removes the jail, its dataset and its rules,
/// and the base survives.
fn destroy_and_check(fx: &Fixture, config: &Path, name: &str) {
    let dataset = format!("{}/jails/{name}", fx.zfs_root);
    let out = jailctl(config, &["destroy", name]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("--yes"),
        "destroy without --yes must refuse off a terminal and name --yes:\n{}",
        text(&out.stderr)
    );
    assert!(
        dataset_exists(&dataset),
        "a refused destroy removed {dataset}"
    );

    assert_ok(
        &jailctl(config, &["destroy", name, "--yes"]),
        "jailctl destroy --yes",
    );
    assert_eq!(jls_jid(name), None, "{name} still running after destroy");
    assert!(
        !dataset_exists(&dataset),
        "zfs list {dataset}: still there after destroy"
    );
    assert_eq!(rctl_rules(name).trim(), "", "rctl rules left after destroy");
    // Gone, or still dying: the kernel keeps a removed jail until its last references (for
    // example sockets closing) are released, and `list` reports that honestly.
    let entry = listed(config, name);
    assert!(
        entry["state"] == "absent" || entry["state"] == "dying",
        "{entry}"
    );
    assert!(entry["base"].is_null(), "{entry}");
    assert!(
        dataset_exists(&format!("{}/bases/{RELEASE}", fx.zfs_root)),
        "the base must outlive its jails"
    );
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
        &inherit_jail_toml("e2e.local", limits, false),
    );
    let _cleanup = Cleanup {
        config: config.path(),
        name,
    };
    let dataset = format!("{}/jails/{name}", fx.zfs_root);
    let root = config.path().join("mnt").join(name);

    assert_ok(&jailctl(config.path(), &["up", name]), "jailctl up");
    let jid = jls_jid(name).unwrap_or_else(|| panic!("jls -j {name}: no such jail after up"));
    assert_eq!(jls_param(name, "host.hostname"), "e2e.local");
    assert_eq!(jls_param(name, "path"), root.display().to_string());
    // The kernel view through jailctl's platform layer (jail_get(2)) agrees with jls(8).
    let kernel = jailctl::platform::running_jail(name)
        .expect("jail_get(2)")
        .unwrap_or_else(|| panic!("platform::running_jail({name}) found nothing"));
    assert_eq!((kernel.jid, kernel.path.as_path()), (jid, root.as_path()));

    // The root is a clone of the base's snapshot, mounted at <mount_root>/<name>, with devfs.
    assert!(
        dataset_exists(&dataset),
        "zfs list {dataset}: missing after up"
    );
    let origin = zfs_get(&dataset, "origin");
    assert!(
        origin.starts_with(&format!("{}/bases/{RELEASE}@", fx.zfs_root)),
        "{dataset} is not a clone of the base: origin {origin}"
    );
    assert_eq!(zfs_get(&dataset, "jailctl:managed"), "yes");
    assert_eq!(zfs_get(&dataset, "mounted"), "yes");
    assert_eq!(zfs_get(&dataset, "mountpoint"), root.display().to_string());
    let dev = root.join("dev").display().to_string();
    assert!(
        mounts_under(&root).contains(&dev),
        "no devfs at {dev}: {:?}",
        mounts_under(&root)
    );

    if limits {
        let rules = rctl_rules(name);
        for rule in [
            format!("jail:{name}:memoryuse:deny={MEMORY_BYTES}"),
            format!("jail:{name}:maxproc:deny=512"),
        ] {
            assert!(
                rules.contains(&rule),
                "rctl jail:{name} lacks {rule}:\n{rules}"
            );
        }
    }

    let entry = listed(config.path(), name);
    assert_eq!(entry["state"], "running", "{entry}");
    assert_eq!(entry["jid"], jid, "{entry}");
    assert_eq!(entry["defined"], true, "{entry}");
    assert_eq!(entry["up_to_date"], true, "{entry}");
    assert_eq!(entry["hostname"], "e2e.local", "{entry}");
    assert_eq!(entry["base"], origin.as_str(), "{entry}");
    assert_eq!(
        entry["limits"].as_array().map(Vec::len),
        Some(if limits { 2 } else { 0 })
    );

    // status: live usage from `rctl -u` when RACCT is on; otherwise a note that says why not.
    let out = jailctl(config.path(), &["status", name, "--json"]);
    assert_ok(&out, "jailctl status --json");
    let status = json(&out);
    let usage = &status[0]["usage"];
    if limits {
        assert!(
            usage["memoryuse"].as_u64().is_some_and(|m| m > 0),
            "status --json lacks live memoryuse: {status}"
        );
    } else {
        assert!(usage.is_null(), "usage without RACCT: {status}");
        assert!(
            text(&out.stderr).contains("no live usage"),
            "status must say why there is no usage:\n{}",
            text(&out.stderr)
        );
    }

    // A second `up` finds nothing to change and leaves the jail alone.
    assert_ok(&jailctl(config.path(), &["up", name]), "jailctl up (again)");
    assert_eq!(jls_jid(name), Some(jid), "a second up restarted {name}");

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
    assert_eq!(
        mounts_under(&root.join("dev")),
        Vec::<String>::new(),
        "devfs left mounted after down"
    );
    assert_eq!(
        rctl_rules(name).trim(),
        "",
        "down must remove the jail's rctl rules"
    );
    let state = listed(config.path(), name)["state"].clone();
    assert!(
        state == "stopped" || state == "dying",
        "after down: {state}"
    );
    let out = jailctl(config.path(), &["exec", name, "--", "/bin/hostname"]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("is not running"),
        "exec in a stopped jail must fail and say so:\n{}",
        text(&out.stderr)
    );

    destroy_and_check(fx, config.path(), name);
}

#[test]
fn a_bare_jail_with_only_a_base_runs_and_goes() {
    let _serial = serial();
    let Some(fx) = fixture("a_bare_jail_with_only_a_base_runs_and_goes") else {
        return;
    };
    // No template, no hooks, no provisioning, no limits: network defaults to none and the
    // jail lives on `persist` alone, with no process in it.
    let name = "e2ebare";
    let config = config_dir(&fx.zfs_root);
    add_jail(config.path(), name, &format!("base = \"{RELEASE}\"\n"));
    let _cleanup = Cleanup {
        config: config.path(),
        name,
    };

    assert_ok(&jailctl(config.path(), &["up", name]), "jailctl up");
    assert!(
        jls_jid(name).is_some(),
        "jls -j {name}: not running after up"
    );
    assert_eq!(jls_param(name, "host.hostname"), name);
    assert_eq!(jls_param(name, "ip4"), "disable");
    assert_eq!(jls_param(name, "persist"), "true");
    let out = jailctl(config.path(), &["exec", name, "--", "/bin/hostname"]);
    assert_ok(&out, "jailctl exec hostname");
    assert_eq!(text(&out.stdout).trim(), name);
    assert_eq!(listed(config.path(), name)["state"], "running");

    assert_ok(&jailctl(config.path(), &["down", name]), "jailctl down");
    assert_eq!(jls_jid(name), None, "jail {name} still running after down");
    destroy_and_check(fx, config.path(), name);
}

/// Export, import and clone on real OpenZFS: a running jail with a file written in it is
/// exported (incrementally against its base, and `--full`), each archive is imported under a
/// new name on the same host and started, and a clone of it is started too. Each copy holds
/// the file; zfs(8) shows the incremental import and the clone as clones (of the base
/// snapshot, and of a snapshot of the source) and the full import as a root of its own.
#[test]
fn export_import_and_clone_on_real_zfs() {
    let _serial = serial();
    let Some(fx) = fixture("export_import_and_clone_on_real_zfs") else {
        return;
    };
    let config = config_dir(&fx.zfs_root);
    let (src, inc, full, copy) = ("e2eexp", "e2eimpinc", "e2eimpfull", "e2eclone");
    add_jail(config.path(), src, &format!("base = \"{RELEASE}\"\n"));
    let _cleanups = [src, inc, full, copy].map(|name| Cleanup {
        config: config.path(),
        name,
    });
    assert_ok(&jailctl(config.path(), &["up", src]), "jailctl up");
    assert_ok(
        &jailctl(
            config.path(),
            &[
                "exec",
                src,
                "--",
                "/bin/sh",
                "-c",
                "echo kept > /root/marker",
            ],
        ),
        "jailctl exec (write the marker)",
    );
    let archives = tempfile::tempdir().unwrap();
    let a_inc = archives.path().join("inc.tar.xz");
    let a_full = archives.path().join("full.tar.xz");
    assert_ok(
        &jailctl(
            config.path(),
            &["export", src, "-o", a_inc.to_str().unwrap()],
        ),
        "jailctl export (incremental, running jail)",
    );
    assert_ok(
        &jailctl(
            config.path(),
            &["export", src, "--full", "-o", a_full.to_str().unwrap()],
        ),
        "jailctl export --full",
    );
    for (archive, name) in [(&a_inc, inc), (&a_full, full)] {
        assert_ok(
            &jailctl(
                config.path(),
                &[
                    "import",
                    archive.to_str().unwrap(),
                    "--name",
                    name,
                    "--hostname",
                    name,
                ],
            ),
            &format!("jailctl import --name {name}"),
        );
        assert_eq!(jls_jid(name), None, "an import leaves the jail stopped");
    }
    assert_ok(
        &jailctl(config.path(), &["clone", src, copy, "--hostname", copy]),
        "jailctl clone",
    );
    let origin = |name: &str| {
        let ds = format!("{}/jails/{name}", fx.zfs_root);
        let out = run("/sbin/zfs", &["get", "-H", "-o", "value", "origin", &ds]);
        assert_ok(&out, &format!("zfs get origin {ds}"));
        text(&out.stdout).trim().to_string()
    };
    let bases = format!("{}/bases/{RELEASE}@", fx.zfs_root);
    assert!(origin(inc).starts_with(&bases), "{inc}: {}", origin(inc));
    assert_eq!(origin(full), "-", "{full} is a root of its own");
    assert!(
        origin(copy).starts_with(&format!("{}/jails/{src}@", fx.zfs_root)),
        "{copy}: {}",
        origin(copy)
    );
    for name in [inc, full, copy] {
        assert_ok(
            &jailctl(config.path(), &["up", name]),
            &format!("up {name}"),
        );
        let out = jailctl(
            config.path(),
            &["exec", name, "--", "/bin/cat", "/root/marker"],
        );
        assert_ok(&out, &format!("jailctl exec {name} cat"));
        assert_eq!(text(&out.stdout).trim(), "kept", "{name}");
        assert_eq!(jls_param(name, "host.hostname"), name);
    }
    for name in [copy, inc, full, src] {
        assert_ok(
            &jailctl(config.path(), &["down", name]),
            &format!("down {name}"),
        );
        destroy_and_check(fx, config.path(), name);
    }
}

/// Destroys the test bridge however the test ends: jailctl keeps bridges on purpose (other
/// jails may share them), so removing this one is the test's job.
struct Bridge;

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = run("/sbin/ifconfig", &[BRIDGE, "destroy"]);
    }
}

#[test]
fn vnet_jail_gets_an_epair_on_its_bridge() {
    let _serial = serial();
    let Some(fx) = fixture("vnet_jail_gets_an_epair_on_its_bridge") else {
        return;
    };
    let vimage = run("/sbin/sysctl", &["-n", "kern.features.vimage"]);
    if !(vimage.status.success() && text(&vimage.stdout).trim() == "1") {
        eprintln!(
            "SKIPPED: vnet_jail_gets_an_epair_on_its_bridge: this kernel has no VIMAGE (kern.features.vimage); use GENERIC or add `options VIMAGE`"
        );
        return;
    }
    assert!(
        !interfaces().iter().any(|i| i == BRIDGE),
        "{BRIDGE} exists before the test; destroy it (ifconfig {BRIDGE} destroy)"
    );
    let _bridge = Bridge;
    let name = "e2evnet";
    let (host_end, jail_end) = ("e0a_e2evnet", "e0b_e2evnet");
    let config = config_dir(&fx.zfs_root);
    add_jail(
        config.path(),
        name,
        &format!(
            "base = \"{RELEASE}\"\nautostart = false\n{HOOKS}\n[network]\nmode = \"vnet\"\nbridge = \"{BRIDGE}\"\n"
        ),
    );
    let _cleanup = Cleanup {
        config: config.path(),
        name,
    };
    let dataset = format!("{}/jails/{name}", fx.zfs_root);

    assert_ok(&jailctl(config.path(), &["up", name]), "jailctl up");
    assert!(
        jls_jid(name).is_some(),
        "jls -j {name}: not running after up"
    );
    assert_eq!(jls_param(name, "vnet"), "new");
    let ifs = interfaces();
    assert!(
        ifs.iter().any(|i| i == BRIDGE),
        "no {BRIDGE} after up: {ifs:?}"
    );
    assert!(
        ifs.iter().any(|i| i == host_end),
        "no {host_end} after up: {ifs:?}"
    );
    assert!(
        !ifs.iter().any(|i| i == jail_end),
        "{jail_end} must have moved into the jail: {ifs:?}"
    );
    let out = run("/sbin/ifconfig", &[BRIDGE]);
    assert_ok(&out, "ifconfig bridge");
    assert!(
        text(&out.stdout).contains(&format!("member: {host_end}")),
        "{host_end} is not a member of {BRIDGE}:\n{}",
        text(&out.stdout)
    );
    // The pool's first free address, recorded on the dataset and configured by the jail's rc.
    assert_eq!(zfs_get(&dataset, "jailctl:ip4"), format!("{FIRST4}/24"));
    let out = jailctl(
        config.path(),
        &["exec", name, "--", "/sbin/ifconfig", jail_end],
    );
    assert_ok(&out, "ifconfig in the jail");
    assert!(
        text(&out.stdout).contains(&format!("inet {FIRST4} ")),
        "{jail_end} in the jail lacks {FIRST4}:\n{}",
        text(&out.stdout)
    );

    assert_ok(&jailctl(config.path(), &["down", name]), "jailctl down");
    assert_eq!(jls_jid(name), None, "jail {name} still running after down");
    let ifs = interfaces();
    for end in [host_end, jail_end] {
        assert!(
            !ifs.iter().any(|i| i == end),
            "{end} left after down: {ifs:?}"
        );
    }
    let out = run("/sbin/ifconfig", &[BRIDGE]);
    assert_ok(&out, "ifconfig bridge after down");
    assert!(
        !text(&out.stdout).contains("member:"),
        "{BRIDGE} still has members after down:\n{}",
        text(&out.stdout)
    );

    destroy_and_check(fx, config.path(), name);
    let ifs = interfaces();
    assert!(
        !ifs.iter().any(|i| i == host_end || i == jail_end),
        "epair ends back after destroy: {ifs:?}"
    );
}

/// Interfaces and a client jail the port-forward test makes, destroyed when dropped: the
/// loopback clone the jail lives on, an epair whose host end plays the external interface
/// and whose other end is the client's, the client jail (a VNET jail on the host's `/`), and
/// pf's rules (flushed, pf disabled).
struct PfFixture;

/// The loopback clone, the external end, the client's end, the client jail.
const PF_LO: &str = "lo231";
const PF_EXT: &str = "jcpfext";
const PF_CLI: &str = "jcpfcli";
const PF_CLIENT: &str = "jcpfclient";
/// The external interface's address and the client's, in the benchmarking range (RFC 2544).
const PF_EXT_ADDR: &str = "198.18.231.1";
const PF_CLI_ADDR: &str = "198.18.231.2";
const PF_JAIL_ADDR: &str = "10.231.78.5";

impl Drop for PfFixture {
    fn drop(&mut self) {
        let _ = run("/usr/sbin/jail", &["-r", PF_CLIENT]);
        let _ = run("/sbin/ifconfig", &[PF_EXT, "destroy"]);
        let _ = run("/sbin/ifconfig", &[PF_LO, "destroy"]);
        let _ = run("/sbin/pfctl", &["-F", "all"]);
        let _ = run("/sbin/pfctl", &["-d"]);
    }
}

/// A jail on a private address of a loopback clone, NATed to an external interface with one
/// port forward, is reached from outside through the host's address and port: a client in
/// its own network stack fetches `http://EXT_ADDR:8080/` and gets what the jail serves on
/// port 80. Then `down` takes the anchor and the table entry away and the forward is gone.
#[test]
fn a_port_forward_reaches_an_alias_jail_through_pf() {
    let _serial = serial();
    let Some(fx) = fixture("a_port_forward_reaches_an_alias_jail_through_pf") else {
        return;
    };
    let ifs = interfaces();
    for i in [PF_LO, PF_EXT, PF_CLI] {
        assert!(
            !ifs.iter().any(|x| x == i),
            "{i} exists before the test; destroy it (ifconfig {i} destroy)"
        );
    }
    // pf, with a ruleset that reaches jailctl's anchors and passes the rest.
    assert_ok(&run("/sbin/kldload", &["-n", "pf"]), "kldload pf");
    let _pf = PfFixture;
    let conf = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        conf.path(),
        "nat-anchor \"jailctl/*\"\nrdr-anchor \"jailctl/*\"\npass all\nanchor \"jailctl/*\"\n",
    )
    .unwrap();
    assert_ok(
        &run("/sbin/pfctl", &["-f", conf.path().to_str().unwrap()]),
        "pfctl -f",
    );
    let _ = run("/sbin/pfctl", &["-e"]);
    // The loopback clone, and the external end with the client's end in its own stack.
    assert_ok(
        &run("/sbin/ifconfig", &[PF_LO, "create"]),
        "ifconfig lo create",
    );
    let out = run("/sbin/ifconfig", &["epair", "create"]);
    assert_ok(&out, "ifconfig epair create");
    let a = text(&out.stdout).trim().to_string();
    let b = format!("{}b", a.trim_end_matches('a'));
    assert_ok(&run("/sbin/ifconfig", &[&a, "name", PF_EXT]), "rename a");
    assert_ok(&run("/sbin/ifconfig", &[&b, "name", PF_CLI]), "rename b");
    assert_ok(
        &run(
            "/sbin/ifconfig",
            &[PF_EXT, "inet", &format!("{PF_EXT_ADDR}/24"), "up"],
        ),
        "address the external end",
    );
    assert_ok(
        &run(
            "/usr/sbin/jail",
            &[
                "-c",
                &format!("name={PF_CLIENT}"),
                "path=/",
                "vnet",
                &format!("vnet.interface={PF_CLI}"),
                "persist",
            ],
        ),
        "jail -c client",
    );
    assert_ok(
        &run(
            "/usr/sbin/jexec",
            &[
                PF_CLIENT,
                "/sbin/ifconfig",
                PF_CLI,
                "inet",
                &format!("{PF_CLI_ADDR}/24"),
                "up",
            ],
        ),
        "address the client's end",
    );

    let name = "e2epf";
    let config = config_dir(&fx.zfs_root);
    let global = config.path().join("jailctl.toml");
    let mut g = std::fs::read_to_string(&global).unwrap();
    g.push_str(&format!(
        "\n[networks.{PF_LO}]\nip4_pool = \"10.231.78.0/24\"\nnat = {{ interface = \"{PF_EXT}\" }}\n"
    ));
    std::fs::write(&global, g).unwrap();
    add_jail(
        config.path(),
        name,
        &format!(
            "base = \"{RELEASE}\"\nautostart = false\n{HOOKS}\n[network]\nmode = \"alias\"\ninterface = \"{PF_LO}\"\nip4 = [\"{PF_JAIL_ADDR}/24\"]\n\n[[ports]]\nhost = 8080\njail = 80\n"
        ),
    );
    let _cleanup = Cleanup {
        config: config.path(),
        name,
    };
    let doctor = jailctl(config.path(), &["doctor"]);
    assert!(
        text(&doctor.stdout)
            .lines()
            .any(|l| l.starts_with("OK   pf:")),
        "doctor does not find pf ready:\n{}",
        text(&doctor.stdout)
    );

    assert_ok(&jailctl(config.path(), &["up", name]), "jailctl up");
    let anchor = format!("jailctl/{name}");
    let out = run("/sbin/pfctl", &["-a", &anchor, "-s", "nat"]);
    assert_ok(&out, "pfctl -s nat");
    assert!(
        text(&out.stdout).contains(&format!("port = 8080 -> {PF_JAIL_ADDR} port 80")),
        "no rdr rule in {anchor}:\n{}",
        text(&out.stdout)
    );
    assert!(
        !text(&out.stdout).contains("rdr pass"),
        "{}",
        text(&out.stdout)
    );
    let out = run("/sbin/pfctl", &["-t", "jailctl_nat", "-T", "show"]);
    assert!(
        text(&out.stdout).contains(PF_JAIL_ADDR),
        "{PF_JAIL_ADDR} not in <jailctl_nat>:\n{}",
        text(&out.stdout)
    );
    // A one-shot HTTP answer on the jail's port 80, in the background inside the jail.
    let serve = format!(
        "printf 'HTTP/1.0 200 OK\\r\\nContent-Length: 9\\r\\n\\r\\nforwarded' | /usr/bin/nc -l {PF_JAIL_ADDR} 80 >/dev/null 2>&1 &"
    );
    assert_ok(
        &run("/usr/sbin/jexec", &[name, "/bin/sh", "-c", &serve]),
        "start nc in the jail",
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    let url = format!("http://{PF_EXT_ADDR}:8080/");
    let out = run(
        "/usr/sbin/jexec",
        &[PF_CLIENT, "/usr/bin/fetch", "-T", "10", "-qo", "-", &url],
    );
    assert_ok(&out, &format!("fetch {url} from the client"));
    assert_eq!(text(&out.stdout), "forwarded");

    assert_ok(&jailctl(config.path(), &["down", name]), "jailctl down");
    let out = run("/sbin/pfctl", &["-a", &anchor, "-s", "nat"]);
    assert!(
        !text(&out.stdout).contains("rdr"),
        "{anchor} still holds rules after down:\n{}",
        text(&out.stdout)
    );
    let out = run("/sbin/pfctl", &["-t", "jailctl_nat", "-T", "show"]);
    assert!(
        !text(&out.stdout).contains(PF_JAIL_ADDR),
        "{PF_JAIL_ADDR} left in <jailctl_nat> after down:\n{}",
        text(&out.stdout)
    );
    destroy_and_check(fx, config.path(), name);
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

/// Sets an rc.conf variable with sysrc(8) and puts the old value back (or removes it) when
/// dropped.
struct RcVar {
    name: &'static str,
    old: Option<String>,
}

impl RcVar {
    fn set(name: &'static str, value: &str) -> RcVar {
        let before = run("/usr/sbin/sysrc", &["-n", name]);
        let old = before
            .status
            .success()
            .then(|| text(&before.stdout).trim_end_matches('\n').to_string());
        assert_ok(
            &run("/usr/sbin/sysrc", &[&format!("{name}={value}")]),
            "sysrc",
        );
        RcVar { name, old }
    }
}

impl Drop for RcVar {
    fn drop(&mut self) {
        let _ = match &self.old {
            Some(v) => run("/usr/sbin/sysrc", &[&format!("{}={v}", self.name)]),
            None => run("/usr/sbin/sysrc", &["-x", self.name]),
        };
    }
}

#[test]
fn rc_d_script_starts_and_stops_autostart_jails() {
    let _serial = serial();
    let Some(fx) = fixture("rc_d_script_starts_and_stops_autostart_jails") else {
        return;
    };
    let (name, manual) = ("e2erc", "e2ercman");
    let config = config_dir(&fx.zfs_root);
    add_jail(
        config.path(),
        name,
        &inherit_jail_toml("rc.e2e.local", false, true),
    );
    add_jail(
        config.path(),
        manual,
        &inherit_jail_toml("manual.e2e.local", false, false),
    );
    let _cleanup = Cleanup {
        config: config.path(),
        name,
    };
    let _cleanup_manual = Cleanup {
        config: config.path(),
        name: manual,
    };

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("rc.d/jailctl");
    let script =
        std::fs::read(&script).unwrap_or_else(|e| panic!("cannot read {}: {e}", script.display()));
    let _rc = Restore::install("/usr/local/etc/rc.d/jailctl", &script, 0o555);
    let _binary = RcVar::set("jailctl_binary", env!("CARGO_BIN_EXE_jailctl"));
    let flags = format!("--config-dir {}", config.path().display());
    let _flags = RcVar::set("jailctl_flags", &flags);

    assert_ok(
        &run("/usr/sbin/service", &["jailctl", "onestart"]),
        "service jailctl onestart",
    );
    assert!(
        jls_jid(name).is_some(),
        "jls -j {name}: rc.d onestart did not start the autostart jail"
    );
    assert_eq!(
        jls_jid(manual),
        None,
        "rc.d onestart started {manual}, which has autostart = false"
    );
    assert!(dataset_exists(&format!("{}/jails/{name}", fx.zfs_root)));

    let out = run("/usr/sbin/service", &["jailctl", "onestatus"]);
    assert_ok(&out, "service jailctl onestatus");
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("onestatus does not list {name}:\n{}", text(&out.stdout)));
    assert!(line.contains("running"), "onestatus: {line}");

    assert_ok(
        &run("/usr/sbin/service", &["jailctl", "onestop"]),
        "service jailctl onestop",
    );
    assert_eq!(jls_jid(name), None, "rc.d onestop left {name} running");

    destroy_and_check(fx, config.path(), name);
}
