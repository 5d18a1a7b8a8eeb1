//! `jailctl base update`: an existing base refilled from new sets into a fresh snapshot,
//! rolled back to its previous snapshot (and properties) when that fails part-way.

use super::*;

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
