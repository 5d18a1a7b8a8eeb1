//! How long `config::load` takes for a large fleet: generates 1,000 jail files in a temporary
//! config dir (each extends a shipped template and sets network, limits and a mount) and
//! loads and validates them several times, printing the median and the fastest run.
//!
//! Run: `cargo bench --bench load_config`

use std::time::{Duration, Instant};

const JAILS: usize = 1000;
const RUNS: usize = 9;

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let jails = dir.path().join("jails");
    std::fs::create_dir_all(&jails).expect("jails dir");
    std::fs::write(
        dir.path().join("jailctl.toml"),
        "zfs_root = \"zroot/jailctl\"\nmount_root = \"/usr/local/jails\"\ndefault_base = \"14.3-RELEASE\"\n[defaults.root]\ncompression = \"lz4\"\n",
    )
    .expect("jailctl.toml");
    let templates = ["nginx", "postgresql", "redis", "unbound", "minimal"];
    for i in 0..JAILS {
        let dep = if i > 0 {
            format!("depends_on = [\"j{}\"]\n", i - 1)
        } else {
            String::new()
        };
        let text = format!(
            "extends = \"{t}\"\nhostname = \"j{i}.example.org\"\n{dep}cpuset = \"0-1\"\n\
             [network]\nmode = \"alias\"\ninterface = \"em0\"\nip4 = [\"10.{a}.{b}.{c}/16\"]\n\
             [limits]\nmemory = \"1G\"\nrctl = [\"vmemoryuse:deny=4G\"]\n\
             [[mounts]]\nsource = \"/srv/data/j{i}\"\ntarget = \"/data\"\nread_only = true\n",
            t = templates[i % templates.len()],
            a = i / 65536,
            b = (i / 250) % 256,
            c = i % 250 + 1,
        );
        std::fs::write(jails.join(format!("j{i}.toml")), text).expect("jail file");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let cfg = jailctl::config::load(dir.path())
            .unwrap_or_else(|e| panic!("generated config is invalid:\n{}", e.plain()));
        times.push(start.elapsed());
        assert_eq!(cfg.jails.len(), JAILS);
    }
    times.sort();
    println!(
        "load_config: {JAILS} jails, {RUNS} runs: median {:.1} ms, min {:.1} ms",
        times[RUNS / 2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
}
