//! Planning the two ends of `jailctl upgrade`: going back to the root an upgrade kept
//! ([`plan_rollback`]) and keeping the upgrade ([`plan_finish`]). The upgrade itself is
//! [`plan_up`] with [`UpOptions::upgrade`]: the re-create path, with the old root kept under
//! [`kept_root`] and the health check after the start.

use super::*;

/// The name an upgrade keeps a jail's old root under: `<root>.pre-upgrade`. Jail names
/// cannot contain a dot, so no jail's root can take it.
pub fn kept_root(root_dataset: &str) -> String {
    crate::config::layout::kept_root(root_dataset)
}

/// Plan `jailctl upgrade` of exactly `names` (their dependencies are not touched): each jail
/// whose root is not on its base's newest snapshot gets a new root cloned from it, the old
/// root kept under [`kept_root`]; with `base`, the base each of them must be defined with.
pub fn plan_upgrade(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    names: &[String],
    base: Option<&str>,
) -> Result<Plan, PlanError> {
    if let Some(b) = base {
        let dataset = render::base_dataset(global, b);
        if newest_snapshot(host, &dataset).is_none() {
            return Err(PlanError::UpgradeBaseMissing {
                base: b.to_string(),
                dataset,
            });
        }
    }
    for n in names {
        let spec = find(specs, n).ok_or_else(|| PlanError::UnknownJail(n.clone()))?;
        if let Some(b) = base
            && spec.base != b
        {
            return Err(PlanError::UpgradeBasePinned {
                jail: n.clone(),
                base: spec.base.clone(),
                wanted: b.to_string(),
                file: spec.source.display().to_string(),
            });
        }
    }
    let opts = UpOptions {
        upgrade: true,
        ..UpOptions::default()
    };
    plan_named(specs, global, host, names, &opts)
}

/// The name a rollback moves the upgraded root to before destroying it, last.
fn discarded_root(root_dataset: &str) -> String {
    format!("{root_dataset}.upgraded")
}

fn kept_or_err(
    host: &HostState,
    name: &str,
    ds_name: &str,
    what: &'static str,
) -> Result<String, PlanError> {
    let kept = kept_root(ds_name);
    if host.datasets.contains_key(&kept) {
        Ok(kept)
    } else {
        Err(PlanError::NothingKept {
            jail: name.to_string(),
            dataset: kept,
            what,
        })
    }
}

/// `jailctl upgrade NAME --rollback`: stop the jail if it runs, move the upgraded root aside,
/// rename the kept root back into its place, start the jail again if it ran (with its
/// limits and cpuset), and only then destroy the upgraded root. Volumes are not touched.
pub fn plan_rollback(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    name: &str,
) -> Result<Plan, PlanError> {
    let spec = find(specs, name).ok_or_else(|| PlanError::UnknownJail(name.to_string()))?;
    let net = crate::vnet::resolve(spec, global, host, specs)?;
    let spec = &net.spec;
    let ds_name = render::root_dataset(global, name);
    let kept = kept_or_err(host, name, &ds_name, "roll back")?;
    let Some(ds) = host.datasets.get(&ds_name) else {
        return Err(PlanError::UpgradeNoRoot {
            jail: name.to_string(),
            dataset: ds_name,
        });
    };
    if ds.prop(props::MANAGED) != Some("yes") {
        return Err(PlanError::NotManaged {
            jail: name.to_string(),
            dataset: ds_name,
        });
    }
    let discarded = discarded_root(&ds_name);
    if host.datasets.contains_key(&discarded) {
        return Err(PlanError::RetiredExists {
            jail: name.to_string(),
            dataset: discarded,
        });
    }
    let r = render::render(spec, global)?;
    let root = render::jail_root(global, name).display().to_string();
    let conf = render::conf_path(name);
    let running = host.jails.get(name).is_some_and(|j| !j.dying);
    let mut steps = Vec::new();
    if running {
        steps.push(Step::RemoveJail {
            name: name.to_string(),
            conf: conf.clone(),
            cpus: down::deployed_cpus(Some(ds)),
        });
    }
    if host.jails.contains_key(name) {
        steps.push(Step::AwaitGone {
            name: name.to_string(),
            dataset: ds_name.clone(),
            timeout_ms: millis(global.dying_wait),
            retry: format!("jailctl upgrade {name} --rollback"),
            replace: false,
        });
    }
    steps.push(Step::RetireRoot {
        dataset: ds_name.clone(),
        retired: discarded.clone(),
        mountpoint: root.clone(),
    });
    steps.push(Step::RestoreRoot {
        kept: kept.clone(),
        dataset: ds_name.clone(),
        mountpoint: root,
    });
    if running {
        steps.extend(start_again(spec, global, host, conf, r.conf));
    }
    steps.push(Step::DestroyDataset { dataset: discarded });
    let old_base = host
        .datasets
        .get(&kept)
        .and_then(|d| d.prop(props::BASE))
        .unwrap_or("-");
    let mut reasons = vec![format!(
        "{kept} (cloned from {old_base}) goes back in place of the upgraded root {ds_name}, which is destroyed; volumes are kept as they are"
    )];
    if running {
        reasons.push("it runs, so it is stopped and started again".into());
    }
    Ok(Plan {
        jails: vec![JailPlan {
            name: name.to_string(),
            action: Action::RollBack,
            reasons,
            steps,
        }],
    })
}

/// The steps that start a rolled-back jail again as it ran: its jail.conf, its VNET
/// interfaces, `jail -c`, its limits and cpuset.
fn start_again(
    spec: &JailSpec,
    global: &Global,
    host: &HostState,
    conf: std::path::PathBuf,
    contents: String,
) -> Vec<Step> {
    let name = spec.name.as_str();
    let mut steps = Vec::new();
    steps.push(Step::WriteFile {
        path: conf.clone(),
        contents,
        mode: 0o600,
        root: None,
    });
    steps.extend(
        crate::vnet::start_steps(spec, global, host)
            .into_iter()
            .map(Step::Net),
    );
    steps.push(Step::CreateJail {
        name: name.to_string(),
        conf,
    });
    let rules = rctl_rules(name, &spec.limits);
    let observed = host.rctl_rules.get(name).cloned().unwrap_or_default();
    if !rules.is_empty() || !observed.is_empty() {
        steps.push(Step::SetLimits {
            name: name.to_string(),
            old: observed,
            new: rules,
        });
    }
    if let Some(c) = &spec.cpuset {
        steps.push(Step::Cpuset {
            name: name.to_string(),
            cpus: c.clone(),
            old: "all".into(),
        });
    }
    steps
}

/// `jailctl upgrade NAME --finish`: destroy the root the upgrade kept. Whether jailctl made
/// it (and everything below it) is checked by the caller before it runs, as for every
/// destroy.
pub fn plan_finish(global: &Global, host: &HostState, name: &str) -> Result<Plan, PlanError> {
    let ds_name = render::root_dataset(global, name);
    let kept = kept_or_err(host, name, &ds_name, "finish")?;
    let old_base = host
        .datasets
        .get(&kept)
        .and_then(|d| d.prop(props::BASE))
        .unwrap_or("-");
    Ok(Plan {
        jails: vec![JailPlan {
            name: name.to_string(),
            action: Action::Finish,
            reasons: vec![format!(
                "the upgrade is kept: the old root {kept} (cloned from {old_base}) is destroyed; there is no going back to it afterwards"
            )],
            steps: vec![Step::DestroyDataset { dataset: kept }],
        }],
    })
}
