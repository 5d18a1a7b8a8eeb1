//! The ops that wait on the host rather than change it: until a dying jail is gone, and a
//! new jail's health probes.

use super::{StepError, process_cause};
use crate::host::{Host, ProcessError};

/// How often [`await_gone`] asks jls(8).
const DYING_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Wait until `jls -d -j NAME` no longer finds the jail (it exits non-zero once the kernel
/// has forgotten it), asking at most every [`DYING_POLL`] and giving up after `timeout`.
pub(super) fn await_gone(
    h: &dyn Host,
    name: &str,
    dataset: &str,
    timeout: std::time::Duration,
    retry: &str,
) -> Result<(), StepError> {
    let start = std::time::Instant::now();
    let jls = crate::host::Cmd::new(crate::host::tools::JLS, ["-d", "-j", name, "jid"]);
    loop {
        let out = h.output(&jls).map_err(StepError::Process)?;
        if !out.success() {
            return Ok(());
        }
        let waited = start.elapsed();
        if waited >= timeout {
            return Err(StepError::Dying {
                name: name.to_string(),
                dataset: dataset.to_string(),
                waited: waited.as_secs_f64(),
                retry: retry.to_string(),
            });
        }
        std::thread::sleep(DYING_POLL.min(timeout - waited));
    }
}

/// Probe a jail's health up to `retries` times (at least once), `interval` apart, each probe
/// killed after `timeout`; healthy when one exits 0. The error carries the last probe's
/// result, so the report says why the new root was given up.
pub(super) fn health(
    h: &dyn Host,
    name: &str,
    cmd: &crate::host::Cmd,
    timeout: std::time::Duration,
    interval: std::time::Duration,
    retries: u32,
) -> Result<(), StepError> {
    let attempts = retries.max(1);
    let mut last = String::new();
    for attempt in 1..=attempts {
        match h.output_within(cmd, timeout) {
            Ok(out) if out.success() => return Ok(()),
            Ok(out) => {
                let why = out.stderr.trim();
                last = format!(
                    "`{cmd}` exited {}{}",
                    out.status,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    }
                );
            }
            Err(ProcessError::TimedOut { .. }) => {
                last = format!(
                    "`{cmd}` did not answer within {:.1} s and was killed",
                    timeout.as_secs_f64()
                )
            }
            Err(e) => last = process_cause(&e),
        }
        if attempt < attempts {
            std::thread::sleep(interval);
        }
    }
    Err(StepError::Unhealthy {
        name: name.to_string(),
        attempts,
        last,
    })
}
