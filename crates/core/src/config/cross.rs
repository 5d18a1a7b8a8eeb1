//! The checks that need every jail at once: dependencies that exist and form no cycle,
//! addresses used once, host ports forwarded once. Each error is charged to every jail it
//! makes unusable.

use super::error::{ConfigError, Sources};
use super::raw::Node;
use super::schema;
use super::spec::JailSpec;
use super::validate::{self, V};
use std::collections::HashMap;

/// Checks that need all jails: dependencies exist and have no cycle, addresses are unique.
/// Each error comes with the jail it makes unusable (one error may concern several jails:
/// every member of a cycle, both jails sharing an address). `defined` holds every jail with
/// a definition file, valid or not: depending on a broken jail is not an unknown dependency.
pub(super) fn cross_checks(
    src: &Sources,
    jails: &[JailSpec],
    refs: &[validate::JailRefs],
    defined: &std::collections::BTreeSet<String>,
) -> Vec<(usize, ConfigError)> {
    let mut out = vec![];
    let mut v = V { src, errs: vec![] };
    unknown_deps(&mut v, &mut out, refs, defined);
    Cycles::new(jails, refs).check(&mut v, &mut out);
    shared_addrs(&mut v, &mut out, jails, refs);
    out.extend(validate::port_conflicts(&mut v, jails, refs));
    out
}

/// A `depends_on` entry naming no definition file.
fn unknown_deps(
    v: &mut V,
    out: &mut Vec<(usize, ConfigError)>,
    refs: &[validate::JailRefs],
    defined: &std::collections::BTreeSet<String>,
) {
    for (i, r) in refs.iter().enumerate() {
        for (d, n) in &r.deps {
            if !defined.contains(d) {
                let msg = match schema::suggest(d, defined.iter().map(String::as_str)) {
                    Some(s) => format!("depends on unknown jail \"{d}\"; did you mean \"{s}\"?"),
                    None => format!("depends on unknown jail \"{d}\""),
                };
                v.err(
                    n,
                    msg,
                    Some(format!(
                        "define it in jails/{d}.toml or remove it from depends_on"
                    )),
                );
                out.extend(v.errs.drain(..).map(|e| (i, e)));
            }
        }
    }
}

/// Dependency cycles: depth-first search, reporting each cycle once at its first jail and
/// charging it to every member.
struct Cycles<'a> {
    jails: &'a [JailSpec],
    refs: &'a [validate::JailRefs],
    index: HashMap<&'a str, usize>,
    /// Per jail: 0 new, 1 on stack, 2 done.
    state: Vec<u8>,
    stack: Vec<usize>,
}

impl<'a> Cycles<'a> {
    fn new(jails: &'a [JailSpec], refs: &'a [validate::JailRefs]) -> Self {
        let index: HashMap<&str, usize> = jails
            .iter()
            .enumerate()
            .map(|(i, j)| (j.name.as_str(), i))
            .collect();
        Cycles {
            jails,
            refs,
            index,
            state: vec![0u8; jails.len()],
            stack: vec![],
        }
    }

    fn check(mut self, v: &mut V, out: &mut Vec<(usize, ConfigError)>) {
        for i in 0..self.jails.len() {
            if self.state[i] == 0 {
                self.dfs(i, v, out);
            }
        }
    }

    fn dfs(&mut self, i: usize, v: &mut V, out: &mut Vec<(usize, ConfigError)>) {
        let (jails, refs) = (self.jails, self.refs);
        self.state[i] = 1;
        self.stack.push(i);
        for (d, n) in &refs[i].deps {
            let Some(&j) = self.index.get(d.as_str()) else {
                continue;
            };
            if self.state[j] == 1 {
                let pos = self.stack.iter().position(|&s| s == j).unwrap_or(0);
                let members = self.stack[pos..].to_vec();
                let mut names: Vec<&str> =
                    members.iter().map(|&s| jails[s].name.as_str()).collect();
                names.push(&jails[j].name);
                v.err(
                    n,
                    format!("dependency cycle: {}", names.join(" -> ")),
                    Some(
                        "jails in a cycle can never start; remove one of these depends_on entries"
                            .into(),
                    ),
                );
                for e in v.errs.drain(..) {
                    out.extend(members.iter().map(|&m| (m, e.clone())));
                }
            } else if self.state[j] == 0 {
                self.dfs(j, v, out);
            }
        }
        self.stack.pop();
        self.state[i] = 2;
    }
}

/// The same address in two jails: both are at fault, each is told about the other.
fn shared_addrs(
    v: &mut V,
    out: &mut Vec<(usize, ConfigError)>,
    jails: &[JailSpec],
    refs: &[validate::JailRefs],
) {
    let mut seen: HashMap<std::net::IpAddr, (usize, &Node)> = HashMap::new();
    let mut charged = std::collections::HashSet::new();
    for (i, r) in refs.iter().enumerate() {
        let mut own = std::collections::HashSet::new();
        for (a, n) in &r.addrs {
            if !own.insert(*a) {
                v.err(n, format!("address {a} is listed twice"), None);
                out.extend(v.errs.drain(..).map(|e| (i, e)));
                continue;
            }
            match seen.get(a) {
                Some(&(o, first)) => {
                    v.err(
                        n,
                        format!("address {a} is also used by jail \"{}\"", jails[o].name),
                        Some("give each jail its own address".into()),
                    );
                    out.extend(v.errs.drain(..).map(|e| (i, e)));
                    if charged.insert((*a, o)) {
                        v.err(
                            first,
                            format!("address {a} is also used by jail \"{}\"", jails[i].name),
                            Some("give each jail its own address".into()),
                        );
                        out.extend(v.errs.drain(..).map(|e| (o, e)));
                    }
                }
                None => {
                    seen.insert(*a, (i, n));
                }
            }
        }
    }
}
