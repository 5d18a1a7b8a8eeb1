//! `jailctl export`: one self-describing archive of a jail (see [`super::archive`]) for a
//! backup or a move to another host. The jail may be running: its root and volumes are
//! snapshotted together by one `zfs snapshot` naming them all, which ZFS takes atomically
//! (zfs(8), zfs snapshot: "all snapshots are created at the same time"), so the archive holds
//! the state of one instant across every dataset, as after a power loss at that instant
//! (crash-consistent; services that need more should be stopped or flushed first). The
//! snapshots are destroyed once the streams are written, whatever happened.
//!
//! The root is sent incrementally against the base snapshot it was cloned from (`zfs send
//! -i BASE@SNAP ROOT@EXPORT`), which holds only what the jail changed, unless `full` is asked
//! or the root is no clone; volumes are always sent whole. Streams are written to temporary
//! files first, hashed on the way, so the manifest (first in the archive) carries their
//! checksums.

use super::archive::{self, BaseRef, DatasetEntry, Manifest};
use super::snapshot::{self, SnapshotError};
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, Host, ProcessError, tools};
use std::io::Write;
use std::time::Duration;

/// Why a jail could not be exported.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ExportError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(Box<ProcessError>),
    #[error(
        "`{cmd}` failed with status {status}: {}; nothing was exported (the export snapshots were destroyed)",
        .stderr.trim()
    )]
    Send {
        cmd: String,
        status: i32,
        stderr: String,
    },
    #[error("cannot {what}: {cause}; nothing was exported (the export snapshots were destroyed)")]
    Io {
        what: String,
        #[source]
        cause: std::io::Error,
    },
    #[error(
        "cannot read `{cmd}`: {source}; nothing was exported (the export snapshots were destroyed)"
    )]
    Output {
        cmd: String,
        #[source]
        #[diagnostic_source]
        source: crate::host::zfs::RowError,
    },
}

impl From<ProcessError> for ExportError {
    fn from(e: ProcessError) -> Self {
        ExportError::Process(Box::new(e))
    }
}

/// What was exported.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub manifest: Manifest,
}

impl ExportReport {
    /// One line per stream: `root: incremental against 14.3-RELEASE@p1, 12.3 KiB`.
    pub fn lines(&self) -> Vec<String> {
        self.manifest
            .datasets
            .iter()
            .map(|d| {
                let what = match (&d.volume, d.incremental, &self.manifest.base) {
                    (Some(v), _, _) => format!("volume {v}: full"),
                    (None, true, Some(b)) => {
                        format!("root: incremental against {}@{}", b.name, b.snapshot)
                    }
                    (None, _, _) => "root: full".to_string(),
                };
                format!("{what}, {} bytes (sha256 {})", d.bytes, &d.sha256[..16])
            })
            .collect()
    }
}

/// How long one `zfs send` may run: a stream of a large dataset takes a while.
const SEND_DEADLINE: Duration = Duration::from_secs(6 * 3600);

fn get_value(host: &dyn Host, prop: &str, dataset: &str) -> Result<String, ExportError> {
    let get = crate::host::zfs::Get::new([prop], [dataset]).without_source();
    let out = host.run(&get.cmd())?;
    let rows =
        crate::host::zfs::parse_rows(&out.stdout, false).map_err(|source| ExportError::Output {
            cmd: get.cmd().to_string(),
            source,
        })?;
    Ok(rows
        .first()
        .map(|r| r.value.to_string())
        .unwrap_or_default())
}

/// The user property marking the snapshots an export takes (beside `jailctl:snapshot`), so a
/// snapshot a person labelled `export-...` is never taken for one.
pub const EXPORT_PROP: &str = "jailctl:export";

/// Destroy the export snapshots an export killed half-way left on `datasets`. Only called
/// with the jail's lock held, so no export of this jail is running.
fn drop_stale(host: &dyn Host, datasets: &[String]) -> Result<(), ExportError> {
    let mut a: Vec<String> = ["list", "-H", "-o"].map(String::from).to_vec();
    a.push(format!("name,{EXPORT_PROP}"));
    a.extend(["-t", "snapshot", "-d", "1"].map(String::from));
    a.extend(datasets.iter().cloned());
    let out = host.run(&Cmd::new(tools::ZFS, a))?;
    for line in out.stdout.lines() {
        if let Some((name, "yes")) = line.split_once('\t')
            && name.contains(&format!("@{}", archive::SNAPSHOT_PREFIX))
        {
            host.run(&Cmd::new(tools::ZFS, ["destroy", name]))?;
            tracing::warn!("destroyed {name}, left by an export that did not finish");
        }
    }
    Ok(())
}

/// Export `spec`'s jail into `out`. `definition_toml` is its definition as a jail file.
pub fn export(
    host: &dyn Host,
    spec: &JailSpec,
    global: &Global,
    definition_toml: &str,
    full: bool,
    progress: bool,
    out: &mut dyn Write,
) -> Result<ExportReport, ExportError> {
    let _lock = snapshot::lock(host, &spec.name)?;
    let datasets = snapshot::datasets(spec, global);
    snapshot::check_owned(host, &spec.name, &datasets)?;
    let now = std::time::SystemTime::now();
    let snap = format!(
        "{}{}",
        archive::SNAPSHOT_PREFIX,
        crate::base::unique_snapshot_name(&[], now)
    );
    drop_stale(host, &datasets)?;
    let full_names: Vec<String> = datasets.iter().map(|d| format!("{d}@{snap}")).collect();
    let mut a = vec![
        "snapshot".to_string(),
        "-o".into(),
        format!("{}=yes", snapshot::PROP),
        "-o".into(),
        format!("{EXPORT_PROP}=yes"),
    ];
    a.extend(full_names.iter().cloned());
    host.run(&Cmd::new(tools::ZFS, a))?;
    let r = write_archive(
        host,
        spec,
        global,
        definition_toml,
        full,
        progress,
        &datasets,
        &snap,
        out,
    );
    // Whatever happened, the export snapshots go (a failure to destroy one is reported
    // after the export's own error, if any).
    let mut left = Vec::new();
    for n in full_names.iter().rev() {
        if let Err(e) = host.run(&Cmd::new(tools::ZFS, ["destroy", n.as_str()])) {
            left.push(format!("{n} ({e})"));
        }
    }
    if !left.is_empty() {
        tracing::warn!(
            "could not destroy the export snapshot(s) {}; destroy them with `zfs destroy`",
            left.join(", ")
        );
    }
    r
}

#[allow(clippy::too_many_arguments)]
fn write_archive(
    host: &dyn Host,
    spec: &JailSpec,
    global: &Global,
    definition_toml: &str,
    full: bool,
    progress: bool,
    datasets: &[String],
    snap: &str,
    out: &mut dyn Write,
) -> Result<ExportReport, ExportError> {
    let io = io_error;
    let root = &datasets[0];
    // The base snapshot the root was cloned from, if it still is a clone.
    let origin = get_value(host, "origin", root)?;
    let base_ds = crate::config::layout::base_dataset(global, &spec.base);
    let base = match origin.split_once('@') {
        Some((ds, s)) if ds == base_ds => Some(BaseRef {
            name: spec.base.clone(),
            snapshot: s.to_string(),
            guid: get_value(host, "guid", &origin)?.parse().unwrap_or(0),
        }),
        _ => None,
    };
    let incremental = !full && base.is_some();
    let tmp = tempfile::tempdir().map_err(io("make a temporary directory"))?;
    let mut entries = Vec::new();
    for (i, ds) in datasets.iter().enumerate() {
        let volume = (i > 0).then(|| spec.volumes[i - 1].name.clone());
        let file = match &volume {
            Some(v) => archive::volume_file(v),
            None => "root.zfs".to_string(),
        };
        let inc = i == 0 && incremental;
        let from = inc.then_some(origin.as_str());
        let path = tmp.path().join(&file);
        let (bytes, sha256) = send_to_file(host, ds, from, snap, &path, progress)?;
        entries.push(DatasetEntry {
            role: if volume.is_some() { "volume" } else { "root" }.into(),
            volume,
            dataset: ds.clone(),
            file,
            props: archive::local_props(host, ds)?,
            incremental: inc,
            bytes,
            sha256,
        });
    }
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let manifest = Manifest {
        format: archive::FORMAT,
        jailctl_version: env!("CARGO_PKG_VERSION").to_string(),
        name: spec.name.clone(),
        definition_toml: definition_toml.to_string(),
        definition: serde_json::to_value(spec).unwrap_or(serde_json::Value::Null),
        base,
        consistency:
            "crash-consistent: root and volumes from one atomic `zfs snapshot` of all of them"
                .into(),
        created,
        snapshot: snap.to_string(),
        datasets: entries,
    };
    write_tar(&manifest, tmp.path(), out)?;
    Ok(ExportReport { manifest })
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> ExportError {
    let what = what.to_string();
    move |cause| ExportError::Io { what, cause }
}

/// `zfs send [-i FROM] DS@SNAP` into the file `path`: the stream's length and sha256.
fn send_to_file(
    host: &dyn Host,
    ds: &str,
    from: Option<&str>,
    snap: &str,
    path: &std::path::Path,
    progress: bool,
) -> Result<(u64, String), ExportError> {
    let mut args = vec!["send".to_string()];
    if let Some(from) = from {
        args.extend(["-i".to_string(), from.to_string()]);
    }
    args.push(format!("{ds}@{snap}"));
    let cmd = Cmd::new(tools::ZFS, args);
    let f = std::fs::File::create(path).map_err(io_error(&format!(
        "create the temporary file {}",
        path.display()
    )))?;
    let mut w = archive::Hashing::new(std::io::BufWriter::new(f));
    let bar = archive::progress_bar(progress, format!("sending {ds}"));
    let o = host.pipe(&cmd, None, Some(&mut bar.wrap_write(&mut w)), SEND_DEADLINE);
    bar.finish_and_clear();
    let o = o?;
    if !o.success() {
        return Err(ExportError::Send {
            cmd: cmd.to_string(),
            status: o.status,
            stderr: o.stderr,
        });
    }
    w.flush().map_err(io_error(&format!(
        "write the temporary file {}",
        path.display()
    )))?;
    Ok((w.bytes, w.hex()))
}

/// The archive: an xz-compressed tar of the manifest, then each stream's file from `dir`.
fn write_tar(
    manifest: &Manifest,
    dir: &std::path::Path,
    out: &mut dyn Write,
) -> Result<(), ExportError> {
    let io = io_error;
    let xz = liblzma::write::XzEncoder::new(out, 6);
    let mut tar = tar::Builder::new(xz);
    let json = serde_json::to_vec_pretty(manifest).expect("serialisable");
    let mut h = tar::Header::new_gnu();
    h.set_size(json.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(manifest.created);
    h.set_cksum();
    tar.append_data(&mut h, archive::MANIFEST, json.as_slice())
        .map_err(io("write the archive"))?;
    for e in &manifest.datasets {
        let mut f = std::fs::File::open(dir.join(&e.file))
            .map_err(io("read back a stream's temporary file"))?;
        tar.append_file(&e.file, &mut f)
            .map_err(io("write the archive"))?;
    }
    let xz = tar.into_inner().map_err(io("write the archive"))?;
    let out = xz.finish().map_err(io("write the archive"))?;
    out.flush().map_err(io("write the archive"))?;
    Ok(())
}
