//! The [`JailDriver`] the command line uses: one jail at a time through the lifecycle
//! operations, on whatever host it is given (the real one or the simulator). It exists so the
//! scheduler stays host-free while `jailctl boot` and `shutdown` still start and stop jails
//! exactly as `jailctl up` and `down` do.
//!
//! - start: [`ops::up_only_with`], that jail alone (the scheduler already ordered its
//!   dependencies), observed only as far as its plan needs; the host-wide sysctls (RACCT,
//!   VIMAGE) are read once per driver, at the first start, and shared by all starts;
//! - health: the jail's `[health] command` through `jexec`, run with the check's `timeout` as
//!   its deadline ([`crate::host::Runner::output_within`]): a probe that does not answer in
//!   time is killed (with its process group) and counts as failed, so it cannot hold the boot;
//! - stop: [`ops::down_only_with`] of that jail (the scheduler already stopped its
//!   dependents), observed only as far as its stop needs; force-stop: [`ops::force_down`]
//!   (`jail -R`, rctl rules);
//! - locks: the driver carries the [`Held`] locks of its run ([`OpsDriver::with_held`]):
//!   `boot` holds the fleet lock and each start takes its jail's lock below it; `shutdown`
//!   holds the fleet lock and every jail's, so a stop takes nothing and never waits for a lock
//!   of its own run;
//! - stop of an orphan (a running jail jailctl manages whose definition is broken or gone, see
//!   [`OpsDriver::with_orphans`]): `jail -f /var/run/jailctl/NAME.conf -r NAME` when the
//!   rendered jail.conf is still there, so its exec.stop hooks run, else `jail -r NAME`; then
//!   its rctl rules are dropped.

use super::{DriverError, JailDriver};
use crate::apply::Held;
use crate::config::spec::{Global, JailSpec};
use crate::host::{Cmd, Host, tools};
use crate::observe::host::{HostFacts, host_facts};
use crate::ops::{self, Opts};
use std::sync::{Arc, Mutex};

/// Starts and stops jails through [`crate::ops`] on a shared host.
pub struct OpsDriver {
    host: Arc<dyn Host + Send + Sync>,
    specs: Arc<Vec<JailSpec>>,
    global: Global,
    /// Read at the first start or stop (under this lock, so once), then shared.
    facts: Mutex<Option<HostFacts>>,
    /// Running jails to stop without a definition.
    orphans: std::collections::BTreeSet<String>,
    /// The locks of the run this driver works for.
    held: Arc<Held<'static>>,
    /// The host's datasets as read under `held` (shutdown), so a stop reads only its jail's
    /// runtime state.
    known: Option<Arc<crate::observe::HostState>>,
}

impl OpsDriver {
    pub fn new(host: Arc<dyn Host + Send + Sync>, specs: Vec<JailSpec>, global: Global) -> Self {
        OpsDriver {
            host,
            specs: Arc::new(specs),
            global,
            facts: Mutex::new(None),
            orphans: Default::default(),
            held: Arc::new(Held::none()),
            known: None,
        }
    }

    /// Stops use these datasets, read by the caller under the locks it hands over with
    /// [`OpsDriver::with_held`], instead of reading them again each.
    pub fn with_known(mut self, state: crate::observe::HostState) -> Self {
        self.known = Some(Arc::new(state));
        self
    }

    /// Work under these locks of the caller's run (see [`crate::apply::lock`]).
    pub fn with_held(mut self, held: Arc<Held<'static>>) -> Self {
        self.held = held;
        self
    }

    /// Also stop these jails, which have no valid definition: at shutdown a jail whose file
    /// broke after it started must still stop in an orderly way.
    /// The scheduler already stops dependents first, so a valid jail's `depends_on` entry
    /// naming a jail without a valid definition is dropped here: the stop plan of that jail
    /// would otherwise be refused for an unknown dependency.
    pub fn with_orphans(mut self, orphans: impl IntoIterator<Item = String>) -> Self {
        self.orphans.extend(orphans);
        let names: std::collections::BTreeSet<String> =
            self.specs.iter().map(|s| s.name.clone()).collect();
        let mut specs = self.specs.as_ref().clone();
        for s in &mut specs {
            s.depends_on.retain(|d| names.contains(d));
        }
        self.specs = Arc::new(specs);
        self
    }

    /// The orderly stop of a jail without a definition.
    fn stop_orphan(&self, name: &str) -> Result<(), DriverError> {
        let conf = crate::render::conf_path(name);
        let (cmd, how) = if self.host.exists(&conf) {
            let c = conf.display().to_string();
            (
                Cmd::new(tools::JAIL, ["-f", c.as_str(), "-r", name]),
                format!("with its last rendered {c}"),
            )
        } else {
            (
                Cmd::new(tools::JAIL, ["-r", name]),
                "without a jail.conf (no exec.stop hooks)".to_string(),
            )
        };
        tracing::info!("stopping {name}, which has no valid definition, {how}");
        self.host.run(&cmd).map_err(|e| DriverError {
            message: format!("cannot stop `{name}` (no valid definition; tried {how}): {e}"),
            help: crate::host::help_of(&e),
        })?;
        ops::force_down(self.host.as_ref(), name).map_err(|e| DriverError::of(&e))
    }

    /// The host-wide facts, read on first use. A failed read is not kept: the next start
    /// tries again.
    fn facts(&self) -> Result<HostFacts, String> {
        let mut f = self.facts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = f.as_ref() {
            return Ok(f.clone());
        }
        let read = host_facts(self.host.as_ref())
            .map_err(|e| format!("cannot read the host's state: {}", crate::host::explain(&e)))?;
        *f = Some(read.clone());
        Ok(read)
    }

    fn spec(&self, name: &str) -> Result<&JailSpec, String> {
        self.specs
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| format!("jail `{name}` is not defined"))
    }
}

impl JailDriver for OpsDriver {
    fn start(&self, name: &str) -> Result<(), DriverError> {
        let facts = self.facts()?;
        ops::up_only_with(
            self.host.as_ref(),
            &self.held,
            &self.specs,
            &self.global,
            name,
            &Opts::default(),
            &facts,
        )
        .map(|_| ())
        .map_err(|e| DriverError::of(&e))
    }

    fn healthy(&self, name: &str) -> Result<bool, DriverError> {
        let check = self
            .spec(name)?
            .health
            .clone()
            .ok_or_else(|| format!("jail `{name}` has no [health] check"))?;
        let mut args = vec![name.to_string()];
        args.extend(check.command.iter().cloned());
        let cmd = Cmd::new(tools::JEXEC, args);
        // Run within the check's own timeout: on expiry the host kills the probe (and its
        // process group), so no `jexec` is left behind.
        match self.host.output_within(&cmd, check.timeout) {
            Ok(out) if out.success() => Ok(true),
            Ok(out) => {
                let why = out.stderr.trim();
                tracing::info!(
                    "health check of {name} failed: `{cmd}` exited {}{}",
                    out.status,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    }
                );
                Ok(false)
            }
            Err(crate::host::ProcessError::TimedOut { .. }) => Err(DriverError {
                message: format!(
                    "health check of `{name}` (`{cmd}`) did not answer within {:?} and was \
                     killed",
                    check.timeout
                ),
                help: Some("raise [health] timeout if the service is slow to answer".into()),
            }),
            Err(e) => Err(DriverError {
                message: format!("health check of `{name}`: {e}"),
                help: crate::host::help_of(&e),
            }),
        }
    }

    fn stop(&self, name: &str) -> Result<(), DriverError> {
        if self.orphans.contains(name) {
            return self.stop_orphan(name);
        }
        let facts = self.facts()?;
        ops::down_only_with(
            self.host.as_ref(),
            &self.held,
            &self.specs,
            &self.global,
            name,
            &Opts::default(),
            ops::Seen {
                facts: &facts,
                known: self.known.as_deref(),
            },
        )
        .map(|_| ())
        .map_err(|e| DriverError::of(&e))
    }

    fn force_stop(&self, name: &str) -> Result<(), DriverError> {
        ops::force_down(self.host.as_ref(), name).map_err(|e| DriverError::of(&e))
    }
}
