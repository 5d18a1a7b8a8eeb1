//! The real host: spawns the base-system tools by absolute path (argv only, never a shell)
//! and reads and writes real files. Every captured command runs within its deadline
//! ([`super::deadline`]).

use super::deadline::{self, Deadlines};
use super::{Cmd, Host, HostFs, Output, ProcessError, Runner};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The machine jailctl runs on.
#[derive(Debug, Default, Clone)]
pub struct SystemHost {
    /// How long each tool may run.
    pub deadlines: Deadlines,
}

impl SystemHost {
    pub fn new(deadlines: Deadlines) -> Self {
        SystemHost { deadlines }
    }
}

/// Read a child's pipe to its end on a thread, so a chatty command never blocks on a full
/// pipe while it is being waited for.
fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

impl Runner for SystemHost {
    fn output(&self, cmd: &Cmd) -> Result<Output, ProcessError> {
        self.output_within(cmd, self.deadlines.for_cmd(cmd))
    }

    /// Spawn in a process group of its own and wait until it exits or `deadline` passes; on
    /// expiry kill the whole group (a tool's own children, such as jail(8)'s hooks, too).
    fn output_within(&self, cmd: &Cmd, deadline: Duration) -> Result<Output, ProcessError> {
        tracing::debug!(%cmd, ?deadline, "run");
        let mut child = spawn_group(cmd, cmd.stdin.is_some())?;
        let out = drain(child.stdout.take());
        let err = drain(child.stderr.take());
        // Feed stdin on a thread and close it, so a command that reads all of it before it
        // writes anything cannot deadlock against the pipes; a command that exits without
        // reading it all is its own business (EPIPE is ignored).
        if let (Some(input), Some(mut pipe)) = (cmd.stdin.clone(), child.stdin.take()) {
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        // Wait on a thread and for its answer with a timeout: no polling, so a command that
        // ends in 2 ms costs 2 ms.
        let pid = child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(deadline) {
            Ok(Ok(st)) => st,
            Ok(Err(source)) => {
                return Err(ProcessError::Spawn {
                    cmd: cmd.clone(),
                    source,
                });
            }
            Err(_) => {
                // Still running (the waiter holds it unreaped, so its pid is still its own):
                // kill its whole group, let the waiter reap it. The pipe readers are left to
                // end on their own: a process that left the group (a daemon) may hold them.
                kill_group(pid);
                let _ = rx.recv();
                drop((out, err));
                return Err(ProcessError::TimedOut {
                    cmd: cmd.clone(),
                    after: deadline,
                    knob: deadline::knob(cmd),
                });
            }
        };
        let status = exit_code(status);
        tracing::debug!(status, "exit");
        Ok(Output {
            status,
            stdout: String::from_utf8_lossy(&out.join().unwrap_or_default()).into_owned(),
            stderr: String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned(),
        })
    }

    /// Spawn in a process group of its own; a thread feeds `input` to its stdin, this one
    /// copies its stdout to `output`, a watchdog kills the group when `deadline` passes. A
    /// failed write to `output` kills the command too (nobody reads what it sends). An error
    /// reading `input` closes the command's stdin early, so it sees a truncated stream and
    /// fails, and is reported with its status. A watchdog cannot interrupt a read of `input`
    /// that blocks: the call returns once that read does.
    fn pipe(
        &self,
        cmd: &Cmd,
        input: Option<&mut (dyn Read + Send)>,
        output: Option<&mut dyn Write>,
        deadline: Duration,
    ) -> Result<Output, ProcessError> {
        use std::sync::atomic::{AtomicBool, Ordering};
        tracing::debug!(%cmd, ?deadline, "run streaming");
        let mut child = spawn_group(cmd, input.is_some())?;
        let pid = child.id();
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().expect("piped");
        let err = drain(child.stderr.take());
        let expired = AtomicBool::new(false);
        let (done, finished) = mpsc::channel::<()>();
        let (status, fed, copied, captured) = std::thread::scope(|s| {
            let expired = &expired;
            s.spawn(move || {
                if let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(deadline) {
                    expired.store(true, Ordering::SeqCst);
                    kill_group(pid);
                }
            });
            let feeder = input.zip(stdin).map(|(inp, mut w)| {
                s.spawn(move || {
                    let r = std::io::copy(inp, &mut w);
                    drop(w);
                    r
                })
            });
            let mut captured = Vec::new();
            let copied = match output {
                Some(o) => std::io::copy(&mut stdout, o).map(|_| ()),
                None => stdout.read_to_end(&mut captured).map(|_| ()),
            };
            if copied.is_err() {
                kill_group(pid);
            }
            let status = child.wait();
            let _ = done.send(());
            let fed = feeder.map(|h| h.join().unwrap_or(Ok(0)));
            (status, fed, copied, captured)
        });
        if expired.load(Ordering::SeqCst) {
            return Err(ProcessError::TimedOut {
                cmd: cmd.clone(),
                after: deadline,
                knob: deadline::knob(cmd),
            });
        }
        let status = status.map_err(|source| ProcessError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
        let mut stderr = String::from_utf8_lossy(&err.join().unwrap_or_default()).into_owned();
        let mut code = exit_code(status);
        if let Err(e) = copied {
            stderr.push_str(&format!(
                "jailctl: writing the output of `{cmd}` failed: {e}\n"
            ));
            code = code.max(1);
        }
        // A stdin the command closed early (EPIPE) is its own business: its status says it.
        if let Some(Err(e)) = fed
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            stderr.push_str(&format!(
                "jailctl: reading the input of `{cmd}` failed: {e}\n"
            ));
            code = code.max(1);
        }
        Ok(Output {
            status: code,
            stdout: String::from_utf8_lossy(&captured).into_owned(),
            stderr,
        })
    }

    fn interactive(&self, cmd: &Cmd) -> Result<i32, ProcessError> {
        tracing::debug!(%cmd, "run interactive");
        let status = Command::new(&cmd.program)
            .args(&cmd.args)
            .status()
            .map_err(|source| ProcessError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        Ok(exit_code(status))
    }
}

/// SIGKILL the process group a child leads (`process_group(0)`): the child and what it
/// started.
fn kill_group(pid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

/// Exit code, with death by signal N reported as 128+N like sh(1).
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl HostFs for SystemHost {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn write(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        write_atomic(path, contents, mode, true, || {})
    }

    fn append(&self, path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
        append_durable(path, contents, mode, true, || {})
    }

    fn mkdir_p(&self, path: &Path, mode: u32) -> std::io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_file(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir(&self, path: &Path) -> std::io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<String>> {
        let mut names = Vec::new();
        for e in std::fs::read_dir(path)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn local_path(&self, path: &Path) -> std::path::PathBuf {
        path.to_path_buf()
    }
}

use std::os::unix::fs::DirBuilderExt;

/// Write `path` so that a reader, or a host that loses power or kills jailctl half-way, sees
/// either the old contents or the new, never a truncated file: write a temporary file beside
/// it (`NAME.jailctl-tmp`), fsync it, rename it over `path`, fsync the directory. A kill
/// before the rename leaves the old file and the temporary one, which the next write
/// replaces. The rename alone is what makes a *killed* write whole; the fsyncs (`durable`)
/// add survival of a power loss or kernel crash, at a cost (11 ms per write on the ext4
/// build machine, against 1.3 ms without). `before_rename` runs once the temporary file is complete (the simulator's kill
/// point, see `docs/simulator.md`).
pub fn write_atomic(
    path: &Path,
    contents: &[u8],
    mode: u32,
    durable: bool,
    before_rename: impl FnOnce(),
) -> std::io::Result<()> {
    let tmp = path.with_extension("jailctl-tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.write_all(contents)?;
        if durable {
            f.sync_all()?;
        }
    }
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
    before_rename();
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path
        .parent()
        .filter(|d| durable && !d.as_os_str().is_empty())
    {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Append `contents` to `path` (created with `mode` if missing; a symbolic link there is
/// refused with `ELOOP`, open(2)'s `O_NOFOLLOW`), then with `durable` fsync the file, and its
/// directory when the file was new. One durable write instead of [`write_atomic`]'s two
/// fsyncs and a rename, and no new inode per write; in exchange a kill can leave part of
/// `contents` at the end, which the reader must ignore. `mid_write` runs after the first
/// half of `contents` is written (the simulator's kill point).
pub fn append_durable(
    path: &Path,
    contents: &[u8],
    mode: u32,
    durable: bool,
    mid_write: impl FnOnce(),
) -> std::io::Result<()> {
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(path)?;
    let (first, rest) = contents.split_at(contents.len() / 2);
    f.write_all(first)?;
    mid_write();
    f.write_all(rest)?;
    if durable {
        f.sync_data()?;
        if let Some(dir) = path.parent().filter(|d| new && !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
    }
    Ok(())
}

impl Host for SystemHost {
    fn simulated(&self) -> Option<String> {
        None
    }
    fn racct_usage(
        &self,
        names: &[String],
    ) -> Option<Result<crate::platform::Usages, crate::platform::PlatformError>> {
        crate::platform::jail_usages(names)
    }
}

/// Start `cmd` in a process group of its own (so a deadline can kill its children too), its
/// stdout and stderr piped, its stdin piped when it is fed and `/dev/null` otherwise.
fn spawn_group(cmd: &Cmd, feed_stdin: bool) -> Result<std::process::Child, ProcessError> {
    Command::new(&cmd.program)
        .args(&cmd.args)
        .stdin(if feed_stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|source| ProcessError::Spawn {
            cmd: cmd.clone(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn pipe_streams_input_through_the_command_into_output() {
        let h = SystemHost::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut input: &[u8] = &data;
        let mut out = Vec::new();
        let o = h
            .pipe(
                &Cmd::new("/bin/cat", Vec::<String>::new()),
                Some(&mut input),
                Some(&mut out),
                Duration::from_secs(30),
            )
            .unwrap();
        assert_eq!(o.status, 0, "{}", o.stderr);
        assert!(o.stdout.is_empty());
        assert_eq!(out, data);
    }

    #[test]
    fn pipe_reports_the_status_and_stderr_of_a_failing_command() {
        let h = SystemHost::default();
        let mut input: &[u8] = b"stream";
        let o = h
            .pipe(
                &Cmd::new("/bin/sh", ["-c", "cat >/dev/null; echo broken >&2; exit 4"]),
                Some(&mut input),
                None,
                Duration::from_secs(30),
            )
            .unwrap();
        assert_eq!((o.status, o.stderr.as_str()), (4, "broken\n"));
    }

    #[test]
    fn pipe_kills_a_command_past_its_deadline() {
        let h = SystemHost::default();
        let mut out = Vec::new();
        let t0 = Instant::now();
        let e = h
            .pipe(
                &Cmd::new("/bin/sh", ["-c", "echo partial; sleep 30"]),
                None,
                Some(&mut out),
                Duration::from_millis(300),
            )
            .unwrap_err();
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert!(matches!(e, ProcessError::TimedOut { .. }), "{e}");
        assert_eq!(out, b"partial\n");
    }

    #[test]
    fn the_default_pipe_refuses_with_the_command_named() {
        struct NoStream;
        impl Runner for NoStream {
            fn output(&self, _: &Cmd) -> Result<Output, ProcessError> {
                Ok(Output::ok(""))
            }
            fn interactive(&self, _: &Cmd) -> Result<i32, ProcessError> {
                Ok(0)
            }
        }
        let e = NoStream
            .pipe(
                &Cmd::new("/sbin/zfs", ["send", "p/a@s"]),
                None,
                None,
                Duration::from_secs(1),
            )
            .unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("zfs send p/a@s") && m.contains("cannot stream"),
            "{m}"
        );
    }

    #[test]
    fn a_command_within_its_deadline_returns_its_output() {
        let h = SystemHost::default();
        let out = h
            .output_within(
                &Cmd::new("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"]),
                Duration::from_secs(30),
            )
            .unwrap();
        assert_eq!(
            (out.status, out.stdout.as_str(), out.stderr.as_str()),
            (3, "out\n", "err\n")
        );
    }

    #[test]
    fn stdin_reaches_the_command_and_is_closed() {
        let h = SystemHost::default();
        let cmd = Cmd::new("/bin/cat", [] as [&str; 0]).stdin("pass all\nblock in\n");
        let out = h.output_within(&cmd, Duration::from_secs(30)).unwrap();
        assert_eq!(
            (out.status, out.stdout.as_str()),
            (0, "pass all\nblock in\n")
        );
        // Shown as a here-document, never run through a shell.
        assert_eq!(cmd.to_string(), "/bin/cat <<'EOF'\npass all\nblock in\nEOF");
        let tricky = Cmd::new("/bin/cat", ["-"]).stdin("EOF\nx");
        assert_eq!(tricky.to_string(), "/bin/cat - <<'EOF_'\nEOF\nx\nEOF_");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_with_its_process_group() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let cmd = Cmd::new("/bin/sh", ["-c", script.as_str()]);
        let mut deadlines = Deadlines::default();
        deadlines
            .set
            .insert("sh".into(), Duration::from_millis(300));
        let h = SystemHost::new(deadlines);
        let t0 = Instant::now();
        let e = h.output(&cmd).unwrap_err();
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(5),
            "{took:?}"
        );
        assert!(
            matches!(e, ProcessError::TimedOut { after, .. } if after == Duration::from_millis(300)),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains("/bin/sh") && msg.contains("300ms") && msg.contains("killed"),
            "{msg}"
        );
        // The shell's own child went with it: gone, or a zombie waiting for its reaper.
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let pid = pid.trim();
        std::thread::sleep(Duration::from_millis(100));
        // ps(1) prints nothing for a process that is gone, `Z` for a zombie.
        let ps = std::process::Command::new("ps")
            .args(["-o", "stat=", "-p", pid])
            .output()
            .unwrap();
        let state = String::from_utf8_lossy(&ps.stdout).trim().to_string();
        let alive = !state.is_empty() && !state.starts_with('Z');
        assert!(!alive, "the grandchild {pid} still runs: {state}");
    }
}
