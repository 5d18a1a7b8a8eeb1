//! Adding a jail to a host from existing data (`jailctl import`, `jailctl clone`): the
//! checks that come before any change (a name not in use, a definition that validates with
//! every other jail of the configuration), and the undo stack that takes back every change
//! made so far when a later step fails, so a failed import or clone leaves the host and the
//! configuration as they were.

use crate::config;
use crate::config::spec::Global;
use crate::host::{Cmd, Host, tools};
use std::path::{Path, PathBuf};

/// Why the new jail cannot be added, found before anything changed.
#[derive(Debug, thiserror::Error)]
pub enum AdoptRefusal {
    #[error("invalid jail name \"{0}\": {1}")]
    BadName(String, String),
    #[error(
        "refusing to add jail `{name}`: {why}; pick another name with --name (or destroy the other jail first). Nothing was changed"
    )]
    InUse { name: String, why: String },
    #[error(
        "refusing to add jail `{name}`: its definition does not validate with this host's configuration:\n{errors}\nfix the conflict (another name, or --ip4/--ip6 for a clone), then run again. Nothing was changed"
    )]
    Invalid { name: String, errors: String },
    #[error("cannot check the definition of jail `{name}`: {cause}. Nothing was changed")]
    Io {
        name: String,
        #[source]
        cause: std::io::Error,
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
            .map_err(|e| AdoptRefusal::Io {
                name: name.to_string(),
                cause: std::io::Error::other(e.to_string()),
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

/// One change made, and how to take it back.
enum Done {
    Cmd { did: String, undo: Cmd },
    File(PathBuf),
}

/// The changes made so far, undone in reverse order by [`Undo::rollback`].
#[derive(Default)]
pub struct Undo {
    done: Vec<Done>,
}

impl Undo {
    /// Record that `did` was done and `undo` takes it back.
    pub fn push(&mut self, did: impl Into<String>, undo: Cmd) {
        self.done.push(Done::Cmd {
            did: did.into(),
            undo,
        });
    }

    /// Record a file written (removed to take it back).
    pub fn file(&mut self, path: PathBuf) {
        self.done.push(Done::File(path));
    }

    /// Take every change back, newest first. Returns what was undone and what could not be
    /// (with the reason), for the error report.
    pub fn rollback(self, host: &dyn Host) -> (Vec<String>, Vec<String>) {
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        for d in self.done.into_iter().rev() {
            match d {
                Done::Cmd { did, undo } => match host.run(&undo) {
                    Ok(_) => ok.push(format!("{did}: undone by `{undo}`")),
                    Err(e) => failed.push(format!("{did}: `{undo}` failed: {e}")),
                },
                Done::File(p) => match std::fs::remove_file(&p) {
                    Ok(()) => ok.push(format!("removed {}", p.display())),
                    Err(e) => failed.push(format!("remove {}: {e}", p.display())),
                },
            }
        }
        (ok, failed)
    }

    /// Everything succeeded: keep it.
    pub fn commit(self) {}
}

/// Write a definition file atomically (a temporary file renamed into place).
pub fn write_definition(path: &Path, toml: &str) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    crate::host::system::write_atomic(path, toml.as_bytes(), 0o644, true, || {})
}
