//! What every column of every output file means, in one place: `cascade explain` prints
//! it and `output/README.md` is generated from it (`cascade explain --markdown`; a test
//! keeps the two equal), so the definitions users read cannot drift from the code.

/// One column of one output file.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    /// The file (`runs.csv`, `summary.csv`, `timeseries.csv`, `tune.csv`).
    pub file: &'static str,
    /// The column, or the metric name in a long-format file.
    pub name: &'static str,
    /// What it means, units included.
    pub meaning: &'static str,
}

const fn c(file: &'static str, name: &'static str, meaning: &'static str) -> Column {
    Column {
        file,
        name,
        meaning,
    }
}

/// Every column; `runs.csv` metrics are also the `metric` values of `summary.csv`.
pub const COLUMNS: &[Column] = &[
    c(
        "runs.csv",
        "job",
        "position of the run in the plan (variant-major, then sweep point, then replication)",
    ),
    c(
        "runs.csv",
        "variant",
        "variant name, as in the experiment file",
    ),
    c(
        "runs.csv",
        "point",
        "short label of the sweep point (`timeout=500ms`), empty without a sweep; the values are in the columns named after each swept path",
    ),
    c(
        "runs.csv",
        "<swept path>",
        "one column per swept key, named by its full dotted path (`services.order.clients.payment.timeout`), holding this point's value",
    ),
    c(
        "runs.csv",
        "replication",
        "replication index; all variants of a replication see the same arrivals (common random numbers)",
    ),
    c("runs.csv", "seed", "the experiment seed"),
    c(
        "runs.csv",
        "outage_s",
        "seconds of down buckets (a bucket is down when ok answers ÷ requests sent in it is below outage.good_ratio_below); for a diverged run, up to diverged_at_s only",
    ),
    c(
        "runs.csv",
        "sustained_outage_s",
        "down time after the last fault ended, s: the metastability signal",
    ),
    c(
        "runs.csv",
        "recovery_s",
        "from the last fault's end to the end of the last down interval, s; empty when the run did not recover (the time is unknown, not zero)",
    ),
    c(
        "runs.csv",
        "recovered",
        "1 if the run's last bucket is up and it did not diverge, else 0",
    ),
    c(
        "runs.csv",
        "diverged",
        "1 if a guard stopped the run (live state above limits.max_in_flight, or more events than limits.max_events), else 0; a diverged run counts as not recovered",
    ),
    c(
        "runs.csv",
        "diverged_at_s",
        "when the guard stopped the run, s since the start; empty unless diverged",
    ),
    c(
        "runs.csv",
        "offered",
        "user requests sent (first attempts of user intents)",
    ),
    c("runs.csv", "good", "answered in full within the SLO"),
    c(
        "runs.csv",
        "late",
        "answered in full, after the SLO (not lost: the user got an answer)",
    ),
    c(
        "runs.csv",
        "degraded",
        "answered within the SLO from a fallback (default, stale cache) or without an optional part",
    ),
    c(
        "runs.csv",
        "pending",
        "answered \"we will get back to you\" within the SLO: the intent was queued for later",
    ),
    c(
        "runs.csv",
        "failed",
        "answered with an error (including rejections by a protection)",
    ),
    c(
        "runs.csv",
        "abandoned",
        "the user gave up (patience) and did not try again",
    ),
    c(
        "runs.csv",
        "unresolved",
        "still waiting for an answer when the run ended or diverged",
    ),
    c(
        "runs.csv",
        "dead_lettered",
        "intents answered pending whose replays finally gave up",
    ),
    c(
        "runs.csv",
        "outbox_pending",
        "intents still waiting in an outbox at the end (neither delivered nor dead-lettered; not lost)",
    ),
    c(
        "runs.csv",
        "failed_error",
        "failed requests by root cause, the deepest failure (these `failed_*` columns sum to `failed`): a server error at its origin (injected, refused connection, a killed instance)",
    ),
    c(
        "runs.csv",
        "failed_timeout",
        "failed because a call timed out somewhere on the path (the user's own patience counts in `abandoned` instead)",
    ),
    c(
        "runs.csv",
        "failed_client_error",
        "failed with a client error (4xx)",
    ),
    c(
        "runs.csv",
        "failed_throttled",
        "failed because a service throttled (429)",
    ),
    c(
        "runs.csv",
        "failed_queue_full",
        "failed because a service's queue was full",
    ),
    c(
        "runs.csv",
        "failed_queue_timeout",
        "failed because a request waited too long in a queue",
    ),
    c(
        "runs.csv",
        "failed_bulkhead_full",
        "failed because a bulkhead, thread pool or connection pool had no room in time",
    ),
    c(
        "runs.csv",
        "failed_circuit_open",
        "failed because a circuit breaker was open",
    ),
    c(
        "runs.csv",
        "failed_rate_limited",
        "failed because a rate limiter refused (answered 503; a 429 counts as throttled)",
    ),
    c(
        "runs.csv",
        "failed_shed",
        "failed because load shedding or a concurrency limit dropped it",
    ),
    c(
        "runs.csv",
        "failed_deadline_exceeded",
        "failed because its propagated deadline had passed",
    ),
    c(
        "runs.csv",
        "failed_no_healthy_upstream",
        "failed because no instance of a callee could take it",
    ),
    c(
        "runs.csv",
        "failed_conflict",
        "failed because an `occ_write` found the record changed since its request's `occ_read` (optimistic concurrency: another writer won)",
    ),
    c(
        "runs.csv",
        "retries_refused",
        "retries and hedges a retry budget refused, all client edges",
    ),
    c(
        "runs.csv",
        "fallbacks",
        "fallback answers served (default or stale), all client edges",
    ),
    c(
        "runs.csv",
        "outbox_delivered",
        "captured intents an outbox delivered later",
    ),
    c(
        "runs.csv",
        "lost",
        "requests with no answer: failed + abandoned + unresolved + dead_lettered; late answers are not lost (see late)",
    ),
    c(
        "runs.csv",
        "lost_revenue",
        "value × lost, per workload; late answers are not included",
    ),
    c(
        "runs.csv",
        "p50_ms",
        "median latency of all user requests, ms, from sending to the final outcome: including failed and abandoned ones (an outage shows here instead of vanishing)",
    ),
    c(
        "runs.csv",
        "p99_ms",
        "99th percentile latency of all user requests, ms, including failed and abandoned ones (users giving up at their patience show as the patience)",
    ),
    c(
        "runs.csv",
        "p50_ok_ms",
        "median latency of answered user requests only (good, late, degraded, pending), ms",
    ),
    c(
        "runs.csv",
        "p99_ok_ms",
        "99th percentile latency of answered user requests only, ms",
    ),
    c(
        "runs.csv",
        "completion_s",
        "when the last user request that succeeded (good, late, degraded or pending) got its answer, s since the start; empty when none did. For a burst whose users all succeed: the time to serve them all (the AWS backoff study's completion time)",
    ),
    c(
        "runs.csv",
        "amplification",
        "attempts on the busiest client edge per user request (27 for three layers of three attempts against a dead leaf); users' own retries not counted",
    ),
    c(
        "runs.csv",
        "wasted",
        "requests completed after their caller had given up",
    ),
    c(
        "runs.csv",
        "wasted_s",
        "worker-seconds spent after callers had given up, all services",
    ),
    c(
        "runs.csv",
        "breaker_transitions",
        "circuit-breaker state changes, all client edges",
    ),
    c(
        "runs.csv",
        "restarts",
        "instances restarted by their liveness probe, all services",
    ),
    c(
        "runs.csv",
        "ejections",
        "outlier ejections enforced, all client edges",
    ),
    c(
        "runs.csv",
        "peak_replicas",
        "the largest replica count asked for at once, summed over services (the instances written in the model when nothing autoscales)",
    ),
    c(
        "runs.csv",
        "final_replicas",
        "replicas asked for at the end of the run, summed over services",
    ),
    c("runs.csv", "events", "events simulated"),
    c(
        "runs.csv",
        "occ_writes:<resource>",
        "for each `occ` resource of the model, writes tried on it (successful or conflicting): the work done, the AWS backoff study's \"calls\"",
    ),
    c(
        "runs.csv",
        "occ_conflicts:<resource>",
        "writes on the resource that found its version changed since their read",
    ),
    c(
        "runs.csv",
        "diverged_why",
        "for a diverged run: which guard, when, and the service whose queue grew",
    ),
    c(
        "summary.csv",
        "variant, point, <swept path>",
        "the cell, as in runs.csv",
    ),
    c(
        "summary.csv",
        "metric",
        "a runs.csv metric, or recovered_share",
    ),
    c(
        "summary.csv",
        "n",
        "replications with a value (empty values, such as recovery_s of runs that did not recover, are not counted)",
    ),
    c("summary.csv", "mean", "mean over those replications"),
    c(
        "summary.csv",
        "std",
        "sample standard deviation; empty below two values",
    ),
    c(
        "summary.csv",
        "lo, hi",
        "95 % confidence interval of the mean (Student's t with n − 1 degrees of freedom), clipped to the metric's range (counts and times ≥ 0, shares in [0, 1]); empty when n < 2",
    ),
    c(
        "summary.csv",
        "recovered_share",
        "share of replications that recovered; lo, hi: its 95 % Wilson score interval, empty when n < 2",
    ),
    c(
        "timeseries.csv",
        "variant, point, <swept path>",
        "the cell, as in runs.csv",
    ),
    c("timeseries.csv", "t_s", "start of the bucket, s"),
    c(
        "timeseries.csv",
        "metric",
        "what is measured per bucket (the metrics below)",
    ),
    c(
        "timeseries.csv",
        "entity",
        "the service, client edge (`caller->callee`) or workload measured; empty for the whole system",
    ),
    c(
        "timeseries.csv",
        "mean",
        "mean over replications (a diverged run's buckets from its stop onwards are unknown and not counted)",
    ),
    c(
        "timeseries.csv",
        "lo, hi",
        "95 % confidence band of the mean, clipped to the metric's range; empty below two replications",
    ),
    c(
        "timeseries.csv",
        "offered_per_s",
        "user requests sent per second",
    ),
    c(
        "timeseries.csv",
        "ok_per_s",
        "good + degraded + pending answers per second, by completion time (entity: a workload, or empty for all)",
    ),
    c(
        "timeseries.csv",
        "good_ratio",
        "ok answers ÷ requests sent in the bucket, by sending time (entity: a workload, or empty for all)",
    ),
    c(
        "timeseries.csv",
        "down",
        "1 when the bucket is down (good_ratio below the outage threshold)",
    ),
    c(
        "timeseries.csv",
        "p99_ms",
        "worst workload's 99th percentile latency of the requests resolved in the bucket, failed and abandoned included, ms",
    ),
    c(
        "timeseries.csv",
        "p99_ok_ms",
        "the same over answered requests only, ms",
    ),
    c(
        "timeseries.csv",
        "busy",
        "busy workers of the service, all instances (time average); entity `svc#k`: of instance k alone (fleets of at most 20)",
    ),
    c(
        "timeseries.csv",
        "queue",
        "requests waiting in the service's queues (time average); entity `svc#k`: instance k's queue",
    ),
    c(
        "timeseries.csv",
        "arrivals_per_s",
        "requests reaching the service per second (health checks and probes included); entity `svc#k`: instance k",
    ),
    c(
        "timeseries.csv",
        "replicas",
        "instances the fleet is asked to run (the autoscaler sets it; time average); fleets only",
    ),
    c(
        "timeseries.csv",
        "ready",
        "instances in the endpoints: running, passing readiness, not terminating (time average); fleets only",
    ),
    c(
        "timeseries.csv",
        "restarts",
        "instances restarted by their liveness probe in the bucket; fleets only",
    ),
    c(
        "timeseries.csv",
        "healthy",
        "instances the client edge's balancer may use: ready, passing its health checks, not ejected (time average)",
    ),
    c(
        "timeseries.csv",
        "ejected",
        "instances the edge's outlier detection has ejected (time average)",
    ),
    c(
        "timeseries.csv",
        "connections",
        "connections of the pool (entity: its name in `[pools]`) in use, by held steps and client edges (time average)",
    ),
    c(
        "timeseries.csv",
        "connection_waiters",
        "requests and attempts waiting for a connection of the pool (time average)",
    ),
    c(
        "timeseries.csv",
        "occ_writes_per_s",
        "writes tried on the `occ` resource (entity: its name) per second",
    ),
    c(
        "timeseries.csv",
        "occ_conflicts_per_s",
        "writes on the resource that conflicted, per second",
    ),
    c(
        "timeseries.csv",
        "attempts_per_s",
        "attempts sent on the client edge per second, retries included",
    ),
    c(
        "timeseries.csv",
        "breaker_open",
        "share of the bucket the edge's circuit breakers were open (one per caller instance, or per callee instance: open time ÷ breaker time)",
    ),
    c(
        "tune.csv",
        "rank",
        "1 for the recommendation; configurations are ranked by replications run (the furthest rung first), then feasible before not, then goal, then cost, then drawing order",
    ),
    c(
        "tune.csv",
        "config",
        "the configuration's number in drawing order (0: the start model's own values, when it is in the search space)",
    ),
    c(
        "tune.csv",
        "start",
        "true for the start model's own configuration",
    ),
    c(
        "tune.csv",
        "bracket",
        "the Hyperband bracket it was drawn in (0 for successive halving)",
    ),
    c(
        "tune.csv",
        "rung",
        "the highest rung of successive halving it reached (0-based); each rung runs more replications",
    ),
    c(
        "tune.csv",
        "replications",
        "replications it was run on (common random numbers: replication k is the same traffic for every configuration)",
    ),
    c(
        "tune.csv",
        "<searched path>",
        "one column per searched key of [tune.space], named by its full dotted path, holding this configuration's value",
    ),
    c(
        "tune.csv",
        "<goal>_mean",
        "the goal metric (a runs.csv column, e.g. lost_mean) averaged over its replications",
    ),
    c(
        "tune.csv",
        "<goal>_lo",
        "lower end of the 95 % confidence interval of that mean (Student t; empty with one replication)",
    ),
    c(
        "tune.csv",
        "<goal>_hi",
        "upper end of the 95 % confidence interval of that mean",
    ),
    c(
        "tune.csv",
        "<cost>_mean",
        "the cost metric (a runs.csv column, the tie-breaker between equal goals) averaged over its replications",
    ),
    c(
        "tune.csv",
        "feasible",
        "true when every replication met every constraint and none diverged",
    ),
    c(
        "tune.csv",
        "violations",
        "replications that broke at least one constraint or diverged",
    ),
    c(
        "tune.csv",
        "diverged",
        "replications that diverged (ended early: runaway backlog or events)",
    ),
    c(
        "tune.csv",
        "broke",
        "which constraints broke on how many replications, `;`-separated (`p99_ok_ms <= 2000: 2/3`), plus `diverged: k/n`",
    ),
];

/// Whether `col` is what `name` asks for: its name, a part of it, or (for `tune.csv`'s
/// `<goal>_mean` and the like) a runs.csv metric with that suffix (`lost_mean`).
pub fn matches(col: &Column, name: &str) -> bool {
    if col.name == name || col.name.contains(name) {
        return true;
    }
    let Some(suffix) = col
        .name
        .strip_prefix("<goal>")
        .or_else(|| col.name.strip_prefix("<cost>"))
    else {
        return false;
    };
    name.strip_suffix(suffix).is_some_and(|metric| {
        COLUMNS
            .iter()
            .any(|c| c.file == "runs.csv" && c.name == metric)
    })
}

/// `output/README.md`: the files of an output directory and every column.
pub fn markdown() -> String {
    let mut s = String::from(
        "# Output files\n\n\
         Generated by `cascade explain --markdown` from `src/experiment/columns.rs`; \
         `cascade explain NAME` prints one definition.\n\n\
         An output directory (`output/<experiment>/` by default) holds:\n\n\
         - `runs.csv`: one row per job (variant × sweep point × replication);\n\
         - `summary.csv`: per variant × point and metric, the mean over replications and \
         its interval;\n\
         - `timeseries.csv`: per variant × point, time bucket, metric and entity, the mean \
         over replications (tidy format);\n\
         - `charts/`: PNG and SVG figures drawn from those files;\n\
         - `manifest.json`, written last: the resolved configuration (including `--set` \
         values and limits), seed, crate version and command line, and every other file \
         with its size and SHA-256. `cascade plot` and `cascade merge` refuse a directory \
         whose files do not match it;\n\
         - in a shard's directory (`--shard K/N`), `timeseries.partial.csv` (exact \
         accumulators for `cascade merge`) and a manifest saying which shard it is: a \
         partial result.\n\n\
         A `cascade tune` directory holds `tune.csv` (every configuration tried, best \
         first), `tuned.toml` (the recommendation as an experiment that compares it with \
         the model as written: `cascade run` it to check the claim), `tuned.patch` (the \
         recommended tables in model TOML), its charts and `manifest.json`.\n\n\
         The directory is replaced whole when a run is complete: it never mixes two runs \
         or keeps files of an earlier one. Numbers in `runs.csv` read back exactly; \
         statistics have six decimals; an empty field means no value (NaN).\n",
    );
    for file in ["runs.csv", "summary.csv", "timeseries.csv", "tune.csv"] {
        s.push_str(&format!("\n## {file}\n\n| column | meaning |\n|---|---|\n"));
        for col in COLUMNS.iter().filter(|c| c.file == file) {
            s.push_str(&format!("| `{}` | {} |\n", col.name, col.meaning));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::results::RUN_METRICS;

    #[test]
    fn every_run_metric_is_defined() {
        for m in RUN_METRICS {
            assert!(
                COLUMNS.iter().any(|c| c.file == "runs.csv" && c.name == m),
                "{m} has no definition"
            );
        }
    }

    #[test]
    fn output_readme_is_generated_from_these_definitions() {
        let readme = include_str!("../../output/README.md");
        assert!(
            readme == markdown(),
            "output/README.md is stale: run `cargo run --release -- explain --markdown > output/README.md`"
        );
    }
}
