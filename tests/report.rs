//! `spreadbench report` end to end: the HTML and SVG outputs for a side-by-side run, a soak
//! and a diff of two runs are well-formed (every SVG parses as XML, one per plot, with its
//! title and axis labels), self-contained, and a results directory with a missing or corrupt
//! file is refused with exit 2 naming the file, leaving no output behind.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Two comparable side-by-side runs and a soak, made once for every test here.
struct Fixture {
    _dir: tempfile::TempDir,
    runs: [PathBuf; 2],
    soak: PathBuf,
}

fn results_dir(root: &Path, out: &str) -> PathBuf {
    std::fs::read_dir(root.join(out))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let t = tmp();
        let run = |out: &str| {
            ok(
                t.path(),
                &[
                    "run",
                    "-w",
                    "chain-64",
                    "--spreads",
                    "1500",
                    "--warmup",
                    "100",
                    "--threads",
                    "1",
                    "--prefetch-distance",
                    "8,0",
                    "--counters",
                    "off",
                    "--quiet",
                    "--out",
                    out,
                ],
            );
            results_dir(t.path(), out)
        };
        let runs = [run("a"), run("b")];
        ok(
            t.path(),
            &[
                "soak",
                // Verdicts are not what this tests; a loaded machine stalls tiny spreads.
                "--max-stall-ratio",
                "1e9",
                "--max-p99-drift",
                "1e9",
                "-w",
                "chain-64",
                "--spreads",
                "4000",
                "--interval-spreads",
                "500",
                "--warmup",
                "100",
                "--counters",
                "off",
                "--quiet",
                "--out",
                "s",
            ],
        );
        let soak = results_dir(t.path(), "s");
        Fixture {
            _dir: t,
            runs,
            soak,
        }
    })
}

/// Each inline `<svg>…</svg>` of a page.
fn svgs(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<svg") {
        let end = rest[i..].find("</svg>").expect("unclosed svg") + i + "</svg>".len();
        out.push(&rest[i..end]);
        rest = &rest[end..];
    }
    out
}

/// Parses as XML; returns the text of its `<text>` elements.
fn svg_texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}"));
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

/// (title starts with, axis labels) of each plot, in the order the report draws them.
const PLOTS: &[(&str, &[&str])] = &[
    (
        "Latency by percentile",
        &["percentile", "latency (µs)", "90%", "99%"],
    ),
    ("Settings side by side", &["latency (µs)", "#1", "#2"]),
    ("Settings side by side", &["latency (µs)", "#1", "#2"]),
    (
        "Soak latency per interval",
        &["seconds into the measured run", "latency (µs, log scale)"],
    ),
    ("Soak RSS", &["seconds into the measured run", "RSS (MB)"]),
    ("Diff:", &["ratio new / base", "metric"]),
];

fn check_plots(svgs: &[String]) {
    assert_eq!(svgs.len(), PLOTS.len(), "one SVG per plot");
    for (svg, (title, labels)) in svgs.iter().zip(PLOTS) {
        let texts = svg_texts(svg);
        assert!(
            texts.iter().any(|t| t.starts_with(title)),
            "{title}: {texts:?}"
        );
        for l in *labels {
            assert!(
                texts.iter().any(|t| t == l),
                "{title}: no {l:?} in {texts:?}"
            );
        }
    }
}

fn report_args<'a>(f: &'a Fixture, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["report"];
    a.extend(f.runs.iter().map(|p| p.to_str().unwrap()));
    a.push(f.soak.to_str().unwrap());
    a.extend_from_slice(extra);
    a
}

#[test]
fn html_report_of_runs_a_soak_and_a_diff_is_well_formed_and_self_contained() {
    let f = fixture();
    let t = tmp();
    let out = sb(t.path())
        .args(report_args(f, &["--out", "r.html"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("report: read 3 input(s)"));
    let html = std::fs::read_to_string(t.path().join("r.html")).unwrap();
    let plots: Vec<String> = svgs(&html).into_iter().map(String::from).collect();
    check_plots(&plots);
    // No script, nothing fetched: the only URL is the SVG namespace.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=") && !html.contains("href="));
    assert!(html
        .replace("http://www.w3.org/2000/svg", "")
        .find("http")
        .is_none());
    // The diff's table and verdict, as `diff` judges it.
    assert!(html.contains("<th>99% interval</th>") && html.contains("Verdict: "));
    // The soak's verdicts.
    assert!(html.contains("<td>drift</td>") && html.contains("<td>leak</td>"));
    assert_eq!(entries(t.path()), ["r.html"]);
}

#[test]
fn svg_format_writes_each_plot_as_its_own_file() {
    let f = fixture();
    let t = tmp();
    ok(
        t.path(),
        &report_args(f, &["--format", "svg", "--out", "plots", "--quiet"]),
    );
    assert_eq!(
        entries(&t.path().join("plots")),
        [
            "diff.svg",
            "settings-1.svg",
            "settings-2.svg",
            "soak-latency-3.svg",
            "soak-rss-3.svg",
            "spectrum.svg"
        ]
    );
    let order = [
        "spectrum",
        "settings-1",
        "settings-2",
        "soak-latency-3",
        "soak-rss-3",
        "diff",
    ];
    let plots: Vec<String> = order
        .iter()
        .map(|n| std::fs::read_to_string(t.path().join("plots").join(format!("{n}.svg"))).unwrap())
        .collect();
    check_plots(&plots);
}

/// Copies a results directory so a test can damage its copy.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn refused(dir: &Path, input: &Path, expect: &str) {
    let out = sb(dir)
        .args(["report", input.to_str().unwrap(), "--out", "r.html"])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(expect), "expected {expect:?} in {err}");
    assert!(!dir.join("r.html").exists(), "an output was left behind");
}

#[test]
fn missing_or_corrupt_files_exit_2_naming_the_file() {
    let f = fixture();
    let t = tmp();
    let d = t.path();
    refused(d, &d.join("nope"), "nope: no such results directory");

    std::fs::create_dir(d.join("empty")).unwrap();
    refused(d, &d.join("empty"), "empty/snapshot.json");

    copy_dir(&f.runs[0], &d.join("trunc"));
    let snap = std::fs::read_to_string(d.join("trunc/snapshot.json")).unwrap();
    std::fs::write(d.join("trunc/snapshot.json"), &snap[..snap.len() / 2]).unwrap();
    refused(d, &d.join("trunc"), "trunc/snapshot.json: truncated JSON");

    copy_dir(&f.soak, &d.join("nolog"));
    std::fs::remove_file(d.join("nolog/metrics.jsonl")).unwrap();
    refused(d, &d.join("nolog"), "nolog/metrics.jsonl");

    copy_dir(&f.soak, &d.join("badlog"));
    let log = std::fs::read_to_string(d.join("badlog/metrics.jsonl")).unwrap();
    let mut lines: Vec<&str> = log.lines().collect();
    lines[2] = "{\"interval\": 2, \"elapsed_s\": \"soon\"}";
    std::fs::write(d.join("badlog/metrics.jsonl"), lines.join("\n")).unwrap();
    refused(
        d,
        &d.join("badlog"),
        "badlog/metrics.jsonl:3: not a metrics.jsonl record",
    );
}

/// A recall run's report draws its phases (seed, spread, rank) beside the spectrum, with the
/// recall figures in the text.
#[test]
fn a_recall_run_draws_its_phases() {
    let t = tmp();
    let w = small_workload(
        "recall-report",
        3,
        "[embeddings]\ndim = 16\nclusters = 5\nnoise = 0.1\ncue_noise = 0.05\n\n\
         [recall]\nmax_candidates = 20\nmax_results = 30\nfan_effect = \"sqrt-out-degree\"\n",
    );
    std::fs::write(t.path().join("w.toml"), w).unwrap();
    ok(
        t.path(),
        &[
            "run",
            "-w",
            "w.toml",
            "--mode",
            "recall",
            "--spreads",
            "300",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--counters",
            "off",
            "--out",
            "res",
            "--quiet",
        ],
    );
    let dir = results_dir(t.path(), "res");
    ok(
        t.path(),
        &[
            "report",
            dir.to_str().unwrap(),
            "--out",
            "r.html",
            "--quiet",
        ],
    );
    let html = std::fs::read_to_string(t.path().join("r.html")).unwrap();
    let plots = svgs(&html);
    assert_eq!(plots.len(), 2, "the spectrum and the recall phases");
    let texts = svg_texts(plots[1]);
    assert!(
        texts.iter().any(|t| t.starts_with("Recall phases")),
        "{texts:?}"
    );
    for label in ["latency (µs)", "seed", "spread", "rank"] {
        assert!(
            texts.iter().any(|t| t == label),
            "no {label:?} in {texts:?}"
        );
    }
    assert!(html.contains("<td>seed</td>") && html.contains("cluster precision@10"));
}
