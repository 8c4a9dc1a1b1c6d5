//! Output directories you can trust, through the real binary: written whole, listed in a
//! manifest that readers check, never mixed with an earlier run or with files cascade
//! did not write; shards that say what they are; columns that are defined.

use std::path::Path;

use crate::cli::bad_input::fails_with;
use crate::cli::{cascade, read, small_experiment, temp_dir, walk};

fn ok(args: &[&str]) -> (String, String) {
    let o = cascade(args);
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    );
    assert!(o.status.success(), "{args:?}: {err}");
    (out, err)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `cascade run EXP --out OUT`, one simulated minute, no charts, then `extra`.
fn run_minute(exp: &Path, out: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec![
        "run",
        s(exp),
        "--out",
        s(out),
        "--quiet",
        "--no-charts",
        "--duration",
        "1m",
    ];
    args.extend(extra);
    ok(&args)
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(&dir.join("manifest.json"))).unwrap()
}

#[test]
fn the_manifest_lists_every_file_with_its_size_and_hash() {
    let dir = temp_dir("listed");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    ok(&[
        "run",
        s(&exp),
        "--out",
        s(&out),
        "--quiet",
        "--replications",
        "1",
    ]);
    let m = manifest(&out);
    let listed: Vec<(String, u64, String)> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["bytes"].as_u64().unwrap(),
                f["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut on_disk: Vec<String> = walk(&out)
        .iter()
        .map(|p| p.strip_prefix(&out).unwrap().to_string_lossy().into_owned())
        .filter(|p| p != "manifest.json")
        .collect();
    on_disk.sort();
    let names: Vec<&String> = listed.iter().map(|f| &f.0).collect();
    assert_eq!(names, on_disk.iter().collect::<Vec<_>>());
    for (path, bytes, sha) in &listed {
        let data = read(&out.join(path));
        assert_eq!(data.len() as u64, *bytes, "{path}");
        assert_eq!(
            &cascade::experiment::output::sha256::hex(&data),
            sha,
            "{path}"
        );
    }
    assert!(
        names.iter().any(|n| n.starts_with("charts/")),
        "charts are listed"
    );
    let staging: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".cascade"))
        .collect();
    assert!(staging.is_empty(), "no staging directory left behind");
}

#[test]
fn a_directory_cascade_did_not_write_is_refused_unless_forced_and_its_files_kept() {
    let dir = temp_dir("foreign");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::write(out.join("runs.csv"), "somebody else's").unwrap();
    fails_with(
        &["run", s(&exp), "--out", s(&out), "--quiet", "--no-charts"],
        "did not write",
    );
    assert_eq!(read(&out.join("runs.csv")), b"somebody else's");
    ok(&[
        "run",
        s(&exp),
        "--out",
        s(&out),
        "--quiet",
        "--no-charts",
        "--replications",
        "1",
        "--force",
    ]);
    assert_eq!(
        read(&out.join("notes.txt")),
        b"mine",
        "--force keeps other files"
    );
    assert!(
        read(&out.join("runs.csv")).starts_with(b"job,"),
        "cascade's own file replaced"
    );
    // Written once by cascade, the directory is its own: a rerun needs no --force, and
    // the kept file is still not cascade's.
    fails_with(
        &["run", s(&exp), "--out", s(&out), "--quiet", "--no-charts"],
        "notes.txt",
    );
}

#[test]
fn a_rerun_leaves_no_file_of_the_earlier_run() {
    let dir = temp_dir("stale");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    let args = |e: &Path| {
        vec![
            "run".to_string(),
            s(e).to_string(),
            "--out".into(),
            s(&out).to_string(),
            "--quiet".into(),
            "--replications".into(),
            "1".into(),
            "--duration".into(),
            "1m".into(),
        ]
    };
    let run = |e: &Path| {
        let a = args(e);
        ok(&a.iter().map(String::as_str).collect::<Vec<_>>());
    };
    run(&exp);
    assert!(
        out.join("charts/timeseries_short-timeout_max_attempts_1.png")
            .exists()
    );
    let renamed = dir.join("renamed.toml");
    let text = std::fs::read_to_string(&exp).unwrap();
    std::fs::write(&renamed, text.replace("short-timeout", "tight")).unwrap();
    run(&renamed);
    let names: Vec<String> = walk(&out)
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains("short-timeout")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.contains("timeseries_tight")),
        "{names:?}"
    );
}

#[test]
fn plot_and_merge_refuse_a_truncated_changed_or_unfinished_directory() {
    let dir = temp_dir("verify");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    ok(&[
        "run",
        s(&exp),
        "--out",
        s(&out),
        "--quiet",
        "--replications",
        "1",
    ]);
    ok(&["plot", s(&out)]);
    let ts = out.join("timeseries.csv");
    let whole = read(&ts);
    std::fs::write(&ts, &whole[..whole.len() / 2]).unwrap();
    fails_with(&["plot", s(&out)], "timeseries.csv");
    fails_with(&["plot", s(&out)], "truncated");
    let mut changed = whole.clone();
    let at = changed.len() - 3;
    changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&ts, &changed).unwrap();
    fails_with(&["plot", s(&out)], "differs");
    std::fs::write(&ts, &whole).unwrap();
    ok(&["plot", s(&out)]);
    std::fs::remove_file(out.join("manifest.json")).unwrap();
    fails_with(&["plot", s(&out)], "manifest.json");
    fails_with(
        &["merge", "--out", s(&dir.join("m")), s(&out)],
        "manifest.json",
    );
}

#[test]
fn shards_say_what_they_are_and_an_empty_shard_warns() {
    let dir = temp_dir("shards");
    let exp = small_experiment(&dir);
    let one = dir.join("s1");
    let (stdout, _) = run_minute(&exp, &one, &["--shard", "1/3"]);
    assert!(
        stdout.starts_with("shard 1/3: 3 of 8 jobs"),
        "table header: {stdout}"
    );
    let m = manifest(&one);
    assert_eq!(m["shard"], "1/3");
    assert_eq!(m["shard_jobs"], 3);
    let empty = dir.join("s9");
    let (stdout, stderr) = run_minute(&exp, &empty, &["--shard", "9/9"]);
    assert!(stderr.contains("warning: shard 9/9 holds none"), "{stderr}");
    assert!(stdout.starts_with("shard 9/9: 0 of 8 jobs"), "{stdout}");
}

#[test]
fn set_values_and_limits_are_recorded_in_the_manifest() {
    let dir = temp_dir("set");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    run_minute(
        &exp,
        &out,
        &[
            "--set",
            "services.order.workers=150",
            "--max-in-flight",
            "500000",
        ],
    );
    let m = manifest(&out);
    assert_eq!(m["config"]["set"]["services.order.workers"], 150);
    assert_eq!(m["config"]["limits"]["max_in_flight"], 500000);
    assert_eq!(m["limits"]["max_in_flight"], 500000);
}

#[test]
fn every_column_written_is_defined_by_explain() {
    let dir = temp_dir("explain");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    run_minute(&exp, &out, &[]);
    let (defs, _) = ok(&["explain"]);
    let defined = |file: &str, name: &str| {
        defs.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some(file) && l.contains(name)
        })
    };
    for file in ["runs.csv", "summary.csv", "timeseries.csv"] {
        let mut r = csv::Reader::from_path(out.join(file)).unwrap();
        for h in r.headers().unwrap().iter() {
            let h = if h.starts_with("services.") {
                "<swept path>"
            } else {
                h
            };
            assert!(defined(file, h), "{file}: column {h} is not defined");
        }
    }
    for file in ["summary.csv", "timeseries.csv"] {
        let mut r = csv::Reader::from_path(out.join(file)).unwrap();
        let m = r
            .headers()
            .unwrap()
            .iter()
            .position(|h| h == "metric")
            .unwrap();
        for rec in r.records() {
            let name = rec.unwrap()[m].to_string();
            let file = if file == "summary.csv" && name != "recovered_share" {
                "runs.csv"
            } else {
                file
            };
            assert!(defined(file, &name), "{file}: metric {name} is not defined");
        }
    }
    let raw = read(&out.join("timeseries.csv"));
    assert!(raw.is_ascii(), "timeseries.csv is ASCII");
    assert!(String::from_utf8(raw).unwrap().contains(",gateway->order,"));
}

#[test]
fn a_model_file_runs_directly_and_a_short_duration_clips_its_faults() {
    let dir = temp_dir("model");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    let (_, stderr) = ok(&[
        "run",
        s(&dir.join("model.toml")),
        "--out",
        s(&out),
        "--quiet",
        "--no-charts",
        "--duration",
        "30s",
        "--replications",
        "1",
    ]);
    assert!(
        stderr.contains("is a model, run as one variant"),
        "{stderr}"
    );
    assert!(stderr.contains("faults are cut"), "{stderr}");
    let m = manifest(&out);
    assert_eq!(m["variants"][0], "baseline");
    assert_eq!(
        m["fault_windows"].as_array().unwrap().len(),
        0,
        "the 40 s fault is left out"
    );
    let out2 = dir.join("out2");
    let (_, stderr) = ok(&[
        "run",
        s(&exp),
        "--out",
        s(&out2),
        "--quiet",
        "--no-charts",
        "--duration",
        "50s",
        "--replications",
        "1",
    ]);
    assert!(stderr.contains("faults are cut at 50s"), "{stderr}");
    assert_eq!(manifest(&out2)["fault_windows"][0][1], 50.0);
}

#[test]
fn absurd_inputs_are_refused_before_anything_runs() {
    let dir = temp_dir("absurd");
    let exp = small_experiment(&dir);
    fails_with(&["check", "/dev/zero"], "not a regular file");
    fails_with(&["check", s(&dir)], "not a regular file");
    let big = dir.join("big.toml");
    std::fs::write(&big, vec![b'#'; 5 << 20]).unwrap();
    fails_with(&["check", s(&big)], "larger than 4 MiB");
    for cmd in ["run", "check"] {
        let huge = dir.join("reps.toml");
        let text = std::fs::read_to_string(&exp).unwrap();
        std::fs::write(
            &huge,
            text.replace("replications = 2", "replications = 1000000000"),
        )
        .unwrap();
        fails_with(&[cmd, s(&huge)], "jobs");
    }
    let model = std::fs::read_to_string(dir.join("model.toml")).unwrap();
    let rate = dir.join("rate.toml");
    std::fs::write(&rate, model.replace("rate = 300.0", "rate = 1e12")).unwrap();
    fails_with(&["run", s(&rate), "--out", s(&dir.join("o"))], "arrivals");
    let clients = dir.join("clients.toml");
    std::fs::write(
        &clients,
        model.replace(
            "arrivals = { poisson = { rate = 300.0 } }",
            "arrivals = { clients = { count = 1000000000, think = \"1s\" } }",
        ),
    )
    .unwrap();
    fails_with(&["run", s(&clients), "--out", s(&dir.join("o"))], "clients");
    fails_with(
        &[
            "run",
            s(&exp),
            "--max-in-flight",
            "10",
            "--out",
            s(&dir.join("o")),
        ],
        "max_in_flight",
    );
}

#[test]
fn a_variant_that_breaks_the_model_names_the_experiment_file() {
    let dir = temp_dir("blame");
    let exp = small_experiment(&dir);
    let text = std::fs::read_to_string(&exp).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, text.replace("\"300ms\"", "\"300 ms\"")).unwrap();
    let o = cascade(&["check", s(&bad)]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.starts_with(&format!(
            "error: {}: variants[1] (\"short-timeout\").set",
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("model.toml invalid"), "{err}");
    let typo = dir.join("typo.toml");
    std::fs::write(&typo, text.replace("model.toml", "typo-model.toml")).unwrap();
    let model = std::fs::read_to_string(dir.join("model.toml")).unwrap();
    std::fs::write(
        dir.join("typo-model.toml"),
        model.replace("order.place", "order.plaec"),
    )
    .unwrap();
    fails_with(
        &["check", s(&typo)],
        "has no endpoint \"plaec\" (its endpoints: place)",
    );
}

#[test]
fn list_aligns_its_columns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (out, _) = ok(&["list", s(&root.join("experiments"))]);
    let starts: Vec<usize> = out
        .lines()
        .map(|l| {
            let path_end = l.find(".toml").unwrap() + 5;
            path_end + l[path_end..].find(|c: char| c != ' ').unwrap()
        })
        .collect();
    assert!(starts.windows(2).all(|w| w[0] == w[1]), "{out}");
}

#[test]
fn its_own_stderr_redirected_into_the_output_directory_is_not_a_foreign_file() {
    // `cascade run x --out d 2>d/err.log`: the log is carried over, nothing is refused.
    let dir = temp_dir("own-stderr");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let log = std::fs::File::create(out.join("err.log")).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args([
            "run",
            s(&exp),
            "--out",
            s(&out),
            "--no-charts",
            "--replications",
            "1",
        ])
        .stderr(log)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", read_text(&out.join("err.log")));
    assert!(out.join("err.log").exists(), "carried over");
    assert!(read(&out.join("runs.csv")).starts_with(b"job,"));
}

fn read_text(p: &Path) -> String {
    String::from_utf8_lossy(&read(p)).into_owned()
}
