//! `spreadbench report` of a `predict` results directory: the predictor section (predicted
//! against observed and the error distribution, for whole requests and for hops, drawn from
//! `residuals.csv`; the snapshot's accuracy figures beside the noise ceiling), its SVG files,
//! and a missing or corrupt `residuals.csv` refused with exit 2 naming the file and line.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One small `predict` run, made once for every test here.
struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    snapshot: Value,
    /// Whole-request and hop rows of its residuals.csv.
    request_rows: usize,
    hop_rows: usize,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let t = tmp();
        ok(
            t.path(),
            &[
                "predict", "-w", "chain-64", "--train", "200", "--test", "50", "--repeat", "2",
                "--quiet", "--out", "p",
            ],
        );
        let dir = std::fs::read_dir(t.path().join("p"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.is_dir())
            .unwrap();
        let snapshot: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("snapshot.json")).unwrap())
                .unwrap();
        let csv = std::fs::read_to_string(dir.join("residuals.csv")).unwrap();
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        let request_rows = rows
            .iter()
            .filter(|r| r.split(',').nth(1) == Some(""))
            .count();
        Fixture {
            hop_rows: rows.len() - request_rows,
            request_rows,
            snapshot,
            dir,
            _dir: t,
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

/// (file stem, title, axis labels) of each predictor plot, in the order the report draws them.
const PLOTS: &[(&str, &str, &[&str])] = &[
    (
        "predictor-requests-1-scatter",
        "Predictor (requests): predicted against observed",
        &["observed (µs)", "predicted (µs)"],
    ),
    (
        "predictor-requests-1-errors",
        "Predictor (requests): relative error distribution",
        &["relative error", "predictions", "0%", "20%"],
    ),
    (
        "predictor-hops-1-scatter",
        "Predictor (hops): predicted against observed",
        &["observed (µs)", "predicted (µs)"],
    ),
    (
        "predictor-hops-1-errors",
        "Predictor (hops): relative error distribution",
        &["relative error", "predictions", "0%", "20%"],
    ),
];

/// Titles and axis labels; each scatter draws one point per residuals.csv row of its kind.
fn check_plots(f: &Fixture, plots: &[String]) {
    assert_eq!(plots.len(), PLOTS.len());
    for (svg, (_, title, labels)) in plots.iter().zip(PLOTS) {
        let texts = svg_texts(svg);
        assert!(texts.iter().any(|t| t == title), "{title}: {texts:?}");
        for l in *labels {
            assert!(
                texts.iter().any(|t| t == l),
                "{title}: no {l:?} in {texts:?}"
            );
        }
    }
    assert_eq!(plots[0].matches("<circle").count(), f.request_rows);
    assert_eq!(plots[2].matches("<circle").count(), f.hop_rows);
}

fn pct(v: &Value, path: &str) -> String {
    format!("{:.1}%", 100.0 * f(v, path))
}

#[test]
fn a_predict_report_draws_the_predictor_section() {
    let f = fixture();
    // 50 test requests × 2 repeats; chain-64's spreads run several hops each.
    assert_eq!(f.request_rows, 100);
    assert!(f.hop_rows > 0);
    let t = tmp();
    let out = sb(t.path())
        .args(["report", f.dir.to_str().unwrap(), "--out", "r.html"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let html = std::fs::read_to_string(t.path().join("r.html")).unwrap();
    assert!(html.contains("<h2>Predictor: "), "no predictor section");
    let all: Vec<String> = svgs(&html).into_iter().map(String::from).collect();
    assert_eq!(
        all.len(),
        1 + PLOTS.len(),
        "the spectrum, then the predictor's"
    );
    check_plots(f, &all[1..]);
    // The snapshot's figures, row by row: requests, then their noise ceiling.
    let s = &f.snapshot;
    let requests = format!(
        "<tr><td>requests</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        u(s, "/predict/request/count"),
        pct(s, "/predict/request/within_10pct"),
        pct(s, "/predict/request/within_20pct"),
        pct(s, "/predict/request/within_50pct"),
        pct(s, "/predict/request/p50_rel_err"),
        pct(s, "/predict/request/p95_rel_err"),
    );
    assert!(html.contains(&requests), "no {requests} in the page");
    let ceiling = format!(
        "<tr><td>noise ceiling: requests</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>",
        u(s, "/predict/noise_ceiling/observations"),
        pct(s, "/predict/noise_ceiling/within_10pct"),
        pct(s, "/predict/noise_ceiling/within_20pct"),
        pct(s, "/predict/noise_ceiling/within_50pct"),
    );
    assert!(html.contains(&ceiling), "no {ceiling} in the page");
    assert!(html.contains("<td>all hops</td>"));
    assert!(!html.contains("<script"));
    assert_eq!(entries(t.path()), ["r.html"]);
}

#[test]
fn svg_format_writes_the_predictor_plots() {
    let f = fixture();
    let t = tmp();
    ok(
        t.path(),
        &[
            "report",
            f.dir.to_str().unwrap(),
            "--format",
            "svg",
            "--out",
            "plots",
            "--quiet",
        ],
    );
    let mut want: Vec<String> = PLOTS.iter().map(|p| format!("{}.svg", p.0)).collect();
    want.push("spectrum.svg".into());
    want.sort();
    assert_eq!(entries(&t.path().join("plots")), want);
    let plots: Vec<String> = PLOTS
        .iter()
        .map(|p| {
            std::fs::read_to_string(t.path().join("plots").join(format!("{}.svg", p.0))).unwrap()
        })
        .collect();
    check_plots(f, &plots);
}

/// A copy of the predict directory whose residuals.csv is `residuals` (`None`: removed).
fn damaged(root: &Path, name: &str, residuals: Option<&str>) -> PathBuf {
    let to = root.join(name);
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(&fixture().dir).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    match residuals {
        Some(text) => std::fs::write(to.join("residuals.csv"), text).unwrap(),
        None => std::fs::remove_file(to.join("residuals.csv")).unwrap(),
    }
    to
}

/// Exit 2, one line on stderr with `expect`, and no report (HTML or SVG directory) written.
fn refused(dir: &Path, input: &Path, expect: &str) {
    for format in [["--out", "r.html"], ["--format", "svg"]] {
        let out = sb(dir)
            .args(["report", input.to_str().unwrap()])
            .args(format)
            .output()
            .unwrap();
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(expect), "expected {expect:?} in {err}");
        assert!(!dir.join("r.html").exists(), "a report was left behind");
        assert!(
            !dir.join("report").exists(),
            "an SVG directory was left behind"
        );
    }
}

#[test]
fn a_missing_or_corrupt_residuals_csv_exits_2_naming_the_file_and_line() {
    let t = tmp();
    let d = t.path();
    let good = std::fs::read_to_string(fixture().dir.join("residuals.csv")).unwrap();
    let mut lines: Vec<String> = good.lines().map(String::from).collect();

    let gone = damaged(d, "gone", None);
    refused(d, &gone, "gone/residuals.csv: cannot read");

    let header = damaged(
        d,
        "header",
        Some(&good.replacen("predicted_ns", "guess_ns", 1)),
    );
    refused(
        d,
        &header,
        "header/residuals.csv:1: expected the header request,hop,",
    );

    // Line 4 (the third row): its observed latency is not a number.
    let mut f: Vec<String> = lines[3].split(',').map(String::from).collect();
    f[3] = "fast".into();
    lines[3] = f.join(",");
    let nan = damaged(d, "nan", Some(&lines.join("\n")));
    refused(
        d,
        &nan,
        "nan/residuals.csv:4: observed_ns: not a number: \"fast\"",
    );

    lines[3] = "7,1,500".into();
    let short = damaged(d, "short", Some(&lines.join("\n")));
    refused(d, &short, "short/residuals.csv:4: expected 5 fields");

    let empty = damaged(d, "empty", Some(""));
    refused(d, &empty, "empty/residuals.csv: empty");

    let rows = damaged(
        d,
        "rows",
        Some("request,hop,predicted_ns,observed_ns,rel_err\n"),
    );
    refused(d, &rows, "rows/residuals.csv: no whole-request rows");
}
