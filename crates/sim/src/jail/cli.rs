//! jail(8)'s command line: its flags, the parameter form (`jail -c name=... persist`) and
//! the config-file form (`jail -f FILE -c NAME`), each jail handed to create, modify or
//! remove.

use super::create::create;
use super::modify::modify;
use super::params::{cmdline_params, known};
use super::remove::remove;
use super::steps::Opts;
use super::{SimJail, find_any, find_live};
use crate::Ctx;
use crate::jailconf::{self, JailConf, ResolvedJail};
use jailctl_host::Output;
use std::io;
use std::path::{Path, PathBuf};

pub const USAGE: &str = "usage: jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n            -[cmr] param=value ... [command=command ...]\n       jail [-dqv] [-f file] -[cmr] [jail]\n       jail [-qv] [-f file] -[rR] ['*' | jail ...]\n       jail [-dhilqv] [-J jid_file] [-u username] [-U username]\n            [-n jailname] [-s securelevel]\n            path hostname [ip[,...]] command ...\n";

fn usage() -> Output {
    Output::fail(1, USAGE)
}

/// jail(8)'s flags: the options and where the parameters or jail names start.
fn parse_flags(args: &[String]) -> Result<(Opts, usize), Output> {
    let mut o = Opts::default();
    let mut k = 0;
    while k < args.len() {
        let a = &args[k];
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let letters: Vec<char> = a[1..].chars().collect();
        let mut li = 0;
        while li < letters.len() {
            match letters[li] {
                'c' => o.create = true,
                'm' => o.modify = true,
                'r' => o.remove = true,
                'R' => o.remove_noconf = true,
                'q' => o.quiet = true,
                'v' => o.verbose = true,
                'i' => {
                    o.print_jid = true;
                    o.quiet = true
                }
                'd' => {}
                'e' | 'J' | 'C' => {
                    return Err(Output::fail(
                        1,
                        format!(
                            "jail: -{} is not modelled by the simulated host\n",
                            letters[li]
                        ),
                    ));
                }
                'f' | 'p' => {
                    let rest: String = letters[li + 1..].iter().collect();
                    let val = if !rest.is_empty() {
                        rest
                    } else {
                        k += 1;
                        match args.get(k) {
                            Some(v) => v.clone(),
                            None => return Err(usage()),
                        }
                    };
                    if letters[li] == 'f' {
                        o.conf = Some(val);
                    }
                    li = letters.len();
                    continue;
                }
                _ => return Err(usage()),
            }
            li += 1;
        }
        k += 1;
    }
    Ok((o, k))
}

pub fn run_jail(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let (o, k) = match parse_flags(args) {
        Ok(p) => p,
        Err(out) => return out,
    };
    let rest = &args[k..];
    if !(o.create || o.modify || o.remove || o.remove_noconf) {
        return usage();
    }
    let mut out = Output::ok("");
    let param_form = rest.iter().any(|a| a.contains('='))
        || (o.create
            && rest
                .iter()
                .any(|a| known(a) || jailconf::split_no(a).is_some()));

    if o.remove_noconf {
        if rest.is_empty() {
            return usage();
        }
        for key in expand_names(ctx, rest) {
            remove(ctx, &mut out, &o, &key, None);
        }
        return finish(out);
    }

    if param_form {
        let def = match cmdline_params(rest) {
            Ok(d) => d,
            Err(_) => return usage(),
        };
        op_one(ctx, &mut out, &o, &def.name.clone(), Some(&def));
        return finish(out);
    }

    from_conf(ctx, &o, rest, out)
}

/// The config-file form: the jails named (or all of the file's) from `-f` or /etc/jail.conf.
fn from_conf(ctx: &mut Ctx<'_>, o: &Opts, rest: &[String], mut out: Output) -> Output {
    let conf_path = o.conf.clone().unwrap_or_else(|| "/etc/jail.conf".into());
    let conf = match load_conf(ctx, &conf_path, o.conf.is_none()) {
        Ok(c) => c,
        Err(e) => return Output::fail(1, format!("jail: {e}\n")),
    };
    let names: Vec<String> = if rest.is_empty() {
        if o.remove {
            return usage();
        }
        conf.jails.clone()
    } else if o.remove {
        expand_names(ctx, rest)
    } else {
        rest.to_vec()
    };
    for n in names {
        let in_conf = conf.jails.contains(&n)
            || find_any(&ctx.state.jail, &n).is_some_and(|j| conf.jails.contains(&j.name));
        let def = if in_conf {
            let jname = find_any(&ctx.state.jail, &n)
                .map(|j| j.name.clone())
                .unwrap_or(n.clone());
            match conf.resolve(&jname) {
                Ok(d) => Some(d),
                Err(e) => {
                    out.stderr += &format!("jail: {e}\n");
                    out.status = 1;
                    continue;
                }
            }
        } else {
            None
        };
        if def.is_none() && (o.create || o.modify) && !o.remove {
            out.stderr += &format!("jail: \"{n}\" not found\n");
            out.status = 1;
            continue;
        }
        op_one(ctx, &mut out, o, &n, def.as_ref());
    }
    finish(out)
}

fn finish(mut out: Output) -> Output {
    if out.status != 0 {
        out.status = 1;
    }
    out
}

fn expand_names(ctx: &Ctx<'_>, rest: &[String]) -> Vec<String> {
    let mut v = vec![];
    for r in rest {
        if r == "*" {
            let mut live: Vec<&SimJail> =
                ctx.state.jail.jails.values().filter(|j| !j.dying).collect();
            live.sort_by_key(|j| std::cmp::Reverse(j.jid));
            v.extend(live.iter().map(|j| j.name.clone()));
        } else {
            v.push(r.clone());
        }
    }
    v
}

fn load_conf(ctx: &Ctx<'_>, path: &str, default: bool) -> Result<JailConf, jailconf::ConfError> {
    let root = ctx.root.to_path_buf();
    if default && !ctx.host_path(Path::new(path)).exists() {
        return Ok(JailConf::default());
    }
    let r2 = root.clone();
    let read = move |p: &Path| -> io::Result<String> {
        // jail(8) reads bytes; a file that is not UTF-8 is read, not refused.
        let bytes = std::fs::read(crate::resolve(&r2, p, crate::Last::Follow)?)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    let list = move |p: &Path| -> io::Result<Vec<String>> {
        let mut v = vec![];
        for e in std::fs::read_dir(crate::resolve(&root, p, crate::Last::Follow)?)? {
            v.push(e?.file_name().to_string_lossy().into_owned());
        }
        Ok(v)
    };
    let p = if path.starts_with('/') {
        PathBuf::from(path)
    } else {
        Path::new("/").join(path)
    };
    jailconf::parse_file_with(
        &p,
        &jailconf::Source {
            read: &read,
            list_dir: Some(&list),
        },
    )
}

/// One jail under the selected operation.
fn op_one(ctx: &mut Ctx<'_>, out: &mut Output, o: &Opts, key: &str, def: Option<&ResolvedJail>) {
    let exists = find_live(&ctx.state.jail, key).is_some();
    if o.remove {
        if !exists {
            out.stderr += &format!("jail: \"{key}\" not found\n");
            out.status = 1;
            return;
        }
        if !remove(ctx, out, o, key, def) {
            return;
        }
        if o.create
            && let Some(d) = def
        {
            create(ctx, out, o, d);
        }
        return;
    }
    let Some(def) = def else { return };
    match (exists, o.create, o.modify) {
        (true, _, true) => modify(ctx, out, o, def),
        (true, true, false) => {
            out.stderr += &format!("jail: \"{key}\" already exists\n");
            out.status = 1;
        }
        (false, true, _) => create(ctx, out, o, def),
        (false, false, _) => {
            out.stderr += &format!("jail: \"{key}\" not found\n");
            out.status = 1;
        }
        (true, false, false) => {}
    }
}
