//! Real-ZFS mode: `zfs` and `zpool` commands sent to a simulated host go to this machine's
//! real ZFS tools (zfs-fuse or OpenZFS on Linux), everything else stays simulated. It exists
//! to prove jailctl's ZFS layer against a real ZFS rather than only against our model.
//!
//! Host paths in mountpoints are translated both ways: `-o mountpoint=/zroot/jails/web`
//! becomes `DIR/root/zroot/jails/web` on the way in, and that prefix is stripped from what the
//! tools print, so the files of a real clone appear where the simulated host's `HostFs` looks.

use super::Ctx;
use jailctl_host::{Cmd, Output};
use std::path::Path;

/// Where the real tools are on a Linux machine.
pub const REAL_ZFS: &str = "/usr/sbin/zfs";
pub const REAL_ZPOOL: &str = "/usr/sbin/zpool";

/// Run one `zfs`/`zpool` command with the real tool. A command given input
/// ([`Ctx::stdin`], `zfs receive`) gets it on its stdin; what `zfs send` writes goes to
/// [`Ctx::stdout`] as bytes.
pub fn run(ctx: &mut Ctx<'_>, cmd: &Cmd) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let program = if cmd.tool() == "zpool" {
        REAL_ZPOOL
    } else {
        REAL_ZFS
    };
    let args: Vec<String> = cmd.args.iter().map(|a| to_real(ctx.root, a)).collect();
    let input = ctx.stdin.take();
    let spawned = std::process::Command::new(program)
        .args(&args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let ran = spawned.and_then(|mut child| {
        let feeder = child.stdin.take().map(|mut w| {
            let data = input.unwrap_or_default();
            std::thread::spawn(move || {
                // A command that stops reading early (a refused stream) closes the pipe.
                let _ = w.write_all(&data);
            })
        });
        let o = child.wait_with_output();
        if let Some(f) = feeder {
            let _ = f.join();
        }
        o
    });
    match ran {
        Ok(o) => {
            let stdout = if cmd.args.first().map(String::as_str) == Some("send") {
                ctx.stdout.extend_from_slice(&o.stdout);
                String::new()
            } else {
                from_real(ctx.root, &String::from_utf8_lossy(&o.stdout))
            };
            Output {
                status: o.status.code().unwrap_or(128),
                stdout,
                stderr: from_real(ctx.root, &String::from_utf8_lossy(&o.stderr)),
            }
        }
        Err(e) => Output::fail(
            127,
            format!(
                "{program}: {e} (real-ZFS mode needs the ZFS tools installed; see docs/simulator.md)\n"
            ),
        ),
    }
}

/// Translate `mountpoint=/p` (in `-o` values and `zfs set` assignments) to the sim root.
fn to_real(root: &Path, arg: &str) -> String {
    match arg.split_once('=') {
        Some(("mountpoint", v)) if v.starts_with('/') => {
            // Resolved within the simulated root: the real zfs(8) follows links in the
            // mountpoint on the machine running the simulator, where nothing may escape.
            let p = super::resolve(root, Path::new(v), super::Last::Follow)
                .unwrap_or_else(|_| super::unresolvable(root));
            format!("mountpoint={}", p.display())
        }
        _ => arg.to_string(),
    }
}

/// Strip the sim root from paths the real tools print.
fn from_real(root: &Path, text: &str) -> String {
    let r = root.display().to_string();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(&r) {
        out.push_str(&rest[..i]);
        let after = &rest[i + r.len()..];
        if !after.starts_with('/') {
            out.push('/');
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountpoints_translate_both_ways() {
        let root = Path::new("/tmp/sim/root");
        assert_eq!(
            to_real(root, "mountpoint=/zroot/jails/web"),
            "mountpoint=/tmp/sim/root/zroot/jails/web"
        );
        assert_eq!(to_real(root, "quota=1G"), "quota=1G");
        assert_eq!(
            from_real(
                root,
                "tp/a\tmountpoint\t/tmp/sim/root/zroot/a\tlocal\nx\t/tmp/sim/root\n"
            ),
            "tp/a\tmountpoint\t/zroot/a\tlocal\nx\t/\n"
        );
    }
}
