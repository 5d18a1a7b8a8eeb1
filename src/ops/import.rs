//! `jailctl import`: a jail from an archive written by `jailctl export` ([`super::archive`]),
//! received into this host's layout and left stopped. Everything that can be checked is
//! checked before the first change: the archive is unpacked whole to a temporary directory
//! (a truncated or damaged xz or tar stops it there), its format version and every stream's
//! SHA-256 are verified, the name must be free, the definition must validate with this
//! host's configuration, and an incremental root needs the exact base snapshot it was made
//! against. Then the streams are received with `zfs receive` (the root as a clone of that
//! base snapshot when incremental) and the definition is written last; a failing step undoes
//! every one before it ([`super::adopt::Undo`]), so a failed import leaves nothing behind.

use super::adopt::{self, AdoptError, AdoptRefusal, Undo};
use super::archive::{self, Manifest};
use crate::apply::{Held, LockKey, Mode, layout};
use crate::config;
use crate::config::layout as names;
use crate::config::spec::Global;
use crate::host::{Cmd, Host, ProcessError, tools};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    #[error("refusing to import: the archive is damaged or incomplete ({0}); nothing was changed")]
    #[diagnostic(help("export it again (a transfer cut short truncates it)"))]
    Damaged(String),
    #[error("refusing to import: the archive is damaged or incomplete ({0}); nothing was changed")]
    #[diagnostic(help("export it again (a transfer cut short truncates it)"))]
    Unreadable(#[source] std::io::Error),
    /// This host's side of unpacking failed (the temporary directory), not the archive.
    #[error("cannot unpack the archive into {}: {source}; nothing was changed", .path.display())]
    #[diagnostic(help(
        "the archive is unpacked whole before anything is received: point TMPDIR at a directory with room for all its streams"
    ))]
    Unpack {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing to import: the archive's definition cannot take the new address or hostname ({0}); nothing was changed"
    )]
    #[diagnostic(help(
        "import it without --ip4/--ip6/--hostname, then edit the imported definition by hand"
    ))]
    Edit(#[source] super::clone::EditError),
    #[error(
        "refusing to import: the archive is damaged or incomplete (manifest.json: {0}); nothing was changed"
    )]
    #[diagnostic(help("export it again (a transfer cut short truncates it)"))]
    BadManifest(#[source] serde_json::Error),
    #[error(
        "refusing to import: the archive has format version {found}, this jailctl reads version {want} only. Nothing was changed"
    )]
    #[diagnostic(help("import it with the jailctl version that wrote it ({by})"))]
    Format { found: u32, want: u32, by: String },
    #[error(
        "refusing to import: {file} in the archive does not match its checksum (sha256 {got}, the manifest says {want}); the archive is damaged. Nothing was changed"
    )]
    #[diagnostic(help("export it again (a transfer cut short truncates it)"))]
    Checksum {
        file: String,
        want: String,
        got: String,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Refused(#[from] AdoptRefusal),
    #[error(
        "refusing to import jail `{name}`: its root was exported incrementally against {snapshot} (guid {guid}), which this host {why}. Nothing was changed"
    )]
    #[diagnostic(help(
        "export it with `jailctl export --full`, or replicate the base first (`zfs send {snapshot} | ssh THIS-HOST zfs receive ...`)"
    ))]
    BaseMissing {
        name: String,
        snapshot: String,
        guid: u64,
        why: String,
    },
    #[error("cannot lock jail `{0}`: {1}")]
    Lock(String, #[source] crate::apply::LockError),
    #[error("jail `{0}`: {1}")]
    #[diagnostic(forward(1))]
    Interrupted(String, #[source] Box<AdoptError>),
    #[error("cannot look for the base snapshot {snapshot}: {cause}. Nothing was changed")]
    Host {
        snapshot: String,
        #[source]
        cause: Box<ProcessError>,
    },
    #[error(
        "import of jail `{name}` failed: {cause}; {}{}",
        if .undone.is_empty() { "nothing had been changed yet".to_string() } else { format!("undone: {}", .undone.join("; ")) },
        if .not_undone.is_empty() { String::new() } else { format!("; NOT undone (take these back by hand): {}", .not_undone.join("; ")) }
    )]
    #[diagnostic(forward(cause))]
    Failed {
        name: String,
        #[source]
        cause: Box<AdoptError>,
        undone: Vec<String>,
        not_undone: Vec<String>,
    },
}

/// What was imported.
#[derive(Debug, Clone)]
pub struct ImportReport {
    pub name: String,
    pub definition: PathBuf,
    pub datasets: Vec<String>,
    pub manifest: Manifest,
}

/// How long one `zfs receive` may run.
const RECEIVE_DEADLINE: Duration = Duration::from_secs(6 * 3600);

/// Properties never carried over: where a dataset is mounted is this host's layout, and an
/// address allocated automatically is allocated again here.
const NOT_CARRIED: &[&str] = &["mountpoint", names::IP4_PROP];

/// Copy one member of the archive to `path`: a read error is the archive's (cut short,
/// corrupt xz), a write error this host's (the temporary directory).
fn copy_member(entry: &mut dyn Read, path: &Path) -> Result<(), ImportError> {
    use std::io::Write;
    let unpack = |source| ImportError::Unpack {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::create(path).map_err(unpack)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match entry.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ImportError::Unreadable(e)),
        };
        f.write_all(&buf[..n]).map_err(unpack)?;
    }
}

/// Unpack the archive into `dir`; returns its manifest.
fn unpack(input: &mut dyn Read, dir: &Path) -> Result<Manifest, ImportError> {
    let damaged = ImportError::Unreadable;
    let xz = liblzma::read::XzDecoder::new_multi_decoder(std::io::BufReader::new(input));
    let mut tar = tar::Archive::new(xz);
    let mut seen = Vec::new();
    for entry in tar.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let name = entry
            .path()
            .map_err(damaged)?
            .to_string_lossy()
            .into_owned();
        if !archive::member_allowed(&name) || seen.contains(&name) {
            return Err(ImportError::Damaged(format!("unexpected member {name:?}")));
        }
        copy_member(&mut entry, &dir.join(&name))?;
        seen.push(name);
    }
    // The decoder must have reached the end of the xz stream: read what is left.
    let mut rest = Vec::new();
    tar.into_inner().read_to_end(&mut rest).map_err(damaged)?;
    let bytes = std::fs::read(dir.join(archive::MANIFEST))
        .map_err(|_| ImportError::Damaged("it has no manifest.json".into()))?;
    let m: serde_json::Value = serde_json::from_slice(&bytes).map_err(ImportError::BadManifest)?;
    let found = m.get("format").and_then(|f| f.as_u64()).unwrap_or(0) as u32;
    if found != archive::FORMAT {
        return Err(ImportError::Format {
            found,
            want: archive::FORMAT,
            by: m
                .get("jailctl_version")
                .and_then(|v| v.as_str())
                .map_or("unknown".into(), |v| format!("jailctl {v}")),
        });
    }
    let manifest: Manifest = serde_json::from_value(m).map_err(ImportError::BadManifest)?;
    for d in &manifest.datasets {
        if !archive::member_allowed(&d.file) {
            return Err(ImportError::Damaged(format!(
                "the manifest names the member {:?}",
                d.file
            )));
        }
        let (got, bytes) = archive::sha256_file(&dir.join(&d.file))
            .map_err(|_| ImportError::Damaged(format!("the stream {} is missing", d.file)))?;
        if got != d.sha256 || bytes != d.bytes {
            return Err(ImportError::Checksum {
                file: d.file.clone(),
                want: d.sha256.clone(),
                got,
            });
        }
    }
    if manifest.datasets.first().map(|d| d.role.as_str()) != Some("root") {
        return Err(ImportError::Damaged("the manifest lists no root".into()));
    }
    Ok(manifest)
}

/// The dataset a manifest entry goes to on this host, and its mountpoint.
fn target(global: &Global, name: &str, d: &archive::DatasetEntry) -> (String, PathBuf) {
    match &d.volume {
        Some(v) => (
            names::volume_dataset(global, name, v),
            names::volume_mountpoint(global, name, v),
        ),
        None => (
            names::root_dataset(global, name),
            names::jail_root(global, name),
        ),
    }
}

/// Import the archive read from `input` as jail `name` (the archive's own name when `None`).
pub fn import(
    host: &dyn Host,
    config_dir: &Path,
    global: &Global,
    input: &mut dyn Read,
    name: Option<&str>,
    changes: &super::clone::Changes,
    progress: bool,
) -> Result<ImportReport, ImportError> {
    let tmp = tempfile::tempdir().map_err(|source| ImportError::Unpack {
        path: std::env::temp_dir(),
        source,
    })?;
    let mut manifest = unpack(input, tmp.path())?;
    // A new address or hostname given on the command line replaces the archive's.
    manifest.definition_toml = super::clone::edit_definition(&manifest.definition_toml, changes)
        .map_err(ImportError::Edit)?;
    let name = name.unwrap_or(&manifest.name).to_string();
    let targets: Vec<(String, PathBuf)> = manifest
        .datasets
        .iter()
        .map(|d| target(global, &name, d))
        .collect();
    let dataset_names: Vec<String> = targets.iter().map(|(d, _)| d.clone()).collect();
    config::rules::check_jail_name(&name).map_err(|e| AdoptRefusal::BadName(name.clone(), e))?;
    let held = Held::acquire(
        host,
        &[(LockKey::Jail(name.clone()), Mode::Exclusive)],
        |_| tracing::warn!("jail {name} is locked by another jailctl; waiting"),
    )
    .map_err(|e| ImportError::Lock(name.clone(), e))?;
    adopt::finish_interrupted(host, &name)
        .map_err(|e| ImportError::Interrupted(name.clone(), Box::new(e)))?;
    adopt::check_free(host, config_dir, global, &name, &dataset_names)?;
    adopt::validate(config_dir, &name, &manifest.definition_toml)?;
    // An incremental root is received as a clone of the base snapshot it was made against.
    let origin = base_origin(host, global, &name, &manifest)?;
    let mut undo = Undo::new(host, &name);
    let r = receive_all(
        host,
        config_dir,
        global,
        &held,
        &name,
        &manifest,
        tmp.path(),
        &targets,
        origin.as_deref(),
        progress,
        &mut undo,
    );
    match r {
        Ok(definition) => {
            undo.commit().map_err(|cause| ImportError::Failed {
                name: name.clone(),
                cause: Box::new(cause),
                undone: Vec::new(),
                not_undone: Vec::new(),
            })?;
            Ok(ImportReport {
                name,
                definition,
                datasets: dataset_names,
                manifest,
            })
        }
        Err(cause) => {
            let (undone, not_undone) = undo.rollback();
            Err(ImportError::Failed {
                name,
                cause: Box::new(cause),
                undone,
                not_undone,
            })
        }
    }
}

/// For an archive whose root is incremental: the base snapshot of this host it was made
/// against (`<zfs_root>/bases/NAME@SNAP`), checked by guid; `None` for a full root.
fn base_origin(
    host: &dyn Host,
    global: &Global,
    name: &str,
    manifest: &Manifest,
) -> Result<Option<String>, ImportError> {
    let (Some(b), true) = (&manifest.base, manifest.datasets[0].incremental) else {
        return Ok(None);
    };
    let snap = format!("{}@{}", names::base_dataset(global, &b.name), b.snapshot);
    let get = crate::host::zfs::Get::new(["guid"], [snap.as_str()]).without_source();
    let out = host.output(&get.cmd()).map_err(|e| ImportError::Host {
        snapshot: snap.clone(),
        cause: Box::new(e),
    })?;
    let rows = crate::host::zfs::parse_rows(&out.stdout, false).unwrap_or_default();
    let guid = rows.first().map(|r| r.value).unwrap_or("");
    let why = if !out.success() {
        Some("does not have".to_string())
    } else if guid != b.guid.to_string() {
        Some(format!(
            "has only as a different snapshot of the same name (guid {guid})"
        ))
    } else {
        None
    };
    match why {
        Some(why) => Err(ImportError::BaseMissing {
            name: name.to_string(),
            snapshot: snap,
            guid: b.guid,
            why,
        }),
        None => Ok(Some(snap)),
    }
}

#[allow(clippy::too_many_arguments)]
fn receive_all(
    host: &dyn Host,
    config_dir: &Path,
    global: &Global,
    held: &Held,
    name: &str,
    manifest: &Manifest,
    dir: &Path,
    targets: &[(String, PathBuf)],
    origin: Option<&str>,
    progress: bool,
    undo: &mut Undo<'_>,
) -> Result<PathBuf, AdoptError> {
    layout::ensure(host, held, global)?;
    let run = |cmd: &Cmd| host.run(cmd).map_err(AdoptError::from);
    // The per-jail parent of its volumes.
    if manifest.datasets.len() > 1 {
        adopt::ensure_volume_parent(host, global, name, undo)?;
    }
    for (d, (ds, mountpoint)) in manifest.datasets.iter().zip(targets) {
        let mut args = vec!["receive".to_string()];
        if d.incremental
            && let Some(o) = origin
        {
            args.extend(["-o".into(), format!("origin={o}")]);
        }
        args.extend(["-o".into(), format!("mountpoint={}", mountpoint.display())]);
        for (k, v) in &d.props {
            if NOT_CARRIED.contains(&k.as_str()) {
                continue;
            }
            // The base is recorded by this host's name for it.
            let v = match (k.as_str(), &manifest.base) {
                (names::props::BASE, Some(b)) => {
                    format!("{}@{}", names::base_dataset(global, &b.name), b.snapshot)
                }
                _ => v.clone(),
            };
            args.extend(["-o".into(), format!("{k}={v}")]);
        }
        args.push(ds.clone());
        let cmd = Cmd::new(tools::ZFS, args);
        undo.push(
            format!("received {ds}"),
            Cmd::new(tools::ZFS, ["destroy", "-r", ds.as_str()]),
        )?;
        let stream = dir.join(&d.file);
        let f = std::fs::File::open(&stream).map_err(|source| AdoptError::File {
            what: "open",
            path: stream.clone(),
            source,
        })?;
        let bar = archive::progress_bar(progress, format!("receiving {ds}"));
        let out = host.pipe(&cmd, Some(&mut bar.wrap_read(f)), None, RECEIVE_DEADLINE);
        bar.finish_and_clear();
        let out = out?;
        if !out.success() {
            // A refused receive makes nothing (zfs receives into a temporary clone and only
            // renames it into place once the stream is complete).
            return Err(AdoptError::Process(ProcessError::Failed {
                cmd,
                status: out.status,
                stdout: String::new(),
                stderr: out.stderr,
            }));
        }
        // The export snapshot came along; the jail does not need it.
        run(&Cmd::new(
            tools::ZFS,
            ["destroy", &format!("{ds}@{}", manifest.snapshot)],
        ))?;
    }
    let path = adopt::definition_path(config_dir, name);
    undo.file(path.clone())?;
    adopt::write_definition(&path, &manifest.definition_toml).map_err(|source| {
        AdoptError::File {
            what: "write",
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}
