//! The sections of a jail's jail.conf(5) block, one function each, in the order the block
//! lists them: the fixed core, the hostname, the network, the mounts, the user parameters
//! and the exec hooks. Each is hashed on its own ([`super::Parts`]), so each is built on its
//! own.

use super::{MAX_MOUNT_PATH, RenderError, conf_lines, inside, quote, volume_mountpoint};
use crate::config::spec::{Global, JailSpec, Network, ParamValue};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// path, exec.clean, devfs, enforce_statfs, persist: what jailctl fixes for every jail.
pub(super) fn core(spec: &JailSpec, root: &Path) -> String {
    let is_vnet = matches!(spec.network, Network::Vnet { .. });
    let mut core = String::new();
    let _ = writeln!(core, "\tpath = {};", quote(&root.display().to_string()));
    core.push_str("\texec.clean;\n");
    core.push_str("\tmount.devfs;\n");
    // VNET jails get ruleset 5 (devfsrules_jail_vnet) unless a parameter says otherwise.
    if !spec.params.contains_key("devfs_ruleset") {
        let _ = writeln!(core, "\tdevfs_ruleset = {};", if is_vnet { 5 } else { 4 });
    }
    core.push_str("\tenforce_statfs = 2;\n");
    core.push_str("\tpersist;\n");
    core
}

/// host.hostname.
pub(super) fn host(spec: &JailSpec) -> String {
    format!("\thost.hostname = {};\n", quote(&spec.hostname))
}

/// ip4/ip6 (inherit, disable or the aliases), or the VNET lines.
pub(super) fn net(spec: &JailSpec) -> String {
    let mut net = String::new();
    match &spec.network {
        Network::Inherit => net.push_str("\tip4 = inherit;\n\tip6 = inherit;\n"),
        Network::None => net.push_str("\tip4 = disable;\n\tip6 = disable;\n"),
        Network::Alias {
            interface,
            ip4,
            ip6,
        } => {
            if ip4.is_empty() {
                net.push_str("\tip4 = disable;\n");
            }
            for (i, a) in ip4.iter().enumerate() {
                let op = if i == 0 { "=" } else { "+=" };
                let _ = writeln!(
                    net,
                    "\tip4.addr {op} {};",
                    quote(&format!("{interface}|{a}"))
                );
            }
            if ip6.is_empty() {
                net.push_str("\tip6 = disable;\n");
            }
            for (i, a) in ip6.iter().enumerate() {
                let op = if i == 0 { "=" } else { "+=" };
                let _ = writeln!(
                    net,
                    "\tip6.addr {op} {};",
                    quote(&format!("{interface}|{a}"))
                );
            }
        }
        Network::Vnet { .. } => net.push_str(&conf_lines(&spec.name)),
    }
    net
}

/// The nullfs mount lines of the mounts and volumes, with the mount points they need inside
/// the root; every path checked against the shared rules and FreeBSD's mount path limit
/// (the jail's devfs mount point included).
pub(super) fn mounts(
    spec: &JailSpec,
    global: &Global,
    root: &Path,
    source_file: &str,
) -> Result<(String, Vec<PathBuf>), RenderError> {
    let name = &spec.name;
    let mut mounts = String::new();
    let mut mount_points = Vec::new();
    let mut mount_line = |src: &Path, target: &Path, ro: bool| -> Result<(), RenderError> {
        let dst = inside(root, target);
        let d = dst.display().to_string();
        // jail(8) splits the line on whitespace and decodes nothing (see
        // config::rules::MOUNT_FIELD_SEPARATORS): each field is written as it is.
        for (what, p) in [
            ("mount source", src.display().to_string()),
            ("mount point", d.clone()),
        ] {
            if let Err((message, help)) = crate::config::rules::check_mount_path(what, &p) {
                return Err(RenderError::Refused {
                    name: name.clone(),
                    message,
                    help,
                    source_file: source_file.to_string(),
                });
            }
        }
        if d.len() > MAX_MOUNT_PATH {
            return Err(RenderError::MountPathTooLong {
                name: name.clone(),
                path: d.clone(),
                len: d.len(),
            });
        }
        let line = format!(
            "{} {d} nullfs {} 0 0",
            src.display(),
            if ro { "ro" } else { "rw" }
        );
        let _ = writeln!(mounts, "\tmount += {};", quote(&line));
        mount_points.push(dst);
        Ok(())
    };
    for m in &spec.mounts {
        mount_line(&m.source, &m.target, m.read_only)?;
    }
    for v in &spec.volumes {
        mount_line(
            &volume_mountpoint(global, name, &v.name),
            &v.target,
            v.read_only,
        )?;
    }
    let devfs = root.join("dev").display().to_string();
    if devfs.len() > MAX_MOUNT_PATH {
        return Err(RenderError::MountPathTooLong {
            name: name.clone(),
            len: devfs.len(),
            path: devfs,
        });
    }
    Ok((mounts, mount_points))
}

/// The user parameters, and the same as `name=value` words for `jail -m`.
pub(super) fn params(spec: &JailSpec) -> (String, Vec<String>) {
    let mut params = String::new();
    let mut words = Vec::new();
    for (k, v) in &spec.params {
        let _ = writeln!(params, "\t{k} = {};", param_value(v));
        words.push(param_word(k, v));
    }
    (params, words)
}

/// The exec hooks, in the order jail(8) runs them.
pub(super) fn hooks(spec: &JailSpec) -> String {
    let mut hooks = String::new();
    let h = &spec.hooks;
    for (param, list) in [
        ("exec.prestart", &h.prestart),
        ("exec.created", &h.created),
        ("exec.start", &h.start),
        ("exec.poststart", &h.poststart),
        ("exec.prestop", &h.prestop),
        ("exec.stop", &h.stop),
        ("exec.poststop", &h.poststop),
    ] {
        // The jail's own rc(8) unless the definition says what to run instead; each
        // command once (a template that names `/bin/sh /etc/rc` must not run it twice).
        let default = match param {
            "exec.start" => Some("/bin/sh /etc/rc"),
            "exec.stop" => Some("/bin/sh /etc/rc.shutdown jail"),
            _ => None,
        };
        let cmds: Vec<&str> = match (list.is_empty(), default) {
            (true, Some(d)) => vec![d],
            _ => list.iter().map(String::as_str).collect(),
        };
        for (i, cmd) in cmds.iter().enumerate() {
            let op = if i == 0 { "=" } else { "+=" };
            let _ = writeln!(hooks, "\t{param} {op} {};", quote(cmd));
        }
    }
    hooks
}

fn param_value(v: &ParamValue) -> String {
    match v {
        ParamValue::Bool(b) => quote(if *b { "true" } else { "false" }),
        ParamValue::Int(i) => quote(&i.to_string()),
        ParamValue::Str(s) => quote(s),
        ParamValue::List(l) => l.iter().map(|s| quote(s)).collect::<Vec<_>>().join(", "),
    }
}

/// The `name=value` word for `jail -m` (argv, not jail.conf: no quoting needed).
fn param_word(k: &str, v: &ParamValue) -> String {
    match v {
        ParamValue::Bool(b) => format!("{k}={b}"),
        ParamValue::Int(i) => format!("{k}={i}"),
        ParamValue::Str(s) => format!("{k}={s}"),
        ParamValue::List(l) => format!("{k}={}", l.join(",")),
    }
}
