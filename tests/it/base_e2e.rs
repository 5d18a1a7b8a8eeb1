//! Bases end to end: the real `jailctl` binary on a simulated host (`--simulate DIR`), so the
//! zfs command lines `src/base/` emits are checked by the strict simulated zfs(8), and a
//! failure is checked to leave the host (datasets and files) as it was.

use super::support::sets::{ServerOpts, release_dir, release_files, serve};
use jailctl_sim::SimHost;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

struct Env {
    _tmp: tempfile::TempDir,
    cfg: PathBuf,
    sim: PathBuf,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("cfg");
    std::fs::create_dir_all(cfg.join("jails")).unwrap();
    std::fs::write(
        cfg.join("jailctl.toml"),
        "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\n",
    )
    .unwrap();
    let sim = tmp.path().join("sim");
    Env {
        cfg,
        sim,
        _tmp: tmp,
    }
}

fn jailctl(e: &Env, args: &[&str]) -> std::process::Output {
    crate::support::jailctl_loud(&e.sim, &e.cfg)
        .args(args)
        .output()
        .unwrap()
}

#[track_caller]
fn ok(e: &Env, args: &[&str]) -> String {
    let o = jailctl(e, args);
    assert!(
        o.status.success(),
        "jailctl {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[track_caller]
fn fails(e: &Env, args: &[&str]) -> String {
    let o = jailctl(e, args);
    assert!(!o.status.success(), "jailctl {args:?} succeeded");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An error's words on one line (miette wraps long lines and draws a margin).
fn words(err: &str) -> String {
    err.split_whitespace()
        .filter(|w| *w != "│")
        .collect::<Vec<_>>()
        .join(" ")
}

fn list_json(e: &Env) -> serde_json::Value {
    serde_json::from_str(&ok(e, &["base", "list", "--json"])).unwrap()
}

/// Datasets (with their properties and origins) and every file under the simulator's root
/// (path → contents, or the link target, or `dir`).
fn host_picture(e: &Env) -> (String, BTreeMap<String, String>) {
    let h = SimHost::open(&e.sim).unwrap();
    let datasets = serde_json::to_string(&h.snapshot().unwrap().zfs.datasets).unwrap();
    let mut files = BTreeMap::new();
    walk(&e.sim.join("root"), &e.sim.join("root"), &mut files);
    // The directories made only to hold the lock files go with them.
    for d in ["var/db/jailctl", "var/db", "var"] {
        let below = format!("{d}/");
        if !files.keys().any(|k| k.starts_with(&below)) {
            files.remove(d);
        }
    }
    (datasets, files)
}

const JOURNAL_DIRS: &[&str] = &[
    "var",
    "var/db",
    "var/db/jailctl",
    "var/db/jailctl/journal",
    "var/db/jailctl/journal/bases",
];

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for ent in rd.flatten() {
        let p = ent.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        // Lock files are jailctl's coordination, not host state.
        if rel.starts_with("var/db/jailctl/locks") {
            continue;
        }
        let md = std::fs::symlink_metadata(&p).unwrap();
        if md.is_dir() {
            // jailctl's own journal directories (made once, kept); a journal file left in
            // them still shows.
            if !JOURNAL_DIRS.contains(&rel.as_str()) {
                out.insert(rel, "dir".into());
            }
            walk(root, &p, out);
        } else if md.file_type().is_symlink() {
            out.insert(
                rel,
                format!("-> {}", std::fs::read_link(&p).unwrap().display()),
            );
        } else {
            out.insert(
                rel,
                String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned(),
            );
        }
    }
}

const BASE_ROOT: &str = "root/usr/local/jails/.bases/14.2";

#[test]
fn create_list_update_and_destroy_on_the_simulated_host() {
    let e = env();
    let rel = release_dir();
    let from = rel.path().to_str().unwrap();
    let out = ok(&e, &["base", "create", "14.2", "--from", from]);
    assert!(out.contains("created base 14.2 (14.2-RELEASE-p1)"), "{out}");
    let version = std::fs::read_to_string(e.sim.join(BASE_ROOT).join("bin/freebsd-version"));
    assert!(version.unwrap().contains("14.2-RELEASE-p1"));

    let list = list_json(&e);
    assert_eq!(list[0]["name"], "14.2");
    assert_eq!(list[0]["dataset"], "zroot/jailctl/bases/14.2");
    assert_eq!(list[0]["managed"], true);
    assert_eq!(list[0]["release"], "14.2-RELEASE-p1");
    assert_eq!(list[0]["source"], from);
    let snaps = list[0]["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0]["release"], "14.2-RELEASE-p1");
    let first = snaps[0]["name"].as_str().unwrap().to_string();

    // A second create of the same name is refused.
    let err = fails(&e, &["base", "create", "14.2", "--from", from]);
    assert!(err.contains("already exists"), "{err}");

    // Update: a new snapshot; the first one stays.
    std::fs::write(e.sim.join(BASE_ROOT).join("stray"), "left by hand").unwrap();
    ok(
        &e,
        &[
            "base",
            "update",
            "14.2",
            "--from",
            from,
            "--sets",
            "base,lib32",
        ],
    );
    let snaps = list_json(&e)[0]["snapshots"].as_array().unwrap().clone();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0]["name"], first.as_str());
    assert_ne!(snaps[1]["name"], first.as_str());
    assert!(e.sim.join(BASE_ROOT).join("usr/lib32/libc.so.7").is_file());
    assert!(!e.sim.join(BASE_ROOT).join("stray").exists());

    // A clone pins the base.
    let snap = format!("zroot/jailctl/bases/14.2@{first}");
    // `base create` laid out the host: the parent of jail roots is there.
    ok(
        &e,
        &["sim", "zfs", "clone", &snap, "zroot/jailctl/jails/web"],
    );
    let table = ok(&e, &["base", "list"]);
    assert!(table.contains("web"), "{table}");
    let err = fails(&e, &["base", "destroy", "14.2", "--yes"]);
    let words = words(&err);
    assert!(
        words.contains("1 dataset depends on its snapshots"),
        "{err}"
    );
    assert!(words.contains(&format!("web (from @{first})")), "{err}");
    assert_eq!(list_json(&e).as_array().unwrap().len(), 1);

    ok(&e, &["sim", "zfs", "destroy", "zroot/jailctl/jails/web"]);
    ok(&e, &["base", "destroy", "14.2", "--yes"]);
    assert!(list_json(&e).as_array().unwrap().is_empty());
    assert!(!e.sim.join(BASE_ROOT).exists());
}

#[test]
fn create_from_an_http_server() {
    let e = env();
    let server = serve(ServerOpts {
        files: release_files(),
        ranges: true,
        cut_first: None,
    });
    ok(
        &e,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            &server.base,
            "--sets",
            "base,lib32",
        ],
    );
    let list = list_json(&e);
    assert_eq!(list[0]["release"], "14.2-RELEASE-p1");
    assert_eq!(list[0]["snapshots"].as_array().unwrap().len(), 1);
    assert!(e.sim.join(BASE_ROOT).join("usr/lib32/libc.so.7").is_file());
    // The sets were downloaded into the simulated host's cache.
    let served: Vec<String> = server
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert!(served.contains(&"base.txz".to_string()), "{served:?}");
}

/// A release directory whose base.txz is `data` and whose MANIFEST lists `listed` for it.
fn release_with(data: &[u8], listed: &[u8]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("base.txz"), data).unwrap();
    let digest = jailctl::base::fetch::sha256_file(&{
        let p = d.path().join("listed");
        std::fs::write(&p, listed).unwrap();
        p
    })
    .unwrap();
    std::fs::remove_file(d.path().join("listed")).unwrap();
    std::fs::write(
        d.path().join("MANIFEST"),
        format!("base.txz\t{digest}\t10\tbase\t\"Base system\"\ton\n"),
    )
    .unwrap();
    d
}

/// Start from a host that already has one base, so "unchanged" covers existing datasets.
fn host_with_a_base(e: &Env) {
    let rel = release_dir();
    ok(
        e,
        &[
            "base",
            "create",
            "old",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
}

#[test]
fn corrupt_set_leaves_the_host_unchanged() {
    let e = env();
    host_with_a_base(&e);
    let before = host_picture(&e);
    let good = release_files().remove("base.txz").unwrap();
    let corrupt = good[..good.len() / 2].to_vec();
    let rel = release_with(&corrupt, &corrupt);
    let err = fails(
        &e,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    assert!(err.contains("base.txz"), "{err}");
    assert!(
        words(&err).contains("undo: destroyed zroot/jailctl/bases/14.2"),
        "{err}"
    );
    assert_eq!(host_picture(&e), before);
    // On a fresh host the parents `zfs create -p` made go too.
    let fresh = env();
    let before = host_picture(&fresh);
    let err = fails(
        &fresh,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    assert!(
        words(&err).contains("undo: destroyed zroot/jailctl/bases/14.2"),
        "{err}"
    );
    // What stays is the host layout, made once before the base (and kept, as every later
    // command needs it): its parent datasets and directories, nothing of the base.
    let (datasets, files) = host_picture(&fresh);
    let names: Vec<String> = serde_json::from_str::<BTreeMap<String, serde_json::Value>>(&datasets)
        .unwrap()
        .into_keys()
        .collect();
    assert_eq!(
        names,
        [
            "zroot",
            "zroot/jailctl",
            "zroot/jailctl/bases",
            "zroot/jailctl/jails",
            "zroot/jailctl/volumes"
        ]
    );
    let new: Vec<&String> = files
        .keys()
        .filter(|k| !before.1.contains_key(*k))
        .collect();
    assert!(
        new.iter().all(|f| [
            "usr",
            "usr/local",
            "usr/local/jails",
            "var",
            "var/run",
            "var/run/jailctl",
            "var/db",
            "var/db/jailctl",
            "var/db/jailctl/journal"
        ]
        .contains(&f.as_str())),
        "{new:?}"
    );
}

#[test]
fn checksum_mismatch_leaves_the_host_unchanged() {
    let e = env();
    host_with_a_base(&e);
    let before = host_picture(&e);
    let good = release_files().remove("base.txz").unwrap();
    let rel = release_with(&good, b"something else");
    let err = fails(
        &e,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    assert!(err.contains("base.txz"), "{err}");
    assert_eq!(host_picture(&e), before);
    // And on a fresh host: not even the parents are created.
    let fresh = env();
    let before = host_picture(&fresh);
    fails(
        &fresh,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    assert_eq!(host_picture(&fresh), before);
}

#[test]
fn failing_zfs_snapshot_during_create_leaves_nothing_behind() {
    let e = env();
    host_with_a_base(&e);
    let before = host_picture(&e);
    std::fs::write(
        e.sim.join("faults.toml"),
        "[[fault]]\ncommand = \"zfs snapshot *\"\nstderr = \"cannot create snapshot: out of space\"\n",
    )
    .unwrap();
    let rel = release_dir();
    let err = fails(
        &e,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    assert!(err.contains("out of space"), "{err}");
    assert!(
        words(&err).contains("undo: destroyed zroot/jailctl/bases/14.2"),
        "{err}"
    );
    std::fs::remove_file(e.sim.join("faults.toml")).unwrap();
    assert_eq!(host_picture(&e), before);
    // The same run succeeds once the fault is gone.
    ok(
        &e,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
}

#[test]
fn failed_update_rolls_back_on_the_simulated_host() {
    let e = env();
    host_with_a_base(&e);
    let before = host_picture(&e);
    let good = release_files().remove("base.txz").unwrap();
    let corrupt = good[..good.len() / 2].to_vec();
    let rel = release_with(&corrupt, &corrupt);
    let err = fails(
        &e,
        &[
            "base",
            "update",
            "old",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    assert!(
        words(&err).contains("undo: rolled zroot/jailctl/bases/old back"),
        "{err}"
    );
    assert_eq!(host_picture(&e), before);
}

#[test]
fn a_broken_jail_file_does_not_block_base_commands() {
    let e = env();
    std::fs::write(e.cfg.join("jails/web.toml"), "hostname = [\n").unwrap();
    let rel = release_dir();
    ok(
        &e,
        &[
            "base",
            "create",
            "14.2",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    assert_eq!(list_json(&e)[0]["name"], "14.2");
    // A broken jailctl.toml does: it holds zfs_root.
    std::fs::write(e.cfg.join("jailctl.toml"), "zfs_root = 5\n").unwrap();
    let err = fails(&e, &["base", "list"]);
    assert!(err.contains("jailctl.toml"), "{err}");
    assert!(err.contains("zfs_root"), "{err}");
}

#[test]
fn quickstart_script_makes_a_base_and_runs_again() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("qs");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = assert_cmd::cargo::cargo_bin("jailctl");
    for _ in 0..2 {
        let o = std::process::Command::new("sh")
            .arg(root.join("examples/quickstart.sh"))
            .arg("--base-only")
            .env("QUICKSTART_DIR", &work)
            .env("JAILCTL", &bin)
            .env_remove("JAILCTL_SIMULATE")
            .env_remove("JAILCTL_SIM_FAULTS")
            .env_remove("JAILCTL_SIM_REAL_ZFS")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            stdout.contains("created base 14.3-RELEASE (14.3-RELEASE)"),
            "{stdout}"
        );
    }
    // The base is on the simulated host the script made, with one snapshot (fresh each run).
    let h = SimHost::open(&work.join("host")).unwrap();
    let ds = h.snapshot().unwrap().zfs.datasets;
    let snaps: Vec<&String> = ds
        .keys()
        .filter(|n| n.starts_with("zroot/jailctl/bases/14.3-RELEASE@"))
        .collect();
    assert_eq!(snaps.len(), 1, "{snaps:?}");
    let version = work.join("host/root/usr/local/jails/.bases/14.3-RELEASE/bin/freebsd-version");
    assert!(
        std::fs::read_to_string(version)
            .unwrap()
            .contains("14.3-RELEASE")
    );
    // A directory quickstart did not make is left alone.
    let other = tmp.path().join("mine");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("keep"), "x").unwrap();
    let o = std::process::Command::new("sh")
        .arg(root.join("examples/quickstart.sh"))
        .env("QUICKSTART_DIR", &other)
        .env("JAILCTL", &bin)
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(other.join("keep").is_file());
}

/// `zfs snapshot` fails after the new release and source were recorded on the dataset: the
/// undo sets both back (read back to check) along with the files, so the host is exactly as
/// it was, and only then says so.
#[test]
fn failed_snapshot_during_update_restores_the_recorded_source() {
    let e = env();
    host_with_a_base(&e);
    let before = host_picture(&e);
    let old_source = list_json(&e)[0]["source"].as_str().unwrap().to_string();
    std::fs::write(
        e.sim.join("faults.toml"),
        "[[fault]]\ncommand = \"zfs snapshot *\"\nstderr = \"cannot create snapshot: out of space\"\n",
    )
    .unwrap();
    let rel = release_dir();
    let err = fails(
        &e,
        &[
            "base",
            "update",
            "old",
            "--from",
            rel.path().to_str().unwrap(),
        ],
    );
    let w = words(&err);
    assert!(w.contains("out of space"), "{err}");
    assert!(
        w.contains("restored jailctl:release=") && w.contains("the base is as it was"),
        "{err}"
    );
    assert!(w.contains(&format!("jailctl:source={old_source}")), "{err}");
    std::fs::remove_file(e.sim.join("faults.toml")).unwrap();
    assert_eq!(list_json(&e)[0]["source"].as_str().unwrap(), old_source);
    assert_eq!(host_picture(&e), before);
    assert!(
        !e.sim
            .join("root/var/db/jailctl/journal/bases/old.json")
            .exists(),
        "an undone update leaves no journal"
    );
}
