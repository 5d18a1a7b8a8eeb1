//! Provisioning: what a jail's `[provision]` section asks for (packages, files, commands),
//! turned into the exact ordered steps to run once, right after the jail is first created.
//!
//! Why it exists: re-running a provisioning step duplicates its effect (a second `useradd`,
//! a config line appended twice), so jailctl runs provisioning exactly once per jail and
//! records that it did: `jailctl:provisioned=<fingerprint>` on the jail's dataset. The
//! fingerprint covers everything that was applied, including the contents of the copied
//! files, so a later change to `[provision]` is seen (and reported) rather than silently
//! applied or silently ignored.
//!
//! This module is pure apart from [`execute`]: [`plan`] reads the source files and returns
//! the steps; the lifecycle code decides when to run them (after `jail -c`, before rctl; see
//! docs/provisioning.md).
//!
//! Steps, in order:
//! 1. packages: `/usr/sbin/pkg -j NAME install -y PKG...` (the host's pkg working inside the
//!    jail, so the jail needs no bootstrapped pkg of its own);
//! 2. files: written into the jail's root through [`HostFs`] with their mode, parents made
//!    `0755`; an owner is set with `jexec NAME /usr/sbin/chown OWNER TARGET`, so the name
//!    is looked up in the jail's passwd (where `pkg` just created `www`), not the host's;
//! 3. commands: `jexec -l NAME /bin/sh -c CMD`, each in a clean login environment;
//! 4. `zfs set jailctl:provisioned=<fingerprint> DATASET`.
//!
//! Packages come first because files usually configure them and owners usually come from
//! them; commands come last because they usually enable or initialise what was installed.

use crate::config::Provision;
use crate::host::{Cmd, Host, ProcessError, tools};
use sha2::{Digest, Sha256};
use std::path::{Component, Path, PathBuf};

/// The user property that records a jail's provisioning.
pub use crate::config::layout::props::PROVISIONED as PROP_PROVISIONED;

/// Mode of a provisioned file that does not give one.
pub const DEFAULT_MODE: u32 = 0o644;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ProvisionError {
    #[error("cannot read provisioning file {}: {cause}", path.display())]
    #[diagnostic(help("check `source` in [[provision.files]]; it is read on the host"))]
    Source {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error("provisioning target {} is not usable: {reason}", target.display())]
    #[diagnostic(help("give an absolute path inside the jail, without `..`"))]
    Target { target: PathBuf, reason: String },
    #[error("jail `{jail}`: provisioning failed at {what}: {cause}")]
    #[diagnostic(help(
        "fix the [provision] section of the jail; the jail's creation is undone, so `jailctl up` starts over"
    ))]
    Step {
        jail: String,
        what: String,
        #[source]
        cause: Box<ProcessError>,
    },
    #[error("jail `{jail}`: cannot write {} ({}): {cause}", dest.display(), target.display())]
    #[diagnostic(help("check that the jail's root is mounted and writable"))]
    Write {
        jail: String,
        target: PathBuf,
        dest: PathBuf,
        #[source]
        cause: std::io::Error,
    },
}

/// One provisioning step.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Run a command on the host (pkg, jexec, zfs).
    Run { what: String, cmd: Cmd },
    /// Write a file into the jail's root.
    Write {
        /// Where the contents were read from (for messages).
        source: PathBuf,
        /// The path inside the jail.
        target: PathBuf,
        /// The host path: the jail's root joined with `target`.
        dest: PathBuf,
        mode: u32,
        /// Shown in `plan --json` by its size only.
        #[serde(skip)]
        contents: Vec<u8>,
    },
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Run { cmd, .. } => write!(f, "{cmd}"),
            Step::Write {
                source, dest, mode, ..
            } => write!(
                f,
                "write {} to {} (mode {mode:04o})",
                source.display(),
                dest.display()
            ),
        }
    }
}

/// A jail's provisioning: the fingerprint to record and the steps, the last of which records it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Plan {
    pub jail: String,
    /// The jail's root as a host path; files are written below it without following links.
    pub root: PathBuf,
    pub fingerprint: String,
    pub steps: Vec<Step>,
}

/// Whether a jail has been provisioned, from the recorded property (`None` or `-` if unset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Never provisioned: run the plan.
    Pending,
    /// Provisioned with exactly this `[provision]`: nothing to do.
    Done,
    /// Provisioned with another `[provision]`. jailctl does not run it again on a live jail
    /// (that is what duplicates effects); re-creating the jail applies the new one.
    Changed { recorded: String },
}

pub fn status(recorded: Option<&str>, fingerprint: &str) -> Status {
    match recorded.map(str::trim) {
        None | Some("") | Some("-") => Status::Pending,
        Some(r) if r == fingerprint => Status::Done,
        Some(r) => Status::Changed {
            recorded: r.to_string(),
        },
    }
}

/// What the fingerprint covers, serialised to JSON (field order is fixed, so it is stable).
#[derive(serde::Serialize)]
struct Canonical<'a> {
    version: u32,
    packages: &'a [String],
    files: Vec<CanonicalFile<'a>>,
    commands: &'a [String],
}

#[derive(serde::Serialize)]
struct CanonicalFile<'a> {
    target: &'a Path,
    owner: Option<&'a str>,
    mode: u32,
    sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The fingerprint of a provisioning whose file contents are `contents` (in the order of
/// `p.files`): SHA-256 over packages, file targets, owners, modes and contents, and
/// commands, in order. 64 hex digits.
pub fn fingerprint(p: &Provision, contents: &[Vec<u8>]) -> String {
    let files = p
        .files
        .iter()
        .zip(contents)
        .map(|(f, c)| CanonicalFile {
            target: &f.target,
            owner: f.owner.as_deref(),
            mode: f.mode.unwrap_or(DEFAULT_MODE),
            sha256: hex(&Sha256::digest(c)),
        })
        .collect();
    let canonical = Canonical {
        version: 1,
        packages: &p.packages,
        files,
        commands: &p.commands,
    };
    let json = serde_json::to_vec(&canonical).expect("plain data serialises");
    hex(&Sha256::digest(&json))
}

/// Where `target` (a path inside the jail) is under `root` (the jail's root, a host path).
fn dest_of(root: &Path, target: &Path) -> Result<PathBuf, ProvisionError> {
    let bad = |reason: &str| ProvisionError::Target {
        target: target.to_path_buf(),
        reason: reason.to_string(),
    };
    if !target.is_absolute() {
        return Err(bad("it is not absolute"));
    }
    let mut dest = root.to_path_buf();
    for c in target.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => dest.push(n),
            Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(bad("it contains `..`")),
        }
    }
    if dest == root {
        return Err(bad("it is the jail's root directory"));
    }
    Ok(dest)
}

/// The steps that provision jail `jail` (running, rooted at host path `root`, its dataset
/// `dataset`). Reads the source files now, so what is fingerprinted is what is written.
pub fn plan(jail: &str, dataset: &str, root: &Path, p: &Provision) -> Result<Plan, ProvisionError> {
    let mut contents = Vec::with_capacity(p.files.len());
    for f in &p.files {
        contents.push(
            std::fs::read(&f.source).map_err(|cause| ProvisionError::Source {
                path: f.source.clone(),
                cause,
            })?,
        );
    }
    let fingerprint = fingerprint(p, &contents);
    let mut steps = Vec::new();
    if !p.packages.is_empty() {
        let mut args = vec![
            "-j".to_string(),
            jail.to_string(),
            "install".into(),
            "-y".into(),
        ];
        args.extend(p.packages.iter().cloned());
        steps.push(Step::Run {
            what: format!("installing packages ({})", p.packages.join(", ")),
            cmd: Cmd::new(tools::PKG, args),
        });
    }
    for (f, data) in p.files.iter().zip(contents) {
        let dest = dest_of(root, &f.target)?;
        steps.push(Step::Write {
            source: f.source.clone(),
            target: f.target.clone(),
            dest,
            mode: f.mode.unwrap_or(DEFAULT_MODE),
            contents: data,
        });
        if let Some(owner) = &f.owner {
            steps.push(Step::Run {
                what: format!("setting the owner of {} to {owner}", f.target.display()),
                cmd: Cmd::new(
                    tools::JEXEC,
                    [
                        jail.to_string(),
                        tools::CHOWN.to_string(),
                        owner.clone(),
                        f.target.display().to_string(),
                    ],
                ),
            });
        }
    }
    for (i, c) in p.commands.iter().enumerate() {
        steps.push(Step::Run {
            what: format!("command {} of {} (`{c}`)", i + 1, p.commands.len()),
            cmd: Cmd::new(tools::JEXEC, ["-l", jail, "/bin/sh", "-c", c.as_str()]),
        });
    }
    steps.push(Step::Run {
        what: "recording the provisioning on the jail's dataset".into(),
        cmd: Cmd::new(
            tools::ZFS,
            [
                "set".to_string(),
                format!("{PROP_PROVISIONED}={fingerprint}"),
                dataset.to_string(),
            ],
        ),
    });
    Ok(Plan {
        jail: jail.to_string(),
        root: root.to_path_buf(),
        fingerprint,
        steps,
    })
}

/// Whether a `[provision]` section asks for anything at all.
pub fn is_empty(p: &Provision) -> bool {
    p.packages.is_empty() && p.files.is_empty() && p.commands.is_empty()
}

/// Run the steps in order; stop at the first failure. (`jailctl up` does not call this: it
/// runs the same steps as ops of its plan, under its undo journal; see
/// [`crate::apply::ops`].) The caller undoes the jail's creation on an error, so a half-provisioned jail never stays (and is never recorded as done).
pub fn execute(host: &dyn Host, plan: &Plan) -> Result<(), ProvisionError> {
    for step in &plan.steps {
        match step {
            Step::Run { what, cmd } => {
                tracing::info!(jail = %plan.jail, "{what}");
                host.run(cmd).map_err(|cause| ProvisionError::Step {
                    jail: plan.jail.clone(),
                    what: what.clone(),
                    cause: Box::new(cause),
                })?;
            }
            Step::Write {
                target,
                dest,
                mode,
                contents,
                ..
            } => {
                let write_err = |cause| ProvisionError::Write {
                    jail: plan.jail.clone(),
                    target: target.clone(),
                    dest: dest.clone(),
                    cause,
                };
                // Below the jail's root, never following a link the base or a package
                // planted there (missing parents are made 0755).
                let rel = dest.strip_prefix(&plan.root).unwrap_or(target);
                host.write_in_root(&plan.root, rel, contents, *mode)
                    .map_err(write_err)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
