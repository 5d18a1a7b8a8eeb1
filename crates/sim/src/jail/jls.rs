//! jls(8): the default columns, named parameters (`-n`, `-q`, `-s`, `-h`), `-v` and the
//! libxo JSON output of the simulated jails.

use super::SimJail;
use super::params::{READ_ONLY, known_kernel};
use crate::Ctx;
use jailctl_host::Output;

fn jls_value(j: &SimJail, p: &str) -> Option<String> {
    Some(match p {
        "jid" => j.jid.to_string(),
        "name" => j.name.clone(),
        "path" => j.path.clone(),
        "dying" => j.dying.to_string(),
        "cpuset.id" => (j.jid + 1).to_string(),
        "parent" => "0".into(),
        "children.cur" => "0".into(),
        _ => match j.params.get(p) {
            Some(v) => v.clone(),
            None if p.starts_with("allow.") && known_kernel(p) => {
                (p == "allow.set_hostname" || p == "allow.reserved_ports").to_string()
            }
            None if known_kernel(p) => match p {
                "enforce_statfs" => "2".into(),
                "children.max" | "securelevel" | "devfs_ruleset" => "0".into(),
                "ip4" | "ip6" => "inherit".into(),
                "ip4.saddrsel" | "ip6.saddrsel" => "true".into(),
                "sysvmsg" | "sysvsem" | "sysvshm" => "disable".into(),
                "host" => "new".into(),
                _ => String::new(),
            },
            None => return None,
        },
    })
}

fn is_bool_kernel(p: &str) -> bool {
    p == "persist" || p == "dying" || p.ends_with("saddrsel") || p.starts_with("allow.")
}

const ALL: &[&str] = &[
    "jid",
    "name",
    "path",
    "host.hostname",
    "host.domainname",
    "ip4.addr",
    "ip6.addr",
    "vnet",
    "persist",
    "securelevel",
    "devfs_ruleset",
    "enforce_statfs",
    "children.max",
    "dying",
];

fn quote_jls(v: &str) -> String {
    if v.is_empty() || v.contains([' ', '"', '\'', '\t']) {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        v.to_string()
    }
}

pub fn run_jls(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let (mut dying, mut header, mut nv, mut quote, mut save, mut json, mut by_name) =
        (false, false, false, false, false, false, false);
    let mut sel: Option<String> = None;
    let mut verbose = false;
    let mut params: Vec<String> = vec![];
    let usage = || Output::fail(1, "usage: jls [-dhNnqsv] [-j jail] [param ...]\n");
    let mut k = 0;
    while k < args.len() {
        let a = args[k].as_str();
        if a == "--libxo" {
            match args.get(k + 1).map(String::as_str) {
                Some(f) if f.split(',').any(|x| x == "json") => json = true,
                Some(_) => {}
                None => return usage(),
            }
            k += 2;
            continue;
        }
        if let Some(f) = a.strip_prefix("--libxo=") {
            json = f.split(',').any(|x| x == "json");
            k += 1;
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            for (ci, c) in a[1..].char_indices() {
                match c {
                    'd' => dying = true,
                    'h' => header = true,
                    'n' => nv = true,
                    'q' => quote = true,
                    's' => {
                        save = true;
                        nv = true;
                        quote = true
                    }
                    'N' => by_name = true,
                    'v' => verbose = true,
                    'j' => {
                        let rest = &a[1 + ci + 1..];
                        if rest.is_empty() {
                            k += 1;
                            match args.get(k) {
                                Some(v) => sel = Some(v.clone()),
                                None => return usage(),
                            }
                        } else {
                            sel = Some(rest.to_string());
                        }
                        break;
                    }
                    _ => return usage(),
                }
            }
            k += 1;
            continue;
        }
        params.push(a.to_string());
        k += 1;
    }
    for p in &params {
        if p != "all" && !known_kernel(p) {
            return Output::fail(1, format!("jls: unknown parameter: {p}\n"));
        }
    }
    let mut jails: Vec<&SimJail> = ctx
        .state
        .jail
        .jails
        .values()
        .filter(|j| dying || !j.dying)
        .collect();
    jails.sort_by_key(|j| j.jid);
    if let Some(s) = &sel {
        let found = match s.parse::<i32>() {
            Ok(jid) => jails.iter().find(|j| j.jid == jid),
            // Like the kernel's lookup by name: a live jail before a dying one it replaced.
            Err(_) => jails
                .iter()
                .find(|j| j.name == *s && !j.dying)
                .or_else(|| jails.iter().find(|j| j.name == *s)),
        };
        match found {
            Some(j) => jails = vec![*j],
            None => return Output::fail(1, format!("jls: jail \"{s}\" not found\n")),
        }
    }
    if params.is_empty() && (nv || header) || params.iter().any(|p| p == "all") {
        params = ALL.iter().map(|s| s.to_string()).collect();
    }
    if save {
        params.retain(|p| !READ_ONLY.contains(&p.as_str()) && p != "jid");
    }
    let mut s = String::new();
    if params.is_empty() && verbose {
        return jls_verbose(&jails, json);
    }
    if params.is_empty() {
        // Default columns.
        if json {
            let rows: Vec<String> = jails
                .iter()
                .map(|j| {
                    let ip = j.list("ip4.addr").first().cloned().unwrap_or_default();
                    let key = if by_name {
                        format!("\"name\":{}", serde_json::to_string(&j.name).unwrap())
                    } else {
                        format!("\"jid\":{}", j.jid)
                    };
                    format!(
                        "{{{key},\"ipv4\":{},\"hostname\":{},\"path\":{}}}",
                        serde_json::to_string(&ip).unwrap(),
                        serde_json::to_string(
                            j.params
                                .get("host.hostname")
                                .map(String::as_str)
                                .unwrap_or("")
                        )
                        .unwrap(),
                        serde_json::to_string(&j.path).unwrap()
                    )
                })
                .collect();
            return Output::ok(wrap_json(&rows));
        }
        s += &format!(
            "{:>6}  {:<15} {:<29} {}\n",
            if by_name { "Name" } else { "JID" },
            "IP Address",
            "Hostname",
            "Path"
        );
        for j in &jails {
            let ip = j.list("ip4.addr").first().cloned().unwrap_or_default();
            let id = if by_name {
                j.name.clone()
            } else {
                j.jid.to_string()
            };
            s += &format!(
                "{:>6}  {:<15} {:<29} {}\n",
                id,
                ip,
                j.params.get("host.hostname").cloned().unwrap_or_default(),
                j.path
            );
        }
        return Output::ok(s);
    }
    if json {
        let rows: Vec<String> = jails
            .iter()
            .map(|j| {
                let fields: Vec<String> = params
                    .iter()
                    .map(|p| {
                        let v = jls_value(j, p).unwrap_or_default();
                        let jv = if p == "ip4.addr" || p == "ip6.addr" {
                            serde_json::to_string(&j.list(p)).unwrap()
                        } else if is_bool_kernel(p) {
                            (v == "true").to_string()
                        } else {
                            serde_json::to_string(&v).unwrap()
                        };
                        format!("{}:{jv}", serde_json::to_string(p).unwrap())
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            })
            .collect();
        return Output::ok(wrap_json(&rows));
    }
    if header && !nv {
        s += &params.join(" ");
        s += "\n";
    }
    for j in &jails {
        let cells: Vec<String> = params
            .iter()
            .map(|p| {
                let v = jls_value(j, p).unwrap_or_default();
                if nv {
                    if is_bool_kernel(p) {
                        let last = p.rsplit('.').next().unwrap_or(p);
                        let head = &p[..p.len() - last.len()];
                        if v == "true" {
                            p.clone()
                        } else {
                            format!("{head}no{last}")
                        }
                    } else {
                        format!("{p}={}", if quote { quote_jls(&v) } else { v })
                    }
                } else if quote {
                    quote_jls(&v)
                } else {
                    v
                }
            })
            .collect();
        s += &cells.join(" ");
        s += "\n";
    }
    Output::ok(s)
}

/// `jls -v`: the multi-line summary (jid, hostname, path, name, state, cpuset id, addresses).
fn jls_verbose(jails: &[&SimJail], json: bool) -> Output {
    let js = |s: &str| serde_json::to_string(s).unwrap();
    let state = |j: &SimJail| if j.dying { "DYING" } else { "ACTIVE" };
    let host = |j: &SimJail| j.params.get("host.hostname").cloned().unwrap_or_default();
    if json {
        let rows: Vec<String> = jails
            .iter()
            .map(|j| {
                format!(
                    "{{\"jid\":{},\"hostname\":{},\"path\":{},\"name\":{},\"state\":{},\"cpusetid\":{},\"ipv4_addrs\":{},\"ipv6_addrs\":{}}}",
                    j.jid,
                    js(&host(j)),
                    js(&j.path),
                    js(&j.name),
                    js(state(j)),
                    j.jid + 1,
                    serde_json::to_string(&j.list("ip4.addr")).unwrap(),
                    serde_json::to_string(&j.list("ip6.addr")).unwrap()
                )
            })
            .collect();
        return Output::ok(wrap_json(&rows));
    }
    let mut s = format!(
        "{:>6}  {:<29} {}\n{:>6}  {:<29} {}\n{:>6}  {}\n{:>6}  {}\n",
        "JID", "Hostname", "Path", "", "Name", "State", "", "CPUSetID", "", "IP Address(es)"
    );
    for j in jails {
        s += &format!(
            "{:>6}  {:<29} {}\n{:>6}  {:<29} {}\n{:>6}  {}\n",
            j.jid,
            host(j),
            j.path,
            "",
            j.name,
            state(j),
            "",
            j.jid + 1
        );
        for a in j.list("ip4.addr").iter().chain(j.list("ip6.addr").iter()) {
            s += &format!("{:>6}  {a}\n", "");
        }
    }
    Output::ok(s)
}

fn wrap_json(rows: &[String]) -> String {
    format!(
        "{{\"__version\": \"2\", \"jail-information\": {{\"jail\": [{}]}}}}\n",
        rows.join(", ")
    )
}
