//! `report.html`: written by every run and by `plot`, part of the directory's manifest,
//! self-contained, escaped, and rendered by a real browser (headless Chromium) with
//! every chart region showing ink. Without Chromium the browser test fails saying what
//! to install (`scripts/test.sh` installs it as root).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cli::{cascade, read, small_experiment, temp_dir};

fn run_small(tag: &str, extra: &[&str]) -> PathBuf {
    let dir = temp_dir(tag);
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    let mut args = vec!["run", exp.to_str().unwrap(), "--quiet", "--out"];
    args.push(out.to_str().unwrap());
    args.extend_from_slice(extra);
    let o = cascade(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

fn page(out: &Path) -> String {
    String::from_utf8(read(&out.join("report.html"))).unwrap()
}

#[test]
fn a_run_writes_a_self_contained_report_listed_in_its_manifest() {
    let out = run_small("report-run", &[]);
    let html = page(&out);
    assert!(html.starts_with("<!DOCTYPE html>"));
    for banned in [
        "src=\"http",
        "href=\"http",
        "src=\"//",
        "href=\"//",
        "<link",
        "<img",
    ] {
        assert!(!html.contains(banned), "report.html holds {banned}");
    }
    // Charts inline: outage, lost, 2 × 2 sweep charts (two swept paths? one: 2), the
    // comparison, 4 time series; and the service graph.
    let charts = html.matches("<figure class=\"chart\"").count();
    let svgs = html.matches("<svg").count();
    assert!(charts >= 8, "{charts} charts inline");
    assert_eq!(
        svgs,
        charts + 1,
        "every chart inline, plus the service graph"
    );
    assert!(html.contains("class=\"graph\""));
    for service in ["gateway", "order", "payment", "processor"] {
        assert!(
            html.contains(&format!("service {service}")),
            "{service} in the graph"
        );
    }
    assert!(
        html.contains("retry 3×"),
        "edges labelled with their policy stack"
    );
    assert!(html.contains("seed</dt><dd>11"), "the manifest's seed");
    assert!(html.contains("small.toml"), "the command");
    // Rows in the experiment file's order: as-is before short-timeout, like the terminal.
    let first = html.find("as-is max_attempts=1").expect("as-is row");
    let second = html
        .find("short-timeout max_attempts=1")
        .expect("short-timeout row");
    assert!(first < second);
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&out.join("manifest.json"))).unwrap();
    let listed = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "report.html");
    assert!(
        listed,
        "report.html is listed (size and SHA-256) in manifest.json"
    );
    assert!(!out.join(".report.partial.html").exists());
}

#[test]
fn the_terminal_table_lists_variants_in_the_experiment_files_order() {
    let dir = temp_dir("report-order");
    let exp = small_experiment(&dir);
    let out = dir.join("out");
    let o = cascade(&[
        "run",
        exp.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<&str> = text
        .lines()
        .skip(1)
        .take(4)
        .map(|l| l.split("  ").next().unwrap())
        .collect();
    assert_eq!(
        rows,
        [
            "as-is max_attempts=1",
            "as-is max_attempts=3",
            "short-timeout max_attempts=1",
            "short-timeout max_attempts=3"
        ],
        "{text}"
    );
}

#[test]
fn plot_rewrites_the_report_and_the_directory_still_verifies() {
    let out = run_small("report-plot", &["--no-charts"]);
    let before = page(&out);
    assert!(
        before.contains("Charts were not drawn"),
        "--no-charts says so"
    );
    assert!(!before.contains("<figure class=\"chart\""));
    let o = cascade(&["plot", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after = page(&out);
    assert!(after.contains("<figure class=\"chart\""));
    // A second plot verifies the manifest, report.html included.
    let o = cascade(&["plot", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn names_and_descriptions_from_the_experiment_are_escaped() {
    let dir = temp_dir("report-hostile");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join("models/three_tier.toml"), dir.join("model.toml")).unwrap();
    let exp = r#"
name = "hostile"
description = "</svg><script>alert('d')</script>"
model = "model.toml"
duration = "30s"
replications = 1

[[variants]]
name = "<img src=x onerror=alert(1)>"
description = "<script>alert('v')</script>"

[[variants]]
name = "plain & simple"
"#;
    std::fs::write(dir.join("h.toml"), exp).unwrap();
    let out = dir.join("out");
    let o = cascade(&[
        "run",
        dir.join("h.toml").to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = page(&out);
    assert!(
        !html.contains("<script>alert"),
        "a description became markup"
    );
    assert!(!html.contains("<img src=x"), "a variant name became markup");
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("plain &amp; simple"));
}

/// The browser on this machine, or a failure that says how to get one.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(dir) = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|d| d.join(name).is_file())
        {
            return dir.join(name);
        }
    }
    panic!(
        "no Chromium on this machine: install it (Debian: apt-get install chromium; scripts/test.sh does so as root) — report.html is tested in a real browser"
    );
}

fn headless(browser: &Path, args: &[&str]) -> std::process::Output {
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .args(args)
        .output()
        .expect("Chromium starts")
}

const WIDTH: u32 = 1400;

/// Where each chart and the service graph sit on the page, and the page's height, as
/// the browser lays it out: a copy of the page with a probe script, dumped as DOM.
fn layout(browser: &Path, report: &Path) -> (Vec<[u32; 4]>, u32) {
    let probe = report.with_file_name("probe.html");
    let script = r#"<script>
const rects = [...document.querySelectorAll('figure.chart svg, .graph-wrap svg')].map(e => {
  const b = e.getBoundingClientRect();
  return [b.left + scrollX, b.top + scrollY, b.width, b.height].map(Math.round).join(',');
});
document.body.setAttribute('data-rects', rects.join(';'));
document.body.setAttribute('data-height', document.documentElement.scrollHeight);
</script></body>"#;
    let html = std::fs::read_to_string(report)
        .unwrap()
        .replace("</body>", script);
    std::fs::write(&probe, html).unwrap();
    let url = format!("file://{}", probe.display());
    let o = headless(
        browser,
        &[&format!("--window-size={WIDTH},1000"), "--dump-dom", &url],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dom = String::from_utf8_lossy(&o.stdout);
    let attr = |name: &str| -> String {
        let k = dom
            .find(&format!("{name}=\""))
            .unwrap_or_else(|| panic!("no {name} in the DOM"));
        let rest = &dom[k + name.len() + 2..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    let rects = attr("data-rects")
        .split(';')
        .map(|r| {
            let v: Vec<u32> = r
                .split(',')
                .map(|x| x.parse::<f64>().unwrap().max(0.0) as u32)
                .collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    (rects, attr("data-height").parse().unwrap())
}

#[test]
fn a_real_browser_renders_every_chart_without_console_errors() {
    let browser = chromium();
    let out = run_small("report-browser", &[]);
    let report = out.join("report.html");
    let (rects, height) = layout(&browser, &report);
    let charts = page(&out).matches("<figure class=\"chart\"").count();
    assert_eq!(
        rects.len(),
        charts + 1,
        "every chart and the graph laid out"
    );
    let shot = out.parent().unwrap().join("shot.png");
    let url = format!("file://{}", report.display());
    let o = headless(
        &browser,
        &[
            &format!("--window-size={WIDTH},{height}"),
            &format!("--screenshot={}", shot.display()),
            &url,
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let log = String::from_utf8_lossy(&o.stderr);
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(errors.is_empty(), "console messages: {errors:?}");

    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.line_size / info.width as usize;
    assert_eq!(
        (info.width, info.height),
        (WIDTH, height),
        "a full-page screenshot"
    );
    for (i, &[x, y, w, h]) in rects.iter().enumerate() {
        assert!(w > 200 && h > 100, "region {i} is {w}×{h}");
        assert!(
            y + h <= info.height && x + w <= info.width,
            "region {i} off the page"
        );
        let (mut ink, mut total) = (0u64, 0u64);
        for py in (y + 4..y + h - 4).step_by(2) {
            for px in (x + 4..x + w - 4).step_by(2) {
                let k = py as usize * info.line_size + px as usize * channels;
                total += 1;
                if buf[k..k + 3].iter().any(|c| *c < 200) {
                    ink += 1;
                }
            }
        }
        let share = ink as f64 / total as f64;
        assert!(
            share > 0.005,
            "region {i} at ({x}, {y}) {w}×{h} is blank in the screenshot ({:.3} % ink; {})",
            share * 100.0,
            shot.display()
        );
    }
}

mod backoff {
    use super::*;

    #[test]
    fn draws_the_backoffs_of_an_experiment_as_png_and_svg() {
        let dir = temp_dir("backoff-exp");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let exp = root.join("experiments/black_friday_jitter.toml");
        let out = dir.join("b");
        let o = cascade(&[
            "backoff",
            exp.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(
            text.contains("full-jitter — payment→processor: full_jitter"),
            "{text}"
        );
        assert!(
            !text.contains("no-retry — payment"),
            "one attempt has no backoff: {text}"
        );
        for f in ["backoff_delays", "backoff_arrivals"] {
            let png = read(&out.join(format!("{f}.png")));
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f}");
            let svg = String::from_utf8(read(&out.join(format!("{f}.svg")))).unwrap();
            assert!(svg.contains("decorrelated_jitter_v2"), "{f}");
        }
    }

    #[test]
    fn without_a_file_draws_the_eight_standard_strategies() {
        let dir = temp_dir("backoff-std");
        let out = dir.join("b");
        let o = cascade(&["backoff", "--out", out.to_str().unwrap(), "--retries", "3"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            text.lines().filter(|l| l.ends_with("(3 retries)")).count(),
            8,
            "{text}"
        );
    }

    #[test]
    fn a_model_that_never_retries_is_a_one_line_error() {
        let dir = temp_dir("backoff-none");
        let model = "[services.a]\nworkers = 1\n[services.a.endpoints.x]\nsteps = [{ work = { constant = \"1ms\" } }]\n\n[[workloads]]\nname = \"u\"\ntarget = \"a.x\"\narrivals = { poisson = { rate = 1.0 } }\npatience = \"1s\"\nslo = \"1s\"\n";
        std::fs::write(dir.join("m.toml"), model).unwrap();
        let o = cascade(&[
            "backoff",
            dir.join("m.toml").to_str().unwrap(),
            "--out",
            dir.join("b").to_str().unwrap(),
        ]);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("m.toml: no client edge or workload retries"),
            "{err}"
        );
        let o = cascade(&["backoff", "--clients", "0"]);
        assert_eq!(o.status.code(), Some(2));
    }

    #[test]
    fn the_report_of_an_experiment_with_retries_shows_its_backoffs() {
        let out = run_small("backoff-report", &[]);
        let html = page(&out);
        assert!(html.contains("id=\"chart-backoff_delays\""));
        assert!(html.contains("id=\"chart-backoff_arrivals\""));
        assert!(out.join("charts/backoff_delays.png").is_file());
    }
}
