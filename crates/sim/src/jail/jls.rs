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

/// jls(8)'s options and the parameters it is asked for.
#[derive(Default)]
struct JlsOpts {
    dying: bool,
    header: bool,
    nv: bool,
    quote: bool,
    save: bool,
    json: bool,
    by_name: bool,
    verbose: bool,
    /// `-j`: one jail by jid or name.
    sel: Option<String>,
    params: Vec<String>,
}

fn usage() -> Output {
    Output::fail(1, "usage: jls [-dhNnqsv] [-j jail] [param ...]\n")
}

pub fn run_jls(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let mut o = match parse_args(args) {
        Ok(o) => o,
        Err(out) => return out,
    };
    for p in &o.params {
        if p != "all" && !known_kernel(p) {
            return Output::fail(1, format!("jls: unknown parameter: {p}\n"));
        }
    }
    let jails = match select(ctx, &o) {
        Ok(j) => j,
        Err(out) => return out,
    };
    let mut params = std::mem::take(&mut o.params);
    if params.is_empty() && (o.nv || o.header) || params.iter().any(|p| p == "all") {
        params = ALL.iter().map(|s| s.to_string()).collect();
    }
    if o.save {
        params.retain(|p| !READ_ONLY.contains(&p.as_str()) && p != "jid");
    }
    if params.is_empty() && o.verbose {
        return jls_verbose(&jails, o.json);
    }
    if params.is_empty() {
        return default_columns(&jails, &o);
    }
    if o.json {
        return params_json(&jails, &params);
    }
    params_text(&jails, &params, &o)
}

/// The command line: flags (`-j` with its value), `--libxo`, parameter names.
fn parse_args(args: &[String]) -> Result<JlsOpts, Output> {
    let mut o = JlsOpts::default();
    let mut k = 0;
    while k < args.len() {
        let a = args[k].as_str();
        if a == "--libxo" {
            match args.get(k + 1).map(String::as_str) {
                Some(f) if f.split(',').any(|x| x == "json") => o.json = true,
                Some(_) => {}
                None => return Err(usage()),
            }
            k += 2;
            continue;
        }
        if let Some(f) = a.strip_prefix("--libxo=") {
            o.json = f.split(',').any(|x| x == "json");
            k += 1;
            continue;
        }
        if a.starts_with('-') && a.len() > 1 {
            for (ci, c) in a[1..].char_indices() {
                match c {
                    'd' => o.dying = true,
                    'h' => o.header = true,
                    'n' => o.nv = true,
                    'q' => o.quote = true,
                    's' => {
                        o.save = true;
                        o.nv = true;
                        o.quote = true
                    }
                    'N' => o.by_name = true,
                    'v' => o.verbose = true,
                    'j' => {
                        let rest = &a[1 + ci + 1..];
                        if rest.is_empty() {
                            k += 1;
                            match args.get(k) {
                                Some(v) => o.sel = Some(v.clone()),
                                None => return Err(usage()),
                            }
                        } else {
                            o.sel = Some(rest.to_string());
                        }
                        break;
                    }
                    _ => return Err(usage()),
                }
            }
            k += 1;
            continue;
        }
        o.params.push(a.to_string());
        k += 1;
    }
    Ok(o)
}

/// The jails to show, by jid: live ones (dying ones too with `-d`), or the one `-j` names.
fn select<'a>(ctx: &'a Ctx<'_>, o: &JlsOpts) -> Result<Vec<&'a SimJail>, Output> {
    let mut jails: Vec<&SimJail> = ctx
        .state
        .jail
        .jails
        .values()
        .filter(|j| o.dying || !j.dying)
        .collect();
    jails.sort_by_key(|j| j.jid);
    if let Some(s) = &o.sel {
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
            None => return Err(Output::fail(1, format!("jls: jail \"{s}\" not found\n"))),
        }
    }
    Ok(jails)
}

/// The default columns (jid or name, first IPv4 address, hostname, path).
fn default_columns(jails: &[&SimJail], o: &JlsOpts) -> Output {
    let by_name = o.by_name;
    if o.json {
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
    let mut s = format!(
        "{:>6}  {:<15} {:<29} {}\n",
        if by_name { "Name" } else { "JID" },
        "IP Address",
        "Hostname",
        "Path"
    );
    for j in jails {
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
    Output::ok(s)
}

/// Named parameters in libxo's JSON: address lists as arrays, booleans as booleans.
fn params_json(jails: &[&SimJail], params: &[String]) -> Output {
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
    Output::ok(wrap_json(&rows))
}

/// Named parameters as text: values (`-q` quoted), or `name=value` pairs with `-n`/`-s`,
/// after a header line with `-h`.
fn params_text(jails: &[&SimJail], params: &[String], o: &JlsOpts) -> Output {
    let mut s = String::new();
    if o.header && !o.nv {
        s += &params.join(" ");
        s += "\n";
    }
    for j in jails {
        let cells: Vec<String> = params
            .iter()
            .map(|p| {
                let v = jls_value(j, p).unwrap_or_default();
                if o.nv {
                    if is_bool_kernel(p) {
                        let last = p.rsplit('.').next().unwrap_or(p);
                        let head = &p[..p.len() - last.len()];
                        if v == "true" {
                            p.clone()
                        } else {
                            format!("{head}no{last}")
                        }
                    } else {
                        format!("{p}={}", if o.quote { quote_jls(&v) } else { v })
                    }
                } else if o.quote {
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
