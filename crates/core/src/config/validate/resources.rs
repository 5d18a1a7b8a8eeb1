//! Resource settings: the root dataset's properties, rctl limits and their rule syntax.

use super::*;

pub(super) fn root_props(v: &mut V, t: &Table) -> RootProps {
    v.keys(t, schema::ROOT, "[root]");
    let k = schema::ROOT;
    let quota = get(t, k, "quota").and_then(|n| v.size(n, "quota"));
    let reservation = get(t, k, "reservation").and_then(|n| v.size(n, "reservation"));
    if let (Some(q), Some(r), Some(n)) = (quota, reservation, get(t, k, "reservation"))
        && r > q
    {
        v.err(
            n,
            format!(
                "reservation {} is larger than quota {}",
                units::format_size(r),
                units::format_size(q)
            ),
            None,
        );
    }
    let compression = get(t, k, "compression").and_then(|n| {
        let s = v.string(n, "compression")?;
        if !schema::check_compression(&s) {
            v.err(
                n,
                format!("unknown ZFS compression \"{s}\""),
                Some(
                    "use one of on, off, lz4, zstd, zstd-N, zstd-fast-N, gzip, gzip-N, zle, lzjb"
                        .into(),
                ),
            );
            return None;
        }
        Some(s)
    });
    RootProps {
        quota,
        reservation,
        compression,
    }
}

pub(super) fn limits(v: &mut V, t: &Table) -> Limits {
    v.keys(t, schema::LIMITS, "[limits]");
    let k = schema::LIMITS;
    let count = |v: &mut V, key: &str| {
        get(t, k, key)
            .and_then(|n| v.int(n, key, 1, i64::MAX))
            .map(|i| i as u64)
    };
    let size = |v: &mut V, key: &str| get(t, k, key).and_then(|n| v.size(n, key));
    let mut l = Limits {
        memory: size(v, "memory"),
        swap: size(v, "swap"),
        cpu_percent: get(t, k, "cpu_percent")
            .and_then(|n| v.int(n, "cpu_percent", 1, 102_400))
            .map(|i| i as u32),
        processes: count(v, "processes"),
        open_files: count(v, "open_files"),
        threads: count(v, "threads"),
        read_bps: size(v, "read_bps"),
        write_bps: size(v, "write_bps"),
        read_iops: count(v, "read_iops"),
        write_iops: count(v, "write_iops"),
        raw: vec![],
    };
    let friendly: Vec<(&str, &str, bool)> = vec![
        ("memory", "memoryuse", l.memory.is_some()),
        ("swap", "swapuse", l.swap.is_some()),
        ("cpu_percent", "pcpu", l.cpu_percent.is_some()),
        ("processes", "maxproc", l.processes.is_some()),
        ("open_files", "openfiles", l.open_files.is_some()),
        ("threads", "nthr", l.threads.is_some()),
        ("read_bps", "readbps", l.read_bps.is_some()),
        ("write_bps", "writebps", l.write_bps.is_some()),
        ("read_iops", "readiops", l.read_iops.is_some()),
        ("write_iops", "writeiops", l.write_iops.is_some()),
    ];
    if let Some(n) = get(t, k, "rctl") {
        for (s, rn) in v.strings(n, "rctl") {
            match parse_rctl(&s) {
                Ok(rule) => {
                    let action_friendly = rule.action == "deny" || rule.action == "throttle";
                    if let Some((fname, _, _)) = friendly
                        .iter()
                        .find(|(_, res, set)| *set && *res == rule.resource && action_friendly)
                    {
                        v.err(
                            rn,
                            format!(
                                "rctl rule \"{s}\" limits {} which `{fname}` already limits",
                                rule.resource
                            ),
                            Some(format!(
                                "keep only one of them: remove `{fname}` or this rule"
                            )),
                        );
                    } else {
                        l.raw.push(rule);
                    }
                }
                Err((msg, help)) => v.err(rn, msg, help),
            }
        }
    }
    l
}

/// `resource:action=amount[/per]`, subject implied.
pub fn parse_rctl(s: &str) -> Result<RctlRule, (String, Option<String>)> {
    let form =
        || Some("write resource:action=amount[/per], e.g. \"vmemoryuse:deny=4G\"".to_string());
    let (head, amount_per) = s
        .split_once('=')
        .ok_or_else(|| (format!("rctl rule \"{s}\" has no \"=amount\""), form()))?;
    let parts: Vec<&str> = head.split(':').collect();
    let (resource, action) = match parts.as_slice() {
        [r, a] => (*r, *a),
        [_, _, r, a] => {
            return Err((
                format!("rctl rule \"{s}\" names a subject"),
                Some(format!(
                    "leave the subject out (jailctl adds jail:<name>): \"{r}:{a}={amount_per}\""
                )),
            ));
        }
        _ => return Err((format!("rctl rule \"{s}\" is malformed"), form())),
    };
    if !schema::RCTL_RESOURCES.contains(&resource) {
        let msg = match suggest(resource, schema::RCTL_RESOURCES.iter().copied()) {
            Some(m) => format!("unknown rctl resource \"{resource}\"; did you mean \"{m}\"?"),
            None => format!("unknown rctl resource \"{resource}\""),
        };
        return Err((
            msg,
            Some(format!("resources: {}", schema::RCTL_RESOURCES.join(", "))),
        ));
    }
    let known_action = matches!(action, "deny" | "log" | "devctl" | "throttle")
        || action
            .strip_prefix("sig")
            .is_some_and(|sig| schema::SIGNALS.contains(&sig));
    if !known_action {
        return Err((
            format!("unknown rctl action \"{action}\""),
            Some("actions: deny, log, devctl, throttle, sig<name> (e.g. sigterm)".into()),
        ));
    }
    let rate = schema::RCTL_THROTTLE_ONLY.contains(&resource);
    if action == "deny" && (rate || schema::RCTL_NO_DENY.contains(&resource)) {
        let help = if rate {
            format!("use \"{resource}:throttle=...\"")
        } else {
            format!("use log, devctl or a signal, e.g. \"{resource}:sigterm=...\"")
        };
        return Err((format!("rctl cannot deny {resource}"), Some(help)));
    }
    if action == "throttle" && !rate {
        return Err((
            format!(
                "rctl can only throttle readbps, writebps, readiops and writeiops, not {resource}"
            ),
            Some("use deny, log, devctl or a signal".into()),
        ));
    }
    let (amount, per) = match amount_per.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (amount_per, None),
    };
    let amount =
        units::parse_size(amount).map_err(|e| (format!("rctl rule \"{s}\": {e}"), None))?;
    if let Some(p) = per
        && !schema::RCTL_PER.contains(&p)
    {
        return Err((
            format!("unknown rctl per \"{p}\" in \"{s}\""),
            Some("per is one of process, user, loginclass, jail".into()),
        ));
    }
    Ok(RctlRule {
        resource: resource.to_string(),
        action: action.to_string(),
        amount,
        per: per.map(str::to_string),
    })
}
