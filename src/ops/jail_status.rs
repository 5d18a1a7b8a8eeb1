//! `jailctl status` and `list`: one [`JailStatus`] per defined or jailctl-managed jail, from
//! the observed datasets and jails, with live usage when asked. Read-only, so apart from the
//! operations that change the host.

use super::*;

/// One line of `jailctl status` / `list`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JailStatus {
    pub name: String,
    /// `running`, `stopped`, `dying`, or `absent` (defined but never created).
    pub state: &'static str,
    pub jid: Option<i32>,
    /// A definition file exists for it.
    pub defined: bool,
    /// The deployed definition matches the file (`None` when there is nothing to compare).
    pub up_to_date: Option<bool>,
    pub hostname: Option<String>,
    pub ip4: Vec<String>,
    pub ip6: Vec<String>,
    /// The base snapshot the root was cloned from.
    pub base: Option<String>,
    /// The deployed rctl rules (`jailctl:limits`).
    pub limits: Vec<String>,
    /// Port forwards from the host into the jail, from its definition
    /// (`tcp 8080 -> 80`, `udp 192.0.2.10:5000-5010 -> 5000-5010`).
    pub forwards: Vec<String>,
    /// Live resource usage (`rctl -u`), for running jails when RACCT is on and usage was
    /// asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<std::collections::BTreeMap<String, u64>>,
    /// The old root `jailctl upgrade` kept (until `--finish` or `--rollback`), with the
    /// base snapshot it was cloned from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_root: Option<upgrade::KeptRoot>,
}

/// The state of every defined or jailctl-managed jail, from one `zfs get` and one `jls`.
pub fn status(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
) -> Result<Vec<JailStatus>, OpsError> {
    let st = observe::host::observe_jails(host, global)?;
    Ok(status_of(&st, specs, global))
}

/// [`status`] plus the live usage of the running jails in `names` (all when empty) when
/// RACCT is on: from the kernel in one go ([`observe::host::usages`]), or one `rctl -u` each
/// where the host cannot.
pub fn status_with_usage(
    host: &dyn Host,
    specs: &[JailSpec],
    global: &Global,
    names: &[String],
) -> Result<Vec<JailStatus>, OpsError> {
    let mut list = status(host, specs, global)?;
    if !names.is_empty() {
        list.retain(|j| names.contains(&j.name));
    }
    let racct = host.output(&Cmd::new(tools::SYSCTL, ["-n", "kern.racct.enable"]))?;
    if racct.success() && racct.stdout.trim() == "1" {
        let running: Vec<String> = list
            .iter()
            .filter(|j| j.state == "running")
            .map(|j| j.name.clone())
            .collect();
        let mut usages = observe::host::usages(host, &running)?;
        for j in list.iter_mut().filter(|j| j.state == "running") {
            j.usage = usages.remove(&j.name);
        }
    }
    Ok(list)
}

pub(super) fn status_of(st: &HostState, specs: &[JailSpec], global: &Global) -> Vec<JailStatus> {
    let prefix = format!("{}/jails/", global.zfs_root);
    // By name, so the cost per jail does not grow with the fleet.
    let by_name: std::collections::BTreeMap<&str, &JailSpec> =
        specs.iter().map(|s| (s.name.as_str(), s)).collect();
    let mut names: std::collections::BTreeSet<String> =
        specs.iter().map(|s| s.name.clone()).collect();
    for (k, d) in &st.datasets {
        if let Some(n) = k.strip_prefix(&prefix)
            && !n.contains(['/', '@', '.'])
            && d.prop(plan::props::MANAGED) == Some("yes")
        {
            names.insert(n.to_string());
        }
    }
    names
        .into_iter()
        .map(|name| {
            let spec = by_name.get(name.as_str()).copied();
            let ds = st.datasets.get(&render::root_dataset(global, &name));
            let jail = st.jails.get(&name);
            let state = match (jail, ds) {
                (Some(j), _) if j.dying => "dying",
                (Some(_), _) => "running",
                (None, Some(_)) => "stopped",
                (None, None) => "absent",
            };
            let up_to_date = match (spec, ds.and_then(|d| d.prop(plan::props::SPEC))) {
                (Some(s), Some(h)) => {
                    // VNET: render with the address recorded at allocation.
                    let s = crate::vnet::with_recorded(
                        s,
                        ds.and_then(|d| d.prop(crate::vnet::IP4_PROP)),
                    );
                    render::render(&s, global).ok().map(|r| r.spec_hash() == h)
                }
                _ => None,
            };
            let (ip4, ip6) = addresses(jail, spec, ds);
            JailStatus {
                state,
                jid: jail.map(|j| j.jid),
                defined: spec.is_some(),
                up_to_date,
                hostname: jail.map(|j| j.hostname.clone()),
                ip4,
                ip6,
                base: ds
                    .and_then(|d| d.prop(plan::props::BASE))
                    .map(str::to_string),
                limits: ds
                    .and_then(|d| d.prop(plan::props::LIMITS))
                    .filter(|l| *l != "none")
                    .map(|l| l.split(',').map(str::to_string).collect())
                    .unwrap_or_default(),
                forwards: spec
                    .map(|s| s.ports.iter().map(render::pf::describe_forward).collect())
                    .unwrap_or_default(),
                usage: None,
                kept_root: upgrade::kept(st, global, &name),
                name,
            }
        })
        .collect()
}

/// A running jail's addresses. jls(8) reports none for a VNET jail (they live in its own
/// stack), so for one that runs without any, they come from its definition, with the
/// address allocated from the bridge's pool as recorded in `jailctl:ip4`.
fn addresses(
    jail: Option<&observe::JailInfo>,
    spec: Option<&JailSpec>,
    ds: Option<&observe::Dataset>,
) -> (Vec<String>, Vec<String>) {
    let Some(j) = jail else {
        return (vec![], vec![]);
    };
    if !j.ip4.is_empty() || !j.ip6.is_empty() || j.dying {
        return (j.ip4.clone(), j.ip6.clone());
    }
    let recorded = ds.and_then(|d| d.prop(crate::vnet::IP4_PROP));
    match spec.map(|s| crate::vnet::with_recorded(s, recorded).network) {
        Some(crate::config::spec::Network::Vnet { ip4, ip6, .. }) => (
            ip4.iter().map(|a| a.addr().to_string()).collect(),
            ip6.iter().map(|a| a.addr().to_string()).collect(),
        ),
        Some(_) => (vec![], vec![]),
        // No definition left: what was allocated, if anything.
        None => (
            recorded
                .and_then(|r| r.split('/').next())
                .map(str::to_string)
                .into_iter()
                .collect(),
            vec![],
        ),
    }
}
