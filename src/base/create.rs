//! `jailctl base create`: a new base dataset made, filled from the verified sets and
//! snapshotted, with what it made (missing parents, mount directories) removed again when
//! it fails part-way.

use super::*;

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
