//! Interrupts with real signals: a run stopped by SIGINT (Ctrl-C) or killed outright
//! leaves nothing that looks complete, keeps its finished jobs, and `--resume` ends
//! byte-identical to a run that was never stopped.
//!
//! No timing assumption: the test waits (with a generous deadline) until the run has
//! checkpointed a job, then signals it, and checks the run really was cut short.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::{cascade, read, small_experiment, temp_dir};

fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts")
}

/// Checkpointed jobs of a run writing to `out`.
fn saved(out: &Path) -> usize {
    let jobs = out
        .parent()
        .unwrap()
        .join(format!(
            ".{}.cascade",
            out.file_name().unwrap().to_string_lossy()
        ))
        .join("jobs");
    std::fs::read_dir(jobs)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".job"))
                .count()
        })
        .unwrap_or(0)
}

/// Waits until `out` has more than `n` saved jobs (or the child exits).
#[allow(clippy::disallowed_methods)] // a deadline for a wait, not a measurement
fn wait_for_more_than(child: &mut Child, out: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(300);
    while saved(out) <= n {
        assert!(Instant::now() < deadline, "no job finished in 5 minutes");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it was signalled"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .expect("kill(1) exists")
        .success();
    assert!(ok, "kill {sig}");
}

fn stderr_of(child: Child) -> (Option<i32>, String) {
    let o = child.wait_with_output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn args<'a>(exp: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "run",
        exp,
        "--out",
        out,
        "--quiet",
        "--no-charts",
        "--threads",
        "1",
        "--duration",
        "10m",
        "--replications",
        "3",
    ];
    a.extend(extra);
    a
}

#[test]
fn interrupted_and_killed_runs_resume_to_the_bytes_of_an_uninterrupted_run() {
    let dir = temp_dir("resume");
    let exp: PathBuf = small_experiment(&dir);
    let exp = exp.to_str().unwrap();
    let out = dir.join("out");
    let o = out.to_str().unwrap();

    // Ctrl-C after the first job: a message, exit 130, no output directory.
    let mut child = start(&args(exp, o, &[]));
    wait_for_more_than(&mut child, &out, 0);
    signal(&child, "-INT");
    let (code, err) = stderr_of(child);
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted after "), "{err}");
    assert!(err.contains(" of 12 jobs"), "{err}");
    assert!(!out.exists(), "nothing that looks complete");
    let after_int = saved(&out);
    assert!((1..12).contains(&after_int), "{after_int} jobs saved");

    // Resumed, then killed outright (no chance to clean up) after one more job.
    let mut child = start(&args(exp, o, &["--resume"]));
    wait_for_more_than(&mut child, &out, after_int);
    signal(&child, "-KILL");
    let _ = stderr_of(child);
    assert!(!out.exists(), "a killed run leaves no output");
    let o2 = cascade(&["plot", o]);
    assert_eq!(o2.status.code(), Some(2), "plot refuses what is not there");

    // Resumed to the end.
    let r = cascade(&args(exp, o, &["--resume"]));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{err}");
    assert!(err.contains("resuming:"), "{err}");
    let stdout = String::from_utf8_lossy(&r.stdout);
    assert!(
        stdout.contains("reused from an interrupted run"),
        "{stdout}"
    );

    // The same experiment, never interrupted, with two threads.
    let clean = dir.join("clean");
    let mut a = args(exp, clean.to_str().unwrap(), &[]);
    a[7] = "2";
    let c = cascade(&a);
    assert!(c.status.success(), "{}", String::from_utf8_lossy(&c.stderr));
    for f in ["runs.csv", "summary.csv", "timeseries.csv"] {
        assert!(
            read(&out.join(f)) == read(&clean.join(f)),
            "{f}: resumed and uninterrupted runs differ"
        );
    }

    // Checkpoints of another configuration are never reused.
    let mut child = start(&args(exp, o, &["--seed", "5"]));
    wait_for_more_than(&mut child, &out, 0);
    signal(&child, "-INT");
    let _ = stderr_of(child);
    let r = cascade(&args(exp, o, &["--resume", "--seed", "6"]));
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("different configuration"));
}
