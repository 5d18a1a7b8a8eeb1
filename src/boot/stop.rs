//! `shutdown`: stop a graph of running jails in reverse dependency order within a hard time
//! budget, so that the whole run fits under rc's shutdown watchdog (`rcshutdown_timeout`). What
//! has not stopped when the budget runs out is force-stopped. Stop calls run on detached
//! threads holding an `Arc` of the driver: a stop that hangs cannot hold the report back.

use super::graph::BootGraph;
use super::start::default_parallelism;
use super::{JailDriver, panic_message};
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// How `shutdown` runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownOptions {
    /// Jails stopped at once. At least 1.
    pub parallelism: usize,
    /// Budget for orderly stops; then every jail still up is force-stopped.
    pub timeout: Duration,
    /// How long to wait for the force-stops before reporting them as not finished.
    pub force_timeout: Duration,
}

pub use crate::config::{DEFAULT_FORCE_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT};

impl Default for ShutdownOptions {
    fn default() -> Self {
        ShutdownOptions {
            parallelism: default_parallelism(),
            timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            force_timeout: DEFAULT_FORCE_TIMEOUT,
        }
    }
}

impl ShutdownOptions {
    /// Options from the global settings (`parallelism`, `shutdown_timeout`).
    pub fn from_global(g: &crate::config::Global) -> Self {
        ShutdownOptions {
            parallelism: g.parallelism.unwrap_or_else(default_parallelism).max(1),
            timeout: g.shutdown_timeout,
            force_timeout: DEFAULT_FORCE_TIMEOUT,
        }
    }
}

/// Something that happened during `shutdown`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShutdownEvent {
    Stopping {
        name: String,
    },
    Stopped {
        name: String,
        elapsed: Duration,
    },
    /// The orderly stop failed or the budget ran out; forcing follows.
    Forcing {
        name: String,
        reason: String,
    },
    Forced {
        name: String,
    },
    ForceFailed {
        name: String,
        reason: String,
    },
}

/// What became of one jail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    Stopped {
        elapsed: Duration,
    },
    /// Force-stopped because of `reason`.
    Forced {
        reason: String,
    },
    /// Could not be stopped at all: it may still be running.
    StillRunning {
        reason: String,
    },
}

/// The result of `shutdown`, in graph order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    pub jails: Vec<(String, StopOutcome)>,
    pub elapsed: Duration,
}

impl ShutdownReport {
    /// True when every jail stopped in an orderly way.
    pub fn ok(&self) -> bool {
        self.jails
            .iter()
            .all(|(_, o)| matches!(o, StopOutcome::Stopped { .. }))
    }

    pub fn outcome(&self, name: &str) -> Option<&StopOutcome> {
        self.jails.iter().find(|(n, _)| n == name).map(|(_, o)| o)
    }
}

impl std::fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let clean = self
            .jails
            .iter()
            .filter(|(_, o)| matches!(o, StopOutcome::Stopped { .. }))
            .count();
        writeln!(
            f,
            "{clean} of {} jails stopped cleanly in {:.1}s",
            self.jails.len(),
            self.elapsed.as_secs_f64()
        )?;
        for (name, o) in &self.jails {
            match o {
                StopOutcome::Stopped { .. } => {}
                StopOutcome::Forced { reason } => writeln!(f, "  {name}: forced: {reason}")?,
                StopOutcome::StillRunning { reason } => {
                    writeln!(f, "  {name}: STILL RUNNING: {reason}")?
                }
            }
        }
        Ok(())
    }
}

enum Msg {
    Stop(usize, Result<Duration, String>),
    Force(usize, Result<(), String>),
}

/// Stop every jail of `graph`; see [`shutdown_with`].
pub fn shutdown<D: JailDriver + Send + 'static + ?Sized>(
    graph: &BootGraph,
    driver: Arc<D>,
    opts: &ShutdownOptions,
) -> ShutdownReport {
    shutdown_with(graph, driver, opts, &mut |_| {})
}

/// Stop every jail of `graph`: a jail stops only after all its dependents stopped (or were
/// given up on), up to `opts.parallelism` at once. A failed stop is followed at once by a
/// force-stop, after which its dependencies go on. When `opts.timeout` runs out, every jail
/// not yet stopped, in flight or waiting, is force-stopped in parallel (order no longer buys
/// anything then), and the report waits at most `opts.force_timeout` more for those.
pub fn shutdown_with<D: JailDriver + Send + 'static + ?Sized>(
    graph: &BootGraph,
    driver: Arc<D>,
    opts: &ShutdownOptions,
    on_event: &mut dyn FnMut(&ShutdownEvent),
) -> ShutdownReport {
    let began = Instant::now();
    // A budget too large for the clock (only reachable through the library: config caps
    // durations at a day) means no deadline in practice.
    let deadline = began
        .checked_add(opts.timeout)
        .unwrap_or_else(|| began + Duration::from_secs(100 * 365 * 24 * 3600));
    let nodes = graph.nodes();
    let n = nodes.len();
    let prio = graph.height_up();
    let mut waiting: Vec<usize> = nodes.iter().map(|x| x.dependents.len()).collect();
    let mut outcome: Vec<Option<StopOutcome>> = vec![None; n];
    let mut forcing = vec![false; n];
    let mut ready: BinaryHeap<(usize, std::cmp::Reverse<usize>)> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| (prio[i], std::cmp::Reverse(i)))
        .collect();
    let (tx, rx) = mpsc::channel::<Msg>();
    let limit = opts.parallelism.max(1);
    let mut running = 0usize;

    let force = |i: usize, reason: String, on_event: &mut dyn FnMut(&ShutdownEvent)| {
        on_event(&ShutdownEvent::Forcing {
            name: nodes[i].name.clone(),
            reason,
        });
        let (tx, driver, name) = (tx.clone(), driver.clone(), nodes[i].name.clone());
        std::thread::spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| driver.force_stop(&name)))
                .unwrap_or_else(|p| Err(format!("jailctl bug: {}", panic_message(&*p))));
            let _ = tx.send(Msg::Force(i, r));
        });
    };
    // A jail leaves the ordering once it stopped or a force-stop was sent: release its deps.
    let release = |i: usize,
                   waiting: &mut Vec<usize>,
                   ready: &mut BinaryHeap<(usize, std::cmp::Reverse<usize>)>| {
        for &d in &nodes[i].deps {
            match waiting[d] {
                0 => {}
                1 => {
                    waiting[d] = 0;
                    ready.push((prio[d], std::cmp::Reverse(d)));
                }
                _ => waiting[d] -= 1,
            }
        }
    };
    let mut force_reason: Vec<String> = vec![String::new(); n];
    let mut timed_out = false;

    loop {
        while !timed_out && running < limit {
            let Some((_, std::cmp::Reverse(i))) = ready.pop() else {
                break;
            };
            running += 1;
            on_event(&ShutdownEvent::Stopping {
                name: nodes[i].name.clone(),
            });
            let (tx, driver, name) = (tx.clone(), driver.clone(), nodes[i].name.clone());
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let r = catch_unwind(AssertUnwindSafe(|| {
                    let _jail = tracing::info_span!("shutdown", jail = %name).entered();
                    driver.stop(&name)
                }))
                .unwrap_or_else(|p| Err(format!("jailctl bug: {}", panic_message(&*p))));
                let _ = tx.send(Msg::Stop(i, r.map(|()| t0.elapsed())));
            });
        }
        if outcome.iter().all(Option::is_some) {
            break;
        }
        let forces_pending = (0..n).any(|i| forcing[i] && outcome[i].is_none());
        if !timed_out && running == 0 && ready.is_empty() && !forces_pending {
            // Only jails on a dependency cycle can be left waiting with nothing in flight (no
            // stop and no force-stop, whose report releases dependencies): stop them anyway
            // rather than idle until the budget runs out.
            for i in 0..n {
                if outcome[i].is_none() && !forcing[i] && waiting[i] > 0 {
                    waiting[i] = 0;
                    ready.push((prio[i], std::cmp::Reverse(i)));
                }
            }
            if !ready.is_empty() {
                continue;
            }
        }
        let limit_at = if timed_out {
            deadline.checked_add(opts.force_timeout).unwrap_or(deadline)
        } else {
            deadline
        };
        let msg = match rx.recv_timeout(limit_at.saturating_duration_since(Instant::now())) {
            Ok(m) => m,
            Err(_) if !timed_out => {
                timed_out = true;
                for i in 0..n {
                    if outcome[i].is_none() && !forcing[i] {
                        forcing[i] = true;
                        force_reason[i] = format!(
                            "not stopped within the {:.0}s shutdown budget",
                            opts.timeout.as_secs_f64()
                        );
                        force(i, force_reason[i].clone(), on_event);
                    }
                }
                continue;
            }
            Err(_) => {
                for (i, o) in outcome.iter_mut().enumerate() {
                    if o.is_none() {
                        let reason = format!(
                            "{}; the force-stop did not finish within {:.0}s either",
                            force_reason[i],
                            opts.force_timeout.as_secs_f64()
                        );
                        on_event(&ShutdownEvent::ForceFailed {
                            name: nodes[i].name.clone(),
                            reason: reason.clone(),
                        });
                        *o = Some(StopOutcome::StillRunning { reason });
                    }
                }
                break;
            }
        };
        match msg {
            Msg::Stop(i, r) => {
                running -= 1;
                if outcome[i].is_some() {
                    continue;
                }
                match r {
                    Ok(elapsed) => {
                        on_event(&ShutdownEvent::Stopped {
                            name: nodes[i].name.clone(),
                            elapsed,
                        });
                        outcome[i] = Some(StopOutcome::Stopped { elapsed });
                        if !forcing[i] {
                            release(i, &mut waiting, &mut ready);
                        }
                    }
                    Err(e) if !forcing[i] => {
                        // Its dependencies are released once the force-stop reports.
                        forcing[i] = true;
                        force_reason[i] = format!("the orderly stop failed: {e}");
                        force(i, force_reason[i].clone(), on_event);
                    }
                    Err(_) => {}
                }
            }
            Msg::Force(i, r) => {
                if outcome[i].is_some() {
                    continue;
                }
                if !timed_out {
                    // Forced after a failed stop: down or given up on, either way its
                    // dependencies may go now.
                    release(i, &mut waiting, &mut ready);
                }
                let o = match r {
                    Ok(()) => {
                        on_event(&ShutdownEvent::Forced {
                            name: nodes[i].name.clone(),
                        });
                        StopOutcome::Forced {
                            reason: force_reason[i].clone(),
                        }
                    }
                    Err(e) => {
                        let reason = format!("{}; the force-stop failed too: {e}", force_reason[i]);
                        on_event(&ShutdownEvent::ForceFailed {
                            name: nodes[i].name.clone(),
                            reason: reason.clone(),
                        });
                        StopOutcome::StillRunning { reason }
                    }
                };
                outcome[i] = Some(o);
            }
        }
    }

    ShutdownReport {
        jails: nodes
            .iter()
            .zip(outcome)
            .map(|(node, o)| {
                let o = o.unwrap_or_else(|| StopOutcome::StillRunning {
                    reason: "jailctl bug: the scheduler never reached this jail".into(),
                });
                (node.name.clone(), o)
            })
            .collect(),
        elapsed: began.elapsed(),
    }
}
