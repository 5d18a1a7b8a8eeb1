//! `jailctl export` and `jailctl import` end to end through the real binary, between two
//! simulated hosts: the example `db` jail (a root and the volume `pgdata`), running and with
//! files written in both, goes from host A to host B, where `up` starts it with the same
//! files and jailctl's properties; the root travels incrementally against a base B has
//! (replicated from A) or whole with `--full`; a damaged, a truncated and a foreign archive,
//! a taken name and a missing base are refused with B exactly as it was before (a whole-host
//! fingerprint); a failing receive is undone.

use super::support::{assert_same, fingerprint};
use super::support::{examples_config, host_with_base, jailctl};
use jailctl::host::{Cmd, Runner, tools};
use jailctl_sim::{SimConfig, SimHost};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ROOT: &str = "zroot/jailctl/jails/db";
const VOL: &str = "zroot/jailctl/volumes/db/pgdata";
const BASE_SNAP: &str = "zroot/jailctl/bases/14.3-RELEASE@20260101-000000";

struct Two {
    _t: tempfile::TempDir,
    a: PathBuf,
    a_cfg: PathBuf,
    b: PathBuf,
    b_cfg: PathBuf,
    dir: PathBuf,
}

fn local(sim: &Path, p: &str) -> PathBuf {
    sim.join("root").join(p.trim_start_matches('/'))
}

/// Host A with `db` up and files in its root and volume; host B with a base of its own and
/// the examples' configuration without `db`.
fn two_hosts() -> Two {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().to_path_buf();
    let (a, a_cfg, b, b_cfg) = (p.join("a"), p.join("a-etc"), p.join("b"), p.join("b-etc"));
    host_with_base(&a);
    examples_config(&a_cfg);
    jailctl(&a, &a_cfg).args(["up", "db"]).assert().success();
    std::fs::write(local(&a, "/usr/local/jails/db/etc/motd"), "db on host A\n").unwrap();
    std::fs::write(
        local(&a, "/usr/local/jails/.volumes/db/pgdata/table"),
        "rows\n",
    )
    .unwrap();
    // B's pool has seen other work first: its base snapshot, made by the same commands as
    // A's, gets another guid (the simulator derives guids from the name and the pool's
    // transaction counter), as an independently made base has on real ZFS.
    super::support::sim(
        &b,
        &["zfs", "create", "-o", "mountpoint=none", "zroot/other"],
    );
    host_with_base(&b);
    examples_config(&b_cfg);
    std::fs::remove_file(b_cfg.join("jails/db.toml")).unwrap();
    // Hosts where jailctl has run have its lock directory.
    for h in [&a, &b] {
        std::fs::create_dir_all(local(h, "/var/db/jailctl/locks")).unwrap();
    }
    Two {
        _t: t,
        a,
        a_cfg,
        b,
        b_cfg,
        dir: p,
    }
}

/// [`jailctl`] without `-q`, for the messages.
fn jailctl_loud(sim: &Path, config: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("jailctl").unwrap();
    c.env_remove("JAILCTL_SIM_FAULTS")
        .env_remove("JAILCTL_SIMULATE")
        .env_remove("JAILCTL_CONFIG_DIR")
        .arg("--simulate")
        .arg(sim)
        .arg("--config-dir")
        .arg(config);
    c
}

fn zfs(sim: &Path, args: &[&str]) -> jailctl::host::Output {
    SimHost::open_with(sim, SimConfig::default())
        .unwrap()
        .output(&Cmd::new(tools::ZFS, args.iter().copied()))
        .unwrap()
}

fn get(sim: &Path, props: &str, ds: &str) -> String {
    let o = zfs(
        sim,
        &["get", "-H", "-p", "-o", "property,value,source", props, ds],
    );
    assert!(o.success(), "{}", o.stderr);
    o.stdout
}

/// Replace B's base with a copy of A's (`zfs send | zfs receive`), as an administrator
/// replicating bases does, so the snapshot has the same guid on both.
fn replicate_base(two: &Two) {
    let a = SimHost::open_with(&two.a, SimConfig::default()).unwrap();
    let b = SimHost::open_with(&two.b, SimConfig::default()).unwrap();
    let mut stream = Vec::new();
    let o = a
        .pipe(
            &Cmd::new(tools::ZFS, ["send", BASE_SNAP]),
            None,
            Some(&mut stream),
            Duration::from_secs(60),
        )
        .unwrap();
    assert!(o.success(), "{}", o.stderr);
    let base = "zroot/jailctl/bases/14.3-RELEASE";
    assert!(
        b.output(&Cmd::new(tools::ZFS, ["destroy", "-r", base]))
            .unwrap()
            .success()
    );
    let mut input: &[u8] = &stream;
    let o = b
        .pipe(
            &Cmd::new(
                tools::ZFS,
                [
                    "receive",
                    "-o",
                    "mountpoint=/usr/local/jails/.bases/14.3-RELEASE",
                    base,
                ],
            ),
            Some(&mut input),
            None,
            Duration::from_secs(60),
        )
        .unwrap();
    assert!(o.success(), "{}", o.stderr);
}

fn export(two: &Two, extra: &[&str]) -> PathBuf {
    let file = two.dir.join("db.tar.xz");
    let out = jailctl(&two.a, &two.a_cfg)
        .args(["export", "db", "-o"])
        .arg(&file)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    file
}

fn import_fails(two: &Two, file: &Path, extra: &[&str]) -> String {
    let out = jailctl(&two.b, &two.b_cfg)
        .arg("import")
        .arg(file)
        .args(extra)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the import was expected to fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Imported on B and started: the files and jailctl's properties are A's.
fn check_round_trip(two: &Two) {
    let out = jailctl(&two.b, &two.b_cfg)
        .args(["up", "db"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(local(&two.b, "/usr/local/jails/db/etc/motd")).unwrap(),
        "db on host A\n"
    );
    assert_eq!(
        std::fs::read_to_string(local(&two.b, "/usr/local/jails/.volumes/db/pgdata/table"))
            .unwrap(),
        "rows\n"
    );
    let props = "jailctl:managed,jailctl:spec,jailctl:parts,jailctl:provisioned,quota";
    assert_eq!(get(&two.a, props, ROOT), get(&two.b, props, ROOT));
    assert_eq!(
        get(&two.a, "jailctl:managed,quota", VOL),
        get(&two.b, "jailctl:managed,quota", VOL)
    );
    // The definition written is the resolved one: it stands alone on B.
    let def = std::fs::read_to_string(two.b_cfg.join("jails/db.toml")).unwrap();
    assert!(
        def.contains("[network]") && def.contains("192.168.1.21/24"),
        "{def}"
    );
    // No export snapshot is left on either host.
    for h in [&two.a, &two.b] {
        let o = zfs(
            h,
            &[
                "list",
                "-H",
                "-o",
                "name",
                "-t",
                "snapshot",
                "-r",
                "zroot/jailctl",
            ],
        );
        assert!(!o.stdout.contains("jailctl-export-"), "{}", o.stdout);
    }
}

#[test]
fn round_trip_incremental_against_a_replicated_base() {
    let two = two_hosts();
    replicate_base(&two);
    let file = export(&two, &[]);
    let out = jailctl_loud(&two.b, &two.b_cfg)
        .args(["import"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("root incremental against 14.3-RELEASE@20260101-000000"),
        "{said}"
    );
    // Left stopped, received as a clone of B's copy of the base.
    let o = SimHost::open_with(&two.b, SimConfig::default())
        .unwrap()
        .snapshot()
        .unwrap();
    assert!(o.jail.jails.is_empty());
    assert_eq!(
        zfs(&two.b, &["get", "-H", "-o", "value", "origin", ROOT]).stdout,
        format!("{BASE_SNAP}\n")
    );
    check_round_trip(&two);
}

#[test]
fn round_trip_full_to_a_host_with_its_own_base() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    // Without --full the root needs the exact base snapshot, which B made itself.
    let inc = two.dir.join("inc.tar.xz");
    jailctl(&two.a, &two.a_cfg)
        .args(["export", "db", "-o"])
        .arg(&inc)
        .assert()
        .success();
    let before = fingerprint(&two.b);
    let e = import_fails(&two, &inc, &[]);
    assert!(
        e.contains("exported incrementally against") && e.contains("--full"),
        "{e}"
    );
    assert_same(&before, &fingerprint(&two.b));
    let out = jailctl_loud(&two.b, &two.b_cfg)
        .args(["import"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("root full"));
    assert_eq!(
        zfs(&two.b, &["get", "-H", "-o", "value", "origin", ROOT]).stdout,
        "-\n"
    );
    check_round_trip(&two);
}

#[test]
fn through_a_pipe_from_stdout_to_stdin() {
    let two = two_hosts();
    let out = jailctl(&two.a, &two.a_cfg)
        .args(["export", "db", "--full"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.len() > 100);
    jailctl(&two.b, &two.b_cfg)
        .args(["import", "-"])
        .write_stdin(out.stdout)
        .assert()
        .success();
    check_round_trip(&two);
}

#[test]
fn damaged_truncated_and_foreign_archives_leave_nothing() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    let bytes = std::fs::read(&file).unwrap();
    let before = fingerprint(&two.b);
    let cfg_before = std::fs::read_dir(two.b_cfg.join("jails")).unwrap().count();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() * 2 / 3].to_vec()),
        ("cut by one byte", bytes[..bytes.len() - 1].to_vec()),
        ("damaged", {
            let mut d = bytes.clone();
            let mid = d.len() / 2;
            for b in &mut d[mid..mid + 16] {
                *b ^= 0x5a;
            }
            d
        }),
        ("not an archive", b"this is not an archive".to_vec()),
        ("empty", Vec::new()),
    ];
    for (what, data) in cases {
        let f = two.dir.join(format!("{what}.tar.xz"));
        std::fs::write(&f, data).unwrap();
        let e = import_fails(&two, &f, &[]);
        assert!(
            e.contains("damaged or incomplete") || e.contains("checksum"),
            "{what}: {e}"
        );
        assert!(
            e.contains("Nothing was changed") || e.contains("nothing was changed"),
            "{what}: {e}"
        );
        assert_same(&before, &fingerprint(&two.b));
        assert_eq!(
            std::fs::read_dir(two.b_cfg.join("jails")).unwrap().count(),
            cfg_before
        );
    }
}

/// This host's side of unpacking failing (here, no temporary directory) is said as such,
/// with the fix; it is not called a damaged archive, which would send the user to export
/// it again.
#[test]
fn an_unusable_temporary_directory_is_not_called_a_damaged_archive() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    let before = fingerprint(&two.b);
    let tmp = two.dir.join("no-such-tmp");
    let out = jailctl(&two.b, &two.b_cfg)
        .arg("import")
        .arg(&file)
        .env("TMPDIR", &tmp)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains(&format!("cannot unpack the archive into {}", tmp.display())),
        "{e}"
    );
    assert!(e.contains("No such file or directory"), "{e}");
    assert!(e.contains("point TMPDIR at a directory"), "{e}");
    assert!(!e.contains("damaged"), "{e}");
    assert_same(&before, &fingerprint(&two.b));
}

/// An archive whose stream does not match the manifest's checksum: the xz and tar layers
/// are intact, the content is not.
#[test]
fn a_stream_that_does_not_match_its_checksum_is_refused() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    let mut m = members(&file);
    let root = m.iter_mut().find(|(n, _)| n == "root.zfs").unwrap();
    let mid = root.1.len() / 2;
    root.1[mid] ^= 1;
    let bad = two.dir.join("bad.tar.xz");
    write_members(&bad, &m);
    let before = fingerprint(&two.b);
    let e = import_fails(&two, &bad, &[]);
    assert!(
        e.contains("root.zfs in the archive does not match its checksum"),
        "{e}"
    );
    assert_same(&before, &fingerprint(&two.b));
}

#[test]
fn a_name_in_use_is_refused_and_name_imports_under_another() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    // On A itself `db` is taken.
    let out = jailctl(&two.a, &two.a_cfg)
        .arg("import")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("refusing to add jail `db`") && e.contains("--name"),
        "{e}"
    );
    // Under another name on A the definition clashes with db's fixed address.
    let before = fingerprint(&two.a);
    let out = jailctl(&two.a, &two.a_cfg)
        .args(["import", "--name", "db2"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("does not validate"), "{e}");
    assert_same(&before, &fingerprint(&two.a));
    assert!(!two.a_cfg.join("jails/db2.toml").exists());
    // With a new address it fits beside db on A, and starts there too.
    jailctl(&two.a, &two.a_cfg)
        .args(["import", "--name", "db2", "--ip4", "192.168.1.29/24"])
        .arg(&file)
        .assert()
        .success();
    let def = std::fs::read_to_string(two.a_cfg.join("jails/db2.toml")).unwrap();
    assert!(
        def.contains("192.168.1.29/24") && !def.contains("192.168.1.21/24"),
        "{def}"
    );
    jailctl(&two.a, &two.a_cfg)
        .args(["up", "db2"])
        .assert()
        .success();
    // On B under a new name: its own datasets and definition.
    jailctl(&two.b, &two.b_cfg)
        .args(["import", "--name", "db2"])
        .arg(&file)
        .assert()
        .success();
    assert!(two.b_cfg.join("jails/db2.toml").exists());
    assert_eq!(
        std::fs::read_to_string(local(&two.b, "/usr/local/jails/.volumes/db2/pgdata/table"))
            .unwrap(),
        "rows\n"
    );
    jailctl(&two.b, &two.b_cfg)
        .args(["up", "db2"])
        .assert()
        .success();
}

#[test]
fn a_receive_that_fails_half_way_is_undone() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    let before = fingerprint(&two.b);
    // The volume's receive fails after the root's succeeded.
    std::fs::write(
        two.b.join("faults.toml"),
        "[[fault]]\ncommand = \"zfs receive * zroot/jailctl/volumes/db/pgdata\"\nstatus = 1\nstderr = \"cannot receive new filesystem stream: out of space\\n\"\n",
    )
    .unwrap();
    let e = import_fails(&two, &file, &[]);
    std::fs::remove_file(two.b.join("faults.toml")).unwrap();
    assert!(e.contains("out of space") && e.contains("undone"), "{e}");
    let after = fingerprint(&two.b);
    // The layout the import made for the volumes' parent is taken back too; only the
    // history of commands differs.
    assert_same(&before, &after);
    assert!(!two.b_cfg.join("jails/db.toml").exists());
}

/// `jailctl export` on a real ZFS (zfs-fuse, through real-ZFS mode): the snapshot, `get -s
/// local`, `send -i ORIGIN` and `send` forms it runs are accepted, the archive's checksums
/// are those of the streams, the streams are ones the real `zfs receive` takes (the full
/// root on its own; the incremental root onto a copy of its base snapshot), and the export
/// snapshots are gone afterwards. The jail has no volume here: zfs-fuse's `zfs snapshot`
/// takes one operand only ("too many arguments"), where OpenZFS takes several at once; the
/// volume's stream is covered on the simulator. `import` itself is not run there either:
/// zfs-fuse's `zfs receive` has no `-o` (it answers "invalid option 'o'").
#[test]
fn export_on_real_zfs_writes_streams_the_real_zfs_receives() {
    use super::real_zfs::{Real, real_pool};
    use jailctl::host::HostFs;
    let Some(pool) = real_pool("export_on_real_zfs_writes_streams_the_real_zfs_receives") else {
        return;
    };
    let r = Real::new(&pool);
    let b = r.base.clone();
    let mut global = jailctl_core::fixtures::global();
    global.zfs_root = b.clone();
    global.mount_root = "/jt".into();
    let base = format!("{b}/bases/14.3");
    r.ok(&["create", "-p", "-o", "mountpoint=/jt/.bases/14.3", &base]);
    r.host
        .write(
            Path::new("/jt/.bases/14.3/base.txt"),
            b"from the base\n",
            0o644,
        )
        .unwrap();
    r.ok(&["snapshot", &format!("{base}@p1")]);
    r.ok(&["create", "-o", "mountpoint=none", &format!("{b}/jails")]);
    let root = format!("{b}/jails/web");
    r.ok(&[
        "clone",
        "-o",
        "mountpoint=/jt/web",
        "-o",
        "jailctl:managed=yes",
        &format!("{base}@p1"),
        &root,
    ]);
    r.host
        .write(Path::new("/jt/web/motd"), b"the jail's own\n", 0o644)
        .unwrap();
    let mut spec = jailctl_core::fixtures::spec("web");
    spec.base = "14.3".into();
    let unpack = |archive: &[u8]| -> (jailctl::ops::archive::Manifest, Vec<(String, Vec<u8>)>) {
        let mut tar = tar::Archive::new(liblzma::read::XzDecoder::new(archive));
        let mut members = Vec::new();
        for e in tar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            members.push((name, data));
        }
        assert_eq!(members[0].0, "manifest.json");
        let m: jailctl::ops::archive::Manifest = serde_json::from_slice(&members[0].1).unwrap();
        for d in &m.datasets {
            let (_, data) = members.iter().find(|(n, _)| *n == d.file).unwrap();
            let mut h = jailctl::ops::archive::Hashing::new(std::io::sink());
            std::io::Write::write_all(&mut h, data).unwrap();
            assert_eq!(h.hex(), d.sha256, "{}", d.file);
        }
        (m, members)
    };
    let receive = |stream: &[u8], target: &str| {
        let mut input: &[u8] = stream;
        let o = r
            .host
            .pipe(
                &Cmd::new(tools::ZFS, ["receive", target]),
                Some(&mut input),
                None,
                Duration::from_secs(600),
            )
            .unwrap();
        assert!(o.success(), "zfs receive {target}: {}", o.stderr);
    };
    // Incremental: onto a copy of the base snapshot.
    let mut inc = Vec::new();
    let rep =
        jailctl::ops::export::export(&r.host, &spec, &global, "# web\n", false, false, &mut inc)
            .unwrap();
    let (m, members) = unpack(&inc);
    assert!(m.datasets[0].incremental && m.datasets.len() == 1);
    let real_guid = r.ok(&[
        "get",
        "-H",
        "-p",
        "-o",
        "value",
        "guid",
        &format!("{base}@p1"),
    ]);
    assert_eq!(m.base.as_ref().unwrap().guid.to_string(), real_guid.trim());
    assert!(
        rep.lines()[0].contains("incremental against 14.3@p1"),
        "{:?}",
        rep.lines()
    );
    let mut base_stream = Vec::new();
    let o = r
        .host
        .pipe(
            &Cmd::new(tools::ZFS, ["send", &format!("{base}@p1")]),
            None,
            Some(&mut base_stream),
            Duration::from_secs(600),
        )
        .unwrap();
    assert!(o.success(), "{}", o.stderr);
    receive(&base_stream, &format!("{b}/basecopy"));
    // The root's stream is a clone's: received under a new name, it becomes a clone of the
    // snapshot with its source's guid, found in the pool by that guid.
    receive(
        &members.iter().find(|(n, _)| n == "root.zfs").unwrap().1,
        &format!("{b}/inc"),
    );
    let origin = r.ok(&["get", "-H", "-o", "value", "origin", &format!("{b}/inc")]);
    assert!(
        [format!("{base}@p1"), format!("{b}/basecopy@p1")].contains(&origin.trim().to_string()),
        "{origin}"
    );
    assert_eq!(
        r.host.read(Path::new("/jt/inc/motd")).unwrap(),
        b"the jail's own\n"
    );
    // Full: on its own, and the volume.
    let mut full = Vec::new();
    jailctl::ops::export::export(&r.host, &spec, &global, "# web\n", true, false, &mut full)
        .unwrap();
    let (m, members) = unpack(&full);
    assert!(!m.datasets[0].incremental);
    receive(
        &members.iter().find(|(n, _)| n == "root.zfs").unwrap().1,
        &format!("{b}/full"),
    );
    assert_eq!(
        r.host.read(Path::new("/jt/full/base.txt")).unwrap(),
        b"from the base\n"
    );
    let snaps = r.ok(&["list", "-H", "-o", "name", "-t", "snapshot", "-r", &root]);
    assert!(!snaps.contains("jailctl-export-"), "{snaps}");
}

#[test]
fn a_failed_export_leaves_no_archive_and_no_snapshot() {
    let two = two_hosts();
    let before = fingerprint(&two.a);
    std::fs::write(
        two.a.join("faults.toml"),
        "[[fault]]\ncommand = \"zfs send zroot/jailctl/volumes/db/pgdata@*\"\nstatus = 1\nstderr = \"warning: cannot send: I/O error\\n\"\n",
    )
    .unwrap();
    let file = two.dir.join("db.tar.xz");
    let out = jailctl(&two.a, &two.a_cfg)
        .args(["export", "db", "-o"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(two.a.join("faults.toml")).unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("I/O error") && e.contains("nothing was exported"),
        "{e}"
    );
    assert!(!file.exists() && !two.dir.join("db.tar.xz.partial").exists());
    assert_same(&before, &fingerprint(&two.a));
}

/// An import killed (SIGKILL) right after each of its changes but the last, then run again:
/// the second run undoes what the first left (its journal) and imports; the host ends as a
/// clean import leaves it. (Killed after its last host command, an import may have finished,
/// and running it again is refused as the name is then taken, as it should be.)
#[test]
fn an_import_killed_half_way_is_undone_by_the_next() {
    use super::support::TestHost;
    use super::support::kill::{Series, check};
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    let template = TestHost::examples();
    std::fs::remove_file(template.cfg().join("jails/db.toml")).unwrap();
    std::fs::copy(&file, template.dir.path().join("db.tar.xz")).unwrap();
    let s = Series {
        what: "import db.tar.xz",
        args: &["import", "db.tar.xz"],
        reference: None,
        template,
    };
    for after in [
        "zfs create -o mountpoint=none zroot/jailctl/volumes/db",
        "zfs receive",
        "zfs destroy zroot/jailctl/jails/db@",
    ] {
        check(s.run_after(after, 2));
    }
}

/// The archive's members, for a test to change and write back as another archive.
fn members(file: &Path) -> Vec<(String, Vec<u8>)> {
    let mut tar = tar::Archive::new(liblzma::read::XzDecoder::new(
        std::fs::File::open(file).unwrap(),
    ));
    let mut out = Vec::new();
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let name = e.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut data).unwrap();
        out.push((name, data));
    }
    out
}

fn write_members(to: &Path, members: &[(String, Vec<u8>)]) {
    let mut b = tar::Builder::new(liblzma::write::XzEncoder::new(
        std::fs::File::create(to).unwrap(),
        1,
    ));
    for (n, d) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(d.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, n, d.as_slice()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// `file` written again to `to` with its manifest changed by `edit`.
fn with_manifest(file: &Path, to: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut m = members(file);
    let at = m.iter().position(|(n, _)| n == "manifest.json").unwrap();
    let mut manifest: serde_json::Value = serde_json::from_slice(&m[at].1).unwrap();
    edit(&mut manifest);
    m[at].1 = serde_json::to_vec(&manifest).unwrap();
    write_members(to, &m);
}

#[test]
fn another_format_version_and_foreign_members_are_refused() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    let before = fingerprint(&two.b);
    let v2 = two.dir.join("v2.tar.xz");
    with_manifest(&file, &v2, |m| m["format"] = 2.into());
    let e = import_fails(&two, &v2, &[]);
    assert!(
        e.contains("format version 2") && e.contains("reads version 1"),
        "{e}"
    );
    let mut m = members(&file);
    m.push(("etc/passwd".into(), b"x".to_vec()));
    let evil = two.dir.join("evil.tar.xz");
    write_members(&evil, &m);
    let e = import_fails(&two, &evil, &[]);
    assert!(e.contains("unexpected member"), "{e}");
    assert_same(&before, &fingerprint(&two.b));
}

/// An export killed (SIGKILL) while it sends leaves its snapshots; the next export of the jail
/// destroys them first (it holds the jail's lock, so they cannot be another export's), and
/// leaves a snapshot a person labelled `export-...` alone.
#[test]
fn the_snapshots_of_a_killed_export_are_destroyed_by_the_next() {
    use super::support::TestHost;
    use super::support::kill::{When, kill};
    let h = TestHost::examples();
    h.ok(&["up", "db"]);
    h.ok(&["snapshot", "create", "db", "export-mine"]);
    let args = ["export", "db", "--full", "-o", "out.tar.xz"];
    let k = kill(&h, &args, When::After("zfs send"));
    assert!(k.running, "the export had finished");
    let snaps = |h: &TestHost| {
        zfs(
            &h.sim(),
            &[
                "list",
                "-H",
                "-o",
                "name",
                "-t",
                "snapshot",
                "-r",
                "zroot/jailctl/jails/db",
            ],
        )
        .stdout
    };
    let left = snaps(&h);
    assert!(left.contains("@jailctl-export-2"), "{left}");
    assert!(!h.dir.path().join("out.tar.xz").exists());
    h.ok(&args);
    let after = snaps(&h);
    assert!(!after.contains("@jailctl-export-2"), "{after}");
    assert!(after.contains("@jailctl-export-mine"), "{after}");
    assert!(h.dir.path().join("out.tar.xz").exists());
}

/// An archive whose definition cannot take a new `--hostname` (it is not TOML; an archive
/// edited by hand, say) is refused with that named, before any change.
#[test]
fn a_definition_that_cannot_take_a_new_hostname_is_refused() {
    let two = two_hosts();
    let file = export(&two, &["--full"]);
    let before = fingerprint(&two.b);
    let bad = two.dir.join("bad-definition.tar.xz");
    with_manifest(&file, &bad, |m| {
        m["definition_toml"] = "hostname = [unclosed".into()
    });
    let e = import_fails(&two, &bad, &["--hostname", "db2.example.org"]);
    assert!(
        e.contains("the archive's definition cannot take the new address or hostname"),
        "{e}"
    );
    assert!(e.contains("it is not valid TOML"), "{e}");
    assert!(
        e.contains("import it without --ip4/--ip6/--hostname"),
        "{e}"
    );
    assert_same(&before, &fingerprint(&two.b));
}
