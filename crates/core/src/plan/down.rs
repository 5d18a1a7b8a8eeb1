//! Planning `down` and `destroy`: which jails stop (dependents first), and what each stop
//! or destroy removes.

use super::*;

/// Plan `down`: dependents first; refuses to stop a jail a running jail depends on unless
/// `with_dependents`.
pub fn plan_down(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    targets: &[String],
    opts: &DownOptions,
) -> Result<Plan, PlanError> {
    let names = stop_order(specs, host, targets, opts)?;
    let mut plan = Plan::default();
    for n in names {
        plan.jails
            .push(down_jail(&n, global, host, find(specs, &n)));
    }
    Ok(plan)
}

/// The cpu-list a deployed jail is pinned to, `None` for all CPUs.
pub(super) fn deployed_cpus(ds: Option<&Dataset>) -> Option<String> {
    ds.and_then(|d| d.prop(props::CPUSET))
        .filter(|c| *c != "all")
        .map(str::to_string)
}

fn down_jail(name: &str, global: &Global, host: &HostState, spec: Option<&JailSpec>) -> JailPlan {
    let mut steps = Vec::new();
    let mut reasons = Vec::new();
    if !host.jails.contains_key(name) {
        // A stop whose clean-up failed part way leaves mounts under the root: finish it,
        // deepest first (ZFS datasets are jailctl's own and stay mounted).
        let root = render::jail_root(global, name);
        let mut left: Vec<&crate::observe::MountEntry> = host
            .mounts
            .iter()
            .filter(|m| m.fstype != "zfs" && Path::new(&m.target).starts_with(&root))
            .filter(|m| Path::new(&m.target) != root)
            .collect();
        left.reverse();
        for m in left {
            reasons.push(format!("{} is still mounted", m.target));
            steps.push(Step::Unmount {
                source: m.source.clone(),
                target: m.target.clone(),
                fstype: m.fstype.clone(),
                options: m.options.clone(),
            });
        }
    }
    let action = match host.jails.get(name) {
        Some(j) if j.dying => {
            reasons.push("the kernel is already tearing it down (dying)".into());
            Action::AlreadyStopped
        }
        Some(_) => {
            reasons.insert(0, "it is running".into());
            steps.push(Step::RemoveJail {
                name: name.to_string(),
                conf: render::conf_path(name),
                cpus: deployed_cpus(host.datasets.get(&render::root_dataset(global, name))),
            });
            Action::Stop
        }
        None => Action::AlreadyStopped,
    };
    let rules = host.rctl_rules.get(name).cloned().unwrap_or_default();
    if !rules.is_empty() {
        // rctl keeps a jail's rules after the jail is gone. Stopping a running jail removes
        // them as one of its steps (the step says so); only for a jail already stopped are
        // they the reason there is anything to do at all.
        if action == Action::AlreadyStopped {
            reasons.push("its rctl rules outlive the jail".into());
        }
        // Before the stop: if `rctl -r` fails the jail is still running untouched, and if
        // the stop fails the rules are simply added back (no restart needed to undo).
        steps.insert(
            0,
            Step::SetLimits {
                name: name.to_string(),
                old: rules,
                new: vec![],
            },
        );
    }
    // VNET: the epair goes with the jail (also when it is dying or was stopped elsewhere).
    let net = crate::vnet::stop_steps(name, host, crate::vnet::bridge_of(spec));
    if !net.is_empty() && action == Action::AlreadyStopped {
        reasons.push("its epair is still on the host".into());
    }
    steps.extend(net.into_iter().map(Step::Net));
    // pf: the anchor is flushed and the address leaves the NAT table once the jail is gone.
    let pf = super::pf::stop_steps(
        name,
        spec,
        host.datasets.get(&render::root_dataset(global, name)),
        host,
    );
    if !pf.is_empty() && action == Action::AlreadyStopped {
        reasons.push("its pf rules are still loaded".into());
    }
    steps.extend(pf);
    JailPlan {
        name: name.to_string(),
        action,
        reasons,
        steps,
    }
}

/// Targets plus (if allowed) running dependents, in stop order (dependents first). Targets
/// not defined but present on the host (a deleted definition) are allowed.
fn stop_order(
    specs: &[JailSpec],
    host: &HostState,
    targets: &[String],
    opts: &DownOptions,
) -> Result<Vec<String>, PlanError> {
    let mut set: Vec<String> = if targets.is_empty() {
        specs.iter().map(|s| s.name.clone()).collect()
    } else {
        targets.to_vec()
    };
    // Running jails that (transitively) depend on something in the set. A dying jail is on
    // its way out: it no longer uses its dependencies and has nothing left to stop.
    loop {
        let mut added = false;
        for s in specs {
            let running = host.jails.get(&s.name).is_some_and(|j| !j.dying);
            if set.contains(&s.name) || !running {
                continue;
            }
            if let Some(dep) = s.depends_on.iter().find(|d| set.contains(d)) {
                if !opts.with_dependents {
                    return Err(PlanError::HasDependents {
                        jail: dep.clone(),
                        dependents: vec![s.name.clone()],
                    });
                }
                set.push(s.name.clone());
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    let defined: Vec<String> = set
        .iter()
        .filter(|n| find(specs, n).is_some())
        .cloned()
        .collect();
    let mut ordered = order(specs, &defined)?;
    ordered.retain(|n| set.contains(n));
    ordered.reverse();
    for n in &set {
        if !ordered.contains(n) {
            ordered.push(n.clone());
        }
    }
    Ok(ordered)
}

/// Plan `destroy`: stop, remove rules, destroy the datasets jailctl manages (volumes only
/// with `opts.volumes`). The rendered jail.conf is removed too.
pub fn plan_destroy(
    specs: &[JailSpec],
    global: &Global,
    host: &HostState,
    targets: &[String],
    opts: &DownOptions,
) -> Result<Plan, PlanError> {
    let names = stop_order(specs, host, targets, opts)?;
    let mut plan = Plan::default();
    for n in names {
        let mut jp = down_jail(&n, global, host, find(specs, &n));
        if !targets.is_empty() && !targets.contains(&n) {
            // A dependent is only stopped.
            plan.jails.push(jp);
            continue;
        }
        let known = find(specs, &n).is_some();
        let ds_name = render::root_dataset(global, &n);
        let root = render::jail_root(global, &n);
        if !known && !host.datasets.contains_key(&ds_name) {
            return Err(PlanError::UnknownJail(n));
        }
        // The old root an upgrade kept is not below the jail's root: it would outlive it.
        let kept = kept_root(&ds_name);
        if host.datasets.contains_key(&kept) {
            return Err(PlanError::DestroyKept {
                jail: n,
                dataset: kept,
            });
        }
        if !host.jails.contains_key(&n) {
            let prefix = format!("{}/", root.display());
            let under: Vec<&str> = host
                .mounts
                .iter()
                .filter(|m| m.target.starts_with(&prefix))
                .map(|m| m.target.as_str())
                .collect();
            if !under.is_empty() {
                return Err(PlanError::MountsRemain {
                    jail: n,
                    path: root.display().to_string(),
                    mounts: under.join(", "),
                });
            }
        }
        if let Some(ds) = host.datasets.get(&ds_name) {
            if ds.prop(props::MANAGED) != Some("yes") {
                return Err(PlanError::NotManaged {
                    jail: n,
                    dataset: ds_name,
                });
            }
            jp.steps.push(Step::RemoveFile {
                path: render::conf_path(&n),
            });
            if host.jails.contains_key(&n) {
                // Stopped just now or earlier, a jail the kernel is still tearing down keeps
                // its root busy: `zfs destroy` would fail with "dataset is busy".
                jp.steps.push(Step::AwaitGone {
                    name: n.clone(),
                    dataset: ds_name.clone(),
                    timeout_ms: millis(global.dying_wait),
                    retry: format!("jailctl destroy {n}"),
                    replace: false,
                });
            }
            jp.steps.push(Step::DestroyDataset { dataset: ds_name });
        }
        let vprefix = format!("{}/volumes/{n}/", global.zfs_root);
        let volumes: Vec<&Dataset> = host
            .datasets
            .values()
            .filter(|d| d.name.starts_with(&vprefix) && !d.name.contains('@'))
            .collect();
        if opts.volumes {
            for d in volumes {
                if d.prop(props::MANAGED) == Some("yes") {
                    jp.steps.push(Step::DestroyDataset {
                        dataset: d.name.clone(),
                    });
                } else {
                    jp.reasons
                        .push(format!("{} is kept: jailctl did not create it", d.name));
                }
            }
        } else if !volumes.is_empty() {
            jp.reasons
                .push("volumes are kept (pass --volumes to destroy them)".into());
        }
        // Destroying is what was asked; that the jail runs is why it is stopped first, which
        // the steps show.
        jp.reasons.retain(|r| r != "it is running");
        jp.action = Action::Destroy;
        plan.jails.push(jp);
    }
    Ok(plan)
}
