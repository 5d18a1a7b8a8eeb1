//! Adding a jail to a host from existing data (`jailctl import`, `jailctl clone`): the
//! checks that come before any change (a name not in use, a definition that validates with
//! every other jail of the configuration), and the undo stack that takes back every change
//! made so far when a later step fails, so a failed import or clone leaves the host and the
//! configuration as they were. The undo stack is journaled before each change, so a run
//! killed half-way is undone by the next import or clone of the same name. (The apply
//! journal is keyed to planned steps; a receive from an archive is no planned step.)

use crate::config;
use crate::config::spec::Global;
use crate::host::{Cmd, Host, tools};
use std::path::{Path, PathBuf};

/// Why the new jail cannot be added, found before anything changed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AdoptRefusal {
    #[error("invalid jail name \"{0}\": {1}")]
    BadName(String, #[source] config::units::ValueError),
    #[error("refusing to add jail `{name}`: {why}. Nothing was changed")]
    #[diagnostic(help("pick another name with --name (or destroy the other jail first)"))]
    InUse { name: String, why: String },
    #[error(
        "refusing to add jail `{name}`: its definition does not validate with this host's configuration:\n{errors}\nNothing was changed"
    )]
    #[diagnostic(help(
        "fix the conflict (another name, or --ip4/--ip6 for a clone), then run again"
    ))]
    Invalid { name: String, errors: String },
    #[error("cannot check whether jail `{name}`'s datasets exist: {cause}. Nothing was changed")]
    Host {
        name: String,
        #[source]
        cause: Box<crate::host::ProcessError>,
    },
    #[error("cannot check the definition of jail `{name}`: {cause}. Nothing was changed")]
    Io {
        name: String,
        #[source]
        cause: std::io::Error,
    },
}

/// Why a change of an import or clone, or the journal that records it, failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum AdoptError {
    #[error("cannot write the journal {}: {source}", .path.display())]
    #[diagnostic(help("check that /var/db is writable"))]
    JournalWrite {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the journal {}: {source}", .path.display())]
    JournalRead {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot remove the journal {}: {source}", .path.display())]
    JournalRemove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the journal {} is damaged ({source})", .path.display())]
    #[diagnostic(help("check jail `{name}`'s datasets by hand and delete it"))]
    JournalDamaged {
        path: PathBuf,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the interrupted import or clone of `{name}` could not be undone: {}",
        .failed.join("; ")
    )]
    #[diagnostic(help(
        "fix the cause and run again, or take these back by hand and delete {}",
        .path.display()
    ))]
    NotUndone {
        name: String,
        failed: Vec<String>,
        path: PathBuf,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(#[from] crate::host::ProcessError),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Layout(#[from] crate::apply::layout::LayoutError),
    #[error("cannot {what} {}: {source}", .path.display())]
    File {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where jail `name`'s definition file lives.
pub fn definition_path(config_dir: &Path, name: &str) -> PathBuf {
    config_dir.join("jails").join(format!("{name}.toml"))
}

/// Refuse a bad name, a name with a definition, or a name whose datasets exist.
pub fn check_free(
    host: &dyn Host,
    config_dir: &Path,
    global: &Global,
    name: &str,
    datasets: &[String],
) -> Result<(), AdoptRefusal> {
    config::rules::check_jail_name(name).map_err(|e| AdoptRefusal::BadName(name.to_string(), e))?;
    let def = definition_path(config_dir, name);
    if def.exists() {
        return Err(AdoptRefusal::InUse {
            name: name.to_string(),
            why: format!("{} already defines it", def.display()),
        });
    }
    let mut all = vec![crate::config::layout::root_dataset(global, name)];
    all.extend(datasets.iter().cloned());
    for ds in all {
        let out = host
            .output(&Cmd::new(
                tools::ZFS,
                ["list", "-H", "-o", "name", ds.as_str()],
            ))
            .map_err(|e| AdoptRefusal::Host {
                name: name.to_string(),
                cause: Box::new(e),
            })?;
        if out.success() {
            return Err(AdoptRefusal::InUse {
                name: name.to_string(),
                why: format!("the dataset {ds} exists"),
            });
        }
    }
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let dst = to.join(e.file_name());
        if t.is_dir() {
            copy_dir(&e.path(), &dst)?;
        } else if t.is_file() {
            std::fs::copy(e.path(), &dst)?;
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(e.path())?, &dst)?;
        }
    }
    Ok(())
}

/// Check that `toml` as `jails/NAME.toml` validates together with the rest of the
/// configuration in `config_dir` (addresses, names, templates), on a copy of it: the real
/// configuration directory is not touched.
pub fn validate(config_dir: &Path, name: &str, toml: &str) -> Result<(), AdoptRefusal> {
    let io = |cause| AdoptRefusal::Io {
        name: name.to_string(),
        cause,
    };
    let tmp = tempfile::tempdir().map_err(io)?;
    let copy = tmp.path().join("etc");
    copy_dir(config_dir, &copy).map_err(io)?;
    std::fs::create_dir_all(copy.join("jails")).map_err(io)?;
    std::fs::write(definition_path(&copy, name), toml).map_err(io)?;
    let l = config::load_lenient(&copy).map_err(|e| AdoptRefusal::Invalid {
        name: name.to_string(),
        errors: e.render().replace(
            &copy.display().to_string(),
            &config_dir.display().to_string(),
        ),
    })?;
    if let Some(errs) = l.broken(name) {
        return Err(AdoptRefusal::Invalid {
            name: name.to_string(),
            errors: errs.render().replace(
                &copy.display().to_string(),
                &config_dir.display().to_string(),
            ),
        });
    }
    // Conflicts across jails (two jails with one address) are found by the full load: when
    // the configuration loads without the new file, it must load with it.
    if config::load(config_dir).is_ok()
        && let Err(e) = config::load(&copy)
    {
        return Err(AdoptRefusal::Invalid {
            name: name.to_string(),
            errors: e.render().replace(
                &copy.display().to_string(),
                &config_dir.display().to_string(),
            ),
        });
    }
    Ok(())
}

/// Where the journal of an import or clone in progress lives (one file per new jail): a run
/// killed half-way is undone by the next import or clone of that name.
pub const JOURNAL_DIR: &str = "/var/db/jailctl/journal/adopt";

fn journal_path(name: &str) -> PathBuf {
    Path::new(JOURNAL_DIR).join(format!("{name}.json"))
}

/// One change, recorded before it is made, and how to take it back.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum Done {
    Cmd { did: String, undo: Cmd },
    File(PathBuf),
}

/// The changes an import or clone makes, each recorded in its journal *before* it is made,
/// undone in reverse order by [`Undo::rollback`] (or, after a kill, by
/// [`finish_interrupted`]). An undo finding its object already gone (the change had not been
/// made yet when the run stopped) counts as done.
pub struct Undo<'h> {
    host: &'h dyn Host,
    journal: PathBuf,
    done: Vec<Done>,
}

/// Whether an undo failed only because what it removes is not there.
fn already_gone(e: &crate::host::ProcessError) -> bool {
    // zfs(8)'s words for a dataset, and for a snapshot, that is not there.
    matches!(e, crate::host::ProcessError::Failed { stderr, .. }
        if stderr.contains("dataset does not exist")
            || stderr.contains("could not find any snapshots to destroy"))
}

fn undo_all(host: &dyn Host, done: Vec<Done>) -> (Vec<String>, Vec<String>) {
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for d in done.into_iter().rev() {
        match d {
            Done::Cmd { did, undo } => match host.run(&undo) {
                Ok(_) => ok.push(format!("{did}: undone by `{undo}`")),
                Err(e) if already_gone(&e) => {}
                Err(e) => failed.push(format!("{did}: `{undo}` failed: {e}")),
            },
            Done::File(p) => match std::fs::remove_file(&p) {
                Ok(()) => ok.push(format!("removed {}", p.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => failed.push(format!("remove {}: {e}", p.display())),
            },
        }
    }
    (ok, failed)
}

impl<'h> Undo<'h> {
    pub fn new(host: &'h dyn Host, name: &str) -> Self {
        Undo {
            host,
            journal: journal_path(name),
            done: Vec::new(),
        }
    }

    fn save(&self) -> Result<(), AdoptError> {
        let why = |source: std::io::Error| AdoptError::JournalWrite {
            path: self.journal.clone(),
            source,
        };
        self.host
            .mkdir_p(Path::new(JOURNAL_DIR), 0o700)
            .map_err(why)?;
        let json = serde_json::to_vec(&self.done).expect("serialisable");
        self.host.write(&self.journal, &json, 0o600).map_err(why)
    }

    /// Record, before doing it, that `did` is about to be done and `undo` takes it back.
    pub fn push(&mut self, did: impl Into<String>, undo: Cmd) -> Result<(), AdoptError> {
        self.done.push(Done::Cmd {
            did: did.into(),
            undo,
        });
        self.save()
    }

    /// Record, before writing it, a file (removed to take it back).
    pub fn file(&mut self, path: PathBuf) -> Result<(), AdoptError> {
        self.done.push(Done::File(path));
        self.save()
    }

    /// Take every change back, newest first. Returns what was undone and what could not be
    /// (with the reason), for the error report. The journal stays when something could not
    /// be undone, so the next run tries again.
    pub fn rollback(self) -> (Vec<String>, Vec<String>) {
        let (ok, failed) = undo_all(self.host, self.done);
        if failed.is_empty() {
            drop_journal(self.host, &self.journal);
        }
        (ok, failed)
    }

    /// Everything succeeded: keep it, and drop the journal.
    pub fn commit(self) -> Result<(), AdoptError> {
        match self.host.remove_file(&self.journal) {
            Ok(()) => {
                drop_journal(self.host, &self.journal);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(AdoptError::JournalRemove {
                path: self.journal.clone(),
                source,
            }),
        }
    }
}

/// Remove a journal and, when it was the last, its directory (an import or clone of another
/// name running meanwhile keeps it: rmdir(2) refuses a directory that is not empty).
fn drop_journal(host: &dyn Host, journal: &Path) {
    let _ = host.remove_file(journal);
    let _ = host.remove_dir(Path::new(JOURNAL_DIR));
}

/// Undo an import or clone of `name` that a kill interrupted, if its journal is there.
/// Returns what was undone; an error when some of it could not be (the journal stays).
pub fn finish_interrupted(host: &dyn Host, name: &str) -> Result<Vec<String>, AdoptError> {
    let path = journal_path(name);
    let _ = host.remove_file(&path.with_extension("jailctl-tmp"));
    let bytes = match host.read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(AdoptError::JournalRead { path, source }),
    };
    let done: Vec<Done> =
        serde_json::from_slice(&bytes).map_err(|source| AdoptError::JournalDamaged {
            path: path.clone(),
            name: name.to_string(),
            source,
        })?;
    let (ok, failed) = undo_all(host, done);
    if !failed.is_empty() {
        return Err(AdoptError::NotUndone {
            name: name.to_string(),
            failed,
            path,
        });
    }
    host.remove_file(&path)
        .map_err(|source| AdoptError::JournalRemove {
            path: path.clone(),
            source,
        })?;
    drop_journal(host, &path);
    if !ok.is_empty() {
        tracing::warn!(
            "jail `{name}`: undid an interrupted import or clone first: {}",
            ok.join("; ")
        );
    }
    Ok(ok)
}

/// Write a definition file atomically (a temporary file renamed into place).
pub fn write_definition(path: &Path, toml: &str) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    crate::host::system::write_atomic(path, toml.as_bytes(), 0o644, true, || {})
}

/// Make the per-jail parent of `name`'s volumes (`<zfs_root>/volumes/NAME`, mountpoint=none)
/// unless it exists, recording its destroy in `undo` first.
pub fn ensure_volume_parent(
    host: &dyn Host,
    global: &Global,
    name: &str,
    undo: &mut Undo<'_>,
) -> Result<(), AdoptError> {
    let parent = format!("{}/volumes/{name}", global.zfs_root);
    let exists = host
        .output(&Cmd::new(
            tools::ZFS,
            ["list", "-H", "-o", "name", parent.as_str()],
        ))?
        .success();
    if exists {
        return Ok(());
    }
    undo.push(
        format!("created {parent}"),
        Cmd::new(tools::ZFS, ["destroy", parent.as_str()]),
    )?;
    host.run(&Cmd::new(
        tools::ZFS,
        ["create", "-o", "mountpoint=none", parent.as_str()],
    ))
    .map(|_| ())
    .map_err(AdoptError::from)
}
