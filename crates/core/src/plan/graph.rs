//! The dependency graph of jails (`depends_on`): which jails a target pulls in and the order
//! that starts every jail after the jails it depends on.

use super::PlanError;
use crate::config::spec::JailSpec;
use std::collections::BTreeSet;

/// `targets` (every defined jail when empty) plus their dependencies, dependencies first.
/// Among jails with no order between them, names sort alphabetically, so the result is stable.
pub fn order(specs: &[JailSpec], targets: &[String]) -> Result<Vec<String>, PlanError> {
    let mut roots: Vec<String> = if targets.is_empty() {
        specs.iter().map(|s| s.name.clone()).collect()
    } else {
        targets.to_vec()
    };
    roots.sort();
    roots.dedup();
    for t in &roots {
        if !specs.iter().any(|s| &s.name == t) {
            return Err(PlanError::UnknownJail(t.clone()));
        }
    }
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for t in &roots {
        visit(specs, t, &mut Vec::new(), &mut done, &mut out)?;
    }
    Ok(out)
}

fn visit(
    specs: &[JailSpec],
    name: &str,
    stack: &mut Vec<String>,
    done: &mut BTreeSet<String>,
    out: &mut Vec<String>,
) -> Result<(), PlanError> {
    if done.contains(name) {
        return Ok(());
    }
    if let Some(i) = stack.iter().position(|s| s == name) {
        let mut cycle = stack[i..].to_vec();
        cycle.push(name.to_string());
        return Err(PlanError::Cycle(cycle));
    }
    let spec = specs
        .iter()
        .find(|s| s.name == name)
        .expect("callers check the name is defined");
    stack.push(name.to_string());
    let mut deps = spec.depends_on.clone();
    deps.sort();
    for d in &deps {
        if !specs.iter().any(|s| &s.name == d) {
            return Err(PlanError::UnknownDependency {
                jail: name.to_string(),
                dep: d.clone(),
            });
        }
        visit(specs, d, stack, done, out)?;
    }
    stack.pop();
    done.insert(name.to_string());
    out.push(name.to_string());
    Ok(())
}
