//! Stopping jails: `down` and `destroy` (the same sequence with a different planner),
//! `restart`, the single-jail stop `shutdown` schedules, and the forced stop when an orderly
//! one fails. Apart from `mod.rs`, which keeps the shared sequence (locks, recovery, apply)
//! and `up`.

use super::*;

/// Remove a jail without its stop hooks (`jail -R NAME`: no jail.conf, no exec.stop) and
/// drop its rctl rules, for when an orderly stop failed or took too long. A jail that is
/// already gone is not an error; leftover rules are removed either way.
pub fn force_down(host: &dyn Host, name: &str) -> Result<(), OpsError> {
    let running = host
        .output(&Cmd::new(tools::JLS, ["-j", name, "jid"]))?
        .success();
    if running {
        host.run(&Cmd::new(tools::JAIL, ["-R", name]))?;
    }
    let filter = format!("jail:{name}");
    let rules = host.output(&Cmd::new(tools::RCTL, [filter.as_str()]))?;
    if rules.success() && !rules.stdout.trim().is_empty() {
        host.run(&Cmd::new(tools::RCTL, ["-r", filter.as_str()]))?;
    }
    Ok(())
}

/// The jail.conf files a down plan needs but the host lost (`/var/run` is cleared at boot):
/// write the current rendering first, so `jail -f` can run the stop hooks.
fn ensure_confs(host: &dyn Host, specs: &[JailSpec], global: &Global, plan: &mut Plan) {
    for jp in &mut plan.jails {
        let Some(spec) = specs.iter().find(|s| s.name == jp.name) else {
            continue;
        };
        let needs = jp
            .steps
            .iter()
            .any(|s| matches!(s, Step::RemoveJail { conf, .. } if !host.exists(conf)));
        if let (true, Ok(r)) = (needs, render::render(spec, global)) {
            jp.steps.insert(
                0,
                Step::WriteFile {
                    path: render::conf_path(&jp.name),
                    contents: r.conf,
                    mode: 0o600,
                    root: None,
                },
            );
        }
    }
}

/// Stop the targets (every defined jail when empty); dependents first, and only with
/// `opts.down.with_dependents` when a running jail depends on a target.
pub fn down(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &Opts,
) -> Result<Outcome, OpsError> {
    down_in(host, &Held::none(), specs, global, targets, opts)
}

/// [`down`] under the locks `held` of the caller.
pub fn down_in(
    host: &dyn Host,
    held: &Held,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &Opts,
) -> Result<Outcome, OpsError> {
    stop_with(host, held, specs, global, targets, opts, plan::plan_down)
}

/// What a caller stopping many jails has read once for all of them.
#[derive(Clone, Copy)]
pub struct Seen<'a> {
    /// The host-wide sysctls.
    pub facts: &'a observe::host::HostFacts,
    /// The datasets, read under locks that keep them as they are; `None`: read them again.
    pub known: Option<&'a HostState>,
}

/// Stop exactly `name`, observed only as far as its stop needs
/// ([`observe::host::observe_jail`]): for `shutdown`, whose scheduler stops a jail only after
/// its dependents, under the locks `held` of every jail it may stop, so no running dependent
/// can appear. A full observe per stop would read every jail of the host for each one.
/// `seen.known`: the datasets as the caller read them under those locks (then only the
/// jail's runtime state is read; a recovered journal means they are read again).
pub fn down_only_with(
    host: &dyn Host,
    held: &Held,
    specs: &[JailSpec],
    global: &Global,
    name: &str,
    opts: &Opts,
    seen: Seen,
) -> Result<Outcome, OpsError> {
    let Seen { facts, known } = seen;
    let spec = specs
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| PlanError::UnknownJail(name.to_string()))?;
    let names = [name.to_string()];
    let mut prior = Prior::default();
    let locks = lock_and_recover(host, held, &names, opts.dry_run, &mut prior)?;
    let mut state = match known {
        Some(k) if prior.recovered.is_empty() => {
            observe::host::observe_jail_known(host, global, spec, facts, k)?
        }
        _ => observe::host::observe_jail(host, global, spec, facts)?,
    };
    with_pf(host, std::slice::from_ref(spec), global, &mut state)?;
    let mut plan = plan::plan_down(specs, global, &state, &names, &opts.down)?;
    ensure_confs(host, specs, global, &mut plan);
    finish(host, &locks, plan, opts, prior, &state, global)
}

/// Stop then start the targets (and, with `with_dependents`, the running jails that depend
/// on them).
pub fn restart(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &Opts,
) -> Result<(Outcome, Outcome), OpsError> {
    let held = Held::none();
    // One fleet lock for both halves of `restart --all`.
    let fleet = fleet(host, &held, targets.is_empty())?;
    let stopped = down_in(host, &fleet, specs, global, targets, opts)?;
    let again: Vec<String> = stopped.plan.jails.iter().map(|j| j.name.clone()).collect();
    if opts.dry_run {
        // Nothing was stopped: plan the start against the state the stop would leave.
        let mut state = observe::observe(host, global)?;
        state.root_links = observe::host::root_links(host, global, &again)?;
        with_pf(host, specs, global, &mut state)?;
        for n in &again {
            state.jails.remove(n);
            state.rctl_rules.remove(n);
            if let Some(pf) = state.pf.as_mut() {
                pf.anchors.remove(&crate::config::layout::pf_anchor(n));
            }
        }
        let plan = plan::plan_up(specs, global, &state, &again, &opts.up)?;
        let started = Outcome {
            layout: if plan.is_empty() {
                Vec::new()
            } else {
                layout::missing(host, global)?
            },
            plan,
            ..Outcome::default()
        };
        return Ok((stopped, started));
    }
    let started = up_in(host, &fleet, specs, global, &again, opts)?;
    Ok((stopped, started))
}

/// Stop the targets and destroy the datasets jailctl manages for them (volumes only with
/// `opts.down.volumes`).
pub fn destroy(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &Opts,
) -> Result<Outcome, OpsError> {
    stop_with(
        host,
        &Held::none(),
        specs,
        global,
        targets,
        opts,
        plan::plan_destroy,
    )
}

/// The planner signature `down` and `destroy` share.
type StopPlanner = fn(
    &[JailSpec],
    &Global,
    &crate::observe::HostState,
    &[String],
    &plan::DownOptions,
) -> Result<Plan, plan::PlanError>;

/// `down` and `destroy`: lock the targets and the running jails that depend on them, finish
/// any interrupted run, observe, plan with `planner`, restore jail.conf files the stop hooks
/// need, and apply.
fn stop_with(
    host: &dyn Host,
    held: &Held,
    specs: &[JailSpec],
    global: &Global,
    targets: &[String],
    opts: &Opts,
    planner: StopPlanner,
) -> Result<Outcome, OpsError> {
    let names = with_dependents(specs, targets);
    let fleet = fleet(host, held, targets.is_empty() && !opts.dry_run)?;
    let mut prior = Prior::default();
    let locks = lock_and_recover(host, &fleet, &names, opts.dry_run, &mut prior)?;
    let mut state = observe::observe(host, global)?;
    with_pf(host, specs, global, &mut state)?;
    let mut plan = planner(specs, global, &state, targets, &opts.down)?;
    ensure_confs(host, specs, global, &mut plan);
    finish(host, &locks, plan, opts, prior, &state, global)
}
