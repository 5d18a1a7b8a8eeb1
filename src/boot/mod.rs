//! Boot and shutdown of the whole fleet. At boot the rc.d script runs `jailctl boot`, which
//! must bring every autostart jail up in dependency order, as parallel as the graph allows,
//! without one failing jail taking unrelated ones down; at shutdown `jailctl shutdown` must stop
//! them in reverse order before rc's watchdog fires. This module is that scheduler, generic over
//! [`JailDriver`] so it runs without a host: the CLI plugs in the lifecycle operations.
//!
//! - [`graph`]: the dependency graph built from the jail definitions.
//! - [`start`]: [`boot`], the work-conserving parallel start with health gating.
//! - [`stop`]: [`shutdown`], reverse-order stop under a time budget with force-stop.
//! - [`fleet`]: [`prepare_shutdown`], the locks, the read of the host and the stop order.

pub mod driver;
pub mod fleet;
pub mod graph;
pub mod start;
pub mod stop;

pub use driver::OpsDriver;
pub use fleet::{PrepareError, Prepared, prepare_shutdown};
pub use graph::{BootGraph, BootNode, GraphEntry, GraphError};
pub use start::{
    BootEvent, BootOptions, BootOutcome, BootReport, boot, boot_with, default_parallelism,
};
pub use stop::{
    DEFAULT_FORCE_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT, ShutdownEvent, ShutdownOptions,
    ShutdownReport, StopOutcome, shutdown, shutdown_with,
};

/// Why a [`JailDriver`] call failed: a complete sentence for people, and the fix apart (the
/// help of the error it came from, when it had one). The boot and shutdown reports print
/// both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct DriverError {
    pub message: String,
    #[help]
    pub help: Option<String>,
}

impl DriverError {
    /// The message and help of a typed error.
    pub fn of(e: &dyn miette::Diagnostic) -> Self {
        DriverError {
            message: e.to_string(),
            help: crate::host::help_of(e),
        }
    }

    /// The message with its help, as one line of a report.
    pub fn explain(&self) -> String {
        crate::host::explain(self)
    }
}

impl From<String> for DriverError {
    fn from(message: String) -> Self {
        DriverError {
            message,
            help: None,
        }
    }
}

impl From<&str> for DriverError {
    fn from(message: &str) -> Self {
        message.to_string().into()
    }
}

/// What the scheduler needs from the host, one jail at a time. Implementations are called from
/// several threads at once (different jails). Errors land in the boot report, message and
/// help ([`DriverError`]).
pub trait JailDriver: Sync {
    /// Bring one jail up (create/start as `jailctl up NAME` would).
    fn start(&self, name: &str) -> Result<(), DriverError>;
    /// Run the jail's health check once. Only called for jails that have one; a jail without a
    /// check is healthy once `start` returned.
    fn healthy(&self, name: &str) -> Result<bool, DriverError>;
    /// Stop one jail in an orderly way (its rc shutdown, exec.stop hooks).
    fn stop(&self, name: &str) -> Result<(), DriverError>;
    /// Remove one jail without waiting for its processes to exit cleanly.
    fn force_stop(&self, name: &str) -> Result<(), DriverError>;
}

/// The message of a caught panic.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a driver call panicked".into())
}
