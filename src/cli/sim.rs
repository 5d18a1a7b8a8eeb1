//! `jailctl sim TOOL [ARGS...]`: run one FreeBSD tool command against the simulated host and
//! answer exactly as the tool would (stdout, stderr, exit status). It exists so the rc.d
//! script, shell experiments and cross-process tests can drive a `--simulate DIR` host the
//! way they would drive a real one.

use super::{Access, GlobalArgs, open_host};
use crate::host::{Cmd, tools};
use miette::{IntoDiagnostic, WrapErr};
use std::io::Write;
use std::process::ExitCode;

/// Run one tool command (zfs, zpool, jail, jls, jexec, rctl, cpuset, ifconfig, mount,
/// umount, sysctl, kldstat, kldload, kldunload, pfctl) on the simulated host given with --simulate.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The tool: a base name (`zfs`) or its absolute FreeBSD path (`/sbin/zfs`).
    pub tool: String,
    /// Arguments passed to the tool unchanged.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The FreeBSD path of a tool name jailctl knows.
pub fn tool_path(name: &str) -> Option<&'static str> {
    const ALL: &[&str] = &[
        tools::ZFS,
        tools::ZPOOL,
        tools::JAIL,
        tools::JLS,
        tools::JEXEC,
        tools::RCTL,
        tools::CPUSET,
        tools::IFCONFIG,
        tools::MOUNT,
        tools::UMOUNT,
        tools::SYSCTL,
        tools::KLDSTAT,
        tools::KLDLOAD,
        tools::KLDUNLOAD,
        tools::PFCTL,
    ];
    ALL.iter()
        .copied()
        .find(|p| *p == name || p.rsplit('/').next() == Some(name))
}

pub fn run(global: &GlobalArgs, args: Args) -> miette::Result<ExitCode> {
    if global.simulate.is_none() {
        return Err(miette::miette!(
            help = "add `--simulate DIR` (or set JAILCTL_SIMULATE=DIR)",
            "`jailctl sim` runs tools on a simulated host only, and none was given"
        ));
    }
    let Some(program) = tool_path(&args.tool) else {
        return Err(miette::miette!(
            help = "known tools: zfs, zpool, jail, jls, jexec, rctl, cpuset, ifconfig, mount, umount, sysctl, kldstat, kldload, kldunload, pfctl",
            "`{}` is not a tool the simulated host provides",
            args.tool
        ));
    };
    let host = open_host(global, Access::Change)?;
    // `pfctl -f -` reads its rules from stdin: pass ours on.
    let reads_stdin = args.args.windows(2).any(|w| w[0] == "-f" && w[1] == "-");
    let mut cmd = Cmd::new(program, args.args);
    if reads_stdin {
        let mut input = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut input)
            .into_diagnostic()
            .wrap_err("cannot read the rules from stdin")?;
        cmd = cmd.stdin(input);
    }
    let out = host.output(&cmd).map_err(miette::Report::new)?;
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    Ok(ExitCode::from(u8::try_from(out.status).unwrap_or(1)))
}
