//! `zfs set` and `zfs inherit`: properties changed on one or more datasets, user properties
//! (`jailctl:*` marks) included, with a remount when the mountpoint changes.
//!
//! Why it exists: jailctl marks what it owns with user properties and sets quotas and
//! mountpoints; the simulator must refuse what zfs(8) refuses.

use super::getopt::{getopt, usage_fail, usage_text};
use super::mounts::{mount_snapshot, remount};
use super::props::{PKind, applies_to_snapshot, check_assignment, is_user_prop, prop_def};
use super::walk::{Walk, for_each};
use super::{DsKind, Fail, Res, err, pool_writable};
use crate::Ctx;

pub(super) fn set(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "u", &|| usage_text("set"))?;
    if o.rest.is_empty() {
        return Err(usage_fail("set", "missing arguments"));
    }
    let assigns: Vec<&String> = o.rest.iter().take_while(|a| a.contains('=')).collect();
    let targets = &o.rest[assigns.len()..];
    if assigns.is_empty() {
        return Err(usage_fail("set", "missing property=value argument(s)"));
    }
    if targets.is_empty() {
        return Err(usage_fail("set", "missing dataset name(s)"));
    }
    for a in &assigns {
        let (p, v) = a.split_once('=').expect("contains =");
        if p.is_empty() {
            return Err(usage_fail(
                "set",
                "missing property in property=value argument",
            ));
        }
        if v.is_empty() {
            return Err(usage_fail(
                "set",
                "missing value in property=value argument",
            ));
        }
    }
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_set runs set_callback through zfs_for_each:
    // every operand is opened first (their errors in argument order), then the datasets
    // found are set once each, in name order.
    let walk = Walk::named();
    let (found, mut failure) = for_each(ctx, targets, &walk);
    for t in &found {
        let kind = ctx.state.zfs.datasets[t].kind;
        let action = format!("cannot set property for '{t}'");
        let mut changes = Vec::new();
        let mut bad = None;
        for a in &assigns {
            let (p, v) = a.split_once('=').expect("contains =");
            match check_assignment(kind, p, v) {
                Ok(c) => changes.push(c),
                Err(e) => {
                    bad = Some(format!("{action}: {e}\n"));
                    break;
                }
            }
        }
        if let Some(b) = bad {
            failure.push_str(&b);
            continue;
        }
        if let Err(Fail(_, m)) = pool_writable(ctx, t, &action) {
            failure.push_str(&m);
            continue;
        }
        let before = mount_snapshot(ctx, t);
        let d = ctx.state.zfs.datasets.get_mut(t.as_str()).expect("opened");
        for (p, v) in changes {
            d.props.insert(p, v);
        }
        remount(ctx, before);
    }
    if failure.is_empty() {
        Ok(String::new())
    } else {
        Err(Fail(1, failure))
    }
}

pub(super) fn inherit(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "rS", &|| usage_text("inherit"))?;
    let (prop, targets) = match o.rest.as_slice() {
        [] => return Err(usage_fail("inherit", "missing property argument")),
        [_] => return Err(usage_fail("inherit", "missing dataset argument")),
        [p, t @ ..] => (p.clone(), t.to_vec()),
    };
    let canon = if let Some(p) = prop_def(&prop) {
        if p.kind == PKind::Ro {
            return Err(err(format!("{} property is read-only", p.name)));
        }
        if !p.inherit {
            if p.kind == PKind::SizeNone {
                return Err(err(format!(
                    "'{0}' property cannot be inherited\nuse 'zfs set {0}=none' to clear",
                    p.name
                )));
            }
            return Err(err(format!("'{}' property cannot be inherited", p.name)));
        }
        p.name.to_string()
    } else if is_user_prop(&prop) {
        prop.clone()
    } else {
        return Err(usage_fail("inherit", &format!("invalid property '{prop}'")));
    };
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_inherit: zfs_for_each over the operands
    // (opened first, then each dataset once in name order); with -r, inherit_recurse_cb
    // skips the datasets the property does not apply to (a snapshot's native properties).
    let walk = Walk::named();
    let (found, mut failure) = for_each(ctx, &targets, &walk);
    for t in &found {
        let kind = ctx.state.zfs.datasets[t].kind;
        if kind == DsKind::Snapshot && !canon.contains(':') {
            if o.has('r') {
                continue;
            }
            // lib/libzfs/libzfs_dataset.c, zfs_prop_inherit: a property not valid for the
            // dataset's type is EZFS_PROPTYPE; one that is (exec, setuid, ...) is refused
            // for a snapshot by the kernel.
            let why = if prop_def(&canon).is_some_and(applies_to_snapshot) {
                "this property can not be modified for snapshots"
            } else {
                "property doesn't apply to datasets of this type"
            };
            failure.push_str(&format!("cannot inherit {canon} for '{t}': {why}\n"));
            continue;
        }
        let before = mount_snapshot(ctx, t);
        let mut names = vec![t.clone()];
        if o.has('r') {
            names.extend(ctx.state.zfs.descendants(t));
        }
        for n in names {
            if let Some(d) = ctx.state.zfs.datasets.get_mut(&n) {
                d.props.remove(&canon);
            }
        }
        remount(ctx, before);
    }
    if failure.is_empty() {
        Ok(String::new())
    } else {
        Err(Fail(1, failure))
    }
}
