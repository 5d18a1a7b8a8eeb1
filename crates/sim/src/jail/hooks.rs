//! jail(8)'s exec.* hooks: recorded in the simulated host's state rather than run, failing
//! for the few command lines the simulator treats as failing.

use super::HookRun;
use super::steps::{Opts, warn};
use crate::Ctx;
use crate::jailconf::ResolvedJail;
use jailctl_host::Output;
use std::path::Path;

/// Whether the simulator treats a hook command line as failing.
fn hook_fails(cmd: &str) -> Option<i32> {
    let mut c = cmd.trim();
    for sh in ["/bin/sh -c ", "sh -c "] {
        if let Some(r) = c.strip_prefix(sh) {
            c = r.trim().trim_matches(|ch| ch == '"' || ch == '\'');
        }
    }
    let words: Vec<&str> = c.split_whitespace().collect();
    match words.as_slice() {
        ["false", ..] | ["/usr/bin/false", ..] => Some(1),
        ["exit", n] => n.parse::<i32>().ok().filter(|n| *n != 0),
        _ => None,
    }
}

pub(super) fn run_hooks(
    ctx: &mut Ctx<'_>,
    out: &mut Output,
    o: &Opts,
    name: &str,
    def: &ResolvedJail,
    hook: &str,
) -> bool {
    for c in def.list(hook) {
        if o.verbose {
            out.stdout += &format!("{name}: run command: {c}\n");
        }
        // exec.start, exec.stop and command run inside the jail, through the jail's own
        // /bin/sh: on a root with exec=off that shell cannot be executed.
        let inside = matches!(hook, "exec.start" | "exec.stop" | "command");
        let no_exec = inside
            && def
                .string("path")
                .is_some_and(|p| crate::zfs::exec_off_at(&ctx.state.zfs, Path::new(&p)));
        let status = if no_exec {
            1
        } else {
            hook_fails(&c).unwrap_or(0)
        };
        ctx.state.jail.hooks.push(HookRun {
            jail: name.to_string(),
            hook: hook.to_string(),
            command: c.clone(),
            status,
        });
        if status != 0 {
            warn(out, name, format!("{c}: failed"));
            return false;
        }
    }
    true
}
