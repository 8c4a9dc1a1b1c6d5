//! The real `cascade` binary, run as a user would, in temporary directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cascade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cascade"))
        .args(args)
        .output()
        .expect("the binary runs")
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("cascade-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A small experiment (two variants, a two-value sweep, two replications, 2 simulated
/// minutes) written next to a copy of the bundled three-tier model with a fault.
pub fn small_experiment(dir: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut model = std::fs::read_to_string(root.join("models/three_tier.toml")).unwrap();
    model.push_str(
        "\n[[faults]]\ntarget = \"processor.charge\"\nat = \"40s\"\nduration = \"30s\"\nlatency = { constant = \"3s\" }\n",
    );
    std::fs::write(dir.join("model.toml"), model).unwrap();
    let exp = r#"
name = "small"
description = "CLI test"
model = "model.toml"
duration = "2m"
replications = 2
seed = 11
bucket = "5s"

[[variants]]
name = "as-is"

[[variants]]
name = "short-timeout"
set = { "services.payment.clients.processor.timeout" = "300ms" }

[sweep]
"services.order.clients.payment.retry.max_attempts" = [1, 3]
"#;
    let path = dir.join("small.toml");
    std::fs::write(&path, exp).unwrap();
    path
}

pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn outputs_are_byte_identical_across_thread_counts_and_shards() {
    let dir = temp_dir("determinism");
    let exp = small_experiment(&dir);
    let exp = exp.to_str().unwrap();
    let out = |name: &str| dir.join(name).to_str().unwrap().to_string();
    for (name, extra) in [
        ("t1", vec!["--threads", "1"]),
        ("t2", vec!["--threads", "2"]),
        ("s1", vec!["--shard", "1/2"]),
        ("s2", vec!["--shard", "2/2"]),
    ] {
        let mut args = vec!["run", exp, "--out", &out(name), "--quiet", "--no-charts"]
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        args.extend(extra.into_iter().map(String::from));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = cascade(&args);
        assert!(
            o.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let o = cascade(&[
        "merge",
        "--out",
        &out("m"),
        &out("s1"),
        &out("s2"),
        "--no-charts",
    ]);
    assert!(
        o.status.success(),
        "merge: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    for f in ["runs.csv", "summary.csv", "timeseries.csv"] {
        let t1 = read(&dir.join("t1").join(f));
        assert_eq!(
            t1,
            read(&dir.join("t2").join(f)),
            "{f} differs between --threads 1 and 2"
        );
        assert_eq!(
            t1,
            read(&dir.join("m").join(f)),
            "merged shards differ from the whole run in {f}"
        );
    }
    let runs = String::from_utf8(read(&dir.join("t1/runs.csv"))).unwrap();
    assert_eq!(
        runs.lines().count(),
        1 + 2 * 2 * 2,
        "2 variants × 2 points × 2 replications"
    );
}

#[test]
fn a_run_writes_every_output_and_valid_charts() {
    let dir = temp_dir("outputs");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    let o = cascade(&[
        "run",
        exp.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.lines().next().unwrap().starts_with("variant"),
        "table first: {stdout}"
    );
    for f in ["runs.csv", "summary.csv", "timeseries.csv", "manifest.json"] {
        assert!(out.join(f).metadata().unwrap().len() > 0, "{f} is empty");
    }
    let mut pngs = 0;
    let mut svgs = 0;
    for entry in walk(&out) {
        match entry.extension().and_then(|e| e.to_str()) {
            Some("png") => {
                assert_eq!(
                    &read(&entry)[..8],
                    b"\x89PNG\r\n\x1a\n",
                    "{}",
                    entry.display()
                );
                pngs += 1;
            }
            Some("svg") => svgs += 1,
            _ => {}
        }
    }
    assert!(pngs >= 3 && svgs >= 3, "{pngs} PNG and {svgs} SVG charts");
    assert!(
        !walk(&out)
            .iter()
            .any(|p| p.to_string_lossy().ends_with(".tmp")),
        "no temporary files left"
    );
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

pub mod bad_input {
    use super::*;

    /// Runs `args`, expecting exit 2 and a one-line error containing `needle`.
    pub fn fails_with(args: &[&str], needle: &str) {
        let o = cascade(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with("error: ") && first.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!err.contains("panicked"));
    }

    #[test]
    fn each_bad_input_exits_2_with_a_one_line_message() {
        let dir = temp_dir("bad");
        let exp = small_experiment(&dir);
        let exp_s = exp.to_str().unwrap();
        let out = dir.join("o");
        let out_s = out.to_str().unwrap();
        fails_with(
            &["run", dir.join("nope.toml").to_str().unwrap()],
            "nope.toml",
        );
        fails_with(
            &["run", exp_s, "--replications", "0", "--out", out_s],
            "replications",
        );
        fails_with(
            &[
                "run",
                exp_s,
                "--set",
                "services.no_such_service.workers=3",
                "--out",
                out_s,
            ],
            "no_such_service",
        );
        let text = std::fs::read_to_string(&exp).unwrap();
        let write = |name: &str, body: String| {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            p.to_str().unwrap().to_string()
        };
        let missing_model = write("m.toml", text.replace("model.toml", "missing.toml"));
        fails_with(&["run", &missing_model, "--out", out_s], "missing.toml");
        let bad_path = write(
            "p.toml",
            text.replace(
                "services.payment.clients.processor.timeout",
                "services.pay.timeout",
            ),
        );
        fails_with(&["run", &bad_path, "--out", out_s], "services.pay");
        let empty_sweep = write("s.toml", text.replace("[1, 3]", "[]"));
        fails_with(&["run", &empty_sweep, "--out", out_s], "empty list");
        let zero = write(
            "z.toml",
            text.replace("replications = 2", "replications = 0"),
        );
        fails_with(&["run", &zero, "--out", out_s], "replications");
        let fine = write(
            "b.toml",
            text.replace("bucket = \"5s\"", "bucket = \"1us\""),
        );
        fails_with(&["run", &fine, "--out", out_s], "buckets");
        let short = write(
            "d.toml",
            text.replace("duration = \"2m\"", "duration = \"50s\""),
        );
        fails_with(&["run", &short, "--out", out_s], "last fault");
        std::fs::write(dir.join("a-file"), "").unwrap();
        let unwritable = dir.join("a-file").join("out");
        fails_with(
            &["run", exp_s, "--out", unwritable.to_str().unwrap()],
            "cannot write",
        );
    }

    #[test]
    fn a_typo_in_a_model_names_the_key() {
        let dir = temp_dir("typo");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let model = std::fs::read_to_string(root.join("models/three_tier.toml"))
            .unwrap()
            .replacen("workers = 200", "wrokers = 200", 1);
        let p = dir.join("typo.toml");
        std::fs::write(&p, model).unwrap();
        fails_with(&["check", p.to_str().unwrap()], "wrokers");
        std::fs::write(&p, [0xff, 0xfe, 0x00, 0x41]).unwrap();
        fails_with(&["check", p.to_str().unwrap()], "typo.toml");
        std::fs::write(&p, "[services.a]\nworkers = 1\n[services.a.endpoints.x]\nsteps = [{ call = \"nowhere.y\" }]\n").unwrap();
        fails_with(&["check", p.to_str().unwrap()], "nowhere");
    }

    #[test]
    fn check_accepts_every_bundled_model_and_experiment() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for dir in ["models", "experiments"] {
            for f in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
                let p = f.path();
                if p.extension().is_some_and(|e| e == "toml") {
                    let o = cascade(&["check", p.to_str().unwrap()]);
                    assert!(
                        o.status.success(),
                        "{}: {}",
                        p.display(),
                        String::from_utf8_lossy(&o.stderr)
                    );
                }
            }
        }
    }
}
