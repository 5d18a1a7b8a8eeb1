//! `jailctl base destroy`: a base dataset and its snapshots destroyed, journaled so a
//! killed run is finished by the next one.

use super::*;

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
