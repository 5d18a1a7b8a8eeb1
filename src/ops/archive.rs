//! The archive `jailctl export` writes and `jailctl import` reads, in one place so the two
//! cannot drift apart: an xz-compressed tar holding `manifest.json` first, then one
//! `zfs send` stream per dataset (`root.zfs`, `volume-NAME.zfs`). The manifest says what the
//! archive is (format version, the jailctl that wrote it, the jail's resolved definition, the
//! base it was cloned from) and, per stream, its dataset, the properties jailctl had set on
//! it, whether it is incremental and against which base snapshot, and its SHA-256, so an
//! import verifies everything before it changes anything.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;

/// The archive format this jailctl writes and the only one it reads.
pub const FORMAT: u32 = 1;

/// The name of the manifest inside the archive (always its first member).
pub const MANIFEST: &str = "manifest.json";

/// The prefix of the snapshot taken for an export (destroyed once the streams are written).
pub const SNAPSHOT_PREFIX: &str = "jailctl-export-";

/// What an archive holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The version of the jailctl that wrote it.
    pub jailctl_version: String,
    /// The jail's name on the exporting host.
    pub name: String,
    /// The definition as a jail file (templates and defaults applied), written to
    /// `jails/NAME.toml` on import.
    pub definition_toml: String,
    /// The same definition, resolved, as `jailctl show --json` prints it.
    pub definition: serde_json::Value,
    /// The base the root was cloned from.
    pub base: Option<BaseRef>,
    /// How the streams were made consistent with each other.
    pub consistency: String,
    /// Seconds since the epoch when the export snapshot was taken.
    pub created: u64,
    /// The short name of the export snapshot the streams were sent from (it arrives with
    /// them, and import destroys it once the datasets are in place).
    pub snapshot: String,
    /// Root first, then the volumes in definition order.
    pub datasets: Vec<DatasetEntry>,
}

/// The base snapshot the jail's root was cloned from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseRef {
    /// The base's name (its release, `14.3-RELEASE`).
    pub name: String,
    /// The snapshot's short name (`p1`, after `@`).
    pub snapshot: String,
    /// The snapshot's guid: an incremental root can only be received where a snapshot
    /// with this guid exists (a base replicated from this host, not one made again).
    pub guid: u64,
}

/// One stream of the archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatasetEntry {
    /// `root` or `volume`.
    pub role: String,
    /// The volume's name, for a volume.
    pub volume: Option<String>,
    /// The dataset on the exporting host.
    pub dataset: String,
    /// The member of the archive holding the stream.
    pub file: String,
    /// Properties set locally on the dataset (jailctl's `jailctl:*` marks, quota...).
    pub props: BTreeMap<String, String>,
    /// `true`: the stream holds only what differs from the base snapshot ([`Manifest::base`]).
    pub incremental: bool,
    pub bytes: u64,
    pub sha256: String,
}

/// Hex SHA-256 of what goes through it, with the byte count.
pub struct Hashing<W> {
    pub inner: W,
    hasher: sha2::Sha256,
    pub bytes: u64,
}

impl<W> Hashing<W> {
    pub fn new(inner: W) -> Self {
        use sha2::Digest;
        Hashing {
            inner,
            hasher: sha2::Sha256::new(),
            bytes: 0,
        }
    }

    pub fn hex(self) -> String {
        use sha2::Digest;
        self.hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    let mut h = Hashing::new(std::io::sink());
    std::io::copy(&mut std::fs::File::open(path)?, &mut h)?;
    let bytes = h.bytes;
    Ok((h.hex(), bytes))
}

/// The archive member name of a volume's stream.
pub fn volume_file(volume: &str) -> String {
    format!("volume-{volume}.zfs")
}

/// The member names an archive may hold: the manifest and the streams it lists.
pub fn member_allowed(name: &str) -> bool {
    name == MANIFEST
        || (name.ends_with(".zfs")
            && !name.contains('/')
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
}

/// A bar on stderr counting the bytes of one stream, when `progress` (a terminal, not
/// `--quiet`); hidden otherwise.
pub fn progress_bar(progress: bool, what: String) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !progress || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::no_length();
    if let Ok(style) = indicatif::ProgressStyle::with_template("{msg} {bytes} {bytes_per_sec}") {
        bar.set_style(style);
    }
    bar.set_message(what);
    bar
}

/// The properties set locally on `dataset` (`zfs get -s local all`), as export records them
/// and clone carries them over.
pub fn local_props(
    host: &dyn crate::host::Host,
    dataset: &str,
) -> Result<BTreeMap<String, String>, crate::host::ProcessError> {
    use crate::host::zfs::{Get, parse_rows};
    let get = Get::new(["all"], [dataset])
        .without_source()
        .only_sources(["local"]);
    let out = host.run(&get.cmd())?;
    // A line not in the scripted form is skipped: ZFS prints none for `-H`.
    Ok(parse_rows(&out.stdout, false)
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.property.to_string(), r.value.to_string()))
        .collect())
}
