//! `zfs get`: property values of datasets, with the columns, sources and types asked for.
//!
//! Why it exists: jailctl's storage queries read properties with `zfs get -H -p`; the
//! simulator prints them as zfs(8) does.

use super::getopt::{Opts, getopt, usage_fail, usage_text};
use super::props::{PROPS, applies_to_snapshot, canon_prop};
use super::values::prop_value;
use super::walk::{Walk, for_each, parse_depth, parse_types, snapshots_of_operands, table};
use super::{DsKind, Fail, Listing, T_FS, T_SNAP, T_VOL, parent_of};
use crate::Ctx;
use std::collections::BTreeSet;

pub(super) fn get(ctx: &mut Ctx<'_>, args: &[String]) -> Listing {
    let o = getopt(args, "rHpd:o:s:t:", &|| usage_text("get"))?;
    let fields = columns(&o)?;
    let sources = sources(&o)?;
    let types = match o.values('t').last() {
        Some(t) => parse_types(t, "get")?,
        None => T_FS | T_VOL | T_SNAP,
    };
    let mut limit = match o.values('d').last() {
        Some(d) => Some(parse_depth(d, "get")?),
        None => None,
    };
    let mut recurse = o.has('r') || limit.is_some();
    let (propspec, operands) = match o.rest.as_slice() {
        [] => return Err(usage_fail("get", "missing property argument")),
        [p, rest @ ..] => (p.clone(), rest.to_vec()),
    };
    let all = propspec == "all";
    let props = if all {
        Vec::new()
    } else {
        props_named(&propspec)?
    };
    snapshots_of_operands(types, &operands, &mut limit, &mut recurse);
    let walk = Walk {
        recurse,
        limit,
        types,
        listsnaps: false,
        paths: true,
    };
    let (names, errors) = for_each(ctx, &operands, &walk);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for n in &names {
        let plist: Vec<String> = if all {
            all_props(ctx, n)
        } else {
            props.clone()
        };
        for p in plist {
            let pv = prop_value(ctx, n, &p);
            if let Some(s) = &sources
                && !s.iter().any(|s| s == pv.source.class())
            {
                continue;
            }
            let value = if o.has('p') {
                pv.raw.clone()
            } else {
                pv.human.clone()
            };
            let row = fields
                .iter()
                .map(|f| match f.as_str() {
                    "name" => n.clone(),
                    "property" => p.clone(),
                    "value" => value.clone(),
                    "received" => "-".to_string(),
                    _ => pv.source.show(),
                })
                .collect();
            rows.push(row);
        }
    }
    let header: Vec<String> = fields.iter().map(|f| f.to_uppercase()).collect();
    let out = if rows.is_empty() {
        String::new()
    } else {
        table(&header, &rows, o.has('H'), &[])
    };
    Ok((out, errors))
}

/// The columns of `-o` (`name,property,value,source` by default, `received` too for `all`).
fn columns(o: &Opts) -> Result<Vec<String>, Fail> {
    Ok(match o.values('o').last() {
        None => ["name", "property", "value", "source"]
            .map(String::from)
            .to_vec(),
        Some(&"all") => ["name", "property", "value", "received", "source"]
            .map(String::from)
            .to_vec(),
        Some(spec) => {
            let v: Vec<String> = spec.split(',').map(String::from).collect();
            for f in &v {
                if !matches!(
                    f.as_str(),
                    "name" | "property" | "value" | "received" | "source"
                ) {
                    return Err(usage_fail("get", &format!("invalid column name '{f}'")));
                }
            }
            v
        }
    })
}

/// The sources of `-s`, when given.
fn sources(o: &Opts) -> Result<Option<Vec<String>>, Fail> {
    Ok(match o.values('s').last() {
        None => None,
        Some(spec) => {
            let v: Vec<String> = spec.split(',').map(String::from).collect();
            for s in &v {
                if !matches!(
                    s.as_str(),
                    "local" | "default" | "inherited" | "temporary" | "received" | "none"
                ) {
                    return Err(usage_fail("get", &format!("invalid source '{s}'")));
                }
            }
            Some(v)
        }
    })
}

/// The properties of a comma-separated list, canonical names, each one known.
fn props_named(propspec: &str) -> Result<Vec<String>, Fail> {
    let mut props = Vec::new();
    for p in propspec.split(',') {
        match canon_prop(p) {
            Some(c) => props.push(c),
            None => {
                return Err(usage_fail(
                    "get",
                    &format!("bad property list: invalid property '{p}'"),
                ));
            }
        }
    }
    Ok(props)
}

/// What `zfs get all` shows of dataset `n`: the native properties that apply to its kind,
/// then the user properties set on it or (for a filesystem) inherited.
fn all_props(ctx: &Ctx<'_>, n: &str) -> Vec<String> {
    let d = &ctx.state.zfs.datasets[n];
    let mut v: Vec<String> = PROPS
        .iter()
        .filter(|p| p.name != "name")
        .filter(|p| match d.kind {
            DsKind::Snapshot => applies_to_snapshot(p),
            DsKind::Filesystem => p.name != "clones",
        })
        .map(|p| p.name.to_string())
        .collect();
    // User properties set here or inherited.
    let mut user: BTreeSet<String> = d
        .props
        .keys()
        .filter(|k| k.contains(':'))
        .cloned()
        .collect();
    if d.kind == DsKind::Filesystem {
        let mut cur = parent_of(n);
        while let Some(p) = cur {
            if let Some(pd) = ctx.state.zfs.datasets.get(p) {
                user.extend(pd.props.keys().filter(|k| k.contains(':')).cloned());
            }
            cur = parent_of(p);
        }
    }
    v.extend(user);
    v
}
