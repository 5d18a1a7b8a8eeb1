//! `zfs list`: datasets with the columns, sort keys and types asked for.
//!
//! Why it exists: jailctl observes its datasets with `zfs list -H -p -o ...`; the simulator
//! prints them as zfs(8) does, sorted the same way.

use super::getopt::{Opts, getopt, usage_fail, usage_text};
use super::props::{canon_prop, prop_def};
use super::values::prop_value;
use super::walk::{Walk, for_each, parse_depth, parse_types, snapshots_of_operands, table};
use super::{Fail, Listing, T_FS, T_SNAP, T_VOL};
use crate::Ctx;

/// A sort key: numeric value when the raw value is a number, else the text.
pub(super) type SortKey = (Option<f64>, String);

pub(super) fn list(ctx: &mut Ctx<'_>, args: &[String]) -> Listing {
    let o = getopt(args, "rHpd:o:s:S:t:", &|| usage_text("list"))?;
    let cols = columns(&o)?;
    let sort_keys = sort_keys(&o)?;
    // OpenZFS 2.2, cmd/zfs/zfs_main.c, zfs_do_list: all types by default, and snapshots
    // under a recursion only as the pool's listsnapshots says (off) unless -t is given; a
    // snapshot named as an operand is listed.
    let types = match o.values('t').last() {
        Some(t) => parse_types(t, "list")?,
        None => T_FS | T_VOL | T_SNAP,
    };
    let mut limit = match o.values('d').last() {
        Some(d) => Some(parse_depth(d, "list")?),
        None => None,
    };
    let mut recurse = o.has('r') || limit.is_some();
    snapshots_of_operands(types, &o.rest, &mut limit, &mut recurse);
    let walk = Walk {
        recurse,
        limit,
        types,
        listsnaps: o.values('t').is_empty(),
        paths: true,
    };
    let (mut names, errors) = for_each(ctx, &o.rest, &walk);
    if !sort_keys.is_empty() {
        sort_by_keys(ctx, &mut names, &sort_keys);
    }
    if names.is_empty() {
        // zfs_do_list says so only when nothing failed, and not with -H.
        let none = if errors.is_empty() && !o.has('H') {
            "no datasets available\n"
        } else {
            ""
        };
        return Ok((String::new(), format!("{errors}{none}")));
    }
    let out = table_of(ctx, &cols, &names, o.has('p'), o.has('H'));
    Ok((out, errors))
}

/// The columns of `-o` (`name,used,available,referenced,mountpoint` by default), each a
/// known property.
fn columns(o: &Opts) -> Result<Vec<String>, Fail> {
    Ok(match o.values('o').last() {
        None => ["name", "used", "available", "referenced", "mountpoint"]
            .map(String::from)
            .to_vec(),
        Some(spec) => {
            let mut v = Vec::new();
            for p in spec.split(',') {
                match canon_prop(p) {
                    Some(c) => v.push(c),
                    None => {
                        return Err(usage_fail(
                            "list",
                            &format!("bad property list: invalid property '{p}'"),
                        ));
                    }
                }
            }
            v
        }
    })
}

/// The sort keys of `-s` (ascending) then `-S` (descending), each a known property.
fn sort_keys(o: &Opts) -> Result<Vec<(String, bool)>, Fail> {
    let mut sort_keys = Vec::new();
    for (flag, asc) in [('s', true), ('S', false)] {
        for p in o.values(flag) {
            match canon_prop(p) {
                Some(c) => sort_keys.push((c, asc)),
                None => return Err(usage_fail("list", &format!("invalid property '{p}'"))),
            }
        }
    }
    Ok(sort_keys)
}

/// Sort `names` by the values of `sort_keys`: numerically when both values are numbers,
/// else as text; a stable sort, so ties keep the walk's order.
fn sort_by_keys(ctx: &Ctx<'_>, names: &mut Vec<String>, sort_keys: &[(String, bool)]) {
    let key = |n: &String, p: &str| -> (Option<f64>, String) {
        let v = prop_value(ctx, n, p);
        (v.raw.parse::<f64>().ok(), v.raw)
    };
    let keyed: Vec<(String, Vec<SortKey>)> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                sort_keys.iter().map(|(p, _)| key(n, p)).collect(),
            )
        })
        .collect();
    let mut keyed = keyed;
    keyed.sort_by(|a, b| {
        for (i, (_, asc)) in sort_keys.iter().enumerate() {
            let (x, y) = (&a.1[i], &b.1[i]);
            let ord = match (x.0, y.0) {
                (Some(p), Some(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.1.cmp(&y.1),
            };
            let ord = if *asc { ord } else { ord.reverse() };
            if ord != std::cmp::Ordering::Equal {
                return ord;
            }
        }
        std::cmp::Ordering::Equal
    });
    *names = keyed.into_iter().map(|(n, _)| n).collect();
}

/// The listing of `names` in columns `cols`: raw values under `-p`, no header under `-H`,
/// the size columns right-aligned.
fn table_of(ctx: &Ctx<'_>, cols: &[String], names: &[String], raw: bool, scripted: bool) -> String {
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            cols.iter()
                .map(|c| {
                    let v = prop_value(ctx, n, c);
                    if raw { v.raw } else { v.human }
                })
                .collect()
        })
        .collect();
    let header: Vec<String> = cols
        .iter()
        .map(|c| {
            let short = prop_def(c).map_or(c.as_str(), |p| {
                if p.abbrev.is_empty() {
                    p.name
                } else {
                    p.abbrev
                }
            });
            // zfs_main.c, print_header: a user property's header is its name upper-cased.
            if c.contains(':') {
                c.to_uppercase()
            } else {
                short.to_uppercase()
            }
        })
        .collect();
    let right: Vec<usize> = cols
        .iter()
        .enumerate()
        .filter(|(_, c)| {
            matches!(
                c.as_str(),
                "used"
                    | "available"
                    | "referenced"
                    | "quota"
                    | "refquota"
                    | "reservation"
                    | "refreservation"
                    | "recordsize"
                    | "usedbychildren"
                    | "usedbydataset"
                    | "usedbysnapshots"
            )
        })
        .map(|(i, _)| i)
        .collect();
    table(&header, &rows, scripted, &right)
}
