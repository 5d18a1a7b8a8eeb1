//! One round of read-only commands that fills a [`HostState`]: a single `zfs get` over
//! jailctl's own prefix (only the properties planning needs), a single `jls`, the jails' rctl
//! rules, two sysctls, the interface list and the mount table. The output is read by the
//! fixture-tested parsers of the sibling modules (`zfs`, `jls`, `rctl`, `sysctl`, `ifconfig`,
//! `mount`).

use super::HostState;
use crate::config::spec::Global;
use crate::host::{Cmd, Output, ProcessError, Runner, tools};
use crate::plan::props;

/// Why the host could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Command(#[from] ProcessError),
    #[error("cannot understand the output of `{cmd}`: {why}")]
    Parse { cmd: Cmd, why: String },
}

fn parse_err(cmd: &Cmd, e: impl std::fmt::Display) -> ObserveError {
    ObserveError::Parse {
        cmd: cmd.clone(),
        why: e.to_string(),
    }
}

/// `zfs get` of the planning properties over `<zfs_root>`, recursively.
pub fn zfs_get_cmd(global: &Global) -> Cmd {
    Cmd::new(
        tools::ZFS,
        [
            "get".to_string(),
            "-H".into(),
            "-p".into(),
            "-r".into(),
            "-o".into(),
            "name,property,value".into(),
            props::ALL.join(","),
            global.zfs_root.clone(),
        ],
    )
}

/// `jls` of every jail, dying ones included, with the fields [`super::JailInfo`] holds.
pub fn jls_cmd() -> Cmd {
    Cmd::new(tools::JLS, super::jls::JLS_ARGS.iter().copied())
}

/// The datasets and jails only: what `status` and `list` need (two commands).
pub fn observe_jails(host: &dyn Runner, global: &Global) -> Result<HostState, ObserveError> {
    let mut st = HostState::default();
    let zc = zfs_get_cmd(global);
    let out = host.output(&zc)?;
    if out.success() {
        st.datasets = super::zfs::parse_zfs_get(&out.stdout).map_err(|e| parse_err(&zc, e))?;
    } else if !out.stderr.contains("dataset does not exist") {
        return Err(failed(zc, out).into());
    }
    let jc = jls_cmd();
    let out = host.run(&jc)?;
    st.jails = super::jls::parse_jls_json(&out.stdout)
        .map_err(|e| parse_err(&jc, e))?
        .into_iter()
        .map(|j| (j.name.clone(), j))
        .collect();
    Ok(st)
}

fn failed(cmd: Cmd, out: Output) -> ProcessError {
    ProcessError::Failed {
        cmd,
        status: out.status,
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// Everything planning needs.
pub fn observe(host: &dyn Runner, global: &Global) -> Result<HostState, ObserveError> {
    let mut st = observe_jails(host, global)?;
    let rc = Cmd::new(tools::SYSCTL, ["-n", "kern.racct.enable"]);
    let out = host.output(&rc)?;
    st.racct = super::sysctl::parse_racct(&out).map_err(|e| parse_err(&rc, e))?;
    let vc = Cmd::new(tools::SYSCTL, ["-n", "kern.features.vimage"]);
    let out = host.output(&vc)?;
    // The OID exists only on kernels built with VIMAGE.
    st.vimage =
        out.success() && super::sysctl::parse_bool(&out.stdout).map_err(|e| parse_err(&vc, e))?;
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
        let g = crate::render::tests::global();
        assert_eq!(
            zfs_get_cmd(&g).to_string(),
            "/sbin/zfs get -H -p -r -o name,property,value jailctl:managed,jailctl:base,jailctl:spec,jailctl:parts,jailctl:params,jailctl:limits,jailctl:cpuset,jailctl:provisioned,jailctl:ip4,quota,reservation,compression,mountpoint,origin zroot/jailctl"
        );
        assert_eq!(
            jls_cmd().to_string(),
            "/usr/sbin/jls --libxo json -d jid name path host.hostname ip4.addr ip6.addr dying"
        );
    }
}
