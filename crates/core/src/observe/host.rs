//! One round of read-only commands that fills a [`HostState`]: a single `zfs get` over
//! jailctl's own prefix (only the properties planning needs), a single `jls`, the jails' rctl
//! rules, two sysctls, the interface list and the mount table. The output is read by the
//! fixture-tested parsers of the sibling modules (`zfs`, `jls`, `rctl`, `sysctl`, `ifconfig`,
//! `mount`).
//!
//! [`observe_jail`] is the narrow variant for starting one jail at boot: only what that jail's
//! plan reads, with the host-wide sysctls ([`HostFacts`]) read once by the caller.

use super::HostState;
use crate::config::layout::{self, props};
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, HostFs, Output, ProcessError, Runner, tools, zfs};

/// Why the host could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ObserveError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Command(#[from] ProcessError),
    /// The output did not have the documented shape; `source` is the parser's error.
    #[error("cannot understand the output of `{cmd}`: {source}")]
    #[diagnostic(help(
        "run the command by hand to see what it answers; if it looks normal, this is a bug in jailctl, please report it"
    ))]
    Parse {
        cmd: Cmd,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot inspect {path}: {source}")]
    #[diagnostic(help("check that the directory is readable by root"))]
    Path {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    #[diagnostic(transparent)]
    Kernel(#[from] crate::platform::PlatformError),
}

/// The jails of `names` whose root `<mount_root>/NAME` is a symbolic link, or lies below
/// one between `mount_root` and it. `zfs clone` and mount(2) follow links in a mountpoint,
/// so a root reached through a link would put the jail's filesystem (and, on `destroy`, its
/// removal) wherever the link points: on a host directory such as `/etc`. One lstat(2) per
/// component, through [`HostFs::link_target`].
pub fn root_links(
    fs: &dyn HostFs,
    global: &Global,
    names: &[String],
) -> Result<std::collections::BTreeMap<String, super::RootLink>, ObserveError> {
    let mut out = std::collections::BTreeMap::new();
    for n in names {
        let root = crate::render::jail_root(global, n);
        let Ok(below) = root.strip_prefix(&global.mount_root) else {
            continue;
        };
        let mut at = global.mount_root.clone();
        for c in below.components() {
            at.push(c);
            let target = fs.link_target(&at).map_err(|source| ObserveError::Path {
                path: at.display().to_string(),
                source,
            })?;
            if let Some(t) = target {
                out.insert(
                    n.clone(),
                    super::RootLink {
                        link: at.display().to_string(),
                        target: t.display().to_string(),
                    },
                );
                break;
            }
        }
    }
    Ok(out)
}

fn parse_err(cmd: &Cmd, e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> ObserveError {
    ObserveError::Parse {
        cmd: cmd.clone(),
        source: e.into(),
    }
}

/// `zfs get` of the planning properties over `<zfs_root>`, recursively.
pub fn zfs_get_cmd(global: &Global) -> Cmd {
    zfs::Get::new(props::ALL.iter().copied(), [global.zfs_root.as_str()])
        .depth(zfs::Depth::All)
        .cmd()
}

/// What one `zfs get` of [`zfs_get_cmd`]'s form tells.
struct Got {
    datasets: std::collections::BTreeMap<String, super::Dataset>,
    exec_sources: std::collections::BTreeMap<String, String>,
    managed_local: std::collections::BTreeSet<String>,
}

impl Got {
    fn merge(&mut self, other: Got) {
        self.datasets.extend(other.datasets);
        self.exec_sources.extend(other.exec_sources);
        self.managed_local.extend(other.managed_local);
    }

    /// Add the datasets of `other` this one does not hold (other jails' roots with only their
    /// recorded address): a dataset read whole is never replaced by a partial row set.
    fn add_others(&mut self, other: Got) {
        for (name, ds) in other.datasets {
            self.datasets.entry(name).or_insert(ds);
        }
    }

    fn fill(self, st: &mut HostState) {
        st.datasets = self.datasets;
        st.exec_sources = self.exec_sources;
        st.managed_local = self.managed_local;
    }
}

/// The output of [`zfs_get_cmd`] or [`zfs_get_jail_cmd`]: datasets, where `exec` comes
/// from, and which datasets carry `jailctl:managed=yes` set locally (what jailctl made).
fn parse_get(cmd: &Cmd, stdout: &str) -> Result<Got, ObserveError> {
    let (datasets, mut sources) =
        super::zfs::parse_zfs_get_sources(stdout, &["exec", props::MANAGED])
            .map_err(|e| parse_err(cmd, e))?;
    let exec_sources = sources.remove("exec").unwrap_or_default();
    let managed = sources.remove(props::MANAGED).unwrap_or_default();
    let managed_local = managed
        .into_iter()
        .filter(|(name, source)| {
            source == "local"
                && datasets.get(name).and_then(|d| d.prop(props::MANAGED)) == Some("yes")
        })
        .map(|(name, _)| name)
        .collect();
    Ok(Got {
        datasets,
        exec_sources,
        managed_local,
    })
}

/// Run a `zfs get` of [`zfs_get_cmd`]'s form: `None` when the dataset it names does not exist
/// (nothing deployed yet), an error for any other failure.
fn get_datasets(host: &dyn Runner, zc: &Cmd) -> Result<Option<Got>, ObserveError> {
    let out = host.output(zc)?;
    if out.success() {
        Ok(Some(parse_get(zc, &out.stdout)?))
    } else if out.stderr.contains("dataset does not exist") {
        Ok(None)
    } else {
        Err(failed(zc.clone(), out).into())
    }
}

/// `jls` of every jail, dying ones included, with the fields [`super::JailInfo`] holds.
pub fn jls_cmd() -> Cmd {
    Cmd::new(tools::JLS, super::jls::JLS_ARGS.iter().copied())
}

/// The datasets and jails only: what `status` and `list` need (two commands).
pub fn observe_jails(host: &dyn Runner, global: &Global) -> Result<HostState, ObserveError> {
    let mut st = HostState::default();
    if let Some(got) = get_datasets(host, &zfs_get_cmd(global))? {
        got.fill(&mut st);
    }
    let jc = jls_cmd();
    let out = host.run(&jc)?;
    st.jails = by_name(super::jls::parse_jls_json(&out.stdout).map_err(|e| parse_err(&jc, e))?);
    Ok(st)
}

/// [`observe_jails`] with its two reads run at the same time: on a host whose commands take
/// a while (a busy pool, injected latency), the fleet commands (`shutdown`) start one
/// command-time sooner. The result is the same: the reads are independent, and both happen
/// under the caller's locks.
pub fn observe_jails_concurrently(
    host: &(dyn Runner + Sync),
    global: &Global,
) -> Result<HostState, ObserveError> {
    let zc = zfs_get_cmd(global);
    let jc = jls_cmd();
    let (got, out) = std::thread::scope(|s| {
        let zfs = s.spawn(|| get_datasets(host, &zc));
        let jls = host.run(&jc);
        (zfs.join(), jls)
    });
    let got = match got {
        Ok(got) => got?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    let out = out?;
    let mut st = HostState::default();
    if let Some(got) = got {
        got.fill(&mut st);
    }
    st.jails = by_name(super::jls::parse_jls_json(&out.stdout).map_err(|e| parse_err(&jc, e))?);
    Ok(st)
}

/// Jails by name. A new jail can take the name of a dying one, and `jls -d` then lists both:
/// the live one is the jail of that name.
fn by_name(jails: Vec<super::JailInfo>) -> std::collections::BTreeMap<String, super::JailInfo> {
    let mut m = std::collections::BTreeMap::new();
    for j in jails {
        match m.get(&j.name) {
            Some(super::JailInfo { dying: false, .. }) if j.dying => {}
            _ => {
                m.insert(j.name.clone(), j);
            }
        }
    }
    m
}

fn failed(cmd: Cmd, out: Output) -> ProcessError {
    ProcessError::Failed {
        cmd,
        status: out.status,
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// Host-wide facts that stay the same while jailctl runs (`kern.racct.enable` is a boot-time
/// tunable, `kern.features.vimage` a kernel build option), so a boot reads them once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    pub racct: Option<bool>,
    pub vimage: bool,
}

/// Read [`HostFacts`]: two `sysctl -n`.
pub fn host_facts(host: &dyn Runner) -> Result<HostFacts, ObserveError> {
    let rc = Cmd::new(tools::SYSCTL, ["-n", "kern.racct.enable"]);
    let out = host.output(&rc)?;
    let racct = super::sysctl::parse_racct(&out).map_err(|e| parse_err(&rc, e))?;
    let vc = Cmd::new(tools::SYSCTL, ["-n", "kern.features.vimage"]);
    let out = host.output(&vc)?;
    // The OID exists only on kernels built with VIMAGE.
    let vimage =
        out.success() && super::sysctl::parse_bool(&out.stdout).map_err(|e| parse_err(&vc, e))?;
    Ok(HostFacts { racct, vimage })
}

/// Everything planning needs.
pub fn observe(host: &dyn Runner, global: &Global) -> Result<HostState, ObserveError> {
    let mut st = observe_jails(host, global)?;
    let facts = host_facts(host)?;
    st.racct = facts.racct;
    st.vimage = facts.vimage;
    if st.racct == Some(true) {
        let c = Cmd::new(tools::RCTL, ["jail:"]);
        let out = host.run(&c)?;
        st.rctl_rules = super::rctl::parse_rules(&out.stdout).map_err(|e| parse_err(&c, e))?;
    }
    let c = Cmd::new(tools::IFCONFIG, ["-l"]);
    let out = host.run(&c)?;
    st.interfaces = super::ifconfig::parse_list(&out.stdout).map_err(|e| parse_err(&c, e))?;
    let c = Cmd::new(tools::MOUNT, ["-p"]);
    let out = host.run(&c)?;
    st.mounts = super::mount::parse_mount_p(&out.stdout).map_err(|e| parse_err(&c, e))?;
    Ok(st)
}

/// `zfs get` of the datasets an up or down plan of `spec` reads, two levels deep from each.
///
/// A jail's plans read only its own datasets, so only those are named and the cost of one
/// start does not grow with the fleet (a VNET jail also reads one property of every jail
/// root, [`zfs_get_recorded_ip4_cmd`]): its root `<root>/jails/NAME`, the siblings a
/// re-create or an upgrade leaves (`NAME.retired`, `NAME.pre-upgrade`), its base and, when
/// it has volumes, `<root>/volumes/NAME`. Most of these do not exist most of the time;
/// zfs(8) then reports each missing operand on stderr, lists the others and exits 1
/// (`zfs_for_each` in OpenZFS's cmd/zfs/zfs_iter.c, FreeBSD's sys/contrib/openzfs, opens
/// every operand and only records a failure as its return value), which [`observe_jail`]
/// accepts.
pub fn zfs_get_jail_cmd(global: &Global, spec: &JailSpec) -> Cmd {
    zfs::Get::new(props::ALL.iter().copied(), own_datasets(global, spec))
        .depth(zfs::Depth::Levels(2))
        .cmd()
}

/// `zfs get` of the one property a VNET jail's address is checked against
/// ([`crate::vnet::resolve`]): the address jailctl recorded on each jail root, one row per
/// root below `<root>/jails`. Reading every property of every jail's datasets instead made
/// each VNET start cost as much as the fleet is large.
fn zfs_get_recorded_ip4_cmd(global: &Global) -> Cmd {
    zfs::Get::new([layout::IP4_PROP], [format!("{}/jails", global.zfs_root)])
        .depth(zfs::Depth::Levels(1))
        .only_types(["filesystem"])
        .cmd()
}

fn is_vnet(spec: &JailSpec) -> bool {
    matches!(spec.network, crate::config::spec::Network::Vnet { .. })
}

/// The operands of [`zfs_get_jail_cmd`] for a jail that is not VNET, its root first.
fn own_datasets(global: &Global, spec: &JailSpec) -> Vec<String> {
    let root = crate::render::root_dataset(global, &spec.name);
    let mut datasets = vec![
        root.clone(),
        layout::retired_root(&root),
        layout::kept_root(&root),
        crate::render::base_dataset(global, &spec.base),
    ];
    if !spec.volumes.is_empty() {
        datasets.push(format!("{}/volumes/{}", global.zfs_root, spec.name));
    }
    datasets
}

/// `zfs get` of `<root>/jails` alone: the parent a new jail's root inherits `exec` from.
fn zfs_get_jails_parent_cmd(global: &Global) -> Cmd {
    zfs::Get::new(
        props::ALL.iter().copied(),
        [format!("{}/jails", global.zfs_root)],
    )
    .depth(zfs::Depth::Levels(0))
    .cmd()
}

/// Run a `zfs get` whose operands `optional` may be missing: the rows of those that exist,
/// and the missing ones. Any other failure is an error, as in [`get_datasets`].
fn get_datasets_present(
    host: &dyn Runner,
    zc: &Cmd,
    optional: &[String],
) -> Result<(Got, Vec<String>), ObserveError> {
    let out = host.output(zc)?;
    if out.success() {
        return Ok((parse_get(zc, &out.stdout)?, Vec::new()));
    }
    let mut missing = Vec::new();
    for line in out.stderr.lines().filter(|l| !l.trim().is_empty()) {
        let name = line
            .strip_prefix("cannot open '")
            .and_then(|r| r.strip_suffix("': dataset does not exist"))
            .filter(|n| optional.iter().any(|o| o == n));
        match name {
            Some(n) => missing.push(n.to_string()),
            None => return Err(failed(zc.clone(), out).into()),
        }
    }
    if missing.is_empty() {
        return Err(failed(zc.clone(), out).into());
    }
    Ok((parse_get(zc, &out.stdout)?, missing))
}

/// `jls` of one jail (dying included), with the fields [`super::JailInfo`] holds.
pub fn jls_jail_cmd(name: &str) -> Cmd {
    let mut args: Vec<String> = ["--libxo", "json", "-d", "-j", name]
        .map(String::from)
        .to_vec();
    args.extend(super::jls::JLS_ARGS[3..].iter().map(|s| s.to_string()));
    Cmd::new(tools::JLS, args)
}

/// What the up plan of one jail reads, and nothing else, for starting jails one by one at
/// boot: the datasets of [`zfs_get_jail_cmd`] (when one of its operands does not exist yet,
/// as on a fresh host, the whole `<zfs_root>` tree instead, like [`observe`]), `jls -j NAME`,
/// that jail's rctl rules (when RACCT is on) and, for a VNET jail, the addresses recorded on
/// the other jails' roots ([`zfs_get_recorded_ip4_cmd`]) and the interface list.
/// `facts` come from [`host_facts`], read once by the caller. The mount table is not read:
/// up plans do not use it. The plan made from this state is the one [`observe`] gives.
pub fn observe_jail(
    host: &dyn Runner,
    global: &Global,
    spec: &JailSpec,
    facts: &HostFacts,
) -> Result<HostState, ObserveError> {
    let mut st = HostState {
        racct: facts.racct,
        vimage: facts.vimage,
        ..HostState::default()
    };
    let mut got = own_datasets_of(host, global, spec)?;
    if is_vnet(spec)
        && let Some(got) = &mut got
        && let Some(recorded) = get_datasets(host, &zfs_get_recorded_ip4_cmd(global))?
    {
        got.add_others(recorded);
    }
    if let Some(got) = got {
        got.fill(&mut st);
    }
    observe_jail_runtime(host, spec, &mut st)?;
    Ok(st)
}

/// The datasets of a jail that is not VNET ([`zfs_get_jail_cmd`]). A new jail (no root yet)
/// also needs `<root>/jails`, whose `exec` its clone will inherit: one more `zfs get` of that
/// dataset alone. When even that is missing (a fresh host), the whole tree, as the full
/// observe reads it.
fn own_datasets_of(
    host: &dyn Runner,
    global: &Global,
    spec: &JailSpec,
) -> Result<Option<Got>, ObserveError> {
    let operands = own_datasets(global, spec);
    let (mut got, missing) =
        get_datasets_present(host, &zfs_get_jail_cmd(global, spec), &operands)?;
    if !missing.contains(&operands[0]) {
        return Ok(Some(got));
    }
    match get_datasets(host, &zfs_get_jails_parent_cmd(global))? {
        Some(parent) => {
            got.merge(parent);
            Ok(Some(got))
        }
        None => get_datasets(host, &zfs_get_cmd(global)),
    }
}

/// [`observe_jail`] with the datasets already known (read once by the caller, who holds the
/// locks that keep them as they are): only the jail's runtime state is read (`jls -j NAME`,
/// its rctl rules with RACCT on, `ifconfig -l` for a VNET jail). For `shutdown`'s stops.
///
/// Of the known datasets only the jail's own are copied ([`jail_datasets`]): a stop plans
/// and checks nothing else, and copying the whole fleet's for every stop made a shutdown
/// cost grow with the square of the number of jails.
pub fn observe_jail_known(
    host: &dyn Runner,
    global: &Global,
    spec: &JailSpec,
    facts: &HostFacts,
    known: &HostState,
) -> Result<HostState, ObserveError> {
    let mut st = HostState {
        racct: facts.racct,
        vimage: facts.vimage,
        ..HostState::default()
    };
    for top in jail_datasets(global, spec) {
        copy_tree(&known.datasets, &mut st.datasets, &top.name, top.below);
        copy_tree(
            &known.exec_sources,
            &mut st.exec_sources,
            &top.name,
            top.below,
        );
        for d in known.managed_local.range(top.name.clone()..) {
            if !d.starts_with(&top.name) {
                break;
            }
            if in_tree(d, &top.name, top.below) {
                st.managed_local.insert(d.clone());
            }
        }
    }
    observe_jail_runtime(host, spec, &mut st)?;
    Ok(st)
}

/// One entry of [`jail_datasets`]: a dataset, and whether everything below it (children,
/// snapshots) belongs with it.
pub struct Tree {
    pub name: String,
    pub below: bool,
}

/// The datasets one jail's plans read: the parents on the way to its root, its root, its
/// base and its volumes, each with everything below it.
pub fn jail_datasets(global: &Global, spec: &JailSpec) -> Vec<Tree> {
    let r = &global.zfs_root;
    let only = |name: String| Tree { name, below: false };
    let all = |name: String| Tree { name, below: true };
    vec![
        only(r.clone()),
        only(format!("{r}/jails")),
        only(format!("{r}/bases")),
        only(format!("{r}/volumes")),
        all(crate::render::root_dataset(global, &spec.name)),
        all(crate::render::base_dataset(global, &spec.base)),
        all(format!("{r}/volumes/{}", spec.name)),
    ]
}

fn in_tree(name: &str, top: &str, below: bool) -> bool {
    name == top
        || (below
            && name
                .strip_prefix(top)
                .is_some_and(|rest| rest.starts_with('/') || rest.starts_with('@')))
}

/// Copy `top` (and, with `below`, its children and snapshots) from `from`: a range of the
/// sorted map, so the cost is what is copied, not the size of `from`.
fn copy_tree<V: Clone>(
    from: &std::collections::BTreeMap<String, V>,
    to: &mut std::collections::BTreeMap<String, V>,
    top: &str,
    below: bool,
) {
    // Names sharing the prefix sort together (`web`, `web-2`, `web/var`), so the range ends
    // at the first name without it.
    for (k, v) in from.range(top.to_string()..) {
        if !k.starts_with(top) {
            break;
        }
        if in_tree(k, top, below) {
            to.insert(k.clone(), v.clone());
        }
    }
}

fn observe_jail_runtime(
    host: &dyn Runner,
    spec: &JailSpec,
    st: &mut HostState,
) -> Result<(), ObserveError> {
    let jc = jls_jail_cmd(&spec.name);
    let out = host.output(&jc)?;
    if out.success() {
        st.jails = super::jls::parse_jls_json(&out.stdout)
            .map_err(|e| parse_err(&jc, e))?
            .into_iter()
            .map(|j| (j.name.clone(), j))
            .collect();
    } else if !(out.stderr.contains("not found") || out.stdout.contains("not found")) {
        // Under libxo the message may come as a JSON error on stdout rather than on stderr.
        return Err(failed(jc, out).into());
    }
    if st.racct == Some(true) {
        let c = Cmd::new(tools::RCTL, [format!("jail:{}", spec.name)]);
        let out = host.run(&c)?;
        st.rctl_rules = super::rctl::parse_rules(&out.stdout).map_err(|e| parse_err(&c, e))?;
    }
    if spec.vnet_bridge().is_some() {
        let c = Cmd::new(tools::IFCONFIG, ["-l"]);
        let out = host.run(&c)?;
        st.interfaces = super::ifconfig::parse_list(&out.stdout).map_err(|e| parse_err(&c, e))?;
    }
    Ok(())
}

/// Live resource usage of the running jails `names`, for `status`: from the kernel in one go
/// where the host can ([`crate::host::Host::racct_usage`]: no process per jail), else one
/// `rctl -u jail:NAME` each. A jail that stopped since it was listed is left out.
pub fn usages(
    host: &dyn crate::host::Host,
    names: &[String],
) -> Result<crate::platform::Usages, ObserveError> {
    if let Some(read) = host.racct_usage(names) {
        return Ok(read?);
    }
    let mut all = crate::platform::Usages::new();
    for n in names {
        all.insert(n.clone(), usage(host, n)?);
    }
    Ok(all)
}

/// Live resource usage of a running jail (`rctl -u jail:NAME`), for `status`.
pub fn usage(
    host: &dyn Runner,
    name: &str,
) -> Result<std::collections::BTreeMap<String, u64>, ObserveError> {
    let c = Cmd::new(tools::RCTL, ["-u".to_string(), format!("jail:{name}")]);
    let out = host.run(&c)?;
    super::rctl::parse_usage(&out.stdout).map_err(|e| parse_err(&c, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_query_only_jailctls_prefix() {
        let g = crate::fixtures::global();
        assert_eq!(
            zfs_get_cmd(&g).to_string(),
            "/sbin/zfs get -H -p -r -o name,property,value,source jailctl:managed,jailctl:base,jailctl:spec,jailctl:parts,jailctl:params,jailctl:limits,jailctl:cpuset,jailctl:provisioned,jailctl:pf,jailctl:ip4,quota,reservation,compression,mountpoint,origin,exec zroot/jailctl"
        );
        assert_eq!(
            jls_cmd().to_string(),
            "/usr/sbin/jls --libxo json -d jid name path host.hostname ip4.addr ip6.addr dying"
        );
    }

    #[test]
    fn a_live_jail_wins_over_the_dying_one_it_replaced() {
        let j = |jid, dying| crate::observe::JailInfo {
            jid,
            name: "web".into(),
            dying,
            ..Default::default()
        };
        for order in [vec![j(1, true), j(2, false)], vec![j(2, false), j(1, true)]] {
            let m = by_name(order);
            assert_eq!(m.len(), 1);
            assert_eq!((m["web"].jid, m["web"].dying), (2, false));
        }
        assert!(by_name(vec![j(1, true)])["web"].dying);
    }
}
