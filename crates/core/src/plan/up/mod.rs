//! Planning `up` for one jail, split by phase so each decision reads on its own: the
//! pre-flight refusals and the facts every phase shares ([`Jail::new`]), the steps that
//! build and start a jail ([`steps`]), a jail whose root is (re-)cloned ([`create`]), and a
//! deployed jail brought up to date — restarted, changed live or left alone ([`update`]).

mod checks;
mod create;
mod provisioning;
mod steps;
mod update;

use super::{PlanError, UpOptions, newest_snapshot, pf, props, rctl_rules};
use crate::config::spec::{Global, JailSpec};
use crate::observe::{HostState, JailInfo};
use crate::plan::step::{Action, JailPlan};
use crate::render::pf::PfRules;
use crate::render::{self, Rendered};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What every phase of one jail's plan needs: its definition and rendering, where it lives,
/// what the host shows of it, and the base snapshot its root comes (or came) from.
struct Jail<'a> {
    spec: &'a JailSpec,
    global: &'a Global,
    host: &'a HostState,
    name: &'a String,
    r: Rendered,
    /// The jail's NAT and forwards (`None`: not NATed).
    pf_want: Option<PfRules>,
    /// The network's and pf's properties recorded on the root dataset.
    net_props: BTreeMap<String, String>,
    ds_name: String,
    root: PathBuf,
    conf: PathBuf,
    base_ds: String,
    /// The base's newest snapshot.
    newest: Option<String>,
    rules: Vec<String>,
    observed_rules: Vec<String>,
    /// The running jail (`None` when stopped or dying).
    info: Option<&'a JailInfo>,
    /// A dying (non-VNET) jail of that name is still there: a start waits for it.
    dying: bool,
    running: bool,
    /// The root's recorded base is a snapshot of the base the definition names.
    same_base: bool,
    /// The snapshot the root is (or will be) cloned from.
    snapshot: String,
    /// The base snapshot the existing root records (`jailctl:base`).
    recorded_base: Option<String>,
    /// `jailctl upgrade`: the root moves to its base's newest snapshot, the old one is kept.
    upgrade: bool,
    prov: Option<crate::provision::Plan>,
}

pub(super) fn plan_jail(
    spec: &JailSpec,
    global: &Global,
    host: &HostState,
    opts: &UpOptions,
    net_props: &BTreeMap<String, String>,
) -> Result<JailPlan, PlanError> {
    let j = Jail::new(spec, global, host, net_props, opts.upgrade)?;
    let Some(ds) = host.datasets.get(&j.ds_name) else {
        if opts.upgrade {
            return Err(PlanError::UpgradeNoRoot {
                jail: j.name.clone(),
                dataset: j.ds_name,
            });
        }
        return create::create(&j);
    };
    if ds.prop(props::MANAGED) != Some("yes") {
        return Err(PlanError::NotManaged {
            jail: j.name.clone(),
            dataset: j.ds_name,
        });
    }
    if opts.upgrade && j.same_base {
        let old_base = ds.prop(props::BASE).unwrap_or("-");
        return Ok(JailPlan {
            name: j.name.clone(),
            action: Action::UpToDate,
            reasons: vec![format!(
                "its root is already cloned from {old_base}, the newest snapshot of {}; nothing to upgrade",
                j.base_ds
            )],
            steps: Vec::new(),
        });
    }
    // A changed base (or an upgrade): re-clone (only when asked), volumes kept.
    if !j.same_base {
        return create::recreate(&j, ds, opts);
    }
    Ok(update::update(&j, ds))
}

impl<'a> Jail<'a> {
    /// Render the jail, gather what the phases share, and refuse what no phase can plan
    /// (pf missing for a NATed jail, a linked root, exec=off, limits without RACCT, a bad
    /// `[provision]`).
    fn new(
        spec: &'a JailSpec,
        global: &'a Global,
        host: &'a HostState,
        net_props: &BTreeMap<String, String>,
        upgrade: bool,
    ) -> Result<Self, PlanError> {
        let name = &spec.name;
        let r = render::render(spec, global)?;
        let (pf_want, net_props) = pf_props(spec, global, host, net_props)?;
        let ds_name = render::root_dataset(global, name);
        let root = render::jail_root(global, name);
        let conf = render::conf_path(name);
        let base_ds = render::base_dataset(global, &spec.base);
        let newest = newest_snapshot(host, &base_ds);
        let rules = rctl_rules(name, &spec.limits);
        let observed_rules = host.rctl_rules.get(name).cloned().unwrap_or_default();
        let info = host.jails.get(name);
        // VNET: a dying VNET jail holds nothing a new start needs once its epair is destroyed
        // (start_steps does that first), and the kernel lets a new jail take a dying one's name.
        let vnet_dying =
            info.is_some_and(|j| j.dying) && crate::vnet::bridge_of(Some(spec)).is_some();
        let info = info.filter(|_| !vnet_dying);
        // Any other dying jail: it is not running; the start waits (bounded) for it to go and
        // then lets jail(8) replace it if it is still there.
        let dying = info.is_some_and(|j| j.dying);
        let info = info.filter(|j| !j.dying);
        let running = info.is_some();
        if let Some(l) = host.root_links.get(name) {
            return Err(PlanError::RootIsLink {
                jail: name.clone(),
                root: root.display().to_string(),
                link: l.link.clone(),
                target: l.target.clone(),
            });
        }
        if !running {
            checks::exec_check(host, name, &ds_name)?;
        }
        if !rules.is_empty()
            && let Some(state) = checks::racct_state(host)
        {
            return Err(PlanError::RacctOff {
                jail: name.clone(),
                state,
            });
        }
        let (same_base, snapshot, recorded_base) =
            base_snapshot(host, &ds_name, &base_ds, newest.as_ref(), upgrade);
        let prov = provisioning::provision_plan(spec, &ds_name, &root)?;
        Ok(Jail {
            spec,
            global,
            host,
            name,
            r,
            pf_want,
            net_props,
            ds_name,
            root,
            conf,
            base_ds,
            newest,
            rules,
            observed_rules,
            info,
            dying,
            running,
            same_base,
            snapshot,
            recorded_base,
            upgrade,
            prov,
        })
    }

    fn base_missing(&self) -> PlanError {
        PlanError::BaseMissing {
            jail: self.name.clone(),
            base: self.spec.base.clone(),
            dataset: self.base_ds.clone(),
        }
    }

    /// The properties recorded on a root dataset for a rendering.
    fn record_props(&self) -> BTreeMap<String, String> {
        let (spec, r) = (self.spec, &self.r);
        let mut p = BTreeMap::new();
        p.insert(props::MANAGED.into(), "yes".into());
        p.insert(props::BASE.into(), self.snapshot.clone());
        p.insert(props::SPEC.into(), r.spec_hash());
        p.insert(props::PARTS.into(), r.parts.encode());
        p.insert(
            props::PARAMS.into(),
            serde_json::to_string(&r.params).expect("strings serialize"),
        );
        let rules = rctl_rules(&spec.name, &spec.limits);
        p.insert(
            props::LIMITS.into(),
            if rules.is_empty() {
                "none".into()
            } else {
                rules.join(",")
            },
        );
        p.insert(
            props::CPUSET.into(),
            spec.cpuset.clone().unwrap_or_else(|| "all".into()),
        );
        p
    }
}

/// The jail's pf rules (after refusing them when pf is not loaded) and the recorded
/// properties with `jailctl:pf` added.
fn pf_props(
    spec: &JailSpec,
    global: &Global,
    host: &HostState,
    net_props: &BTreeMap<String, String>,
) -> Result<(Option<PfRules>, BTreeMap<String, String>), PlanError> {
    // pf: the jail's NAT and forwards, recorded as a hash with the other properties.
    let pf_want = render::pf::jail_rules(spec, global);
    if pf_want.is_some()
        && let Some(e) = pf::unavailable(spec, host)
    {
        return Err(e);
    }
    // Recorded only for a jail that has (or had) rules, so other jails' datasets and plans
    // are as they were.
    let had_pf = host
        .datasets
        .get(&render::root_dataset(global, &spec.name))
        .and_then(|d| d.prop(props::PF))
        .is_some_and(|v| v != "-");
    let mut net_props = net_props.clone();
    if pf_want.is_some() || had_pf {
        net_props.insert(props::PF.into(), pf::recorded(pf_want.as_ref()));
    }
    Ok((pf_want, net_props))
}

/// Whether the root's recorded base is a snapshot of `base_ds` (for an upgrade: its newest
/// snapshot), the snapshot the root is (or will be) cloned from, and the recorded base.
fn base_snapshot(
    host: &HostState,
    ds_name: &str,
    base_ds: &str,
    newest: Option<&String>,
    upgrade: bool,
) -> (bool, String, Option<String>) {
    // A new root is cloned from the base's newest snapshot; an existing jail keeps the one
    // it was cloned from (recorded in jailctl:base) until it is re-created.
    let recorded_base = host
        .datasets
        .get(ds_name)
        .and_then(|d| d.prop(props::BASE))
        .map(str::to_string);
    let same_base = if upgrade {
        // An upgrade moves a root to its base's newest snapshot, a newer one of the same
        // base too.
        recorded_base.is_some() && recorded_base.as_ref() == newest
    } else {
        recorded_base
            .as_deref()
            .is_some_and(|b| b.split('@').next() == Some(base_ds))
    };
    let snapshot = match (&recorded_base, same_base, newest) {
        (Some(b), true, _) => b.clone(),
        (_, _, Some(n)) => n.clone(),
        _ => String::new(),
    };
    (same_base, snapshot, recorded_base)
}

/// The ZFS properties the definition's `[root]` sets on the root dataset.
fn root_props(spec: &JailSpec) -> BTreeMap<String, String> {
    let mut p = BTreeMap::new();
    let r = &spec.root;
    p.insert(
        "quota".into(),
        r.quota.map_or("none".into(), |q| q.to_string()),
    );
    p.insert(
        "reservation".into(),
        r.reservation.map_or("none".into(), |q| q.to_string()),
    );
    if let Some(c) = &r.compression {
        p.insert("compression".into(), c.clone());
    }
    p
}
