//! The dependency graph `boot` and `shutdown` walk. It exists so the scheduler never sees a
//! `JailSpec`: it gets indices, edges and health settings, and problems found while building the
//! graph (an undefined dependency, a cycle) travel with the jail they concern instead of aborting
//! the whole boot, so unrelated jails still come up.

use crate::config::{HealthCheck, JailSpec};
use std::collections::{BTreeSet, HashMap, VecDeque};

/// One jail handed to [`BootGraph::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphEntry {
    pub name: String,
    /// Names of the jails this one needs up (and healthy) first.
    pub depends_on: Vec<String>,
    /// Health gate; `None` means healthy as soon as it started.
    pub health: Option<HealthCheck>,
}

/// One jail in the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootNode {
    pub name: String,
    /// Indices of the dependencies present in the graph.
    pub deps: Vec<usize>,
    /// Indices of the jails that depend on this one.
    pub dependents: Vec<usize>,
    pub health: Option<HealthCheck>,
    /// Why this jail cannot be started at all (undefined dependency, cycle). The scheduler
    /// reports it as failed without calling the driver, and its dependents as not started.
    pub problem: Option<String>,
}

/// A dependency graph over jails, indices into [`BootGraph::nodes`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootGraph {
    nodes: Vec<BootNode>,
    index: HashMap<String, usize>,
}

/// Why a graph could not be built for the names the user asked for.
#[derive(Debug, thiserror::Error, miette::Diagnostic, PartialEq, Eq)]
pub enum GraphError {
    /// `hint` is a did-you-mean, or empty.
    #[error("no jail named `{name}` is defined{hint}")]
    #[diagnostic(help("`jailctl list` shows the defined jails"))]
    UnknownJail { name: String, hint: String },
}

impl BootGraph {
    /// Build a graph from plain entries. A dependency naming no entry becomes a problem of the
    /// dependent jail; jails on a dependency cycle each get a problem naming the cycle.
    pub fn new(entries: Vec<GraphEntry>) -> BootGraph {
        let index: HashMap<String, usize> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        let mut nodes: Vec<BootNode> = entries
            .iter()
            .map(|e| BootNode {
                name: e.name.clone(),
                deps: Vec::new(),
                dependents: Vec::new(),
                health: e.health.clone(),
                problem: None,
            })
            .collect();
        for (i, e) in entries.iter().enumerate() {
            let mut missing = Vec::new();
            let mut seen = BTreeSet::new();
            for d in &e.depends_on {
                match index.get(d) {
                    Some(&j) if seen.insert(j) => {
                        nodes[i].deps.push(j);
                        nodes[j].dependents.push(i);
                    }
                    Some(_) => {}
                    None => missing.push(format!("`{d}`")),
                }
            }
            if !missing.is_empty() {
                nodes[i].problem = Some(format!(
                    "it depends on {}, which {} not defined: add the definition under jails/ or remove it from depends_on",
                    missing.join(", "),
                    if missing.len() == 1 { "is" } else { "are" }
                ));
            }
        }
        let mut g = BootGraph { nodes, index };
        g.mark_cycles();
        g
    }

    /// Kahn's algorithm leaves exactly the jails on or behind a cycle; the ones on a cycle (they
    /// reach themselves) get a problem naming its members.
    fn mark_cycles(&mut self) {
        let n = self.nodes.len();
        let mut indeg: Vec<usize> = self.nodes.iter().map(|x| x.deps.len()).collect();
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut done = vec![false; n];
        while let Some(i) = queue.pop_front() {
            done[i] = true;
            for &d in &self.nodes[i].dependents {
                indeg[d] -= 1;
                if indeg[d] == 0 {
                    queue.push_back(d);
                }
            }
        }
        let left: Vec<usize> = (0..n).filter(|&i| !done[i]).collect();
        for &i in &left {
            let from_i = self.reachable(i);
            if !from_i[i] {
                continue;
            }
            let members: Vec<String> = left
                .iter()
                .filter(|&&j| from_i[j] && self.reachable(j)[i])
                .map(|&j| format!("`{}`", self.nodes[j].name))
                .collect();
            self.nodes[i].problem = Some(format!(
                "it is on a dependency cycle ({}): remove one of the depends_on entries",
                members.join(" ⇄ ")
            ));
        }
    }

    /// Jails reachable from `i` along dependent edges (excluding `i` unless on a cycle).
    fn reachable(&self, i: usize) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = self.nodes[i].dependents.clone();
        while let Some(j) = stack.pop() {
            if !seen[j] {
                seen[j] = true;
                stack.extend(&self.nodes[j].dependents);
            }
        }
        seen
    }

    /// The graph `jailctl boot [NAME...]` starts. Without names: every `autostart` jail. With
    /// names: those jails, whether autostart or not. Either way the dependencies of a selected
    /// jail are pulled in transitively even when they are not autostart, because the dependent
    /// cannot work without them. A dependency on an undefined jail stays a problem of the
    /// dependent (reported, dependents not started); it does not stop the others.
    pub fn for_boot(specs: &[JailSpec], names: &[String]) -> Result<BootGraph, GraphError> {
        let by_name: HashMap<&str, &JailSpec> =
            specs.iter().map(|s| (s.name.as_str(), s)).collect();
        let roots: Vec<&JailSpec> = if names.is_empty() {
            specs.iter().filter(|s| s.autostart).collect()
        } else {
            names
                .iter()
                .map(|n| lookup(&by_name, n))
                .collect::<Result<_, _>>()?
        };
        let mut wanted = BTreeSet::new();
        let mut stack: Vec<&JailSpec> = roots;
        while let Some(s) = stack.pop() {
            if wanted.insert(s.name.as_str()) {
                stack.extend(s.depends_on.iter().filter_map(|d| by_name.get(d.as_str())));
            }
        }
        Ok(BootGraph::new(
            specs
                .iter()
                .filter(|s| wanted.contains(s.name.as_str()))
                .map(entry)
                .collect(),
        ))
    }

    /// [`BootGraph::for_boot`] with jails whose definitions are broken: `broken` pairs a
    /// jail name with why it cannot start. Without names every broken jail is in the graph
    /// (its definition cannot say whether it is autostart, and its failure must show); with
    /// names, those named or needed by a named jail. A broken jail fails without being
    /// started, and the jails depending on it are reported as not started.
    pub fn for_boot_with_broken(
        specs: &[JailSpec],
        broken: &[(String, String)],
        names: &[String],
    ) -> Result<BootGraph, GraphError> {
        let mut known: HashMap<&str, Option<&JailSpec>> =
            specs.iter().map(|s| (s.name.as_str(), Some(s))).collect();
        for (n, _) in broken {
            known.entry(n.as_str()).or_insert(None);
        }
        let mut stack: Vec<&str> = if names.is_empty() {
            specs
                .iter()
                .filter(|s| s.autostart)
                .map(|s| s.name.as_str())
                .chain(broken.iter().map(|(n, _)| n.as_str()))
                .collect()
        } else {
            let mut roots = vec![];
            for n in names {
                if !known.contains_key(n.as_str()) {
                    let all: HashMap<&str, &JailSpec> =
                        specs.iter().map(|s| (s.name.as_str(), s)).collect();
                    let mut err = lookup(&all, n).err();
                    if let Some(GraphError::UnknownJail { hint, .. }) = &mut err
                        && hint.is_empty()
                        && let Some((b, _)) = broken.iter().find(|(b, _)| {
                            strsim::damerau_levenshtein(b, n) <= (n.len() / 3).max(1)
                        })
                    {
                        *hint = format!(" (did you mean `{b}`?)");
                    }
                    return Err(err.unwrap_or(GraphError::UnknownJail {
                        name: n.clone(),
                        hint: String::new(),
                    }));
                }
                roots.push(n.as_str());
            }
            roots
        };
        let mut wanted = BTreeSet::new();
        while let Some(n) = stack.pop() {
            if wanted.insert(n)
                && let Some(Some(s)) = known.get(n)
            {
                stack.extend(s.depends_on.iter().map(String::as_str));
            }
        }
        let mut entries: Vec<GraphEntry> = specs
            .iter()
            .filter(|s| wanted.contains(s.name.as_str()))
            .map(entry)
            .collect();
        entries.extend(
            broken
                .iter()
                .filter(|(n, _)| wanted.contains(n.as_str()))
                .map(|(n, _)| GraphEntry {
                    name: n.clone(),
                    depends_on: vec![],
                    health: None,
                }),
        );
        let mut g = BootGraph::new(entries);
        for (n, why) in broken {
            if let Some(i) = g.index_of(n) {
                g.nodes[i].problem = Some(why.clone());
            }
        }
        Ok(g)
    }

    /// The graph `jailctl shutdown [NAME...]` stops: the `running` jails jailctl defines (a
    /// running jail without a definition is not jailctl's to stop). With names: those jails and,
    /// transitively, every running jail depending on them, since a dependent must stop before
    /// what it depends on. Edges to jails that are not running are dropped.
    pub fn for_shutdown(
        specs: &[JailSpec],
        running: &[String],
        names: &[String],
    ) -> Result<BootGraph, GraphError> {
        Self::for_shutdown_with_orphans(specs, &[], running, names)
    }

    /// [`BootGraph::for_shutdown`] plus `orphans`: running jails jailctl manages (their root
    /// dataset says so) that have no valid definition, because the file is broken or gone.
    /// They must stop too; with no definition to read, they depend on nothing.
    pub fn for_shutdown_with_orphans(
        specs: &[JailSpec],
        orphans: &[String],
        running: &[String],
        names: &[String],
    ) -> Result<BootGraph, GraphError> {
        let mut all: Vec<GraphEntry> = specs.iter().map(entry).collect();
        for o in orphans {
            if !all.iter().any(|e| &e.name == o) {
                all.push(GraphEntry {
                    name: o.clone(),
                    depends_on: vec![],
                    health: None,
                });
            }
        }
        let by_name: HashMap<&str, &GraphEntry> =
            all.iter().map(|e| (e.name.as_str(), e)).collect();
        let up: BTreeSet<&str> = running
            .iter()
            .map(String::as_str)
            .filter(|n| by_name.contains_key(n))
            .collect();
        let mut wanted: BTreeSet<&str> = BTreeSet::new();
        if names.is_empty() {
            wanted = up.clone();
        } else {
            let mut stack: Vec<&str> = Vec::new();
            for n in names {
                if !by_name.contains_key(n.as_str()) {
                    let defined: HashMap<&str, &JailSpec> =
                        specs.iter().map(|s| (s.name.as_str(), s)).collect();
                    lookup(&defined, n)?;
                }
                if up.contains(n.as_str()) {
                    stack.push(n);
                }
            }
            while let Some(n) = stack.pop() {
                if wanted.insert(n) {
                    stack.extend(
                        all.iter()
                            .filter(|e| {
                                up.contains(e.name.as_str()) && e.depends_on.iter().any(|d| d == n)
                            })
                            .map(|e| e.name.as_str()),
                    );
                }
            }
        }
        Ok(BootGraph::new(
            all.iter()
                .filter(|e| wanted.contains(e.name.as_str()))
                .map(|e| {
                    let mut e = e.clone();
                    e.depends_on.retain(|d| wanted.contains(d.as_str()));
                    e
                })
                .collect(),
        ))
    }

    pub fn nodes(&self) -> &[BootNode] {
        &self.nodes
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Index of a jail by name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }

    /// For each jail, the number of jails on the longest chain of dependents starting at it
    /// (itself included): the boot priority, so the critical path is never starved.
    pub(crate) fn height_down(&self) -> Vec<usize> {
        self.longest(|n| &n.dependents, |n| &n.deps)
    }

    /// Same along dependencies: the shutdown priority.
    pub(crate) fn height_up(&self) -> Vec<usize> {
        self.longest(|n| &n.deps, |n| &n.dependents)
    }

    /// Longest chain following `next`, computed in topological order of `prev`; jails on a cycle
    /// get 1 (they never run anyway).
    fn longest(
        &self,
        next: impl Fn(&BootNode) -> &Vec<usize>,
        prev: impl Fn(&BootNode) -> &Vec<usize>,
    ) -> Vec<usize> {
        let n = self.nodes.len();
        let mut out_left: Vec<usize> = self.nodes.iter().map(|x| next(x).len()).collect();
        let mut queue: VecDeque<usize> = (0..n).filter(|&i| out_left[i] == 0).collect();
        let mut h = vec![1usize; n];
        while let Some(i) = queue.pop_front() {
            for &p in prev(&self.nodes[i]) {
                h[p] = h[p].max(h[i] + 1);
                out_left[p] -= 1;
                if out_left[p] == 0 {
                    queue.push_back(p);
                }
            }
        }
        h
    }
}

fn entry(s: &JailSpec) -> GraphEntry {
    GraphEntry {
        name: s.name.clone(),
        depends_on: s.depends_on.clone(),
        health: s.health.clone(),
    }
}

fn lookup<'a>(
    by_name: &HashMap<&str, &'a JailSpec>,
    name: &str,
) -> Result<&'a JailSpec, GraphError> {
    by_name.get(name).copied().ok_or_else(|| {
        let best = by_name
            .keys()
            .map(|k| (strsim::damerau_levenshtein(k, name), *k))
            .filter(|(dist, _)| *dist <= (name.len() / 3).max(1))
            .min();
        GraphError::UnknownJail {
            name: name.to_string(),
            hint: best
                .map(|(_, k)| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default(),
        }
    })
}
