//! Jails the simulated kernel is still tearing down after `jail -r`: how long they stay
//! dying and what reaping them gives back to the host (see the module doc of `jail`).

/// How many commands a removed VNET jail stays dying by default: the kernel tears down its
/// network stack after `jail -r` has returned, and a poll of `jls -d` sees it go.
pub const VNET_DYING_COMMANDS: u64 = 3;

/// Finish tearing down every dying jail now (as if the kernel were done): forget them and
/// return their interfaces to the host.
pub fn reap_dying(s: &mut crate::SimState) {
    let dying: Vec<(String, i32)> = s
        .jail
        .jails
        .values()
        .filter(|j| j.dying)
        .map(|j| (j.name.clone(), j.jid))
        .collect();
    forget(s, dying);
}

fn forget(s: &mut crate::SimState, dying: Vec<(String, i32)>) {
    for (_, jid) in dying {
        // By jid: a replaced dying jail is no longer under its name (see `create`).
        s.jail.jails.retain(|_, j| j.jid != jid);
        s.cpuset.masks.remove(&jid);
        s.net.return_from_jail(jid);
    }
}

/// One more command has run: count down the jails kept dying by `dying_commands`, and
/// reap those whose time is up. Whether that changed anything.
pub fn tick_dying(s: &mut crate::SimState) -> bool {
    let mut done = vec![];
    let mut changed = false;
    // Only the dying jails count as changed (a scan that changed every jail would make the
    // store save them all after every command).
    s.jail.jails.update_where(
        |j| j.dying_left.is_some(),
        |j| match &mut j.dying_left {
            Some(0) => done.push((j.name.clone(), j.jid)),
            Some(n) => {
                *n -= 1;
                changed = true;
            }
            None => {}
        },
    );
    changed |= !done.is_empty();
    forget(s, done);
    changed
}
