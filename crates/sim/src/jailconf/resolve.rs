//! jail.conf resolution and variable expansion: config.c's `load_config` and `add_param` of
//! freebsd-src 14.x `usr.sbin/jail/`, turning the parsed blocks into one jail's effective
//! parameters (wildcard blocks in file order, immutable `name`/`jid`, `$variable`
//! substitution with its not-found, loop and inline-array messages).

use super::{CfStr, ConfError, JailConf, Op, PVal, ResolvedJail, is_bool_param, split_no};

/// The parameters jail(8) itself knows (config.c's `intparams` table, without the internal
/// conversions): a variable may not be named like one of them.
const INTPARAMS: &[&str] = &[
    "allow.dying",
    "command",
    "depend",
    "exec.clean",
    "exec.consolelog",
    "exec.fib",
    "exec.jail_user",
    "exec.poststart",
    "exec.poststop",
    "exec.prepare",
    "exec.prestart",
    "exec.prestop",
    "exec.release",
    "exec.created",
    "exec.start",
    "exec.stop",
    "exec.system_jail_user",
    "exec.system_user",
    "exec.timeout",
    "interface",
    "ip_hostname",
    "mount",
    "mount.devfs",
    "mount.fdescfs",
    "mount.procfs",
    "mount.fstab",
    "stop.timeout",
    "vnet.interface",
    "allow.chflags",
    "allow.mount",
    "allow.raw_sockets",
    "allow.set_hostname",
    "allow.socket_af",
    "allow.sysvipc",
    "devfs_ruleset",
    "host.hostname",
    "ip4.addr",
    "ip6.addr",
    "jid",
    "name",
    "path",
    "persist",
    "securelevel",
    "vnet",
];

/// config.c's `equalopts`: the same option, with or without a `no` prefix on its last
/// component (`persist`/`nopersist`, `allow.mount`/`allow.nomount`).
fn equalopts(a: &str, b: &str) -> bool {
    let no =
        |x: &[u8], y: &[u8]| x.strip_prefix(b"no") == Some(y) || y.strip_prefix(b"no") == Some(x);
    let (mut o1, mut o2) = (a.as_bytes(), b.as_bytes());
    if o1 == o2 || no(o1, o2) {
        return true;
    }
    while let Some(p) = o1.iter().position(|&c| c == b'.') {
        let n = p + 1;
        if o2.get(..n) != Some(&o1[..n]) {
            break;
        }
        o1 = &o1[n..];
        o2 = &o2[n..];
        if no(o1, o2) {
            return true;
        }
    }
    false
}

/// config.c's `wild_jail_name`: a `*` making up a whole name component.
pub(super) fn wild_jail_name(w: &str) -> bool {
    w.split('.').any(|c| c == "*")
}

/// config.c's `wild_jail_match`: a non-final `*` component matches one component of the
/// jail's name, a final one matches one or more.
fn wild_jail_match(jname: &str, wname: &str) -> bool {
    let (mut jc, mut wc) = (jname.as_bytes(), wname.as_bytes());
    while let (Some(jd), Some(wd)) = (
        jc.iter().position(|&c| c == b'.'),
        wc.iter().position(|&c| c == b'.'),
    ) {
        if wc.get(..=jd) != Some(&jc[..=jd]) && !wc.starts_with(b"*.") {
            return false;
        }
        jc = &jc[jd + 1..];
        wc = &wc[wd + 1..];
    }
    jc == wc || wc == b"*"
}

/// A parameter of one jail during resolution (`struct cfparam` in `j->params`).
#[derive(Clone, Debug)]
struct JParam {
    name: String,
    var: bool,
    immutable: bool,
    values: Vec<CfStr>,
    /// Resolution failed for it (`PF_BAD`).
    bad: bool,
}

/// One jail's resolution: its parameters and the warnings (`jail_warnx`) so far.
struct Resolving {
    params: Vec<JParam>,
    warnings: Vec<String>,
}

impl Resolving {
    /// config.c's `add_param` for a statement: replace or append to the parameter of the same
    /// name (`noname` is the same as `name`), refusing to redefine `name` or `jid` and to mix
    /// a variable with a parameter.
    fn add(&mut self, name: &str, var: bool, op: Op, values: &[CfStr]) {
        if let Some(dp) = self.params.iter_mut().find(|d| equalopts(&d.name, name)) {
            if dp.var != var {
                self.warnings.push(format!(
                    "variable \"${name}\" cannot have the same name as a parameter."
                ));
                return;
            }
            if dp.immutable {
                self.warnings
                    .push(format!("cannot redefine parameter \"{}\".", dp.name));
                return;
            }
            dp.name = name.to_string();
            if op != Op::Append || values.is_empty() {
                dp.values.clear();
            }
            dp.values.extend_from_slice(values);
            return;
        }
        self.params.push(JParam {
            name: name.to_string(),
            var,
            immutable: false,
            values: values.to_vec(),
            bad: false,
        });
        if let Some(ip) = INTPARAMS.iter().find(|ip| equalopts(name, ip)) {
            if var {
                self.warnings.push(format!(
                    "variable \"${name}\" cannot have the same name as a parameter."
                ));
                return;
            }
            if matches!(*ip, "name" | "jid") {
                self.params.last_mut().unwrap().immutable = true;
            }
        }
    }

    /// Substitute the variables of parameter `p` (load_config's `find_vars` loop), resolving a
    /// referenced parameter first when it has variables of its own. `chain` holds the
    /// parameters being resolved (those with the current `gen`): meeting one again is a loop.
    fn substitute(&mut self, p: usize, chain: &mut Vec<usize>) {
        chain.push(p);
        let mut si = 0;
        while si < self.params[p].values.len() {
            while !self.params[p].values[si].vars.is_empty() {
                let (vname, pos) = self.params[p].values[si].vars[0].clone();
                let vp = self.params.iter().position(|q| q.name == vname);
                let fail = |me: &mut Self, chain: &[usize]| {
                    for &c in chain {
                        me.params[c].bad = true;
                    }
                };
                match vp {
                    None => {
                        self.warnings.push(format!(
                            "{}: variable \"{vname}\" not found",
                            self.params[p].name
                        ));
                        fail(self, chain);
                    }
                    Some(v) if self.params[v].values.is_empty() => {
                        self.warnings.push(format!(
                            "{}: variable \"{vname}\" not found",
                            self.params[p].name
                        ));
                        fail(self, chain);
                    }
                    Some(v) if self.params[v].bad => fail(self, chain),
                    Some(v) if chain.contains(&v) => {
                        self.warnings.push(format!("{vname}: variable loop"));
                        fail(self, chain);
                    }
                    Some(v) if self.params[v].values.iter().any(|s| !s.vars.is_empty()) => {
                        // Resolve it first, then look at this variable again.
                        self.substitute(v, chain);
                        continue;
                    }
                    Some(v) => {
                        let vals = self.params[v].values.clone();
                        let s = &self.params[p].values[si];
                        if vals.len() > 1 && (!s.s.is_empty() || s.vars.len() > 1) {
                            self.warnings.push(format!(
                                "{}: array cannot be substituted inline",
                                self.params[p].name
                            ));
                            fail(self, chain);
                        } else {
                            let first = &vals[0].s;
                            let s = &mut self.params[p].values[si];
                            s.s.splice(pos..pos, first.iter().copied());
                            for w in s.vars.iter_mut().skip(1) {
                                w.1 += first.len();
                            }
                            s.vars.remove(0);
                            // The other values of a list become values of their own.
                            for (n, extra) in vals[1..].iter().enumerate() {
                                self.params[p].values.insert(
                                    si + 1 + n,
                                    CfStr {
                                        s: extra.s.clone(),
                                        vars: vec![],
                                    },
                                );
                            }
                            continue;
                        }
                    }
                }
                // free_var: drop this variable and go on with the next one.
                self.params[p].values[si].vars.remove(0);
            }
            si += 1;
        }
        chain.pop();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

impl JailConf {
    /// The effective parameters of `name`, as config.c's `load_config` collects them: the
    /// jail's `name` (or `jid`, for a number), then the wildcard blocks (top-level statements
    /// included) and the jail's own block in the order they appear, then variables
    /// substituted. Works for jails not in the file too (they get only the wildcard
    /// parameters). The error holds every warning jail(8) prints for the jail.
    pub fn resolve(&self, name: &str) -> Result<ResolvedJail, ConfError> {
        let mut r = Resolving {
            params: vec![],
            warnings: vec![],
        };
        let numeric = name.parse::<i64>().is_ok_and(|n| n != 0);
        let implied = CfStr {
            s: name.as_bytes().to_vec(),
            vars: vec![],
        };
        r.params.push(JParam {
            name: if numeric { "jid" } else { "name" }.into(),
            var: false,
            immutable: true,
            values: vec![implied],
            bad: false,
        });
        let own: Vec<usize> = (0..self.blocks.len())
            .filter(|&b| self.blocks[b].name == name && !wild_jail_name(name))
            .collect();
        let seq = own.first().copied().unwrap_or(usize::MAX);
        let mut did_self = false;
        let apply_own = |r: &mut Resolving| {
            for &b in &own {
                for p in &self.blocks[b].params {
                    r.add(&p.name, p.var, p.op, &p.values);
                }
            }
        };
        for (wseq, w) in self.blocks.iter().enumerate() {
            if !wild_jail_name(&w.name) {
                continue;
            }
            if seq < wseq && !did_self {
                apply_own(&mut r);
                did_self = true;
            }
            if wild_jail_match(name, &w.name) {
                for p in &w.params {
                    r.add(&p.name, p.var, p.op, &p.values);
                }
            }
        }
        if !did_self {
            apply_own(&mut r);
        }
        let mut chain = vec![];
        for p in 0..r.params.len() {
            r.substitute(p, &mut chain);
        }
        if !r.warnings.is_empty() {
            return Err(ConfError {
                file: String::new(),
                line: 0,
                jail: Some(name.to_string()),
                message: r.warnings.join(&format!("\njail: {name}: ")),
            });
        }
        let mut params = vec![];
        for p in r.params.iter().filter(|p| !p.var) {
            let vals: Vec<String> = p.values.iter().map(|s| text(&s.s)).collect();
            let (pname, v) = match (split_no(&p.name), vals.as_slice()) {
                (Some(base), []) => (base, PVal::Bool(false)),
                (Some(base), [one]) if one == "true" || one == "false" => {
                    (base, PVal::Bool(one == "false"))
                }
                (_, []) => (p.name.clone(), PVal::Bool(true)),
                (_, [one]) if (one == "true" || one == "false") && is_bool_param(&p.name) => {
                    (p.name.clone(), PVal::Bool(one == "true"))
                }
                _ => (p.name.clone(), PVal::List(vals)),
            };
            params.push((pname, v));
        }
        Ok(ResolvedJail {
            name: name.to_string(),
            params,
        })
    }
}
