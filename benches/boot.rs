//! Boot scheduler benchmark: how close `jailctl::boot::boot` gets to the best possible wall
//! time. 200 jails in 10 dependency levels, each start a fixed sleep; the wall time is compared
//! with a lower bound no scheduler can beat and with starting the jails one by one.
//!
//! Run: `cargo bench --bench boot` (options: `-- --latency-ms 20 --runs 3`).
//!
//! Lower bound, for unit jobs of length d on P slots: a jail whose longest chain of
//! dependencies has k jails cannot start before k·d, and at most P jails run at any instant,
//! so the jails whose chain has ≥ k jails need at least ceil(count/P)·d more. The bound is the
//! maximum over k of (k + ceil(count_k / P))·d. k = 0 gives the work bound ceil(N/P)·d; the
//! largest k gives the critical path. Results below the bound would mean a broken clock.

use jailctl::boot::{BootGraph, BootOptions, GraphEntry, JailDriver, boot};
use std::time::{Duration, Instant};

const JAILS: usize = 200;
const LEVELS: usize = 10;

struct Sleeper(Duration);

impl JailDriver for Sleeper {
    fn start(&self, _: &str) -> Result<(), String> {
        std::thread::sleep(self.0);
        Ok(())
    }
    fn healthy(&self, _: &str) -> Result<bool, String> {
        Ok(true)
    }
    fn stop(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
    fn force_stop(&self, _: &str) -> Result<(), String> {
        Ok(())
    }
}

/// 10 levels of 20 jails; each jail below the first depends on 1–3 jails of the level above,
/// picked by a fixed linear congruential generator so every run sees the same graph.
fn graph() -> BootGraph {
    let per = JAILS / LEVELS;
    let mut seed: u64 = 0x5eed_1a11;
    let mut next = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut entries = Vec::new();
    for l in 0..LEVELS {
        for k in 0..per {
            let mut deps = Vec::new();
            if l > 0 {
                for _ in 0..1 + next() % 3 {
                    let d = format!("j{}-{}", l - 1, next() % per);
                    if !deps.contains(&d) {
                        deps.push(d);
                    }
                }
            }
            entries.push(GraphEntry {
                name: format!("j{l}-{k}"),
                depends_on: deps,
                health: None,
            });
        }
    }
    BootGraph::new(entries)
}

/// Jobs on the longest chain ending at each jail (itself included).
fn chain_lengths(g: &BootGraph) -> Vec<usize> {
    let mut memo = vec![0usize; g.len()];
    fn depth(g: &BootGraph, i: usize, memo: &mut [usize]) -> usize {
        if memo[i] == 0 {
            let d = g.nodes()[i]
                .deps
                .iter()
                .map(|&j| depth(g, j, memo))
                .max()
                .unwrap_or(0);
            memo[i] = d + 1;
        }
        memo[i]
    }
    (0..g.len()).map(|i| depth(g, i, &mut memo)).collect()
}

fn lower_bound(chain: &[usize], p: usize, d: Duration) -> Duration {
    let longest = chain.iter().copied().max().unwrap_or(0);
    let units = (0..longest)
        .map(|k| {
            // Jails with more than k jails before them on some chain start at k·d or later.
            let count = chain.iter().filter(|&&c| c > k).count();
            k + count.div_ceil(p)
        })
        .max()
        .unwrap_or(0);
    d * units as u32
}

fn main() {
    let mut latency = Duration::from_millis(20);
    let mut runs = 3usize;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        match args[i].as_str() {
            "--latency-ms" => {
                latency = Duration::from_millis(args[i + 1].parse().expect("--latency-ms N"));
                i += 1;
            }
            "--runs" => {
                runs = args[i + 1].parse().expect("--runs N");
                i += 1;
            }
            _ => {} // cargo bench passes --bench
        }
        i += 1;
    }

    let g = graph();
    let chain = chain_lengths(&g);
    let driver = Sleeper(latency);
    let sequential = latency * JAILS as u32;
    println!(
        "boot: {JAILS} jails, {LEVELS} levels, {} edges, start latency {} ms, best of {runs} runs",
        g.nodes().iter().map(|n| n.deps.len()).sum::<usize>(),
        latency.as_millis()
    );
    println!(
        "{:>11} {:>10} {:>12} {:>9} {:>14}",
        "parallelism", "wall ms", "bound ms", "wall/bound", "seq/wall"
    );
    let mut worst: f64 = 0.0;
    for p in [2usize, 4, 8, 16, 32] {
        let bound = lower_bound(&chain, p, latency);
        let best = (0..runs)
            .map(|_| {
                let t0 = Instant::now();
                let report = boot(&g, &driver, &BootOptions { parallelism: p });
                let wall = t0.elapsed();
                assert!(report.ok(), "{report}");
                wall
            })
            .min()
            .unwrap();
        let ratio = best.as_secs_f64() / bound.as_secs_f64();
        worst = worst.max(ratio);
        println!(
            "{p:>11} {:>10.1} {:>12.1} {:>9.3}x {:>13.1}x",
            best.as_secs_f64() * 1e3,
            bound.as_secs_f64() * 1e3,
            ratio,
            sequential.as_secs_f64() / best.as_secs_f64()
        );
    }
    println!(
        "sequential (one at a time): {:.0} ms; worst wall/bound {worst:.3}x (target <= 1.10x)",
        sequential.as_secs_f64() * 1e3
    );
}
