//! `jailctl show NAME`: print a jail's definition as jailctl will use it, after templates
//! and `[defaults]` are applied. The TOML is a jail file: pasted into `jails/NAME.toml` it
//! validates to the same definition, in the units people write (`memory = "512M"`,
//! `interval = "30s"`, `mode = "0644"`), without the keys left at their defaults and with
//! the templates it came from as a comment (they are already applied). `--json` prints the
//! resolved definition with exact numbers (bytes, seconds, the mode as a number).

use crate::config::spec::{HealthCheck, JailSpec, Limits, ParamValue, RootProps};
use crate::config::units::format_size;
use miette::{IntoDiagnostic, WrapErr};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Print the fully resolved definition of a jail.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Jail name (its file name under jails/, without .toml).
    #[arg(value_parser = super::target::jail_name)]
    pub name: String,
    /// Print JSON instead of TOML.
    #[arg(long)]
    pub json: bool,
}

pub fn run(global: &super::GlobalArgs, args: Args) -> miette::Result<ExitCode> {
    let l = crate::config::load_lenient(&global.config_dir)?;
    if let Some(errs) = l.broken(&args.name) {
        return Err(errs.clone().into());
    }
    let Some(jail) = l.config.jail(&args.name) else {
        return Err(super::target::undefined(&l, &args.name));
    };
    let text = if args.json {
        serde_json::to_string_pretty(jail).into_diagnostic()?
    } else {
        pasteable(jail)
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot print jail `{}` as TOML", jail.name))?
    };
    crate::outln!("{}", text.trim_end());
    Ok(ExitCode::SUCCESS)
}

/// A duration as written in jailctl's files: the largest unit that is exact.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s != 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s != 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[derive(Serialize)]
struct Jail {
    hostname: String,
    autostart: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<String>,
    base: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpuset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    root: Option<Root>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limits: Option<Lims>,
    network: Net,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mounts: Vec<Mount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    volumes: Vec<Volume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    params: BTreeMap<String, ParamValue>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    params_unchecked: BTreeMap<String, ParamValue>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    hooks: BTreeMap<&'static str, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    health: Option<Health>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provision: Option<Provision>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ports: Vec<Port>,
}

/// One `[[ports]]`: a port as a number, a range as `"A-B"`.
#[derive(Serialize)]
struct Port {
    host: serde_json::Value,
    jail: serde_json::Value,
    proto: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<String>,
}

fn port_value(r: &crate::config::spec::PortRange) -> serde_json::Value {
    if r.first == r.last {
        serde_json::Value::from(r.first)
    } else {
        serde_json::Value::from(r.to_string())
    }
}

/// `mode` first, then the keys of that mode.
#[derive(Serialize)]
struct Net {
    mode: serde_json::Value,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Mount {
    source: PathBuf,
    target: PathBuf,
    read_only: bool,
}

#[derive(Serialize)]
struct Root {
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reservation: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compression: Option<String>,
}

#[derive(Serialize)]
struct Lims {
    #[serde(skip_serializing_if = "Option::is_none")]
    memory: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    swap: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_percent: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    processes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    open_files: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threads: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_bps: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write_bps: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    read_iops: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    write_iops: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    rctl: Vec<String>,
}

#[derive(Serialize)]
struct Volume {
    name: String,
    target: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<String>,
    read_only: bool,
}

#[derive(Serialize)]
struct Health {
    command: Vec<String>,
    interval: String,
    timeout: String,
    retries: u32,
}

#[derive(Serialize)]
struct Provision {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    packages: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    commands: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    files: Vec<File>,
}

#[derive(Serialize)]
struct File {
    source: PathBuf,
    target: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    owner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mode: Option<String>,
}

/// rctl resources counted in bytes (or bytes per second): printed with a size suffix.
const RCTL_BYTES: &[&str] = &[
    "datasize",
    "stacksize",
    "coredumpsize",
    "memoryuse",
    "memorylocked",
    "vmemoryuse",
    "swapuse",
    "shmsize",
    "msgqsize",
    "readbps",
    "writebps",
];

fn root(r: &RootProps) -> Option<Root> {
    (r != &RootProps::default()).then(|| Root {
        quota: r.quota.map(format_size),
        reservation: r.reservation.map(format_size),
        compression: r.compression.clone(),
    })
}

fn limits(l: &Limits) -> Option<Lims> {
    let out = Lims {
        memory: l.memory.map(format_size),
        swap: l.swap.map(format_size),
        cpu_percent: l.cpu_percent,
        processes: l.processes,
        open_files: l.open_files,
        threads: l.threads,
        read_bps: l.read_bps.map(format_size),
        write_bps: l.write_bps.map(format_size),
        read_iops: l.read_iops,
        write_iops: l.write_iops,
        rctl: l
            .raw
            .iter()
            .map(|r| {
                let amount = if RCTL_BYTES.contains(&r.resource.as_str()) {
                    format_size(r.amount)
                } else {
                    r.amount.to_string()
                };
                match &r.per {
                    Some(p) => format!("{}:{}={amount}/{p}", r.resource, r.action),
                    None => format!("{}:{}={amount}", r.resource, r.action),
                }
            })
            .collect(),
    };
    let empty = serde_json::to_value(&out).map(|v| v == serde_json::json!({}));
    (!empty.unwrap_or(false)).then_some(out)
}

fn net(n: &crate::config::spec::Network) -> Net {
    let mut rest = match serde_json::to_value(n) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let mode = rest.remove("mode").unwrap_or_default();
    // Empty lists and unset gateways are what the key's absence means.
    rest.retain(|_, v| !(v.is_null() || v.as_array().is_some_and(Vec::is_empty)));
    Net { mode, rest }
}

fn health(h: &HealthCheck) -> Health {
    Health {
        command: h.command.clone(),
        interval: format_duration(h.interval),
        timeout: format_duration(h.timeout),
        retries: h.retries,
    }
}

/// A provisioning file's source as the jail file would spell it: relative to the directory
/// of the jail's file when it lies below it (so the text pasted into that file resolves to
/// the same path), otherwise absolute.
fn file_source(spec: &JailSpec, source: &Path) -> PathBuf {
    let dir = spec.source.parent().unwrap_or(Path::new(""));
    match source.strip_prefix(dir) {
        Ok(rel) if !dir.as_os_str().is_empty() => rel.to_path_buf(),
        _ => std::path::absolute(source).unwrap_or_else(|_| source.to_path_buf()),
    }
}

/// Whether `[params]` accepts this parameter name (the rest were written under
/// `[params_unchecked]`).
fn checked_param(name: &str) -> bool {
    use crate::config::schema::{ALLOW_PARAMS, JAIL_PARAMS};
    JAIL_PARAMS.contains(&name)
        || name
            .strip_prefix("allow.")
            .is_some_and(|a| ALLOW_PARAMS.contains(&a))
}

/// The jail file that resolves to `spec`, with a comment naming where it came from.
pub fn pasteable(spec: &JailSpec) -> Result<String, toml::ser::Error> {
    let h = &spec.hooks;
    let hooks: BTreeMap<&'static str, Vec<String>> = [
        ("prestart", &h.prestart),
        ("created", &h.created),
        ("start", &h.start),
        ("poststart", &h.poststart),
        ("prestop", &h.prestop),
        ("stop", &h.stop),
        ("poststop", &h.poststop),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k, v.clone()))
    .collect();
    let (params, params_unchecked): (BTreeMap<_, _>, BTreeMap<_, _>) = spec
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(k, _)| checked_param(k));
    let p = &spec.provision;
    let provision =
        (!(p.packages.is_empty() && p.commands.is_empty() && p.files.is_empty())).then(|| {
            Provision {
                packages: p.packages.clone(),
                commands: p.commands.clone(),
                files: p
                    .files
                    .iter()
                    .map(|f| File {
                        source: file_source(spec, &f.source),
                        target: f.target.clone(),
                        owner: f.owner.clone(),
                        mode: f.mode.map(|m| format!("{m:04o}")),
                    })
                    .collect(),
            }
        });
    let j = Jail {
        hostname: spec.hostname.clone(),
        autostart: spec.autostart,
        depends_on: spec.depends_on.clone(),
        base: spec.base.clone(),
        cpuset: spec.cpuset.clone(),
        root: root(&spec.root),
        limits: limits(&spec.limits),
        network: net(&spec.network),
        mounts: spec
            .mounts
            .iter()
            .map(|m| Mount {
                source: m.source.clone(),
                target: m.target.clone(),
                read_only: m.read_only,
            })
            .collect(),
        volumes: spec
            .volumes
            .iter()
            .map(|v| Volume {
                name: v.name.clone(),
                target: v.target.clone(),
                quota: v.quota.map(format_size),
                read_only: v.read_only,
            })
            .collect(),
        params,
        params_unchecked,
        hooks,
        health: spec.health.as_ref().map(health),
        provision,
        ports: spec
            .ports
            .iter()
            .map(|f| Port {
                host: port_value(&f.host),
                jail: port_value(&f.jail),
                proto: f.proto.as_str(),
                address: f.address.map(|a| a.to_string()),
            })
            .collect(),
    };
    let mut out = format!(
        "# jail `{}` as jailctl resolves it from {}",
        spec.name,
        spec.source.display()
    );
    if !spec.extends.is_empty() {
        out.push_str(&format!(
            " and the templates {} (already applied below)",
            spec.extends.join(", ")
        ));
    }
    out.push('\n');
    out.push_str(&toml::to_string_pretty(&j)?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        for s in ["30s", "2m", "2h", "1500ms", "90s"] {
            let d = crate::config::units::parse_duration(s).unwrap();
            assert_eq!(
                crate::config::units::parse_duration(&format_duration(d)).unwrap(),
                d
            );
        }
    }
}
