//! Rendering a definition into what the host consumes: the jail.conf(5) block that jail(8)
//! reads with `-f`, and the files jailctl writes inside the jail's root (`/etc/rc.conf`).
//! Pure: the same spec always renders to the same bytes, so the hash of the rendering
//! ([`Rendered::spec_hash`]) tells whether what runs is what is written.
//!
//! Every value is written double-quoted with `\`, `"`, `$` and control characters escaped, so
//! a hostile string (a hook, a parameter, a path) cannot end its statement, open a new one or
//! expand a jail.conf variable.
//!
//! Decision on `persist`: rendered jails set `persist`. Without it jail(8) removes a jail as
//! soon as its last process exits, so a jail whose rc starts no long-running daemon would
//! vanish right after a "successful" start, leaving its limits and mounts to look like a
//! failure. With `persist`, a jail lives until `jail -r`, which still runs `exec.stop`.

mod conf;
pub mod pf;

pub use crate::config::layout::{
    MAX_MOUNT_PATH, base_dataset, conf_path, hash_hex, inside, jail_root, root_dataset,
    volume_dataset, volume_mountpoint,
};
use crate::config::spec::{Global, JailSpec, Network};
use std::fmt::Write as _;
use std::path::PathBuf;

/// Why a spec cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum RenderError {
    #[error(
        "jail `{name}`: a name must start with a letter or digit, contain only letters, digits, `_` and `-`, and not be all digits (jail.conf would read it as a jid)"
    )]
    #[diagnostic(help("rename {source_file}"))]
    BadName { name: String, source_file: String },
    /// No longer produced: VNET is rendered (see [`crate::vnet`]). Kept for compatibility.
    #[error("jail `{name}`: VNET networking is not rendered by this version of jailctl yet")]
    #[diagnostic(help("use `mode = \"alias\"` or `\"inherit\"` in {source_file}"))]
    VnetUnsupported { name: String, source_file: String },
    #[error(
        "jail `{name}`: mount point {path} is {len} characters, FreeBSD allows at most {MAX_MOUNT_PATH} (MNAMELEN)"
    )]
    #[diagnostic(help("use a shorter mount_root in jailctl.toml or a shorter target"))]
    MountPathTooLong {
        name: String,
        path: String,
        len: usize,
    },
    /// A value the shared rules ([`crate::config::rules`]) refuse: `validate` reports the same
    /// with its file and line; this is the guard for specs built some other way.
    #[error("jail `{name}`: {message} (in {source_file})")]
    Refused {
        name: String,
        message: String,
        #[help]
        help: String,
        source_file: String,
    },
}

/// Everything rendered for one jail.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Rendered {
    /// The jail.conf block, opened by a comment naming the definition file.
    pub conf: String,
    /// Length of that opening comment: the only part of `conf` that says where the definition
    /// was read from, left out of [`Rendered::spec_hash`].
    #[serde(skip)]
    pub header_len: usize,
    /// Contents of `/etc/rc.conf` inside the jail.
    pub rc_conf: String,
    /// Hashes of the parts that decide how a change is applied (see [`Parts`]).
    pub parts: Parts,
    /// User parameters as `name=value` words for `jail -m`, in order.
    pub params: Vec<String>,
    /// Directories inside the jail root that mounts need (mount points must exist).
    pub mount_points: Vec<PathBuf>,
}

/// Hashes of the independently changeable parts of a rendering. Stored on the jail's dataset
/// (`jailctl:parts`) so the planner can tell a live change from one that needs a restart.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Parts {
    /// path, exec.start/stop, devfs, enforce_statfs, persist: change needs a restart.
    pub core: String,
    /// host.hostname: live (`jail -m`).
    pub host: String,
    /// ip4/ip6 settings: restart (jail(8) adds aliases only at creation).
    pub net: String,
    /// mount lines: restart.
    pub mounts: String,
    /// exec hooks: take effect at the next start or stop; restart to apply.
    pub hooks: String,
    /// user parameters: live where jail(8) allows it.
    pub params: String,
    /// in-jail files: rewritten live.
    pub files: String,
}

impl Parts {
    /// `core:H,host:H,...`, the form stored in `jailctl:parts`.
    pub fn encode(&self) -> String {
        format!(
            "core:{},host:{},net:{},mounts:{},hooks:{},params:{},files:{}",
            self.core, self.host, self.net, self.mounts, self.hooks, self.params, self.files
        )
    }

    /// Parse [`Parts::encode`]'s form; `None` when it is not that form.
    pub fn decode(s: &str) -> Option<Parts> {
        let mut m = std::collections::BTreeMap::new();
        for kv in s.split(',') {
            let (k, v) = kv.split_once(':')?;
            m.insert(k, v.to_string());
        }
        let mut get = |k: &str| m.remove(k);
        Some(Parts {
            core: get("core")?,
            host: get("host")?,
            net: get("net")?,
            mounts: get("mounts")?,
            hooks: get("hooks")?,
            params: get("params")?,
            files: get("files")?,
        })
    }

    /// Names of the parts that differ from `other`.
    pub fn changed(&self, other: &Parts) -> Vec<&'static str> {
        let pairs = [
            ("core", &self.core, &other.core),
            ("host", &self.host, &other.host),
            ("net", &self.net, &other.net),
            ("mounts", &self.mounts, &other.mounts),
            ("hooks", &self.hooks, &other.hooks),
            ("params", &self.params, &other.params),
            ("files", &self.files, &other.files),
        ];
        pairs
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(n, _, _)| n)
            .collect()
    }
}

impl Rendered {
    /// The hash stored in `jailctl:spec`: the whole rendered definition except the comment
    /// naming its file, so it says what the jail is, not where (or through which spelling of
    /// the configuration directory) its file was read from.
    pub fn spec_hash(&self) -> String {
        hash_hex(&[
            &self.conf.as_bytes()[self.header_len..],
            self.rc_conf.as_bytes(),
        ])
    }
}

/// Quote a value for jail.conf(5): double quotes, with `\`, `"`, `$` and control characters
/// escaped (`\n`, `\t`, `\r`, otherwise three-digit octal). Nothing inside can end the string
/// or expand a variable.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\{:03o}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Quote a value for an rc.conf(5) assignment (read by sh): double quotes with `\`, `"`, `$`
/// and backquote escaped.
pub fn sh_double_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$' | '`') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// The jail.conf lines of a VNET jail: its own stack, and the jail end of its epair moved in
/// by jail(8) right after `exec.created`.
pub fn conf_lines(jail: &str) -> String {
    format!(
        "\tvnet;\n\tvnet.interface = {};\n",
        quote(&crate::config::layout::epair_names(jail).jail)
    )
}

/// rc.conf(5) reads `ifconfig_<if>` with `.`, `-`, `/` and `+` in the interface name read as
/// `_` (network.subr), so that is the variable name to write.
fn rc_ifvar(iface: &str) -> String {
    iface.replace(['.', '-', '/', '+'], "_")
}

/// The network lines of the jail's `/etc/rc.conf`: addresses on the jail end, default routes.
/// Empty for non-VNET jails.
pub fn rc_conf_lines(spec: &JailSpec) -> String {
    let Network::Vnet {
        ip4,
        ip6,
        gateway4,
        gateway6,
        bridge: _,
    } = &spec.network
    else {
        return String::new();
    };
    let v = rc_ifvar(&crate::config::layout::epair_names(&spec.name).jail);
    let q = sh_double_quote;
    let mut s = String::new();
    let mut alias = 0;
    for (i, a) in ip4.iter().enumerate() {
        if i == 0 {
            s += &format!("ifconfig_{v}={}\n", q(&format!("inet {a}")));
        } else {
            s += &format!("ifconfig_{v}_alias{alias}={}\n", q(&format!("inet {a}")));
            alias += 1;
        }
    }
    if ip4.is_empty() {
        s += &format!("ifconfig_{v}=\"up\"\n");
    }
    for (i, a) in ip6.iter().enumerate() {
        if i == 0 {
            s += &format!("ifconfig_{v}_ipv6={}\n", q(&format!("inet6 {a}")));
        } else {
            s += &format!("ifconfig_{v}_alias{alias}={}\n", q(&format!("inet6 {a}")));
            alias += 1;
        }
    }
    if let Some(g) = gateway4 {
        s += &format!("defaultrouter={}\n", q(&g.to_string()));
    }
    if let Some(g) = gateway6 {
        s += &format!("ipv6_defaultrouter={}\n", q(&g.to_string()));
    }
    s
}

fn valid_name(name: &str) -> bool {
    crate::config::rules::check_jail_name(name).is_ok()
}

/// Render a jail's jail.conf block and in-jail files.
pub fn render(spec: &JailSpec, global: &Global) -> Result<Rendered, RenderError> {
    let name = &spec.name;
    let source_file = spec.source.display().to_string();
    if !valid_name(name) {
        return Err(RenderError::BadName {
            name: name.clone(),
            source_file,
        });
    }
    let root = jail_root(global, name);
    let core = conf::core(spec, &root);
    let host = conf::host(spec);
    let net = conf::net(spec);
    let (mounts, mount_points) = conf::mounts(spec, global, &root, &source_file)?;
    let (params, words) = conf::params(spec);
    let hooks = conf::hooks(spec);

    let header = format!(
        "# Rendered by jailctl from {}; edit that file, not this one.\n",
        quote(&source_file)
    );
    let body = format!("{name} {{\n{core}{host}{net}{mounts}{params}{hooks}}}\n");
    let conf = format!("{header}{body}");
    // VNET: addresses and routes of the jail end; part of `net` (a change needs a restart).
    let vnet_rc = rc_conf_lines(spec);
    let rc_conf = format!(
        "# Written by jailctl for jail {name}; changes here are replaced by `jailctl up`.\nhostname={}\nsyslogd_flags=\"-ss\"\n{vnet_rc}",
        sh_double_quote(&spec.hostname)
    );
    let parts = Parts {
        core: hash_hex(&[core.as_bytes()]),
        host: hash_hex(&[host.as_bytes()]),
        net: if vnet_rc.is_empty() {
            hash_hex(&[net.as_bytes()])
        } else {
            hash_hex(&[net.as_bytes(), vnet_rc.as_bytes()])
        },
        mounts: hash_hex(&[mounts.as_bytes()]),
        hooks: hash_hex(&[hooks.as_bytes()]),
        params: hash_hex(&[params.as_bytes()]),
        files: hash_hex(&[rc_conf.as_bytes()]),
    };
    Ok(Rendered {
        header_len: header.len(),
        conf,
        rc_conf,
        parts,
        params: words,
        mount_points,
    })
}

#[cfg(test)]
pub(crate) mod tests;
