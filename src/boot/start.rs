//! `boot`: bring a dependency graph of jails up as fast as its edges allow. A coordinator
//! (the calling thread) owns all scheduling state; each jail being brought up runs on its own
//! scoped thread and reports back over one channel, so events reach the caller in the order
//! they happen and no lock is shared with the driver.

use super::graph::BootGraph;
use super::{JailDriver, panic_message};
use crate::config::HealthCheck;
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How `boot` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootOptions {
    /// Jails brought up at once (start plus health gating). At least 1.
    pub parallelism: usize,
}

impl Default for BootOptions {
    fn default() -> Self {
        BootOptions {
            parallelism: default_parallelism(),
        }
    }
}

impl BootOptions {
    /// Options from the global settings (`parallelism`, else the number of CPUs).
    pub fn from_global(g: &crate::config::Global) -> Self {
        BootOptions {
            parallelism: g.parallelism.unwrap_or_else(default_parallelism).max(1),
        }
    }
}

/// The number of CPUs, 1 if unknown.
pub fn default_parallelism() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Something that happened during `boot`, delivered as it happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootEvent {
    /// Its dependencies are up; `start` is being called.
    Starting { name: String },
    /// `start` returned; health gating follows if the jail has a check.
    Started { name: String },
    /// One health probe finished (`attempt` of `attempts`).
    Probe {
        name: String,
        attempt: u32,
        attempts: u32,
        result: Result<bool, String>,
    },
    /// Up and healthy: its dependents may start.
    Up { name: String, elapsed: Duration },
    /// Start or health gating failed.
    Failed { name: String, reason: String },
    /// Not started because a dependency failed.
    Skipped {
        name: String,
        dependency: String,
        reason: String,
    },
}

/// What became of one jail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootOutcome {
    /// Started and healthy, `elapsed` after its own start began.
    Up {
        elapsed: Duration,
    },
    Failed {
        reason: String,
    },
    /// Never started: `dependency` (the jail that failed first on its path) failed for `reason`.
    NotStarted {
        dependency: String,
        reason: String,
    },
}

/// The result of `boot`: one outcome per jail, in graph order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootReport {
    pub jails: Vec<(String, BootOutcome)>,
    pub elapsed: Duration,
}

impl BootReport {
    /// True when every jail is up.
    pub fn ok(&self) -> bool {
        self.jails
            .iter()
            .all(|(_, o)| matches!(o, BootOutcome::Up { .. }))
    }

    /// The jails that failed themselves, with the reason.
    pub fn failed(&self) -> Vec<(&str, &str)> {
        self.jails
            .iter()
            .filter_map(|(n, o)| match o {
                BootOutcome::Failed { reason } => Some((n.as_str(), reason.as_str())),
                _ => None,
            })
            .collect()
    }

    pub fn outcome(&self, name: &str) -> Option<&BootOutcome> {
        self.jails.iter().find(|(n, _)| n == name).map(|(_, o)| o)
    }
}

impl std::fmt::Display for BootReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let up = self
            .jails
            .iter()
            .filter(|(_, o)| matches!(o, BootOutcome::Up { .. }))
            .count();
        writeln!(
            f,
            "{up} of {} jails up in {:.1}s",
            self.jails.len(),
            self.elapsed.as_secs_f64()
        )?;
        for (name, o) in &self.jails {
            match o {
                BootOutcome::Up { .. } => {}
                BootOutcome::Failed { reason } => writeln!(f, "  {name}: failed: {reason}")?,
                BootOutcome::NotStarted { dependency, reason } => writeln!(
                    f,
                    "  {name}: not started: dependency {dependency} failed: {reason}"
                )?,
            }
        }
        Ok(())
    }
}

enum Msg {
    Event(BootEvent),
    Done(usize, Result<Duration, String>),
}

/// Bring every jail of `graph` up; see [`boot_with`].
pub fn boot<D: JailDriver + ?Sized>(
    graph: &BootGraph,
    driver: &D,
    opts: &BootOptions,
) -> BootReport {
    boot_with(graph, driver, opts, &mut |_| {})
}

/// Bring every jail of `graph` up. A jail starts once all its dependencies are up and healthy;
/// up to `opts.parallelism` jails are in progress at once, and a slot is refilled the moment
/// it frees up (ready jails are taken longest-chain-of-dependents first). A failure marks every
/// dependent, transitively, as not started; unrelated jails go on. `on_event` is called on the
/// calling thread for every event, as it happens.
pub fn boot_with<D: JailDriver + ?Sized>(
    graph: &BootGraph,
    driver: &D,
    opts: &BootOptions,
    on_event: &mut dyn FnMut(&BootEvent),
) -> BootReport {
    let began = Instant::now();
    let nodes = graph.nodes();
    let n = nodes.len();
    let prio = graph.height_down();
    let mut waiting: Vec<usize> = nodes.iter().map(|x| x.deps.len()).collect();
    let mut outcome: Vec<Option<BootOutcome>> = vec![None; n];
    let mut ready = BinaryHeap::new();

    fail_broken(graph, &mut outcome, on_event);
    for i in 0..n {
        if waiting[i] == 0 && outcome[i].is_none() {
            ready.push((prio[i], std::cmp::Reverse(i)));
        }
    }

    let limit = opts.parallelism.max(1);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<Msg>();
        let mut running = 0usize;
        loop {
            while running < limit {
                let Some((_, std::cmp::Reverse(i))) = ready.pop() else {
                    break;
                };
                running += 1;
                let tx = tx.clone();
                let name = nodes[i].name.as_str();
                let health = nodes[i].health.as_ref();
                s.spawn(move || {
                    let send = |e: BootEvent| {
                        let _ = tx.send(Msg::Event(e));
                    };
                    let t0 = Instant::now();
                    let r =
                        catch_unwind(AssertUnwindSafe(|| bring_up(driver, name, health, &send)))
                            .unwrap_or_else(|p| {
                                Err(format!("jailctl bug: {}", panic_message(&*p)))
                            });
                    let _ = tx.send(Msg::Done(i, r.map(|()| t0.elapsed())));
                });
            }
            if running == 0 {
                break;
            }
            let Ok(msg) = rx.recv() else { break };
            match msg {
                Msg::Event(e) => on_event(&e),
                Msg::Done(i, Ok(elapsed)) => {
                    running -= 1;
                    outcome[i] = Some(BootOutcome::Up { elapsed });
                    on_event(&BootEvent::Up {
                        name: nodes[i].name.clone(),
                        elapsed,
                    });
                    for &d in &nodes[i].dependents {
                        waiting[d] -= 1;
                        if waiting[d] == 0 && outcome[d].is_none() {
                            ready.push((prio[d], std::cmp::Reverse(d)));
                        }
                    }
                }
                Msg::Done(i, Err(reason)) => {
                    running -= 1;
                    fail(graph, i, reason, &mut outcome, on_event);
                }
            }
        }
    });

    BootReport {
        jails: nodes
            .iter()
            .zip(outcome)
            .map(|(node, o)| {
                // Unreachable for a graph from BootGraph::new (every jail is run or skipped);
                // kept honest rather than panicking in an rc script.
                let o = o.unwrap_or_else(|| BootOutcome::Failed {
                    reason: "jailctl bug: the scheduler never reached this jail".into(),
                });
                (node.name.clone(), o)
            })
            .collect(),
        elapsed: began.elapsed(),
    }
}

/// Jails that cannot start at all fail first, all of them, so a jail on a cycle is reported
/// with its own problem rather than as a dependent of its cycle partner.
fn fail_broken(
    graph: &BootGraph,
    outcome: &mut [Option<BootOutcome>],
    on_event: &mut dyn FnMut(&BootEvent),
) {
    let broken: Vec<(usize, String)> = graph
        .nodes()
        .iter()
        .enumerate()
        .filter_map(|(i, x)| x.problem.clone().map(|p| (i, p)))
        .collect();
    for (i, p) in &broken {
        mark_failed(graph, *i, p.clone(), outcome, on_event);
    }
    for (i, p) in &broken {
        skip_dependents(graph, *i, p, outcome, on_event);
    }
}

/// Record `i` as failed and every undecided dependent, transitively, as not started.
fn fail(
    graph: &BootGraph,
    i: usize,
    reason: String,
    outcome: &mut [Option<BootOutcome>],
    on_event: &mut dyn FnMut(&BootEvent),
) {
    mark_failed(graph, i, reason.clone(), outcome, on_event);
    skip_dependents(graph, i, &reason, outcome, on_event);
}

fn mark_failed(
    graph: &BootGraph,
    i: usize,
    reason: String,
    outcome: &mut [Option<BootOutcome>],
    on_event: &mut dyn FnMut(&BootEvent),
) {
    on_event(&BootEvent::Failed {
        name: graph.nodes()[i].name.clone(),
        reason: reason.clone(),
    });
    outcome[i] = Some(BootOutcome::Failed { reason });
}

fn skip_dependents(
    graph: &BootGraph,
    i: usize,
    reason: &str,
    outcome: &mut [Option<BootOutcome>],
    on_event: &mut dyn FnMut(&BootEvent),
) {
    let nodes = graph.nodes();
    let name = &nodes[i].name;
    let mut stack: Vec<usize> = nodes[i].dependents.clone();
    while let Some(d) = stack.pop() {
        if outcome[d].is_some() {
            continue;
        }
        outcome[d] = Some(BootOutcome::NotStarted {
            dependency: name.clone(),
            reason: reason.to_string(),
        });
        on_event(&BootEvent::Skipped {
            name: nodes[d].name.clone(),
            dependency: name.clone(),
            reason: reason.to_string(),
        });
        stack.extend(&nodes[d].dependents);
    }
}

/// Start one jail and gate on its health check.
///
/// Health gating: up to `retries` probes (at least one), `interval` apart; the first probe that
/// says healthy ends the wait. A probe that errors, says unhealthy or takes longer than
/// `timeout` counts as failed (the driver runs the probe command and should bound it itself;
/// a late answer is not trusted).
fn bring_up<D: JailDriver + ?Sized>(
    driver: &D,
    name: &str,
    health: Option<&HealthCheck>,
    send: &dyn Fn(BootEvent),
) -> Result<(), String> {
    // Everything the start logs (its steps, with `-v`) is under the jail's name.
    let _jail = tracing::info_span!("boot", jail = %name).entered();
    send(BootEvent::Starting { name: name.into() });
    driver.start(name).map_err(|e| e.explain())?;
    send(BootEvent::Started { name: name.into() });
    let Some(h) = health else { return Ok(()) };
    let attempts = h.retries.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        let t0 = Instant::now();
        let mut result = driver.healthy(name).map_err(|e| e.explain());
        let took = t0.elapsed();
        if took > h.timeout && result.is_ok() {
            result = Err(format!(
                "the probe took {:.1}s, over its {:.1}s timeout",
                took.as_secs_f64(),
                h.timeout.as_secs_f64()
            ));
        }
        send(BootEvent::Probe {
            name: name.into(),
            attempt,
            attempts,
            result: result.clone(),
        });
        match result {
            Ok(true) => return Ok(()),
            Ok(false) => last = format!("`{}` did not exit 0", h.command.join(" ")),
            Err(e) => last = e,
        }
        if attempt < attempts {
            std::thread::sleep(h.interval);
        }
    }
    Err(format!(
        "started but never healthy: {attempts} probe(s) {:.1}s apart failed, last: {last}; check the service inside the jail (`jexec {name} ...`) or loosen [health]",
        h.interval.as_secs_f64()
    ))
}
