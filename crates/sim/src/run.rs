//! The run path of one command on the simulated host: injected latency (outside the lock),
//! then under the lock an injected fault or the tool model the program names, recorded in
//! the history; and the [`Runner`] implementation over it.
//!
//! Why it exists: every command jailctl runs through the seam comes in here, and the
//! deadline, fault and history behaviour must be the same for all of them.

use crate::store::Writes;
use crate::{
    Ctx, HistoryEntry, SimHost, cpuset, faults, jail, kld, mount, net, pf, rctl, realzfs, sysctl,
    zfs,
};
use jailctl_host::{Cmd, Output, ProcessError, Runner, tools};

pub(crate) fn dispatch(ctx: &mut Ctx<'_>, cmd: &Cmd) -> Result<Output, ProcessError> {
    let args = &cmd.args;
    // One standard input, however it came: streamed through `pipe` (already in `ctx`), or
    // the bytes a command carries (`pfctl -f -`).
    if ctx.stdin.is_none() {
        ctx.stdin = cmd.stdin.clone();
    }
    let config = std::mem::take(&mut ctx.state.config);
    let fault = config.fault_for(cmd, &mut ctx.state.fault_counts);
    let real_zfs = config.real_zfs.is_some();
    ctx.state.config = config;
    let out = match cmd.program.as_str() {
        _ if fault == Some(faults::Fault::Hang) => {
            // Recorded as the kill that ends it; the caller waits out the deadline.
            ctx.hung = true;
            ctx.state.history.push(HistoryEntry {
                cmd: cmd.clone(),
                status: faults::KILLED,
            });
            return Err(hung(cmd));
        }
        _ if fault.is_some() => match fault.expect("checked") {
            faults::Fault::Fail(out) => out,
            faults::Fault::Hang => unreachable!("handled above"),
        },
        tools::ZFS | tools::ZPOOL if real_zfs => realzfs::run(ctx, cmd),
        tools::ZFS => zfs::run(ctx, args),
        tools::ZPOOL => zfs::run_zpool(ctx, args),
        tools::JAIL => jail::run_jail(ctx, args),
        tools::JLS => jail::run_jls(ctx, args),
        tools::JEXEC => jail::run_jexec(ctx, args),
        tools::PKG => jail::run_pkg(ctx, args),
        tools::RCTL => rctl::run(ctx, args),
        tools::CPUSET => cpuset::run(ctx, args),
        tools::IFCONFIG => net::run(ctx, args),
        tools::MOUNT => mount::run_mount(ctx, args),
        tools::UMOUNT => mount::run_umount(ctx, args),
        tools::SYSCTL => sysctl::run(ctx, args),
        tools::KLDSTAT => kld::run_kldstat(ctx, args),
        tools::KLDLOAD => kld::run_kldload(ctx, args),
        tools::KLDUNLOAD => kld::run_kldunload(ctx, args),
        tools::PFCTL => {
            let input = ctx.stdin.take();
            pf::run(ctx, args, input.as_deref())
        }
        _ => {
            return Err(ProcessError::Spawn {
                cmd: cmd.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("{}: not found on the simulated host", cmd.program),
                ),
            });
        }
    };
    ctx.state.history.push(HistoryEntry {
        cmd: cmd.clone(),
        status: out.status,
    });
    Ok(out)
}

/// The answer of a hung command inside the state lock: a [`ProcessError::TimedOut`] with no
/// deadline yet; [`SimHost::output_within`] waits the deadline out (outside the lock) and
/// fills it in.
pub(crate) fn hung(cmd: &Cmd) -> ProcessError {
    ProcessError::TimedOut {
        cmd: cmd.clone(),
        after: std::time::Duration::ZERO,
        knob: String::new(),
    }
}

/// Whether `cmd` only reads the host: `jls`, `zfs list|get`, `zpool list|get`, `sysctl`
/// without `=`, `rctl` without `-a`/`-r`, `ifconfig -l`, `kldstat`, `mount` without
/// arguments. Anything else may write.
pub(crate) fn reads_only(cmd: &Cmd) -> bool {
    let first = cmd.args.first().map(String::as_str);
    match cmd.program.as_str() {
        tools::JLS | tools::KLDSTAT => true,
        tools::ZFS => matches!(first, Some("list" | "get" | "send")),
        tools::ZPOOL => matches!(first, Some("list" | "get")),
        tools::SYSCTL => cmd.args.iter().all(|a| !a.contains('=')),
        tools::RCTL => cmd
            .args
            .iter()
            .all(|a| !(a.starts_with('-') && (a.contains('a') || a.contains('r')))),
        tools::IFCONFIG => cmd.args == ["-l"],
        tools::MOUNT => cmd.args.is_empty(),
        tools::PFCTL => jailctl_host::readonly::is_read_only(cmd),
        _ => false,
    }
}

impl SimHost {
    /// Run one command within `deadline`, with `stdin` as its input; returns its output and
    /// the bytes it wrote to [`Ctx::stdout`].
    pub(crate) fn run_cmd(
        &self,
        cmd: &Cmd,
        deadline: std::time::Duration,
        stdin: Option<Vec<u8>>,
    ) -> Result<(Output, Vec<u8>), ProcessError> {
        let timed_out = || {
            std::thread::sleep(deadline);
            ProcessError::TimedOut {
                cmd: cmd.clone(),
                after: deadline,
                knob: jailctl_host::deadline::knob(cmd),
            }
        };
        // What the real host logs at -vv (jailctl_host::system), so a run on the simulated
        // host tells the same story.
        tracing::debug!(%cmd, ?deadline, "run");
        // Outside the lock: parallel callers wait side by side, as on a real host.
        if let Some(d) = self.config.latency_for(cmd) {
            if d >= deadline {
                return Err(timed_out());
            }
            std::thread::sleep(d);
        }
        let writes = if reads_only(cmd) {
            Writes::OnlyIfSaid
        } else {
            Writes::Always
        };
        let r = self
            .locked(writes, |ctx| {
                ctx.stdin = stdin;
                let counted = ctx.state.fault_counts.clone();
                let ticked = jail::tick_dying(ctx.state);
                let r = dispatch(ctx, cmd).map(|o| (o, std::mem::take(&mut ctx.stdout)));
                let changed = ticked || ctx.state.fault_counts != counted;
                if ctx.hung && r.is_ok() {
                    // A tool this one ran (jail(8) running ifconfig) hung, so this one never
                    // returns either; what it did before stays done, as after a real kill.
                    if let Some(h) = ctx.state.history.iter_mut().rev().find(|h| &h.cmd == cmd) {
                        h.status = faults::KILLED;
                    }
                    return (Err(hung(cmd)), true);
                }
                (r, changed)
            })
            .map_err(|source| ProcessError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        let r = match r {
            Err(ProcessError::TimedOut { after, .. }) if after.is_zero() => Err(timed_out()),
            r => r,
        };
        match &r {
            Ok((o, _)) => tracing::debug!(status = o.status, "exit"),
            Err(e) => tracing::debug!(error = %e, "failed"),
        }
        r
    }
}

impl Runner for SimHost {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        self.output_within(cmd, self.deadlines.for_cmd(cmd))
    }

    /// A command slower than its deadline (injected latency) or hung (a `hang` fault) fails
    /// once the deadline has passed, exactly as on the real host, without having changed
    /// anything.
    fn output_within(
        &self,
        cmd: &Cmd,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        let (mut out, bytes) = self.run_cmd(cmd, deadline, None)?;
        if !bytes.is_empty() {
            out.stdout.insert_str(0, &String::from_utf8_lossy(&bytes));
        }
        Ok(out)
    }

    /// The input is read whole first (a simulated tool sees all of it at once, see
    /// [`Ctx::stdin`]); an error reading it ends the input there, as a closed pipe would,
    /// and is added to stderr. The tool's stdout goes to `output` once it has finished.
    fn pipe(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn std::io::Read + Send)>,
        output: Option<&mut dyn std::io::Write>,
        deadline: std::time::Duration,
    ) -> Result<Output, ProcessError> {
        let mut read_err = None;
        let stdin = input.map(|i| {
            let mut v = Vec::new();
            if let Err(e) = i.read_to_end(&mut v) {
                read_err = Some(e);
            }
            v
        });
        let (mut out, bytes) = self.run_cmd(cmd, deadline, Some(stdin.unwrap_or_default()))?;
        if let Some(e) = read_err {
            out.stderr.push_str(&format!(
                "jailctl: reading the input of `{cmd}` failed: {e}\n"
            ));
            out.status = out.status.max(1);
        }
        match output {
            Some(w) => {
                if let Err(e) = w.write_all(&bytes).and_then(|()| w.flush()) {
                    out.stderr.push_str(&format!(
                        "jailctl: writing the output of `{cmd}` failed: {e}\n"
                    ));
                    out.status = out.status.max(1);
                }
            }
            None => out.stdout.insert_str(0, &String::from_utf8_lossy(&bytes)),
        }
        Ok(out)
    }

    /// No deadline: a person is at the terminal (as on the real host).
    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        let out = self.output_within(cmd, std::time::Duration::MAX)?;
        // As the real child would: a closed stdout is the reader's choice, not a panic.
        use std::io::Write;
        let _ = std::io::stdout().write_all(out.stdout.as_bytes());
        let _ = std::io::stderr().write_all(out.stderr.as_bytes());
        Ok(out.status)
    }
}
