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
    let (tx, rx) = mpsc::channel::<Msg>();
    let mut s = Stops::new(graph, driver, opts, tx);
    loop {
        s.launch(on_event);
        if s.outcome.iter().all(Option::is_some) {
            break;
        }
        if s.release_cycles() {
            continue;
        }
        let limit_at = if s.timed_out {
            deadline.checked_add(opts.force_timeout).unwrap_or(deadline)
        } else {
            deadline
        };
        match rx.recv_timeout(limit_at.saturating_duration_since(Instant::now())) {
            Ok(Msg::Stop(i, r)) => s.stopped(i, r, on_event),
            Ok(Msg::Force(i, r)) => s.forced(i, r, on_event),
            Err(_) if !s.timed_out => s.budget_spent(on_event),
            Err(_) => {
                s.force_budget_spent(on_event);
                break;
            }
        }
    }
    ShutdownReport {
        jails: graph
            .nodes()
            .iter()
            .zip(s.outcome)
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

/// The state of one shutdown: which jails still wait for dependents, which are ready (by
/// height, highest first), in flight, being forced, and how each ended.
struct Stops<'g, D: ?Sized> {
    nodes: &'g [super::graph::BootNode],
    prio: Vec<usize>,
    driver: Arc<D>,
    opts: &'g ShutdownOptions,
    tx: mpsc::Sender<Msg>,
    waiting: Vec<usize>,
    ready: BinaryHeap<(usize, std::cmp::Reverse<usize>)>,
    outcome: Vec<Option<StopOutcome>>,
    forcing: Vec<bool>,
    force_reason: Vec<String>,
    running: usize,
    timed_out: bool,
}

impl<'g, D: JailDriver + Send + 'static + ?Sized> Stops<'g, D> {
    fn new(
        graph: &'g BootGraph,
        driver: Arc<D>,
        opts: &'g ShutdownOptions,
        tx: mpsc::Sender<Msg>,
    ) -> Self {
        let nodes = graph.nodes();
        let n = nodes.len();
        let prio = graph.height_up();
        let waiting: Vec<usize> = nodes.iter().map(|x| x.dependents.len()).collect();
        let ready = (0..n)
            .filter(|&i| waiting[i] == 0)
            .map(|i| (prio[i], std::cmp::Reverse(i)))
            .collect();
        Stops {
            nodes,
            prio,
            driver,
            opts,
            tx,
            waiting,
            ready,
            outcome: vec![None; n],
            forcing: vec![false; n],
            force_reason: vec![String::new(); n],
            running: 0,
            timed_out: false,
        }
    }

    /// Start orderly stops of ready jails, up to the parallelism (none once the budget is
    /// spent).
    fn launch(&mut self, on_event: &mut dyn FnMut(&ShutdownEvent)) {
        let limit = self.opts.parallelism.max(1);
        while !self.timed_out && self.running < limit {
            let Some((_, std::cmp::Reverse(i))) = self.ready.pop() else {
                break;
            };
            self.running += 1;
            on_event(&ShutdownEvent::Stopping {
                name: self.nodes[i].name.clone(),
            });
            let (tx, driver) = (self.tx.clone(), self.driver.clone());
            let name = self.nodes[i].name.clone();
            std::thread::spawn(move || {
                let t0 = Instant::now();
                let r = catch_unwind(AssertUnwindSafe(|| {
                    let _jail = tracing::info_span!("shutdown", jail = %name).entered();
                    driver.stop(&name).map_err(|e| e.explain())
                }))
                .unwrap_or_else(|p| Err(format!("jailctl bug: {}", panic_message(&*p))));
                // The driver (and the locks it holds) is let go before the result is
                // sent: once the last result is in, no stop still holds them.
                drop(driver);
                let _ = tx.send(Msg::Stop(i, r.map(|()| t0.elapsed())));
            });
        }
    }

    /// Only jails on a dependency cycle can be left waiting with nothing in flight (no stop
    /// and no force-stop, whose report releases dependencies): make them ready rather than
    /// idle until the budget runs out. True when some were.
    fn release_cycles(&mut self) -> bool {
        let n = self.nodes.len();
        let forces_pending = (0..n).any(|i| self.forcing[i] && self.outcome[i].is_none());
        if self.timed_out || self.running != 0 || !self.ready.is_empty() || forces_pending {
            return false;
        }
        for i in 0..n {
            if self.outcome[i].is_none() && !self.forcing[i] && self.waiting[i] > 0 {
                self.waiting[i] = 0;
                self.ready.push((self.prio[i], std::cmp::Reverse(i)));
            }
        }
        !self.ready.is_empty()
    }

    /// Send a force-stop of jail `i` on its own thread.
    fn force(&mut self, i: usize, reason: String, on_event: &mut dyn FnMut(&ShutdownEvent)) {
        self.forcing[i] = true;
        self.force_reason[i] = reason.clone();
        on_event(&ShutdownEvent::Forcing {
            name: self.nodes[i].name.clone(),
            reason,
        });
        let (tx, driver) = (self.tx.clone(), self.driver.clone());
        let name = self.nodes[i].name.clone();
        std::thread::spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(|| {
                driver.force_stop(&name).map_err(|e| e.explain())
            }))
            .unwrap_or_else(|p| Err(format!("jailctl bug: {}", panic_message(&*p))));
            drop(driver);
            let _ = tx.send(Msg::Force(i, r));
        });
    }

    /// A jail leaves the ordering once it stopped or a force-stop was sent: release its
    /// dependencies.
    fn release(&mut self, i: usize) {
        for &d in &self.nodes[i].deps {
            match self.waiting[d] {
                0 => {}
                1 => {
                    self.waiting[d] = 0;
                    self.ready.push((self.prio[d], std::cmp::Reverse(d)));
                }
                _ => self.waiting[d] -= 1,
            }
        }
    }

    /// An orderly stop reported.
    fn stopped(
        &mut self,
        i: usize,
        r: Result<Duration, String>,
        on_event: &mut dyn FnMut(&ShutdownEvent),
    ) {
        self.running -= 1;
        if self.outcome[i].is_some() {
            return;
        }
        match r {
            Ok(elapsed) => {
                on_event(&ShutdownEvent::Stopped {
                    name: self.nodes[i].name.clone(),
                    elapsed,
                });
                self.outcome[i] = Some(StopOutcome::Stopped { elapsed });
                if !self.forcing[i] {
                    self.release(i);
                }
            }
            // Its dependencies are released once the force-stop reports.
            Err(e) if !self.forcing[i] => {
                self.force(i, format!("the orderly stop failed: {e}"), on_event)
            }
            Err(_) => {}
        }
    }

    /// A force-stop reported.
    fn forced(
        &mut self,
        i: usize,
        r: Result<(), String>,
        on_event: &mut dyn FnMut(&ShutdownEvent),
    ) {
        if self.outcome[i].is_some() {
            return;
        }
        if !self.timed_out {
            // Forced after a failed stop: down or given up on, either way its dependencies
            // may go now.
            self.release(i);
        }
        let name = self.nodes[i].name.clone();
        let o = match r {
            Ok(()) => {
                on_event(&ShutdownEvent::Forced { name });
                StopOutcome::Forced {
                    reason: self.force_reason[i].clone(),
                }
            }
            Err(e) => {
                let reason = format!("{}; the force-stop failed too: {e}", self.force_reason[i]);
                on_event(&ShutdownEvent::ForceFailed {
                    name,
                    reason: reason.clone(),
                });
                StopOutcome::StillRunning { reason }
            }
        };
        self.outcome[i] = Some(o);
    }

    /// The shutdown budget is spent: force-stop every jail not yet down or being forced.
    fn budget_spent(&mut self, on_event: &mut dyn FnMut(&ShutdownEvent)) {
        self.timed_out = true;
        for i in 0..self.nodes.len() {
            if self.outcome[i].is_none() && !self.forcing[i] {
                let reason = format!(
                    "not stopped within the {:.0}s shutdown budget",
                    self.opts.timeout.as_secs_f64()
                );
                self.force(i, reason, on_event);
            }
        }
    }

    /// The force-stops' budget is spent too: what has not reported is still running.
    fn force_budget_spent(&mut self, on_event: &mut dyn FnMut(&ShutdownEvent)) {
        for (i, o) in self.outcome.iter_mut().enumerate() {
            if o.is_none() {
                let reason = format!(
                    "{}; the force-stop did not finish within {:.0}s either",
                    self.force_reason[i],
                    self.opts.force_timeout.as_secs_f64()
                );
                on_event(&ShutdownEvent::ForceFailed {
                    name: self.nodes[i].name.clone(),
                    reason: reason.clone(),
                });
                *o = Some(StopOutcome::StillRunning { reason });
            }
        }
    }
}
