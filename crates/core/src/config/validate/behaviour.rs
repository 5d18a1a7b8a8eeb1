//! What a jail runs: extra jail(8) parameters, hooks, the health check and provisioning.

use super::*;

pub(super) fn jail_params(
    v: &mut V,
    t: &Table,
    prefix: &str,
    checked: bool,
    out: &mut BTreeMap<String, ParamValue>,
) {
    for (key, e) in t {
        let full = format!("{prefix}{key}");
        // Unquoted dotted keys (allow.mount = true) arrive as nested tables: flatten them.
        if let Val::Table(sub) = &e.node.val {
            jail_params(v, sub, &format!("{full}."), checked, out);
            continue;
        }
        if let Some((_, help)) = schema::MANAGED_PARAMS.iter().find(|(p, _)| *p == full) {
            v.err_key(
                e,
                key,
                format!("jail parameter \"{full}\" is set by jailctl"),
                Some(help.to_string()),
            );
            continue;
        }
        if schema::READONLY_PARAMS.contains(&full.as_str()) {
            v.err_key(
                e,
                key,
                format!("jail parameter \"{full}\" is read-only"),
                None,
            );
            continue;
        }
        let is_allow = full
            .strip_prefix("allow.")
            .is_some_and(|a| schema::ALLOW_PARAMS.contains(&a));
        if checked && !is_allow && !schema::JAIL_PARAMS.contains(&full.as_str()) {
            let allow: Vec<String> = schema::ALLOW_PARAMS
                .iter()
                .map(|a| format!("allow.{a}"))
                .collect();
            let cands = schema::JAIL_PARAMS
                .iter()
                .copied()
                .chain(allow.iter().map(String::as_str));
            let msg = match suggest(&full, cands) {
                Some(s) => format!("unknown jail parameter \"{full}\"; did you mean \"{s}\"?"),
                None => format!("unknown jail parameter \"{full}\""),
            };
            v.err_key(
                e,
                key,
                msg,
                Some("if your kernel has it (a module's parameter, a newer release), put it in [params_unchecked]".into()),
            );
            continue;
        }
        if !full
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_'))
        {
            v.err_key(
                e,
                key,
                format!("\"{full}\" is not a jail parameter name"),
                None,
            );
            continue;
        }
        let n = &e.node;
        let value = match &n.val {
            Val::Bool(b) => Some(ParamValue::Bool(*b)),
            Val::Str(s) => Some(ParamValue::Str(s.clone())),
            Val::Int(i) => Some(ParamValue::Int(*i)),
            Val::Array(_) => Some(ParamValue::List(
                v.strings(n, &full).into_iter().map(|(s, _)| s).collect(),
            )),
            _ => {
                v.wrong_type(n, &full, "a boolean, integer, string or list of strings");
                None
            }
        };
        if is_allow && !matches!(value, Some(ParamValue::Bool(_)) | None) {
            v.err(n, format!("{full} must be true or false"), None);
            continue;
        }
        if let Some(val) = value {
            out.insert(full, val);
        }
    }
}

pub(super) fn hooks(v: &mut V, t: &Table) -> Hooks {
    v.keys(t, schema::HOOKS, "[hooks]");
    let k = schema::HOOKS;
    let mut h = |key: &str| get(t, k, key).map(|n| v.lines(n, key)).unwrap_or_default();
    Hooks {
        prestart: h("prestart"),
        created: h("created"),
        start: h("start"),
        poststart: h("poststart"),
        prestop: h("prestop"),
        stop: h("stop"),
        poststop: h("poststop"),
    }
}

pub(super) fn health(v: &mut V, at: &Node, t: &Table) -> Option<HealthCheck> {
    v.keys(t, schema::HEALTH, "[health]");
    let k = schema::HEALTH;
    let command = match get(t, k, "command") {
        Some(n) => {
            if let Val::Str(s) = &n.val {
                v.err(
                    n,
                    "health command must be an array of arguments",
                    Some(format!(
                        "write [\"/bin/sh\", \"-c\", \"{s}\"] for a shell line"
                    )),
                );
                None
            } else {
                let c: Vec<String> = v
                    .strings(n, "command")
                    .into_iter()
                    .map(|(s, _)| s)
                    .collect();
                if c.is_empty() {
                    v.err(n, "health command is empty", None);
                    None
                } else if let Err((msg, help)) = rules::check_not_option("health command", &c[0]) {
                    v.err(n, msg, Some(help));
                    None
                } else {
                    Some(c)
                }
            }
        }
        None => {
            v.err(
                at,
                "[health] has no command",
                Some("add command = [\"/usr/bin/true\"]".into()),
            );
            None
        }
    };
    let interval = get(t, k, "interval")
        .and_then(|n| v.duration(n, "interval"))
        .unwrap_or(Duration::from_secs(30));
    let timeout = get(t, k, "timeout")
        .and_then(|n| v.duration(n, "timeout"))
        .unwrap_or(Duration::from_secs(5));
    if timeout.is_zero()
        && let Some(n) = get(t, k, "timeout")
    {
        v.err(n, "health timeout must be longer than zero", None);
    }
    let retries = get(t, k, "retries")
        .and_then(|n| v.int(n, "retries", 0, 1000))
        .unwrap_or(3) as u32;
    Some(HealthCheck {
        command: command?,
        interval,
        timeout,
        retries,
    })
}

pub(super) fn provision(v: &mut V, t: &Table) -> Provision {
    v.keys(t, schema::PROVISION, "[provision]");
    let k = schema::PROVISION;
    let mut p = Provision::default();
    if let Some(n) = get(t, k, "packages") {
        for (s, pn) in v.strings(n, "packages") {
            if s.is_empty() || s.chars().any(char::is_whitespace) {
                v.err(
                    pn,
                    format!("\"{}\" is not a package name", s.escape_debug()),
                    Some("one package per entry".into()),
                );
            } else if let Err((msg, help)) = rules::check_not_option("package name", &s) {
                v.err(pn, msg, Some(help));
            } else {
                p.packages.push(s);
            }
        }
    }
    if let Some(n) = get(t, k, "commands") {
        p.commands = v.lines(n, "commands");
    }
    if let Some(n) = get(t, k, "files") {
        for f in v.array(n, "files").unwrap_or_default() {
            let Some(ft) = v.table(f, "each entry of [[provision.files]]") else {
                continue;
            };
            if let Some(pf) = provision_file(v, f, ft) {
                p.files.push(pf);
            }
        }
    }
    p
}

pub(super) fn provision_file(v: &mut V, at: &Node, t: &Table) -> Option<ProvisionFile> {
    v.keys(t, schema::PROVISION_FILE, "[[provision.files]]");
    let k = schema::PROVISION_FILE;
    let source = match get(t, k, "source") {
        Some(n) => v.string(n, "file source").map(|s| {
            let p = PathBuf::from(&s);
            if p.is_absolute() {
                p
            } else {
                let def = &v.src.files[n.file].path;
                def.parent().unwrap_or(Path::new("")).join(p)
            }
        }),
        None => {
            v.err(
                at,
                "file has no source",
                Some("add source = \"files/app.conf\"".into()),
            );
            None
        }
    };
    let target = match get(t, k, "target") {
        Some(n) => v.jail_path(n, "file target"),
        None => {
            v.err(
                at,
                "file has no target",
                Some("add target = \"/usr/local/etc/app.conf\"".into()),
            );
            None
        }
    };
    let owner = get(t, k, "owner").and_then(|n| {
        let s = v.string(n, "owner")?;
        let ok = !s.is_empty()
            && s.split(':').count() <= 2
            && s.split(':').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            });
        if !ok {
            v.err(n, format!("owner \"{s}\" is not user or user:group"), None);
            return None;
        }
        if let Err((msg, help)) = rules::check_not_option("owner", &s) {
            v.err(n, msg, Some(help));
            return None;
        }
        Some(s)
    });
    let mode = get(t, k, "mode").and_then(|n| {
        let m = match &n.val {
            Val::Int(i) => u32::try_from(*i).ok(),
            Val::Str(s) => u32::from_str_radix(s, 8).ok(),
            _ => None,
        };
        match m {
            Some(m) if m <= 0o7777 => Some(m),
            _ => {
                v.err(
                    n,
                    "mode must be an octal permission such as \"0644\" or 0o644",
                    None,
                );
                None
            }
        }
    });
    Some(ProvisionFile {
        source: source?,
        target: target?,
        owner,
        mode,
    })
}
