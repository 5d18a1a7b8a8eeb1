//! The stand-in compiled on every OS but FreeBSD. There is no jail subsystem and no RACCT here,
//! so each call says so instead of pretending: the RACCT state is
//! [`RacctState::Unsupported`] with the reason, and reading jails is an
//! [`PlatformError::Unsupported`] that points at `--simulate DIR`. Missing here, compared with
//! the FreeBSD backend: sysctl(3) (`security.jail.jailed`, `kern.racct.enable`), jail_get(2)
//! and rctl_get_racct(2) (live usage: callers fall back to `rctl -u`).

use super::{KernelJail, PlatformError, RacctState};

pub(super) fn racct_state() -> RacctState {
    RacctState::Unsupported(format!(
        "this build of jailctl runs on {}, which has no RACCT/RCTL (a FreeBSD kernel facility)",
        std::env::consts::OS
    ))
}

pub(super) fn running_jails() -> Result<Vec<KernelJail>, PlatformError> {
    Err(unsupported("list running jails"))
}

pub(super) fn running_jail(_name: &str) -> Result<Option<KernelJail>, PlatformError> {
    Err(unsupported("look up a running jail"))
}

/// No kernel to ask: `None`, so the host's `rctl -u` per jail is used (on this OS it fails
/// like every other FreeBSD tool, which is the honest answer).
pub(super) fn jail_usages(_names: &[String]) -> Option<Result<super::Usages, PlatformError>> {
    None
}

fn unsupported(what: &'static str) -> PlatformError {
    PlatformError::Unsupported {
        what,
        os: std::env::consts::OS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn racct_state_says_which_os_lacks_it() {
        match racct_state() {
            RacctState::Unsupported(why) => {
                assert!(why.contains(std::env::consts::OS), "{why}");
                assert!(why.contains("RACCT"), "{why}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }

    #[test]
    fn jail_lookups_fail_with_the_fix() {
        let e = running_jails().unwrap_err();
        let err = e.to_string();
        assert!(err.starts_with("cannot list running jails:"), "{err}");
        let help = crate::help_of(&e).unwrap_or_default();
        assert!(help.contains("--simulate DIR"), "{help}");
        let err = running_jail("web").unwrap_err().to_string();
        assert!(err.starts_with("cannot look up a running jail:"), "{err}");
    }
}
