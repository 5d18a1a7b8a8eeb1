//! A jail whose root is cloned by this `up`: a new jail (no root dataset yet), or a jail
//! re-created on a changed base (its old root retired, then destroyed once the new one runs;
//! volumes kept).

use super::Jail;
use crate::observe::Dataset;
use crate::plan::down::deployed_cpus;
use crate::plan::step::{Action, JailPlan, Step};
use crate::plan::{PlanError, UpOptions, millis, props};

/// The root dataset does not exist: clone it, then create and start the jail.
pub(super) fn create(j: &Jail) -> Result<JailPlan, PlanError> {
    let mut steps = Vec::new();
    let mut reasons = Vec::new();
    if j.running {
        return Err(PlanError::RunningWithoutDataset {
            jail: j.name.clone(),
            dataset: j.ds_name.clone(),
        });
    }
    if j.newest.is_none() {
        return Err(j.base_missing());
    }
    reasons.push(format!("{} does not exist", j.ds_name));
    j.volume_steps(&mut steps);
    j.clone_step(&mut steps);
    j.start_steps(&mut steps, true);
    if let Some(p) = &j.prov {
        reasons.push(format!(
            "it is provisioned once, now ({} step(s))",
            p.steps.len()
        ));
    }
    Ok(JailPlan {
        name: j.name.clone(),
        action: Action::Create,
        reasons,
        steps,
    })
}

/// The root `ds` was cloned from another base than the definition names: re-clone it from
/// the new base's newest snapshot, only when `--recreate` asks.
pub(super) fn recreate(j: &Jail, ds: &Dataset, opts: &UpOptions) -> Result<JailPlan, PlanError> {
    let (name, ds_name) = (j.name, &j.ds_name);
    let mut steps = Vec::new();
    let mut reasons = Vec::new();
    let old_base = ds.prop(props::BASE).unwrap_or("-").to_string();
    let Some(new) = j.newest.clone() else {
        return Err(j.base_missing());
    };
    if !opts.recreate {
        return Err(PlanError::BaseChanged {
            jail: name.clone(),
            old: old_base,
            new,
        });
    }
    debug_assert_eq!(new, j.snapshot);
    reasons.push(format!(
        "base changed from {old_base} to {} (root re-cloned, volumes kept)",
        j.snapshot
    ));
    if j.running {
        steps.push(Step::RemoveJail {
            name: name.clone(),
            conf: j.conf.clone(),
            cpus: deployed_cpus(Some(ds)),
        });
    }
    if j.host.jails.contains_key(name) {
        // The stopped (or already dying) jail holds its root until the kernel is done.
        steps.push(Step::AwaitGone {
            name: name.clone(),
            dataset: ds_name.clone(),
            timeout_ms: millis(j.global.dying_wait),
            retry: format!("jailctl up {name} --recreate"),
            replace: false,
        });
    }
    let retired = format!("{ds_name}.retired");
    if j.host.datasets.contains_key(&retired) {
        return Err(PlanError::RetiredExists {
            jail: name.clone(),
            dataset: retired,
        });
    }
    steps.push(Step::RetireRoot {
        dataset: ds_name.clone(),
        retired: retired.clone(),
        mountpoint: j.root.display().to_string(),
    });
    j.volume_steps(&mut steps);
    j.clone_step(&mut steps);
    j.start_steps(&mut steps, true);
    steps.push(Step::DestroyDataset { dataset: retired });
    Ok(JailPlan {
        name: name.clone(),
        action: Action::Recreate,
        reasons,
        steps,
    })
}
