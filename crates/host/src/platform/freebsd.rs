//! The FreeBSD backend: asks the kernel directly. RACCT state through the `rctl` crate
//! (sysctl(3) of `security.jail.jailed` and `kern.racct.enable`, no rctl(8) process) and running
//! jails through the `jail` crate (jail_get(2) walked with `lastjid`, no jls(8) process), live
//! usage through the `rctl` crate (rctl_get_racct(2), no rctl(8) process per jail).

use super::{KernelJail, PlatformError, RacctState};

pub(super) fn racct_state() -> RacctState {
    from_rctl(rctl::State::check())
}

/// One-to-one: jailctl's type adds only `Unsupported`, which a FreeBSD kernel never yields.
fn from_rctl(state: rctl::State) -> RacctState {
    match state {
        rctl::State::Enabled => RacctState::Enabled,
        rctl::State::Disabled => RacctState::Disabled,
        rctl::State::NotPresent => RacctState::NotPresent,
        rctl::State::Jailed => RacctState::Jailed,
    }
}

pub(super) fn running_jails() -> Result<Vec<KernelJail>, PlatformError> {
    jail::RunningJail::all().map(describe).collect()
}

pub(super) fn running_jail(name: &str) -> Result<Option<KernelJail>, PlatformError> {
    // Walk the list rather than jail_getid(3): that one reads an all-digit name as a jid.
    for running in jail::RunningJail::all() {
        let found = describe(running)?;
        if found.name == name {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

pub(super) fn jail_usages(names: &[String]) -> Option<Result<super::Usages, PlatformError>> {
    Some(
        names
            .iter()
            .try_fold(super::Usages::new(), |mut all, name| {
                match rctl::Subject::jail_name(name.as_str()).usage() {
                    Ok(usage) => {
                        let usage = usage
                            .into_iter()
                            .map(|(r, v)| (r.to_string(), v as u64))
                            .collect();
                        all.insert(name.clone(), usage);
                        Ok(all)
                    }
                    // For a jail the kernel does not know the call fails with ESRCH, which the crate
                    // turns into an empty answer it cannot parse: ask whether the jail still exists
                    // before calling it an error.
                    Err(e) => match running_jail(name) {
                        Ok(None) => Ok(all),
                        _ => Err(PlatformError::Kernel {
                            what: format!(
                                "read the resource usage of jail `{name}` (rctl_get_racct(2))"
                            ),
                            source: Box::new(e),
                        }),
                    },
                }
            }),
    )
}

fn describe(running: jail::RunningJail) -> Result<KernelJail, PlatformError> {
    let jid = running.jid;
    let kernel = |e: jail::JailError| PlatformError::Kernel {
        what: format!("read the parameters of jail {jid} with jail_get(2)"),
        source: Box::new(e),
    };
    Ok(KernelJail {
        jid,
        name: running.name().map_err(kernel)?,
        path: running.path().map_err(kernel)?,
        hostname: running.hostname().map_err(kernel)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rctl_state_maps_to_its_namesake() {
        assert_eq!(from_rctl(rctl::State::Enabled), RacctState::Enabled);
        assert_eq!(from_rctl(rctl::State::Disabled), RacctState::Disabled);
        assert_eq!(from_rctl(rctl::State::NotPresent), RacctState::NotPresent);
        assert_eq!(from_rctl(rctl::State::Jailed), RacctState::Jailed);
    }

    #[test]
    fn a_name_no_jail_has_is_not_found() {
        let name = "jailctl-platform-test-no-such-jail";
        assert_eq!(running_jail(name).expect("jail_get(2) works"), None);
    }
}
