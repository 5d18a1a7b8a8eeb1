//! One round of read-only commands that fills a [`HostState`]: a single `zfs get` over
//! jailctl's own prefix (only the properties planning needs), a single `jls`, the jails' rctl
//! rules, two sysctls, the interface list and the mount table.
//!
//! The small parsers at the bottom read exactly the forms these commands are asked for. The
//! shared fixture-tested parsers of the observe area (`observe::zfs`, `observe::jls`,
//! `observe::rctl`) replace them when the branches merge.

use super::{Dataset, HostState, JailInfo, MountEntry};
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

/// `jls` of every jail, dying ones included, with the fields [`JailInfo`] holds.
pub fn jls_cmd() -> Cmd {
    Cmd::new(
        tools::JLS,
        [
            "--libxo",
            "json",
            "-d",
            "jid",
            "name",
            "path",
            "host.hostname",
            "ip4.addr",
            "ip6.addr",
            "dying",
        ],
    )
}

/// The datasets and jails only: what `status` and `list` need (two commands).
pub fn observe_jails(host: &dyn Runner, global: &Global) -> Result<HostState, ObserveError> {
    let mut st = HostState::default();
    let zc = zfs_get_cmd(global);
    let out = host.output(&zc)?;
    if out.success() {
        st.datasets = parse_zfs_get(&out.stdout);
    } else if !out.stderr.contains("dataset does not exist") {
        return Err(failed(zc, out).into());
    }
    let jc = jls_cmd();
    let out = host.run(&jc)?;
    st.jails = parse_jls(&out.stdout).map_err(|why| ObserveError::Parse { cmd: jc, why })?;
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
    let racct = host.output(&Cmd::new(tools::SYSCTL, ["-n", "kern.racct.enable"]))?;
    st.racct = if racct.success() {
        Some(racct.stdout.trim() == "1")
    } else {
        None
    };
    let vimage = host.output(&Cmd::new(tools::SYSCTL, ["-n", "kern.features.vimage"]))?;
    st.vimage = vimage.success() && vimage.stdout.trim() == "1";
    if st.racct == Some(true) {
        let out = host.run(&Cmd::new(tools::RCTL, ["jail:"]))?;
        for line in out.stdout.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(name) = line.strip_prefix("jail:").and_then(|r| r.split(':').next()) {
                st.rctl_rules
                    .entry(name.to_string())
                    .or_default()
                    .push(line.to_string());
            }
        }
    }
    let out = host.run(&Cmd::new(tools::IFCONFIG, ["-l"]))?;
    st.interfaces = out.stdout.split_whitespace().map(str::to_string).collect();
    let out = host.run(&Cmd::new(tools::MOUNT, ["-p"]))?;
    st.mounts = out
        .stdout
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4).then(|| MountEntry {
                source: f[0].to_string(),
                target: f[1].to_string(),
                fstype: f[2].to_string(),
                options: f[3].to_string(),
            })
        })
        .collect();
    Ok(st)
}

/// `name<TAB>property<TAB>value` lines.
fn parse_zfs_get(out: &str) -> std::collections::BTreeMap<String, Dataset> {
    let mut m = std::collections::BTreeMap::<String, Dataset>::new();
    for line in out.lines() {
        let mut f = line.splitn(3, '\t');
        if let (Some(n), Some(p), Some(v)) = (f.next(), f.next(), f.next()) {
            let d = m.entry(n.to_string()).or_insert_with(|| Dataset {
                name: n.to_string(),
                props: Default::default(),
            });
            d.props.insert(p.to_string(), v.to_string());
        }
    }
    m
}

/// jls `--libxo json` with explicit parameters: values are strings, `dying` a boolean,
/// addresses arrays.
fn parse_jls(out: &str) -> Result<std::collections::BTreeMap<String, JailInfo>, String> {
    let v: serde_json::Value = serde_json::from_str(out).map_err(|e| e.to_string())?;
    let jails = v
        .pointer("/jail-information/jail")
        .and_then(|j| j.as_array())
        .ok_or("no jail-information.jail array")?;
    let s = |j: &serde_json::Value, k: &str| match j.get(k) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let list = |j: &serde_json::Value, k: &str| -> Vec<String> {
        j.get(k)
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut m = std::collections::BTreeMap::new();
    for j in jails {
        let info = JailInfo {
            jid: s(j, "jid").parse().map_err(|_| "jid is not a number")?,
            name: s(j, "name"),
            path: s(j, "path"),
            hostname: s(j, "host.hostname"),
            ip4: list(j, "ip4.addr"),
            ip6: list(j, "ip6.addr"),
            dying: j.get("dying").and_then(|d| d.as_bool()).unwrap_or(false),
        };
        m.insert(info.name.clone(), info);
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_query_only_jailctls_prefix() {
        let g = crate::render::tests::global();
        assert_eq!(
            zfs_get_cmd(&g).to_string(),
            "/sbin/zfs get -H -p -r -o name,property,value jailctl:managed,jailctl:base,jailctl:spec,jailctl:parts,jailctl:params,jailctl:limits,jailctl:cpuset,jailctl:ip4,quota,reservation,compression,mountpoint,origin zroot/jailctl"
        );
        assert_eq!(
            jls_cmd().to_string(),
            "/usr/sbin/jls --libxo json -d jid name path host.hostname ip4.addr ip6.addr dying"
        );
    }

    #[test]
    fn parses_the_requested_forms() {
        let d = parse_zfs_get(
            "zroot/jailctl/jails/web\tjailctl:managed\tyes\nzroot/jailctl/jails/web\tquota\t0\n",
        );
        assert_eq!(
            d["zroot/jailctl/jails/web"].prop("jailctl:managed"),
            Some("yes")
        );
        let j = parse_jls(
            r#"{"__version": "2", "jail-information": {"jail": [{"jid":"3","name":"web","path":"/usr/local/jails/web","host.hostname":"web.example.org","ip4.addr":["192.0.2.20"],"ip6.addr":[],"dying":false}]}}"#,
        )
        .unwrap();
        assert_eq!(j["web"].jid, 3);
        assert_eq!(j["web"].ip4, ["192.0.2.20"]);
        assert!(parse_jls("{}").is_err());
    }
}
