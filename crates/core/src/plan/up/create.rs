//! A jail whose root is cloned by this `up`: a new jail (no root dataset yet), or a jail
//! re-created on a changed base (its old root retired, then destroyed once the new one runs;
//! volumes kept).

use super::Jail;
use crate::observe::Dataset;
use crate::plan::down::deployed_cpus;
use crate::plan::step::{Action, JailPlan, Step};
use crate::plan::{PlanError, UpOptions, health_step, kept_root, millis, props};

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
    if !opts.recreate && !opts.upgrade {
        return Err(PlanError::BaseChanged {
            jail: name.clone(),
            old: old_base,
            new,
        });
    }
    debug_assert_eq!(new, j.snapshot);
    let kept = kept_root(ds_name);
    if opts.upgrade {
        if j.host.datasets.contains_key(&kept) {
            return Err(PlanError::UpgradeKept {
                jail: name.clone(),
                dataset: kept,
            });
        }
        reasons.push(format!(
            "upgrade from {old_base} to {}: the old root is kept as {kept}, volumes are kept as they are, provisioning runs again{}",
            j.snapshot,
            if j.spec.health.is_some() {
                ", then the health check"
            } else {
                ""
            }
        ));
    } else {
        reasons.push(format!(
            "base changed from {old_base} to {} (root re-cloned, volumes kept)",
            j.snapshot
        ));
    }
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
            retry: if opts.upgrade {
                format!("jailctl upgrade {name}")
            } else {
                format!("jailctl up {name} --recreate")
            },
            replace: false,
        });
    }
    let retired = if opts.upgrade {
        kept
    } else {
        crate::config::layout::retired_root(ds_name)
    };
    if !opts.upgrade && j.host.datasets.contains_key(&retired) {
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
    if opts.upgrade {
        if let Some(h) = &j.spec.health {
            steps.push(health_step(name, h));
        }
        return Ok(JailPlan {
            name: name.clone(),
            action: Action::Upgrade,
            reasons,
            steps,
        });
    }
    steps.push(Step::DestroyDataset { dataset: retired });
    Ok(JailPlan {
        name: name.clone(),
        action: Action::Recreate,
        reasons,
        steps,
    })
}
