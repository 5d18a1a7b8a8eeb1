//! Bases: the read-only root filesystems jails are cloned from. A base is the ZFS dataset
//! `<zfs_root>/bases/<name>`, mounted under `<mount_root>/.bases/<name>`, filled from FreeBSD
//! distribution sets and frozen in snapshots; a jail's root is a clone of one of them.
//!
//! `create` and `update` fetch the sets ([`fetch`]), check each against its SHA-256
//! ([`manifest`], or a digest the user pinned), unpack them safely ([`extract`]) and take a
//! snapshot with a fresh name, so a failed run can simply be run again. Everything is done
//! through the [`Host`] seam; a failure part-way undoes what the run did (destroys the
//! half-made dataset, or rolls an update back to the previous snapshot) and says so.
//!
//! What jailctl records on the dataset: `jailctl:managed=yes`, `jailctl:release` (read from
//! the extracted `bin/freebsd-version`) and `jailctl:source` (the directory or URL).
//!
//! Each run is journaled ([`journal`]): a run killed part-way is undone (`create`, `update`)
//! or finished (`destroy`) by the next `create`, `update` or `destroy` of the same base.

pub mod extract;
pub mod fetch;
pub mod journal;
mod listing;
pub mod manifest;

pub use listing::{BaseInfo, SnapshotInfo, list, parse_bases, parse_get_nvp};

mod create;
mod destroy;
mod sets;
mod update;

pub use create::create;
pub use destroy::destroy;
pub use sets::{SetsRequest, VerifiedSet, prepare_sets};
pub use update::update;

use crate::config::Global;
use crate::host::{Cmd, Host, Output, ProcessError, tools};
use extract::{ExtractError, ExtractOptions, ExtractStats};
use fetch::{FetchError, Source};
use manifest::Sha256Digest;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where downloaded sets are kept between runs (a host path).
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/jailctl/sets";

/// User properties jailctl sets on a base.
pub const PROP_MANAGED: &str = crate::config::layout::props::MANAGED;
pub const PROP_RELEASE: &str = "jailctl:release";
pub const PROP_SOURCE: &str = "jailctl:source";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BaseError {
    #[error("cannot lock base `{name}`: {cause}")]
    Lock {
        name: String,
        #[source]
        #[diagnostic_source]
        cause: crate::apply::LockError,
    },
    #[error("cannot prepare the host for bases: {0}")]
    Layout(
        #[from]
        #[diagnostic_source]
        crate::apply::layout::LayoutError,
    ),
    #[error("`{name}` is not a valid base name: {reason}")]
    #[diagnostic(help(
        "use letters, digits, `_`, `-` and `.`, starting with a letter or digit (e.g. 14.2-RELEASE)"
    ))]
    BadName { name: String, reason: String },
    #[error("`{set}` is not a valid set name")]
    #[diagnostic(help("sets are named like base, lib32, base-dbg"))]
    BadSet { set: String },
    #[error("--sha256 names set `{set}`, which is not among the sets to install ({sets})")]
    #[diagnostic(help("add it with --sets, or fix the set name"))]
    StrayChecksum { set: String, sets: String },
    #[error("no checksum for {set}.txz: {why}")]
    #[diagnostic(help(
        "pass the expected digest with --sha256 {set}=<64 hex digits> (from the release announcement or a CHECKSUM file you trust)"
    ))]
    NoChecksum { set: String, why: String },
    #[error("base `{name}` already exists ({dataset})")]
    #[diagnostic(help(
        "to refresh it from new sets, run `jailctl base update {name} --from SOURCE`"
    ))]
    AlreadyExists { name: String, dataset: String },
    #[error("base `{name}` does not exist ({dataset})")]
    #[diagnostic(help("`jailctl base list` shows the bases there are"))]
    NotFound { name: String, dataset: String },
    #[error(
        "{dataset} was not created by jailctl ({PROP_MANAGED} is not `yes`); jailctl leaves it alone"
    )]
    #[diagnostic(help("if you mean it, manage that dataset with zfs(8) directly"))]
    NotManaged { dataset: String },
    #[error(
        "refusing to destroy base `{name}`: jailctl did not create {} below it: {}. Nothing was destroyed", if .foreign.len() == 1 { "this dataset" } else { "these datasets" }, .foreign.join(", ")
    )]
    #[diagnostic(help(
        "`zfs destroy -r` would take them along; move them away (`zfs rename`) or destroy them yourself, then run again"
    ))]
    NotOwned { name: String, foreign: Vec<String> },
    #[error("cannot destroy base `{name}`: {} on its snapshots: {}", if dependents.len() == 1 { "1 dataset depends".to_string() } else { format!("{} datasets depend", dependents.len()) }, dependents.join(", "))]
    #[diagnostic(help(
        "destroy or re-create those jails on another base first (`jailctl base list` shows which jail uses which snapshot)"
    ))]
    InUse {
        name: String,
        dependents: Vec<String>,
    },
    #[error("{dir} is not empty, and it is where base `{name}` would be mounted")]
    #[diagnostic(help("move its contents away, or remove the directory"))]
    MountpointBusy { name: String, dir: String },
    #[error(
        "{dataset} is not mounted (mountpoint {mountpoint}), so there is nowhere to extract into"
    )]
    #[diagnostic(help("mount it with `zfs mount {dataset}` and try again"))]
    NotMounted { dataset: String, mountpoint: String },
    #[error("{dataset} has no snapshot to roll back to if the update fails")]
    #[diagnostic(help(
        "snapshot it first (`zfs snapshot {dataset}@before-update`) or destroy and re-create the base"
    ))]
    NoSnapshot { dataset: String },
    #[error("{action}: {cause}")]
    Zfs {
        action: String,
        #[source]
        cause: Box<ProcessError>,
    },
    #[error("cannot parse `zfs` output: {line:?}")]
    ZfsOutput { line: String },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Extract(#[from] ExtractError),
    #[error("cannot {what} {}: {cause}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error(
        "base `{name}` ({dataset}): an interrupted `base {op}` could not be put right: {report}"
    )]
    #[diagnostic(help(
        "fix what failed by hand (`zfs list -t all -r {dataset}` shows the base), then delete the journal and run the command again"
    ))]
    Recover {
        name: String,
        dataset: String,
        op: String,
        report: String,
    },
    #[error("{error}\n  undo: {undo}")]
    #[diagnostic(help("{help}"))]
    Undone {
        #[source]
        error: Box<BaseError>,
        undo: String,
        help: String,
    },
}

pub use crate::config::layout::base_dataset;

/// The parent dataset of all bases.
pub fn bases_parent(global: &Global) -> String {
    format!("{}/bases", global.zfs_root)
}

/// Where bases are mounted: `<mount_root>/.bases` (no jail can be named `.bases`).
pub fn bases_mount_dir(global: &Global) -> PathBuf {
    global.mount_root.join(".bases")
}

/// Base names: a letter or digit, then letters, digits, `_`, `-`, `.` (dots are common in
/// release names and legal in ZFS), never `..`.
pub fn validate_base_name(name: &str) -> Result<(), BaseError> {
    let bad = |reason: &str| {
        Err(BaseError::BadName {
            name: name.to_string(),
            reason: reason.to_string(),
        })
    };
    let Some(first) = name.chars().next() else {
        return bad("it is empty");
    };
    if !first.is_ascii_alphanumeric() {
        return bad("it must start with a letter or digit");
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "_-.".contains(*c)))
    {
        return bad(&format!("`{c}` is not allowed"));
    }
    if name.contains("..") {
        return bad("`..` is not allowed");
    }
    if name.len() > 64 {
        return bad("it is longer than 64 characters");
    }
    Ok(())
}

/// What `create` or `update` made.
#[derive(Clone, Debug, Serialize)]
pub struct Made {
    pub name: String,
    pub dataset: String,
    /// Full snapshot name (`zroot/jailctl/bases/14.2@20250101-120000`).
    pub snapshot: String,
    pub release: String,
    pub mountpoint: PathBuf,
    pub files: u64,
    pub bytes: u64,
}

fn zfs_cmd<I, S>(args: I) -> Cmd
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    Cmd::new(tools::ZFS, args)
}

fn run(host: &dyn Host, action: &str, cmd: Cmd) -> Result<Output, BaseError> {
    host.run(&cmd).map_err(|source| BaseError::Zfs {
        action: action.to_string(),
        cause: Box::new(source),
    })
}

/// Whether a dataset exists (`zfs list`); other failures are errors.
pub fn dataset_exists(host: &dyn Host, dataset: &str) -> Result<bool, BaseError> {
    let cmd = zfs_cmd(["list", "-H", "-o", "name", dataset]);
    let out = host.output(&cmd).map_err(|source| BaseError::Zfs {
        action: format!("cannot check whether {dataset} exists"),
        cause: Box::new(source),
    })?;
    if out.success() {
        return Ok(true);
    }
    if out.stderr.contains("dataset does not exist") {
        return Ok(false);
    }
    Err(BaseError::Zfs {
        action: format!("cannot check whether {dataset} exists"),
        cause: Box::new(ProcessError::Failed {
            cmd,
            status: out.status,
            stdout: out.stdout,
            stderr: out.stderr,
        }),
    })
}

/// Values of properties of one dataset ([`get_props_with_source`] without the sources).
fn get_props(
    host: &dyn Host,
    dataset: &str,
    props: &[&str],
) -> Result<BTreeMap<String, String>, BaseError> {
    Ok(get_props_with_source(host, dataset, props)?
        .into_iter()
        .map(|(k, v)| (k, v.value))
        .collect())
}

/// A snapshot name for now, unique among `existing` (short names): `YYYYMMDD-HHMMSS`, with
/// `-2`, `-3`... when one of that second already exists.
pub fn unique_snapshot_name(existing: &[String], now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let stem = format_utc(secs);
    if !existing.contains(&stem) {
        return stem;
    }
    (2..)
        .map(|i| format!("{stem}-{i}"))
        .find(|c| !existing.contains(c))
        .expect("an unused suffix exists")
}

/// `YYYYMMDD-HHMMSS` in UTC for seconds since the epoch.
fn format_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The release of an extracted base: `USERLAND_VERSION` from `bin/freebsd-version`, else a
/// `NN.N-SOMETHING` component of the source, else `unknown`.
pub fn detect_release(root: &Path, source: &Source) -> String {
    if let Ok(text) = std::fs::read_to_string(root.join("bin/freebsd-version")) {
        for line in text.lines() {
            if let Some(v) = line.trim().strip_prefix("USERLAND_VERSION=") {
                let v = v.trim_matches('"');
                if !v.is_empty() && !v.contains('$') {
                    return v.to_string();
                }
            }
        }
    }
    let text = source.display();
    text.split('/')
        .rev()
        .find(|c| {
            let (num, rest) = c.split_once('-').unwrap_or(("", ""));
            !rest.is_empty()
                && num.split('.').count() == 2
                && num
                    .split('.')
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        })
        .map_or_else(|| "unknown".to_string(), str::to_string)
}

/// Short names of the snapshots of `dataset`, oldest first.
fn snapshots_of(host: &dyn Host, dataset: &str) -> Result<Vec<String>, BaseError> {
    let out = run(
        host,
        &format!("cannot list snapshots of {dataset}"),
        zfs_cmd([
            "list", "-H", "-o", "name", "-t", "snapshot", "-s", "creation", "-d", "1", dataset,
        ]),
    )?;
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('@').map(|(_, s)| s.to_string()))
        .collect())
}

/// Require the dataset to be mounted and return its local mountpoint directory.
fn mounted_root(host: &dyn Host, dataset: &str) -> Result<(PathBuf, PathBuf), BaseError> {
    let props = get_props(host, dataset, &["mountpoint", "mounted"])?;
    let mp = props.get("mountpoint").cloned().unwrap_or_default();
    if props.get("mounted").map(String::as_str) != Some("yes") || !mp.starts_with('/') {
        return Err(BaseError::NotMounted {
            dataset: dataset.to_string(),
            mountpoint: mp,
        });
    }
    let host_path = PathBuf::from(&mp);
    let local = host.local_path(&host_path);
    std::fs::create_dir_all(&local).map_err(|source| BaseError::Io {
        what: "create the mountpoint".into(),
        path: local.clone(),
        cause: source,
    })?;
    Ok((host_path, local))
}

fn extract_all(
    sets: &[VerifiedSet],
    local: &Path,
    opts: ExtractOptions,
) -> Result<ExtractStats, BaseError> {
    let mut total = ExtractStats::default();
    for s in sets {
        tracing::info!(set = %s.set, into = %local.display(), "extracting");
        let st = extract::extract_txz(&s.path, local, opts)?;
        total.files += st.files;
        total.dirs += st.dirs;
        total.symlinks += st.symlinks;
        total.hardlinks += st.hardlinks;
        total.bytes += st.bytes;
    }
    Ok(total)
}

/// Extract the verified sets into the base's mounted root, record what it holds and snapshot
/// it: the part `create` and `update` share. With `journal` (update), each property change and
/// the snapshot are journaled with their undo first; `create` needs none (its undo destroys
/// the whole dataset).
fn fill(
    host: &dyn Host,
    req: &SetsRequest,
    sets: &[VerifiedSet],
    dataset: &str,
    mountpoint: PathBuf,
    local: &Path,
    journal: Option<(&mut journal::Journal, &BTreeMap<String, PropValue>)>,
) -> Result<Made, BaseError> {
    let stats = extract_all(sets, local, req.extract)?;
    let release = detect_release(local, &req.source);
    let snapshot = finish(host, dataset, &release, &req.source, journal)?;
    Ok(Made {
        name: req.name.clone(),
        dataset: dataset.to_string(),
        snapshot,
        release,
        mountpoint,
        files: stats.files,
        bytes: stats.bytes,
    })
}

/// A property's value and where it comes from (`local`, `inherited from ...`, `default`, `-`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropValue {
    pub value: String,
    pub source: String,
}

/// The command that gives `prop` on `dataset` back the value `old` (set locally again, or
/// inherited again when it was not set on the dataset itself).
fn restore_prop(dataset: &str, prop: &str, old: Option<&PropValue>) -> Cmd {
    match old {
        Some(v) if v.source == "local" => zfs_cmd([
            "set".to_string(),
            format!("{prop}={}", v.value),
            dataset.to_string(),
        ]),
        _ => zfs_cmd(["inherit", prop, dataset]),
    }
}

/// Values and sources of properties of one dataset.
fn get_props_with_source(
    host: &dyn Host,
    dataset: &str,
    props: &[&str],
) -> Result<BTreeMap<String, PropValue>, BaseError> {
    let get = crate::host::zfs::Get::new(props.iter().copied(), [dataset]);
    let out = run(
        host,
        &format!("cannot read properties of {dataset}"),
        get.cmd(),
    )?;
    let rows = crate::host::zfs::parse_rows(&out.stdout, true)
        .map_err(|e| BaseError::ZfsOutput { line: e.text })?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.property.to_string(),
                PropValue {
                    value: r.value.to_string(),
                    source: r.source.to_string(),
                },
            )
        })
        .collect())
}

/// Run `cmd`; with a journal, record `undo` first and mark it done after.
fn journaled(
    host: &dyn Host,
    journal: &mut Option<&mut journal::Journal>,
    action: &str,
    cmd: Cmd,
    undo: Vec<journal::BaseUndo>,
) -> Result<Output, BaseError> {
    if let Some(j) = journal.as_deref_mut() {
        j.record(host, cmd.to_string(), undo)?;
    }
    let out = run(host, action, cmd)?;
    if let Some(j) = journal.as_deref_mut() {
        j.done(host)?;
    }
    Ok(out)
}

/// Record the release and source, then snapshot with a fresh name. The snapshot carries the
/// same two properties, set by the `zfs snapshot` that makes it, so what a snapshot says it
/// holds is always what it holds.
fn finish(
    host: &dyn Host,
    dataset: &str,
    release: &str,
    source: &Source,
    journal: Option<(&mut journal::Journal, &BTreeMap<String, PropValue>)>,
) -> Result<String, BaseError> {
    let (mut journal, old) = match journal {
        Some((j, old)) => (Some(j), Some(old)),
        None => (None, None),
    };
    // One property per `zfs set`: older ZFS releases (zfs-fuse among them) take only one.
    for (prop, value) in [
        (PROP_RELEASE, release.to_string()),
        (PROP_SOURCE, source.display()),
    ] {
        let undo = old
            .map(|o| journal::BaseUndo::Run {
                cmd: restore_prop(dataset, prop, o.get(prop)),
                best_effort: false,
            })
            .into_iter()
            .collect();
        journaled(
            host,
            &mut journal,
            &format!("cannot record the release on {dataset}"),
            zfs_cmd([
                "set".to_string(),
                format!("{prop}={value}"),
                dataset.to_string(),
            ]),
            undo,
        )?;
    }
    let existing = snapshots_of(host, dataset)?;
    let snap = format!(
        "{dataset}@{}",
        unique_snapshot_name(&existing, std::time::SystemTime::now())
    );
    journaled(
        host,
        &mut journal,
        &format!("cannot snapshot {dataset}"),
        zfs_cmd([
            "snapshot".to_string(),
            "-o".into(),
            format!("{PROP_RELEASE}={release}"),
            "-o".into(),
            format!("{PROP_SOURCE}={}", source.display()),
            snap.clone(),
        ]),
        vec![journal::BaseUndo::Run {
            cmd: zfs_cmd(["destroy", snap.as_str()]),
            best_effort: false,
        }],
    )?;
    Ok(snap)
}

/// Finish or undo a run on base `name` that was killed, saying so. The caller holds the
/// base's lock.
fn recover_first(host: &dyn Host, name: &str) -> Result<Option<journal::Recovered>, BaseError> {
    let r = journal::recover(host, name)?;
    if let Some(r) = &r {
        tracing::warn!("base `{name}`: {r}");
    }
    Ok(r)
}

/// The base's lock, exclusive: `create`, `update` and `destroy` of one base take turns, and
/// wait for clones being taken from it (which hold it shared, see [`crate::apply::lock`]).
fn lock_base(host: &dyn Host, name: &str) -> Result<crate::apply::Held<'static>, BaseError> {
    use crate::apply::lock::{Held, LockKey, Mode};
    Held::acquire(
        host,
        &[(LockKey::Base(name.into()), Mode::Exclusive)],
        |k| tracing::warn!("{k} is locked by another jailctl; waiting"),
    )
    .map_err(|cause| BaseError::Lock {
        name: name.to_string(),
        cause,
    })
}

fn require_managed(host: &dyn Host, name: &str, dataset: &str) -> Result<(), BaseError> {
    if !dataset_exists(host, dataset)? {
        return Err(BaseError::NotFound {
            name: name.to_string(),
            dataset: dataset.to_string(),
        });
    }
    let props = get_props(host, dataset, &[PROP_MANAGED])?;
    if props.get(PROP_MANAGED).map(String::as_str) != Some("yes") {
        return Err(BaseError::NotManaged {
            dataset: dataset.to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn global() -> Global {
        Global {
            zfs_root: "zroot/jailctl".into(),
            mount_root: "/usr/local/jails".into(),
            default_base: None,
            parallelism: None,
            shutdown_timeout: Duration::from_secs(60),
            deadlines: Default::default(),
            dying_wait: std::time::Duration::from_secs(10),
            bridges: BTreeMap::new(),
            networks: BTreeMap::new(),
        }
    }

    #[test]
    fn names() {
        assert!(validate_base_name("14.2-RELEASE").is_ok());
        assert!(validate_base_name("base_1").is_ok());
        for bad in ["", ".hidden", "a/b", "a@b", "a..b", "a b", "-x"] {
            assert!(validate_base_name(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(base_dataset(&global(), "14.2"), "zroot/jailctl/bases/14.2");
        assert_eq!(
            bases_mount_dir(&global()),
            PathBuf::from("/usr/local/jails/.bases")
        );
    }

    #[test]
    fn snapshot_names_are_utc_and_unique() {
        // 2024-02-29 23:59:58 UTC
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_198);
        assert_eq!(unique_snapshot_name(&[], t), "20240229-235958");
        let existing = vec![
            "20240229-235958".to_string(),
            "20240229-235958-2".to_string(),
        ];
        assert_eq!(unique_snapshot_name(&existing, t), "20240229-235958-3");
        assert_eq!(format_utc(0), "19700101-000000");
    }

    #[test]
    fn release_from_freebsd_version_or_source() {
        let d = tempfile::tempdir().unwrap();
        let src = Source::Url("https://example.org/releases/amd64/14.2-RELEASE/".into());
        assert_eq!(detect_release(d.path(), &src), "14.2-RELEASE");
        std::fs::create_dir(d.path().join("bin")).unwrap();
        std::fs::write(
            d.path().join("bin/freebsd-version"),
            "#!/bin/sh\nUSERLAND_VERSION=\"14.2-RELEASE-p1\"\n",
        )
        .unwrap();
        assert_eq!(detect_release(d.path(), &src), "14.2-RELEASE-p1");
        let other = tempfile::tempdir().unwrap();
        assert_eq!(
            detect_release(other.path(), &Source::Dir("/srv/sets".into())),
            "unknown"
        );
    }

    #[test]
    fn list_joins_snapshots_and_their_clones() {
        let bases = "zroot/jailctl/bases\ttype\tfilesystem\n\
zroot/jailctl/bases\tmountpoint\t/usr/local/jails/.bases\n\
zroot/jailctl/bases/14.2\ttype\tfilesystem\n\
zroot/jailctl/bases/14.2\tjailctl:managed\tyes\n\
zroot/jailctl/bases/14.2\tjailctl:release\t14.2-RELEASE-p1\n\
zroot/jailctl/bases/14.2\tjailctl:source\thttps://example.org/14.2-RELEASE/\n\
zroot/jailctl/bases/14.2\tmountpoint\t/usr/local/jails/.bases/14.2\n\
zroot/jailctl/bases/14.2\tcreation\t1700000000\n\
zroot/jailctl/bases/14.2@20240101-000000\ttype\tsnapshot\n\
zroot/jailctl/bases/14.2@20240101-000000\tcreation\t1704067200\n\
zroot/jailctl/bases/14.2@20240101-000000\tjailctl:release\t14.2-RELEASE\n\
zroot/jailctl/bases/14.2@20240301-000000\ttype\tsnapshot\n\
zroot/jailctl/bases/14.2@20240301-000000\tcreation\t1709251200\n\
zroot/jailctl/bases/hand\ttype\tfilesystem\n\
zroot/jailctl/bases/hand\tjailctl:managed\t-\n";
        let origins = "zroot/jailctl\torigin\t-\n\
zroot/jailctl/jails/web\torigin\tzroot/jailctl/bases/14.2@20240101-000000\n\
zroot/jailctl/jails/db\torigin\tzroot/jailctl/bases/14.2@20240301-000000\n\
zroot/jailctl/jails/api\torigin\tzroot/jailctl/bases/14.2@20240101-000000\n\
zroot/jailctl/other/x\torigin\tzroot/jailctl/bases/14.2@20240301-000000\n";
        let list = parse_bases(&global(), bases, origins).unwrap();
        assert_eq!(list.len(), 2);
        let b = &list[0];
        assert_eq!(b.name, "14.2");
        assert!(b.managed);
        assert_eq!(b.release.as_deref(), Some("14.2-RELEASE-p1"));
        assert_eq!(b.snapshots.len(), 2);
        assert_eq!(b.snapshots[0].name, "20240101-000000");
        assert_eq!(b.snapshots[0].release.as_deref(), Some("14.2-RELEASE"));
        assert_eq!(b.snapshots[0].used_by, vec!["api", "web"]);
        assert_eq!(b.snapshots[1].used_by, vec!["db", "zroot/jailctl/other/x"]);
        assert_eq!(list[1].name, "hand");
        assert!(!list[1].managed);
        assert!(list[1].snapshots.is_empty());
        // JSON output is valid JSON.
        let json = serde_json::to_string(&list).unwrap();
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0]["snapshots"][1]["used_by"][0], "db");
    }

    #[test]
    fn malformed_zfs_output_is_an_error() {
        assert!(matches!(
            parse_get_nvp("zroot/x\torigin\n"),
            Err(BaseError::ZfsOutput { .. })
        ));
    }
}
