//! The host layout every jail shares: `<zfs_root>` with its `jails`, `bases` and `volumes`
//! parents, the mount root and jailctl's runtime directories. It has one owner: this module,
//! called once per command before any per-jail work (`up`, `boot`, `restart`, `base create`),
//! under the layout lock. Per-jail plans never create these; before, every jail of a parallel
//! first boot planned `zfs create …/jails` and all but one failed with "dataset already
//! exists".
//!
//! [`ensure`] observes first and takes the layout lock only when something is missing, so a
//! prepared host costs one `zfs list` and no waiting. Under the lock it observes again and
//! creates only what is still missing; a `zfs create` refused with "dataset already exists"
//! (made meanwhile by something that does not take jailctl's lock, e.g. a `zfs create` by hand)
//! is accepted only when the dataset is then seen to exist. [`missing`] is the observation
//! alone, for `--dry-run`, which prints the steps and changes nothing.

use super::lock::{Held, LockKey, Mode, warn_wait};
use crate::config::spec::Global;
use crate::host::{Cmd, Host, ProcessError, tools};
use std::fmt;
use std::path::PathBuf;

/// One missing piece of the layout and how it is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LayoutStep {
    /// `zfs create [-p] -o mountpoint=none DATASET`: a parent that holds jailctl's datasets and
    /// is not mounted itself (each child has its own mountpoint).
    Dataset { name: String, with_parents: bool },
    /// A host directory, with its mode.
    Dir { path: PathBuf, mode: u32 },
}

impl LayoutStep {
    fn cmd(&self) -> Option<Cmd> {
        match self {
            LayoutStep::Dataset { name, with_parents } => {
                let mut a = vec!["create".to_string()];
                if *with_parents {
                    a.push("-p".into());
                }
                a.extend(["-o".into(), "mountpoint=none".into(), name.clone()]);
                Some(Cmd::new(tools::ZFS, a))
            }
            LayoutStep::Dir { .. } => None,
        }
    }
}

impl fmt::Display for LayoutStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.cmd()) {
            (_, Some(c)) => write!(f, "{c}"),
            (LayoutStep::Dir { path, mode }, None) => {
                write!(f, "# mkdir -p -m {mode:o} {}", path.display())
            }
            _ => unreachable!("a dataset step has a command"),
        }
    }
}

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LayoutError {
    #[error("cannot take the host layout lock: {0}")]
    Lock(
        #[from]
        #[diagnostic_source]
        super::lock::LockError,
    ),
    #[error("cannot list jailctl's parent datasets under {zfs_root}: {source}")]
    #[diagnostic(help(
        "check that the pool exists (`zpool list`) and that zfs_root in jailctl.toml names a dataset in it"
    ))]
    Observe {
        zfs_root: String,
        #[source]
        source: Box<ProcessError>,
    },
    #[error("cannot create the parent dataset {dataset}: {source}")]
    #[diagnostic(help(
        "create it by hand (`zfs create -o mountpoint=none {dataset}`) and run again"
    ))]
    Create {
        dataset: String,
        #[source]
        source: Box<ProcessError>,
    },
    #[error("cannot create the directory {path}: {cause}", path = .path.display())]
    #[diagnostic(help("create it by hand (`mkdir -p {}`) and run again", .path.display()))]
    Dir {
        path: PathBuf,
        #[source]
        cause: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(#[from] ProcessError),
}

/// The parent datasets of the layout, outermost first.
pub fn datasets(global: &Global) -> Vec<String> {
    let r = &global.zfs_root;
    vec![
        r.clone(),
        format!("{r}/jails"),
        format!("{r}/bases"),
        format!("{r}/volumes"),
    ]
}

/// The host directories of the layout: the mount root (jail roots, `.bases`, `.volumes` are
/// mounted below it), the rendered jail.conf files and the undo journals.
pub fn dirs(global: &Global) -> Vec<(PathBuf, u32)> {
    vec![
        (global.mount_root.clone(), 0o755),
        (
            crate::render::conf_path("x")
                .parent()
                .expect("conf files live in a directory")
                .to_path_buf(),
            0o755,
        ),
        (PathBuf::from(super::JOURNAL_DIR), 0o700),
    ]
}

/// What of the layout is missing, in the order it would be made. Runs one read-only
/// `zfs list -d 1 <zfs_root>` and looks at the directories; changes nothing.
pub fn missing(host: &dyn Host, global: &Global) -> Result<Vec<LayoutStep>, LayoutError> {
    let want = datasets(global);
    // One operand: `<zfs_root>` and its children, or "dataset does not exist" for all.
    let list = Cmd::new(
        tools::ZFS,
        [
            "list",
            "-H",
            "-o",
            "name",
            "-d",
            "1",
            global.zfs_root.as_str(),
        ],
    );
    let out = host.output(&list)?;
    let absent = out.stderr.trim_end().ends_with("dataset does not exist");
    if !out.success() && !absent {
        return Err(LayoutError::Observe {
            zfs_root: global.zfs_root.clone(),
            source: Box::new(ProcessError::failed(&list, out)),
        });
    }
    let have: std::collections::BTreeSet<&str> = out.stdout.lines().map(str::trim).collect();
    let mut steps = Vec::new();
    for (i, d) in want.iter().enumerate() {
        if !have.contains(d.as_str()) {
            steps.push(LayoutStep::Dataset {
                name: d.clone(),
                // Only zfs_root may need ancestors below the pool made too.
                with_parents: i == 0,
            });
        }
    }
    for (path, mode) in dirs(global) {
        if !host.exists(&path) {
            steps.push(LayoutStep::Dir { path, mode });
        }
    }
    Ok(steps)
}

/// Make the layout complete: observe, and if anything is missing take the layout lock,
/// observe again and make only what is still missing. Returns what this run made.
pub fn ensure(
    host: &dyn Host,
    held: &Held,
    global: &Global,
) -> Result<Vec<LayoutStep>, LayoutError> {
    if missing(host, global)?.is_empty() {
        return Ok(Vec::new());
    }
    let _layout = held.take(host, &[(LockKey::Layout, Mode::Exclusive)], warn_wait)?;
    let todo = missing(host, global)?;
    for step in &todo {
        match step {
            LayoutStep::Dataset { name, .. } => {
                let cmd = step.cmd().expect("a dataset step has a command");
                let out = host.output(&cmd)?;
                let made = out.success() || (already_exists(&out.stderr) && exists(host, name)?);
                if !made {
                    return Err(LayoutError::Create {
                        dataset: name.clone(),
                        source: Box::new(ProcessError::failed(&cmd, out)),
                    });
                }
            }
            LayoutStep::Dir { path, mode } => {
                host.mkdir_p(path, *mode)
                    .map_err(|cause| LayoutError::Dir {
                        path: path.clone(),
                        cause,
                    })?;
            }
        }
    }
    if !todo.is_empty() {
        tracing::info!(
            "made the host layout: {}",
            todo.iter()
                .map(|s| match s {
                    LayoutStep::Dataset { name, .. } => name.clone(),
                    LayoutStep::Dir { path, .. } => path.display().to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(todo)
}

fn already_exists(stderr: &str) -> bool {
    stderr
        .lines()
        .any(|l| l.ends_with("dataset already exists"))
}

fn exists(host: &dyn Host, dataset: &str) -> Result<bool, LayoutError> {
    Ok(host
        .output(&Cmd::new(tools::ZFS, ["list", "-H", "-o", "name", dataset]))?
        .success())
}

/// The text `--dry-run` prints for the layout steps a real run would take first.
pub fn dry_run_text(steps: &[LayoutStep]) -> String {
    steps.iter().map(|s| format!("{s}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jailctl_core::fixtures::global;
    use jailctl_sim::SimHost;

    #[test]
    fn fresh_host_is_laid_out_once_and_a_dry_look_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimHost::open(dir.path()).unwrap();
        let g = global();
        let todo = missing(&sim, &g).unwrap();
        let text = dry_run_text(&todo);
        assert!(
            text.starts_with(
                "/sbin/zfs create -p -o mountpoint=none zroot/jailctl\n\
                 /sbin/zfs create -o mountpoint=none zroot/jailctl/jails\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("# mkdir -p -m 700 /var/db/jailctl/journal"),
            "{text}"
        );
        // Looking made nothing.
        assert_eq!(missing(&sim, &g).unwrap(), todo);
        let made = ensure(&sim, &Held::none(), &g).unwrap();
        assert_eq!(made, todo);
        assert!(missing(&sim, &g).unwrap().is_empty());
        // A second run observes and does nothing.
        let before = sim.snapshot().unwrap().history.len();
        assert!(ensure(&sim, &Held::none(), &g).unwrap().is_empty());
        let after = sim.snapshot().unwrap().history;
        assert_eq!(after.len(), before + 1, "one `zfs list`, nothing else");
        assert!(after.last().unwrap().cmd.to_string().contains(" list "));
    }

    #[test]
    fn only_the_missing_parent_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimHost::open(dir.path()).unwrap();
        let g = global();
        use crate::host::Runner;
        sim.run(&Cmd::new(
            tools::ZFS,
            ["create", "-p", "zroot/jailctl/jails"],
        ))
        .unwrap();
        let made = ensure(&sim, &Held::none(), &g).unwrap();
        let ds: Vec<String> = made
            .iter()
            .filter_map(|s| match s {
                LayoutStep::Dataset { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(ds, ["zroot/jailctl/bases", "zroot/jailctl/volumes"]);
    }

    #[test]
    fn a_missing_pool_is_an_error_naming_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let sim = SimHost::open(dir.path()).unwrap();
        let mut g = global();
        g.zfs_root = "tank/jailctl".into();
        let e = crate::host::explain(&ensure(&sim, &Held::none(), &g).unwrap_err());
        assert!(e.contains("tank/jailctl"), "{e}");
        assert!(
            e.contains("create it by hand") || e.contains("zpool list"),
            "{e}"
        );
    }
}
