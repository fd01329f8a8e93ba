//! `make soak`: holds a fixed rate of mixed calls against a running `cordon serve` for a
//! long time, and reports errors, latency and the server's memory.
//!
//! Open loop: a call is started every 1/RATE s whether or not earlier ones have answered
//! (a closed loop, like wrk's, slows down when the server does and hides it). The mix is
//! mostly benign calls, which must all succeed, and some hostile ones (fuel, memory, stack,
//! output, traps, path escapes), which must all be refused with their own codes.
//!
//! ```text
//! SOAK_URL=http://127.0.0.1:PORT SOAK_TOKEN=… SOAK_PID=… [SOAK_RATE=1000] [SOAK_SECS=600] soak
//! ```
//!
//! Every minute it prints the latency of the calls answered in that minute, so the run's
//! first minute is the comparison point for its last: a server that degrades under a long
//! load shows it there.
//!
//! Exit status 0 only when no benign call failed, every hostile one got its expected code,
//! no call was dropped for being over the in-flight cap, and the server's RSS at the end is
//! less than twice (and less than 256 MiB above) what it was after the warm-up.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One kind of call in the mix: its weight, what to call, and the code it must end with
/// (`None`: success).
struct Kind {
    name: &'static str,
    weight: u32,
    tool: &'static str,
    body: &'static str,
    expect: Option<&'static str>,
}

const MIX: &[Kind] = &[
    Kind {
        name: "trivial add",
        weight: 780,
        tool: "trivial",
        body: r#"{"function":"add","arguments":{"a":2,"b":3}}"#,
        expect: None,
    },
    Kind {
        name: "text-analysis sentiment",
        weight: 150,
        tool: "text-analysis",
        body: r#"{"function":"sentiment","arguments":{"text":"a calm and pleasant day"}}"#,
        expect: None,
    },
    Kind {
        name: "fs list-dir",
        weight: 20,
        tool: "fs",
        body: r#"{"function":"list-dir","arguments":{"path":"."}}"#,
        expect: None,
    },
    Kind {
        name: "fs path escape",
        weight: 20,
        tool: "fs",
        body: r#"{"function":"read-file","arguments":{"path":"../../etc/passwd"}}"#,
        expect: Some("path_escape"),
    },
    Kind {
        name: "hostile spin",
        weight: 6,
        tool: "hostile",
        body: r#"{"function":"spin"}"#,
        expect: Some("fuel_exhausted"),
    },
    Kind {
        name: "hostile grow-memory",
        weight: 6,
        tool: "hostile",
        body: r#"{"function":"grow-memory"}"#,
        expect: Some("memory_limit"),
    },
    Kind {
        name: "hostile recurse",
        weight: 6,
        tool: "hostile",
        body: r#"{"function":"recurse","arguments":{"depth":100000000}}"#,
        expect: Some("stack_overflow"),
    },
    Kind {
        name: "hostile spew",
        weight: 6,
        tool: "hostile",
        body: r#"{"function":"spew"}"#,
        expect: Some("output_limit"),
    },
    Kind {
        name: "hostile crash",
        weight: 6,
        tool: "hostile",
        body: r#"{"function":"crash"}"#,
        expect: Some("trap"),
    },
];

/// The largest number of calls waiting for an answer; past it the server is not keeping
/// up, and further calls are counted as dropped rather than piling up in this process.
const MAX_IN_FLIGHT: usize = 4096;

#[derive(Default)]
struct Tally {
    sent: u64,
    as_expected: u64,
    wrong: BTreeMap<String, u64>,
    latencies_us: Vec<u64>,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("soak: set {name}");
        std::process::exit(2)
    })
}

fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let url = env("SOAK_URL");
    let token = env("SOAK_TOKEN");
    let pid = env("SOAK_PID");
    let rate: u64 = std::env::var("SOAK_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    // reqwest is built without a TLS provider of its own (as in cordon): ring.
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(MAX_IN_FLIGHT)
        .timeout(Duration::from_secs(30))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("soak: cannot build an HTTP client: {e}");
            std::process::exit(2)
        }
    };

    // The schedule: kind i at positions spread over each 1,000 calls.
    let total: u32 = MIX.iter().map(|k| k.weight).sum();
    let schedule: Vec<usize> = (0..total)
        .map(|slot| {
            let mut acc = 0;
            MIX.iter()
                .position(|k| {
                    acc += k.weight;
                    (slot * 7919) % total < acc
                })
                .unwrap_or(0)
        })
        .collect();

    // Warm-up: every kind once, so compilation and first instantiation are behind us.
    for kind in MIX {
        let _ = call(&client, &url, &token, kind).await;
    }
    let rss_start = rss_kib(&pid);
    println!(
        "soak: {rate} calls/s for {secs} s against {url}; server RSS after warm-up {} MiB",
        rss_start / 1024
    );

    let tallies: Arc<Mutex<Vec<Tally>>> =
        Arc::new(Mutex::new(MIX.iter().map(|_| Tally::default()).collect()));
    // Latencies of the calls answered since the last minute's report.
    let this_minute: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut dropped = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let started = Instant::now();
    let mut n = 0usize;
    let mut next_report = Duration::from_secs(60);
    while started.elapsed() < Duration::from_secs(secs) {
        ticks.tick().await;
        let k = schedule[n % schedule.len()];
        n += 1;
        if in_flight.load(std::sync::atomic::Ordering::Relaxed) >= MAX_IN_FLIGHT {
            dropped += 1;
            continue;
        }
        in_flight.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (client, url, token, task_tallies, task_in_flight, task_minute) = (
            client.clone(),
            url.clone(),
            token.clone(),
            tallies.clone(),
            in_flight.clone(),
            this_minute.clone(),
        );
        tasks.spawn(async move {
            let (tallies, in_flight, minute) = (task_tallies, task_in_flight, task_minute);
            let kind = &MIX[k];
            let begun = Instant::now();
            let outcome = call(&client, &url, &token, kind).await;
            let took = begun.elapsed().as_micros() as u64;
            in_flight.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            minute.lock().unwrap_or_else(|e| e.into_inner()).push(took);
            let mut tallies = tallies.lock().unwrap_or_else(|e| e.into_inner());
            let t = &mut tallies[k];
            t.sent += 1;
            t.latencies_us.push(took);
            if outcome.as_deref() == Some(kind.expect.unwrap_or("ok")) {
                t.as_expected += 1;
            } else {
                *t.wrong
                    .entry(outcome.unwrap_or_else(|| "no answer".into()))
                    .or_default() += 1;
            }
        });
        // Reap finished tasks as we go, so the set does not grow with the run.
        while let Some(done) = tasks.try_join_next() {
            let _ = done;
        }
        if started.elapsed() >= next_report {
            let sent: u64 = tallies
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|t| t.sent)
                .sum();
            let mut minute =
                std::mem::take(&mut *this_minute.lock().unwrap_or_else(|e| e.into_inner()));
            minute.sort_unstable();
            println!(
                "soak: {:>4} s  {sent} answered  {:.0} calls/s  this minute p50 {:.2} ms p99 {:.2} ms  RSS {} MiB  in flight {}",
                started.elapsed().as_secs(),
                sent as f64 / started.elapsed().as_secs_f64(),
                percentile(&minute, 0.5),
                percentile(&minute, 0.99),
                rss_kib(&pid) / 1024,
                in_flight.load(std::sync::atomic::Ordering::Relaxed)
            );
            next_report += Duration::from_secs(60);
        }
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let rss_end = rss_kib(&pid);

    let mut tallies = tallies.lock().unwrap_or_else(|e| e.into_inner());
    let mut failed = dropped > 0;
    let mut all: Vec<u64> = Vec::new();
    println!(
        "\n{:<26} {:>9} {:>11} {:>9} {:>9}  unexpected",
        "kind", "calls", "as expected", "p50 ms", "p99 ms"
    );
    for (kind, t) in MIX.iter().zip(tallies.iter_mut()) {
        t.latencies_us.sort_unstable();
        all.extend_from_slice(&t.latencies_us);
        let wrong: u64 = t.wrong.values().sum();
        failed |= wrong > 0;
        println!(
            "{:<26} {:>9} {:>11} {:>9.2} {:>9.2}  {}",
            kind.name,
            t.sent,
            t.as_expected,
            percentile(&t.latencies_us, 0.5),
            percentile(&t.latencies_us, 0.99),
            if t.wrong.is_empty() {
                "-".to_owned()
            } else {
                format!("{:?}", t.wrong)
            }
        );
    }
    all.sort_unstable();
    let answered: u64 = tallies.iter().map(|t| t.sent).sum();
    println!(
        "\nall: {answered} calls in {elapsed:.0} s = {:.0} calls/s; p50 {:.2} ms, p99 {:.2} ms; dropped (over {MAX_IN_FLIGHT} in flight) {dropped}",
        answered as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    );
    let grew = rss_end > 2 * rss_start || rss_end > rss_start + 256 * 1024;
    println!(
        "server RSS: {} MiB after warm-up, {} MiB at the end{}",
        rss_start / 1024,
        rss_end / 1024,
        if grew { " — grew too much" } else { "" }
    );
    failed |= grew;
    println!("soak: {}", if failed { "FAILED" } else { "passed" });
    std::process::exit(i32::from(failed));
}

/// Calls `kind` once; `Some("ok")`, `Some(error code)`, or `None` when no answer came.
async fn call(client: &reqwest::Client, url: &str, token: &str, kind: &Kind) -> Option<String> {
    let response = client
        .post(format!("{url}/v1/tools/{}/call", kind.tool))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(kind.body)
        .send()
        .await
        .ok()?;
    let ok = response.status().is_success();
    let body = response.bytes().await.ok()?;
    if ok {
        return Some("ok".into());
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v["error"]["code"].as_str().map(str::to_owned)
}
