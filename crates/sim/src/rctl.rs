//! rctl(8) on the simulated host: rules keyed by jail name (they outlive the jail, as in the
//! kernel), usage numbers for running jails, and the RACCT state read from the simulated
//! `kern.racct.enable` (missing OID: kernel without RACCT; `0`: disabled).
//!
//! Usage figures are a deterministic model, not measurements: they depend only on the jid and
//! on whether the jail was started with a command.

use super::Ctx;
use crate::table::Seq;
use jailctl_host::Output;
use serde::{Deserialize, Serialize};

/// One rule, stored normalized (`jail:web:memoryuse:deny=536870912`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Rule {
    pub subject: String,
    pub id: String,
    pub resource: String,
    pub action: String,
    pub amount: u64,
    /// Explicit `/per` when it differs from the subject type.
    pub per: Option<String>,
}

impl Rule {
    pub fn render(&self, human: bool) -> String {
        let amount = if human {
            humanize(self.amount)
        } else {
            self.amount.to_string()
        };
        let per = self
            .per
            .as_ref()
            .map(|p| format!("/{p}"))
            .unwrap_or_default();
        format!(
            "{}:{}:{}:{}={amount}{per}",
            self.subject, self.id, self.resource, self.action
        )
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RctlState {
    #[serde(default)]
    pub rules: Seq<Rule>,
}

/// rctl resources in kernel order; `true` if `deny` is supported.
pub const RESOURCES: &[(&str, bool)] = &[
    ("cputime", false),
    ("datasize", true),
    ("stacksize", true),
    ("coredumpsize", true),
    ("memoryuse", true),
    ("memorylocked", true),
    ("maxproc", true),
    ("openfiles", true),
    ("vmemoryuse", true),
    ("pseudoterminals", true),
    ("swapuse", true),
    ("nthr", true),
    ("msgqqueued", true),
    ("msgqsize", true),
    ("nmsgq", true),
    ("nsem", true),
    ("nsemop", true),
    ("nshm", true),
    ("shmsize", true),
    ("wallclock", false),
    ("pcpu", true),
    ("readbps", false),
    ("writebps", false),
    ("readiops", false),
    ("writeiops", false),
];

const SIGNALS: &[&str] = &[
    "sighup",
    "sigint",
    "sigquit",
    "sigill",
    "sigtrap",
    "sigabrt",
    "sigemt",
    "sigfpe",
    "sigkill",
    "sigbus",
    "sigsegv",
    "sigsys",
    "sigpipe",
    "sigalrm",
    "sigterm",
    "sigurg",
    "sigstop",
    "sigtstp",
    "sigcont",
    "sigchld",
    "sigttin",
    "sigttou",
    "sigio",
    "sigxcpu",
    "sigxfsz",
    "sigvtalrm",
    "sigprof",
    "sigwinch",
    "siginfo",
    "sigusr1",
    "sigusr2",
    "sigthr",
    "siglibrt",
];

fn subject_long(s: &str) -> Option<&'static str> {
    Some(match s {
        "process" | "p" => "process",
        "user" | "u" => "user",
        "loginclass" | "l" | "c" | "class" => "loginclass",
        "jail" | "j" => "jail",
        _ => return None,
    })
}

fn throttles(r: &str) -> bool {
    r.ends_with("bps") || r.ends_with("iops")
}

fn humanize(n: u64) -> String {
    const U: &[(u64, &str)] = &[
        (1 << 60, "E"),
        (1 << 50, "P"),
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    for (m, s) in U {
        if n >= *m && n.is_multiple_of(*m) {
            return format!("{}{s}", n / m);
        }
    }
    n.to_string()
}

/// expand_number(3): decimal with an optional k/m/g/t/p/e suffix (powers of 1024).
pub fn expand_number(s: &str) -> Option<u64> {
    let (num, mul) = match s.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_lowercase() {
                'b' => 0,
                'k' => 10,
                'm' => 20,
                'g' => 30,
                't' => 40,
                'p' => 50,
                'e' => 60,
                _ => return None,
            };
            (&s[..i], 1u64 << shift)
        }
        _ => (s, 1),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// Why a rule was refused: rctl's own message (`Err(Some)`) or an errno text from the kernel.
enum Refusal {
    Malformed(String),
    Errno(&'static str),
}

fn parse_rule(r: &str) -> Result<Rule, Refusal> {
    let parts: Vec<&str> = r.splitn(4, ':').collect();
    if parts.len() < 3 || parts[0].is_empty() {
        let what = if parts.len() < 2 {
            "missing subject"
        } else {
            "missing resource"
        };
        return Err(Refusal::Malformed(format!("malformed rule '{r}': {what}")));
    }
    if parts.len() == 3 {
        return Err(Refusal::Errno("Invalid argument"));
    }
    let subject = subject_long(parts[0]).ok_or(Refusal::Errno("Invalid argument"))?;
    if parts[1].is_empty() {
        return Err(Refusal::Errno("Invalid argument"));
    }
    let resource = parts[2];
    let Some((_, deniable)) = RESOURCES.iter().find(|(n, _)| *n == resource) else {
        return Err(Refusal::Errno("Invalid argument"));
    };
    let Some((action, amount)) = parts[3].split_once('=') else {
        return Err(Refusal::Errno("Invalid argument"));
    };
    if !(matches!(action, "deny" | "log" | "devctl" | "throttle") || SIGNALS.contains(&action)) {
        return Err(Refusal::Errno("Invalid argument"));
    }
    if action == "deny" && !deniable {
        return Err(Refusal::Errno("Operation not supported"));
    }
    if action == "throttle" && !throttles(resource) {
        return Err(Refusal::Errno("Operation not supported"));
    }
    let (amount, per) = match amount.split_once('/') {
        Some((a, p)) => (
            a,
            Some(subject_long(p).ok_or(Refusal::Errno("Invalid argument"))?),
        ),
        None => (amount, None),
    };
    let amount = expand_number(amount).ok_or_else(|| {
        Refusal::Malformed(format!(
            "malformed rule '{r}': invalid numeric value '{amount}'"
        ))
    })?;
    Ok(Rule {
        subject: subject.into(),
        id: parts[1].into(),
        resource: resource.into(),
        action: action.into(),
        amount,
        per: per.filter(|p| *p != subject).map(str::to_string),
    })
}

/// A filter: `subject[:id[:resource[:action[=amount[/per]]]]]`, empty fields match anything.
fn matches(filter: &str, rule: &Rule) -> Result<bool, ()> {
    let f: Vec<&str> = filter.splitn(4, ':').collect();
    if let Some(s) = f.first().filter(|s| !s.is_empty())
        && subject_long(s).ok_or(())? != rule.subject
    {
        return Ok(false);
    }
    if let Some(id) = f.get(1).filter(|s| !s.is_empty())
        && *id != rule.id
    {
        return Ok(false);
    }
    if let Some(r) = f.get(2).filter(|s| !s.is_empty()) {
        if !RESOURCES.iter().any(|(n, _)| n == r) {
            return Err(());
        }
        if *r != rule.resource {
            return Ok(false);
        }
    }
    if let Some(a) = f.get(3).filter(|s| !s.is_empty()) {
        let act = a.split('=').next().unwrap_or("");
        if !act.is_empty() && act != rule.action {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A live jail's usage, every resource in rctl(8)'s order: a fixed, plausible figure per
/// process (a started jail has three), so `rctl -u` and the kernel query
/// ([`usage_of_jails`]) give the same numbers.
fn usage_of(j: &super::jail::SimJail) -> Vec<(&'static str, u64)> {
    let procs: u64 = if j.started { 3 } else { 0 };
    let base = u64::try_from(j.jid).unwrap_or(0);
    RESOURCES
        .iter()
        .map(|(r, _)| {
            let v: u64 = match *r {
                "cputime" => procs,
                "datasize" => procs * 1_130_496,
                "stacksize" => procs * 131_072,
                "memoryuse" => procs * (9_420_800 + base * 4096),
                "vmemoryuse" => procs * 13_930_496,
                "maxproc" => procs,
                "openfiles" => procs * 58,
                "nthr" => procs,
                "wallclock" => procs * 60,
                _ => 0,
            };
            (*r, v)
        })
        .collect()
}

/// What rctl_get_racct(2) answers for each of `names` (the FreeBSD host reads it through the
/// `rctl` crate, one system call per jail): the jails' usage, leaving out those not alive.
/// Without RACCT the call fails with ENOSYS (sys/kern/kern_rctl.c returns it when
/// `racct_enable` is off or RACCT is not compiled in); inside a jail, EPERM.
pub fn usage_of_jails(
    st: &super::SimState,
    names: &[String],
) -> Result<jailctl_host::platform::Usages, jailctl_host::platform::PlatformError> {
    let refused = |message: &str| jailctl_host::platform::PlatformError::Kernel {
        what: "read jails' resource usage (rctl_get_racct(2))".into(),
        source: message.into(),
    };
    if st.sysctl.get("kern.racct.enable") != Some("1") {
        return Err(refused(
            "Function not implemented (ENOSYS): RACCT is not enabled",
        ));
    }
    if st.sysctl.get("security.jail.jailed") == Some("1") {
        return Err(refused("Operation not permitted (EPERM): inside a jail"));
    }
    let mut all = jailctl_host::platform::Usages::new();
    for n in names {
        if let Some(j) = super::jail::find_live(&st.jail, n) {
            let u = usage_of(j)
                .into_iter()
                .map(|(r, v)| (r.to_string(), v))
                .collect();
            all.insert(n.clone(), u);
        }
    }
    Ok(all)
}

const USAGE: &str = "usage: rctl [ -h ] [-a rule | -l filter | -r filter | -u filter | filter]\n";

pub fn run(ctx: &mut Ctx<'_>, args: &[String]) -> Output {
    let mut mode: Option<char> = None;
    let mut human = false;
    let mut rest = vec![];
    for a in args {
        match a.as_str() {
            "-h" => human = true,
            "-n" => {}
            "-a" | "-r" | "-u" | "-l" => {
                let m = a.chars().nth(1).unwrap();
                if mode.is_some_and(|x| x != m) {
                    return Output::fail(1, USAGE);
                }
                mode = Some(m);
            }
            s if s.starts_with('-') && s.len() > 1 => return Output::fail(1, USAGE),
            s => rest.push(s.to_string()),
        }
    }
    if let Some(refused) = racct_refusal(ctx) {
        return refused;
    }
    match mode {
        Some('a') => add(ctx, &rest),
        Some('r') => remove(ctx, &rest),
        Some('u') => usage(ctx, &rest, human),
        Some('l') => Output::fail(
            1,
            "rctl: -l (rules applying to a process) is not modelled by the simulated host\n",
        ),
        _ => list(ctx, &rest, human),
    }
}

/// Why rctl(8) cannot run on this host: no RACCT in the kernel, RACCT disabled, or inside a
/// jail.
fn racct_refusal(ctx: &Ctx<'_>) -> Option<Output> {
    match ctx.state.sysctl.get("kern.racct.enable") {
        None => {
            return Some(Output::fail(
                1,
                "rctl: RACCT/RCTL support not present in kernel; see rctl(8) for details\n",
            ));
        }
        Some("0") => {
            return Some(Output::fail(
                1,
                "rctl: RACCT/RCTL present, but disabled; enable using kern.racct.enable=1 tunable\n",
            ));
        }
        _ => {}
    }
    if ctx.state.sysctl.get("security.jail.jailed") == Some("1") {
        return Some(Output::fail(
            1,
            "rctl: RACCT/RCTL not available inside a jail\n",
        ));
    }
    None
}

/// `rctl -a RULE...`: each rule added, or its amount replaced when a rule with the same
/// subject, resource, action and period exists; a refused rule is reported and the rest
/// still added.
fn add(ctx: &mut Ctx<'_>, rest: &[String]) -> Output {
    let mut out = Output::ok("");
    let mut failed = 0;
    if rest.is_empty() {
        return Output::fail(1, USAGE);
    }
    for r in rest {
        match parse_rule(r) {
            Ok(rule) => {
                let st = &mut ctx.state.rctl.rules;
                if let Some(old) = st.find_mut(|x| {
                    x.subject == rule.subject
                        && x.id == rule.id
                        && x.resource == rule.resource
                        && x.action == rule.action
                        && x.per == rule.per
                }) {
                    old.amount = rule.amount;
                } else {
                    st.push(rule);
                }
            }
            Err(Refusal::Malformed(m)) => {
                out.stderr += &format!("rctl: {m}\n");
                failed += 1;
            }
            Err(Refusal::Errno(e)) => {
                out.stderr += &format!("rctl: failed to add rule '{r}': {e}\n");
                failed += 1;
            }
        }
    }
    out.status = failed;
    out
}

/// `rctl -r FILTER...`: the rules each filter matches removed; a filter that is malformed or
/// matches nothing is reported.
fn remove(ctx: &mut Ctx<'_>, rest: &[String]) -> Output {
    let mut out = Output::ok("");
    let mut failed = 0;
    if rest.is_empty() {
        return Output::fail(1, USAGE);
    }
    for f in rest {
        let before = ctx.state.rctl.rules.len();
        let mut bad = false;
        ctx.state.rctl.rules.retain(|r| match matches(f, r) {
            Ok(m) => !m,
            Err(()) => {
                bad = true;
                true
            }
        });
        if bad {
            out.stderr += &format!("rctl: failed to remove rule '{f}': Invalid argument\n");
            failed += 1;
        } else if ctx.state.rctl.rules.len() == before {
            out.stderr += &format!("rctl: failed to remove rule '{f}': No such process\n");
            failed += 1;
        }
    }
    out.status = failed;
    out
}

/// `rctl -u jail:NAME`: the resource usage of one live jail.
fn usage(ctx: &Ctx<'_>, rest: &[String], human: bool) -> Output {
    let mut out = Output::ok("");
    if rest.len() != 1 {
        return Output::fail(1, USAGE);
    }
    let f = &rest[0];
    let p: Vec<&str> = f.split(':').collect();
    let jail = match p.as_slice() {
        [s, id] | [s, id, ..] if subject_long(s) == Some("jail") && !id.is_empty() => {
            super::jail::find_live(&ctx.state.jail, id)
        }
        _ => None,
    };
    let Some(j) = jail else {
        return Output::fail(
            1,
            format!("rctl: failed to get resource utilization for '{f}': No such process\n"),
        );
    };
    for (r, v) in usage_of(j) {
        let v = if human { humanize(v) } else { v.to_string() };
        out.stdout += &format!("{r}={v}\n");
    }
    out
}

/// `rctl [FILTER]`: the rules the filter (all by default) matches.
fn list(ctx: &Ctx<'_>, rest: &[String], human: bool) -> Output {
    let mut out = Output::ok("");
    if rest.len() > 1 {
        return Output::fail(1, USAGE);
    }
    let f = rest.first().cloned().unwrap_or(":".into());
    for r in &ctx.state.rctl.rules {
        match matches(&f, r) {
            Ok(true) => out.stdout += &format!("{}\n", r.render(human)),
            Ok(false) => {}
            Err(()) => {
                return Output::fail(
                    1,
                    format!("rctl: failed to get rules for '{f}': Invalid argument\n"),
                );
            }
        }
    }
    out
}
