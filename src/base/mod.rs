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
        cause: crate::apply::LockError,
    },
    #[error("cannot prepare the host for bases: {0}")]
    Layout(#[from] crate::apply::layout::LayoutError),
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
        cause: Box<ProcessError>,
    },
    #[error("cannot parse `zfs` output: {line:?}")]
    ZfsOutput { line: String },
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Extract(#[from] ExtractError),
    #[error("cannot {what} {}: {cause}", path.display())]
    Io {
        what: String,
        path: PathBuf,
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

fn validate_set_name(set: &str) -> Result<(), BaseError> {
    let ok = !set.is_empty()
        && set
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && set
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BaseError::BadSet {
            set: set.to_string(),
        })
    }
}

/// What `create` and `update` need.
#[derive(Clone, Debug)]
pub struct SetsRequest {
    pub name: String,
    pub source: Source,
    /// Set names (`base`, `lib32`), in extraction order.
    pub sets: Vec<String>,
    /// Digests the user pinned, by set name; they take precedence over MANIFEST.
    pub sha256: BTreeMap<String, Sha256Digest>,
    /// A local directory for downloads (already mapped with `HostFs::local_path`).
    pub cache_dir: PathBuf,
    /// Show download progress on a terminal.
    pub progress: bool,
    pub extract: ExtractOptions,
}

/// A set that is available locally and verified.
#[derive(Clone, Debug)]
pub struct VerifiedSet {
    pub set: String,
    pub path: PathBuf,
    pub sha256: Sha256Digest,
    /// `--sha256` or the MANIFEST's location.
    pub checked_against: String,
}

/// Fetch every requested set and check its digest. Touches nothing but the download cache.
pub fn prepare_sets(req: &SetsRequest) -> Result<Vec<VerifiedSet>, BaseError> {
    for s in &req.sets {
        validate_set_name(s)?;
    }
    if let Some(stray) = req.sha256.keys().find(|k| !req.sets.contains(k)) {
        return Err(BaseError::StrayChecksum {
            set: stray.clone(),
            sets: req.sets.join(","),
        });
    }
    let manifest_location = match &req.source {
        Source::Dir(d) => d.join("MANIFEST").display().to_string(),
        Source::Url(u) => format!("{u}MANIFEST"),
    };
    let manifest = fetch::fetch_manifest(&req.source)?;
    let mut out = Vec::new();
    for set in &req.sets {
        let (expected, from) = if let Some(d) = req.sha256.get(set) {
            (*d, "--sha256".to_string())
        } else {
            match &manifest {
                Some(m) => match m.sets.get(set) {
                    Some(e) => (e.sha256, manifest_location.clone()),
                    None => {
                        return Err(BaseError::NoChecksum {
                            set: set.clone(),
                            why: format!(
                                "{manifest_location} does not list it (it lists: {})",
                                m.sets.keys().cloned().collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                },
                None => {
                    return Err(BaseError::NoChecksum {
                        set: set.clone(),
                        why: format!("there is no MANIFEST at {manifest_location}"),
                    });
                }
            }
        };
        let file = format!("{set}.txz");
        let is_url = matches!(req.source, Source::Url(_));
        let cached_before = is_url
            && req
                .cache_dir
                .join(fetch::cache_key(&req.source.display()))
                .join(&file)
                .is_file();
        let mut path = fetch::fetch_set(&req.source, &file, &req.cache_dir, req.progress)?;
        match fetch::verify(set, &path, expected, &from, is_url) {
            Ok(()) => {}
            Err(FetchError::Mismatch { .. }) if cached_before => {
                // A stale file in the cache (the release was re-rolled): fetch it once more.
                tracing::warn!(
                    set,
                    "cached {file} does not match its checksum; downloading it again"
                );
                path = fetch::fetch_set(&req.source, &file, &req.cache_dir, req.progress)?;
                fetch::verify(set, &path, expected, &from, is_url)?;
            }
            Err(e) => return Err(e.into()),
        }
        out.push(VerifiedSet {
            set: set.clone(),
            path,
            sha256: expected,
            checked_against: from,
        });
    }
    Ok(out)
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

/// `base create`: a new base from distribution sets. Downloads and checks the sets before
/// touching ZFS; after `zfs create`, any failure destroys the dataset again. The run is
/// journaled: if it is killed, the next `create` (or `update`, `destroy`) of this base first
/// destroys what it made, so running it again converges to what one clean run makes.
pub fn create(host: &dyn Host, global: &Global, req: &SetsRequest) -> Result<Made, BaseError> {
    validate_base_name(&req.name)?;
    let lock = lock_base(host, &req.name)?;
    let dataset = base_dataset(global, &req.name);
    recover_first(host, &req.name)?;
    if dataset_exists(host, &dataset)? {
        return Err(BaseError::AlreadyExists {
            name: req.name.clone(),
            dataset,
        });
    }
    let mountpoint = bases_mount_dir(global).join(&req.name);
    let local_mp = host.local_path(&mountpoint);
    if std::fs::read_dir(&local_mp).is_ok_and(|mut d| d.next().is_some()) {
        return Err(BaseError::MountpointBusy {
            name: req.name.clone(),
            dir: mountpoint.display().to_string(),
        });
    }
    let sets = prepare_sets(req)?;
    // The shared parents, once checked sets are in hand (a refused set touches no dataset).
    crate::apply::layout::ensure(host, &lock, global)?;
    // What the create and the mount will add besides the base (no parent: the layout made
    // it; the list stays empty unless the pool lacks it), so a failure can take them away
    // again and leave the host as it was.
    let made_parents = missing_parents(host, &dataset)?;
    let made_dirs = missing_dirs(&local_mp);
    let mut journal = journal::Journal::new("create", &req.name, &dataset);
    let mut undo = vec![
        journal::destroy_undo(&dataset),
        journal::BaseUndo::RemoveTree {
            path: mountpoint.clone(),
        },
    ];
    undo.extend(made_parents.iter().map(|p| journal::BaseUndo::Run {
        cmd: zfs_cmd(["destroy", p.as_str()]),
        best_effort: true,
    }));
    undo.extend(
        mountpoint
            .ancestors()
            .skip(1)
            .take_while(|d| !host.exists(d))
            .map(|d| journal::BaseUndo::RemoveEmptyDir {
                path: d.to_path_buf(),
            }),
    );
    // Without `-p`: the layout above made the parent, and on OpenZFS `create -p` of a dataset
    // that exists succeeds and changes nothing (zfs_main.c, zfs_do_create), so a base made by
    // hand since the check above would be filled, and then destroyed by a failed run's undo.
    // Without it, zfs refuses ("dataset already exists") and nothing is touched.
    let create = zfs_cmd([
        "create".to_string(),
        "-o".into(),
        format!("mountpoint={}", mountpoint.display()),
        "-o".into(),
        format!("{PROP_MANAGED}=yes"),
        "-o".into(),
        format!("{PROP_SOURCE}={}", req.source.display()),
        dataset.clone(),
    ]);
    journal.record(host, create.to_string(), undo)?;
    if let Err(e) = run(host, &format!("cannot create {dataset}"), create) {
        // zfs(8) made nothing.
        journal.close(host)?;
        return Err(e);
    }
    journal.done(host)?;
    let filled = (|| {
        let (host_mp, local) = mounted_root(host, &dataset)?;
        fill(host, req, &sets, &dataset, host_mp, &local, None)
    })();
    match filled {
        Ok(made) => {
            journal.close(host)?;
            Ok(made)
        }
        Err(error) => {
            let mut undo = undo_create(host, &dataset, &local_mp, error);
            if let BaseError::Undone {
                undo: text, help, ..
            } = &mut undo
                && !text.starts_with("FAILED")
            {
                if let Some(kept) = remove_made(host, &made_parents, &made_dirs, text) {
                    *help = format!(
                        "the base is gone, but the parent dataset {kept} that `zfs create -p` made was kept; remove it with `zfs destroy -r {kept}` if nothing else uses it"
                    );
                }
                // Undone: nothing left for a later run to take back. (A failed undo keeps
                // the journal, and the next run tries again.)
                journal.close(host)?;
            }
            Err(undo)
        }
    }
}

/// The ancestors of `dataset` (below the pool) that do not exist yet, deepest first.
fn missing_parents(host: &dyn Host, dataset: &str) -> Result<Vec<String>, BaseError> {
    let mut missing = Vec::new();
    let mut cur = dataset;
    while let Some((parent, _)) = cur.rsplit_once('/') {
        if !parent.contains('/') || dataset_exists(host, parent)? {
            break;
        }
        missing.push(parent.to_string());
        cur = parent;
    }
    Ok(missing)
}

/// The directories on the way to `dir` (a local path) that do not exist yet, deepest first.
fn missing_dirs(dir: &Path) -> Vec<PathBuf> {
    dir.ancestors()
        .skip(1)
        .take_while(|d| !d.exists())
        .map(Path::to_path_buf)
        .collect()
}

/// Take away the parent datasets and directories a failed create made. Each goes only if it
/// is empty: something another run put there meanwhile stays, and is named in `report`.
/// Returns the topmost parent dataset that had to be kept, if any.
fn remove_made(
    host: &dyn Host,
    parents: &[String],
    dirs: &[PathBuf],
    report: &mut String,
) -> Option<String> {
    for p in parents {
        match run(
            host,
            &format!("cannot destroy {p}"),
            zfs_cmd(["destroy", p]),
        ) {
            Ok(_) => report.push_str(&format!(", destroyed {p}")),
            Err(e) => {
                report.push_str(&format!("; kept {p}: {e}"));
                return parents.last().cloned();
            }
        }
    }
    for d in dirs {
        if std::fs::remove_dir(d).is_err() {
            break;
        }
    }
    None
}

fn undo_create(host: &dyn Host, dataset: &str, local_mp: &Path, error: BaseError) -> BaseError {
    let undo = match run(
        host,
        &format!("cannot destroy {dataset}"),
        zfs_cmd(["destroy", "-r", dataset]),
    ) {
        Ok(_) => {
            // The dataset is gone, so nothing is mounted there any more: what is left in
            // the directory is extraction debris on the parent file system.
            match std::fs::remove_dir_all(local_mp) {
                Ok(()) => format!("destroyed {dataset} and removed {}", local_mp.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    format!("destroyed {dataset}")
                }
                Err(e) => format!(
                    "destroyed {dataset}, but could not remove {}: {e}",
                    local_mp.display()
                ),
            }
        }
        Err(e) => format!("FAILED: {e}"),
    };
    let help = if undo.starts_with("FAILED") {
        format!("remove the half-made base by hand: `zfs destroy -r {dataset}`")
    } else {
        "nothing was left behind; fix the cause and run the command again".to_string()
    };
    BaseError::Undone {
        error: Box::new(error),
        undo,
        help,
    }
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

/// `base update`: replace the base's contents with new sets and take a new snapshot. Jails
/// keep the snapshot they were cloned from. Every change is journaled with its undo; a
/// failure rolls back to the previous snapshot and sets the properties back, then reads
/// them back to check; a killed run is undone the same way by the next run.
pub fn update(host: &dyn Host, global: &Global, req: &SetsRequest) -> Result<Made, BaseError> {
    validate_base_name(&req.name)?;
    let _lock = lock_base(host, &req.name)?;
    let dataset = base_dataset(global, &req.name);
    recover_first(host, &req.name)?;
    require_managed(host, &req.name, &dataset)?;
    let previous = snapshots_of(host, &dataset)?
        .pop()
        .map(|s| format!("{dataset}@{s}"))
        .ok_or_else(|| BaseError::NoSnapshot {
            dataset: dataset.clone(),
        })?;
    let sets = prepare_sets(req)?;
    let (host_mp, local) = mounted_root(host, &dataset)?;
    let old = get_props_with_source(host, &dataset, &[PROP_RELEASE, PROP_SOURCE])?;
    let mut journal = journal::Journal::new("update", &req.name, &dataset);
    journal.record(
        host,
        format!("empty {} and extract the sets", host_mp.display()),
        vec![journal::BaseUndo::Run {
            cmd: zfs_cmd(["rollback", previous.as_str()]),
            best_effort: false,
        }],
    )?;
    // Rolling back to `previous` is right whether or not the emptying has begun, so its
    // failure always counts: mark it done before the first file goes.
    journal.done(host)?;
    let filled = (|| {
        empty_dir(&local)?;
        fill(
            host,
            req,
            &sets,
            &dataset,
            host_mp,
            &local,
            Some((&mut journal, &old)),
        )
    })();
    match filled {
        Ok(made) => {
            journal.close(host)?;
            Ok(made)
        }
        Err(error) => Err(undo_update(host, &dataset, &previous, &old, journal, error)),
    }
}

/// Undo a failed update from its journal, then check by reading back that the base is at
/// `previous` with its old properties before saying it is as it was.
fn undo_update(
    host: &dyn Host,
    dataset: &str,
    previous: &str,
    old: &BTreeMap<String, PropValue>,
    journal: journal::Journal,
    error: BaseError,
) -> BaseError {
    let outcome = journal.undo(host);
    let mut wrong = Vec::new();
    if outcome.ok() {
        match snapshots_of(host, dataset) {
            Ok(s) if s.last().map(|s| format!("{dataset}@{s}")).as_deref() == Some(previous) => {}
            Ok(s) => wrong.push(format!(
                "its newest snapshot is {}, not {previous}",
                s.last().map_or("none", String::as_str)
            )),
            Err(e) => wrong.push(format!("cannot list its snapshots: {e}")),
        }
        let props: Vec<&str> = old.keys().map(String::as_str).collect();
        match get_props_with_source(host, dataset, &props) {
            Ok(now) => {
                for (k, v) in old {
                    let back = now.get(k);
                    // `inherited`/`default`/`-` all mean "not set here"; compare the value.
                    let same = back.is_some_and(|b| {
                        b.value == v.value && ((b.source == "local") == (v.source == "local"))
                    });
                    if !same {
                        wrong.push(format!(
                            "{k} is {:?}, was {:?}",
                            back.map_or("?", |b| b.value.as_str()),
                            v.value
                        ));
                    }
                }
            }
            Err(e) => wrong.push(format!("cannot read its properties back: {e}")),
        }
    }
    let restored: Vec<String> = old
        .iter()
        .map(|(k, v)| {
            if v.source == "local" {
                format!("{k}={}", v.value)
            } else {
                format!("{k} unset")
            }
        })
        .collect();
    let (undo, help) = if !outcome.ok() {
        (
            format!("FAILED: {}", outcome.describe()),
            format!(
                "restore the base by hand: `zfs rollback {previous}` and set back {}",
                restored.join(", ")
            ),
        )
    } else if !wrong.is_empty() {
        (
            format!(
                "rolled {dataset} back to {previous}, but reading it back shows {}",
                wrong.join("; ")
            ),
            format!(
                "restore the base by hand: `zfs rollback {previous}` and set back {}",
                restored.join(", ")
            ),
        )
    } else {
        (
            format!(
                "rolled {dataset} back to {previous} and restored {} (read back and checked)",
                restored.join(", ")
            ),
            "the base is as it was; fix the cause and run the command again".to_string(),
        )
    };
    BaseError::Undone {
        error: Box::new(error),
        undo,
        help,
    }
}

/// Remove everything in a base's root (not the `.zfs` control directory).
fn empty_dir(dir: &Path) -> Result<(), BaseError> {
    let io = |what: &str, path: &Path| {
        let what = what.to_string();
        let path = path.to_path_buf();
        move |cause| BaseError::Io { what, path, cause }
    };
    for e in std::fs::read_dir(dir).map_err(io("read", dir))? {
        let e = e.map_err(io("read", dir))?;
        if e.file_name() == ".zfs" {
            continue;
        }
        let p = e.path();
        let ft = e.file_type().map_err(io("inspect", &p))?;
        if ft.is_dir() {
            std::fs::remove_dir_all(&p).map_err(io("remove", &p))?;
        } else {
            std::fs::remove_file(&p).map_err(io("remove", &p))?;
        }
    }
    Ok(())
}

/// `base destroy`: refuses while any dataset is cloned from the base, naming them. After
/// the checks, `confirm` is asked with the base about to go (with its snapshots); `Ok(None)`
/// when it says no, else the destroyed dataset.
pub fn destroy(
    host: &dyn Host,
    global: &Global,
    name: &str,
    confirm: &mut dyn FnMut(&BaseInfo) -> bool,
) -> Result<Option<String>, BaseError> {
    validate_base_name(name)?;
    let _lock = lock_base(host, name)?;
    let dataset = base_dataset(global, name);
    if let Some(r) = recover_first(host, name)?
        && r.op == "destroy"
        && !dataset_exists(host, &dataset)?
    {
        // The interrupted destroy, confirmed then, is now finished.
        return Ok(Some(dataset));
    }
    require_managed(host, name, &dataset)?;
    let bases = list(host, global)?;
    let Some(info) = bases.iter().find(|b| b.dataset == dataset) else {
        return Err(BaseError::NotFound {
            name: name.to_string(),
            dataset,
        });
    };
    let dependents: Vec<String> = info
        .snapshots
        .iter()
        .flat_map(|s| {
            s.used_by
                .iter()
                .map(move |u| format!("{u} (from @{})", s.name))
        })
        .collect();
    if !dependents.is_empty() {
        return Err(BaseError::InUse {
            name: name.to_string(),
            dependents,
        });
    }
    // `jailctl:managed` is inherited: only datasets where it is set locally are jailctl's.
    let foreign =
        crate::observe::owned::foreign_below(host, &dataset).map_err(|cause| BaseError::Zfs {
            action: format!("cannot list what is below {dataset}"),
            cause: Box::new(cause),
        })?;
    if !foreign.is_empty() {
        return Err(BaseError::NotOwned {
            name: name.to_string(),
            foreign: foreign.iter().map(ToString::to_string).collect(),
        });
    }
    if !confirm(info) {
        return Ok(None);
    }
    // `zfs destroy -r` cannot be undone: a run killed from here on is finished by the next.
    let cmd = zfs_cmd(["destroy", "-r", dataset.as_str()]);
    let mut journal = journal::Journal::new("destroy", name, &dataset);
    journal.roll_forward(host, vec![cmd.clone()])?;
    if let Err(e) = run(host, &format!("cannot destroy base `{name}`"), cmd) {
        // Reported as it is; what zfs(8) left is still a managed base, which running the
        // same command again (after fixing the cause) destroys.
        journal.close(host)?;
        return Err(e);
    }
    journal.close(host)?;
    Ok(Some(dataset))
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
