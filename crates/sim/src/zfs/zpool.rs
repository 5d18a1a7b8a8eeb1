//! zpool(8) on the simulated host: the pools a fresh simulated host starts with, and
//! `zpool list` and `zpool get` of their properties.
//!
//! Why it exists: jailctl and its doctor read pool health and space; the simulator answers
//! with the columns and refusals a real zpool gives.

use super::files::used;
use super::getopt::getopt;
use super::values::{nicebytes, now};
use super::walk::table;
use super::{DsKind, Fail, POOL_SIZE, Res, SimDataset, SimPool, err};
use crate::{Ctx, SimState};
use jailctl_host::Output;
use std::collections::BTreeMap;

/// A fresh host: pool `zroot` mounted at `/zroot`.
pub fn init_fresh(s: &mut SimState) {
    let z = &mut s.zfs;
    z.pools.insert(
        "zroot".into(),
        SimPool {
            size: POOL_SIZE,
            health: "ONLINE".into(),
            readonly: false,
            guid: 0x5a00_0000_0000_0001,
        },
    );
    z.txg = 1;
    let mut props = BTreeMap::new();
    props.insert("mountpoint".into(), "/zroot".into());
    z.datasets.insert(
        "zroot".into(),
        SimDataset {
            kind: DsKind::Filesystem,
            props,
            origin: None,
            createtxg: 1,
            creation: now(),
            guid: 0x5a00_0000_0000_0002,
            mounted: true,
            received: BTreeMap::new(),
        },
    );
}

pub(super) const ZPOOL_PROPS: &[&str] = &[
    "name",
    "size",
    "allocated",
    "free",
    "capacity",
    "health",
    "guid",
    "readonly",
    "altroot",
    "dedupratio",
    "fragmentation",
    "expandsize",
    "checkpoint",
];

pub(super) fn zpool_usage(cmd: &str) -> String {
    match cmd {
        "list" => "usage:\n\tlist [-gHLpPv] [-o property[,...]] [-T d|u] [pool] ... [interval [count]]\n".into(),
        "get" => {
            let mut s = String::from("usage:\n\tget [-Hp] [-o \"all\" | field[,...]] <\"all\" | property[,...]> <pool> ...\n\nthe following properties are supported:\n\n\tPROPERTY         EDIT   VALUES\n\n");
            for p in ZPOOL_PROPS {
                s.push_str(&format!("\t{p:<16}   NO   <{p}>\n"));
            }
            s
        }
        _ => "usage: zpool command args ...\nwhere 'command' is one of the following:\n\n\tlist [-gHLpPv] [-o property[,...]] [-T d|u] [pool] ... [interval [count]]\n\tget [-Hp] [-o \"all\" | field[,...]] <\"all\" | property[,...]> <pool> ...\n".into(),
    }
}

pub(super) fn pool_prop(ctx: &Ctx<'_>, pool: &str, prop: &str, parsable: bool) -> String {
    let p = &ctx.state.zfs.pools[pool];
    let alloc = used(ctx, pool);
    let size = |n: u64| {
        if parsable {
            n.to_string()
        } else {
            nicebytes(n)
        }
    };
    match prop {
        "name" => pool.to_string(),
        "size" => size(p.size),
        "allocated" => size(alloc),
        "free" => size(p.size.saturating_sub(alloc)),
        "capacity" => {
            let c = alloc * 100 / p.size.max(1);
            if parsable {
                c.to_string()
            } else {
                format!("{c}%")
            }
        }
        "health" => p.health.clone(),
        "guid" => p.guid.to_string(),
        "readonly" => if p.readonly { "on" } else { "off" }.into(),
        "dedupratio" => if parsable { "1.00" } else { "1.00x" }.into(),
        "fragmentation" => if parsable { "0" } else { "0%" }.into(),
        _ => "-".into(),
    }
}

pub fn run_zpool(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let Some(sub) = args.first() else {
        return Output::fail(2, zpool_usage(""));
    };
    let r = match sub.as_str() {
        "list" => zpool_list(ctx, &args[1..]),
        "get" => zpool_get(ctx, &args[1..]),
        "status" | "create" | "destroy" | "import" | "export" | "scrub" | "set" | "add"
        | "attach" | "detach" | "replace" | "online" | "offline" | "clear" | "history"
        | "iostat" | "upgrade" => Err(err(format!(
            "zpool {sub}: not modelled by the simulated host"
        ))),
        _ => Err(Fail(
            2,
            format!("unrecognized command '{sub}'\n{}", zpool_usage("")),
        )),
    };
    match r {
        Ok(s) => Output::ok(s),
        Err(Fail(c, m)) => Output::fail(c, m),
    }
}

pub(super) fn pools_named(ctx: &Ctx<'_>, names: &[String]) -> Result<Vec<String>, Fail> {
    if names.is_empty() {
        return Ok(ctx.state.zfs.pools.keys().cloned().collect());
    }
    for n in names {
        if !ctx.state.zfs.pools.contains_key(n) {
            return Err(err(format!("cannot open '{n}': no such pool")));
        }
    }
    Ok(names.to_vec())
}

pub(super) fn zpool_list(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "gHLpPvo:T:", &|| zpool_usage("list"))?;
    let cols: Vec<String> = match o.values('o').last() {
        None => [
            "name",
            "size",
            "allocated",
            "free",
            "checkpoint",
            "expandsize",
            "fragmentation",
            "capacity",
            "dedupratio",
            "health",
            "altroot",
        ]
        .map(String::from)
        .to_vec(),
        Some(spec) => {
            let mut v = Vec::new();
            for p in spec.split(',') {
                if !ZPOOL_PROPS.contains(&p) {
                    return Err(Fail(
                        2,
                        format!(
                            "property '{p}' is not a valid pool or vdev property\n{}",
                            zpool_usage("list")
                        ),
                    ));
                }
                v.push(p.to_string());
            }
            v
        }
    };
    let pools = pools_named(ctx, &o.rest)?;
    let rows: Vec<Vec<String>> = pools
        .iter()
        .map(|p| {
            cols.iter()
                .map(|c| pool_prop(ctx, p, c, o.has('p')))
                .collect()
        })
        .collect();
    let header: Vec<String> = cols
        .iter()
        .map(|c| {
            match c.as_str() {
                "allocated" => "ALLOC",
                "capacity" => "CAP",
                "dedupratio" => "DEDUP",
                "fragmentation" => "FRAG",
                "checkpoint" => "CKPOINT",
                "expandsize" => "EXPANDSZ",
                other => other,
            }
            .to_uppercase()
        })
        .collect();
    Ok(table(&header, &rows, o.has('H'), &[]))
}

pub(super) fn zpool_get(ctx: &mut Ctx<'_>, args: &[String]) -> Res {
    let o = getopt(args, "Hpo:", &|| zpool_usage("get"))?;
    let fields: Vec<String> = match o.values('o').last() {
        None | Some(&"all") => ["name", "property", "value", "source"]
            .map(String::from)
            .to_vec(),
        Some(spec) => {
            let v: Vec<String> = spec.split(',').map(String::from).collect();
            for f in &v {
                if !matches!(f.as_str(), "name" | "property" | "value" | "source") {
                    return Err(Fail(
                        2,
                        format!("invalid field '{f}'\n{}", zpool_usage("get")),
                    ));
                }
            }
            v
        }
    };
    let (spec, pools) = match o.rest.as_slice() {
        [] => {
            return Err(Fail(
                2,
                format!("missing property argument\n{}", zpool_usage("get")),
            ));
        }
        [s, rest @ ..] => (s.clone(), rest.to_vec()),
    };
    let props: Vec<String> = if spec == "all" {
        ZPOOL_PROPS.iter().map(|s| s.to_string()).collect()
    } else {
        let v: Vec<String> = spec.split(',').map(String::from).collect();
        for p in &v {
            if !ZPOOL_PROPS.contains(&p.as_str()) {
                return Err(Fail(
                    2,
                    format!(
                        "bad property list: invalid property '{p}'\n{}",
                        zpool_usage("get")
                    ),
                ));
            }
        }
        v
    };
    let pools = pools_named(ctx, &pools)?;
    let mut rows = Vec::new();
    for pool in &pools {
        for p in &props {
            let value = pool_prop(ctx, pool, p, o.has('p'));
            let source = if matches!(p.as_str(), "readonly" | "altroot") {
                "default"
            } else {
                "-"
            };
            rows.push(
                fields
                    .iter()
                    .map(|f| match f.as_str() {
                        "name" => pool.clone(),
                        "property" => p.clone(),
                        "value" => value.clone(),
                        _ => source.to_string(),
                    })
                    .collect(),
            );
        }
    }
    let header: Vec<String> = fields.iter().map(|f| f.to_uppercase()).collect();
    Ok(table(&header, &rows, o.has('H'), &[]))
}
