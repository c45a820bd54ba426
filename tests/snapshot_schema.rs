//! The typed snapshot reads and writes exactly the JSON that schema 1.0.0 shipped: the
//! committed baseline and fresh snapshots of every shape load into `Snapshot` and are written
//! back with the same keys in the same order and the same values.

mod common;

use common::{ok, tmp};
use serde_json::Value;
use spreadbench::report::snapshot::{
    AllocSection, CountersSection, EventCount, LoopMode, PoolSection, SoakInterval,
};
use spreadbench::report::Snapshot;
use std::path::Path;

/// Every JSON path of `v` (values aside), in the order written.
fn paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{prefix}/{k}");
                out.push(p.clone());
                paths(x, &p, out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                paths(x, &format!("{prefix}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Paths of a JSON text in the order they appear in it (serde_json's `Value` would sort them,
/// so the order is taken from the text's own tokens).
fn paths_in_text_order(text: &str) -> Vec<String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let ordered = OrderedPaths::read(&mut de);
    ordered.0
}

/// A visitor that records object keys in the order the text has them.
struct OrderedPaths(Vec<String>);

impl OrderedPaths {
    fn read(de: &mut serde_json::Deserializer<serde_json::de::StrRead<'_>>) -> OrderedPaths {
        use serde::de::DeserializeSeed;
        let mut out = Vec::new();
        Seed {
            prefix: String::new(),
            out: &mut out,
        }
        .deserialize(de)
        .expect("valid JSON");
        OrderedPaths(out)
    }
}

struct Seed<'a> {
    prefix: String,
    out: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Seed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Seed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<(), A::Error> {
        while let Some(k) = m.next_key::<String>()? {
            let p = format!("{}/{k}", self.prefix);
            self.out.push(p.clone());
            m.next_value_seed(Seed {
                prefix: p,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let mut i = 0;
        while s
            .next_element_seed(Seed {
                prefix: format!("{}/{i}", self.prefix),
                out: &mut *self.out,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

fn same_values(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_u64(), y.as_u64()) {
            (Some(x), Some(y)) => x == y,
            _ => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
            }
        },
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_values(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_values(v, w))
        }
        _ => a == b,
    }
}

/// Loads `text` into the typed snapshot and checks that writing it back gives the same key
/// paths in the same order, and the same values.
fn round_trips(what: &str, text: &str) -> Snapshot {
    let s: Snapshot =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} does not load: {e}"));
    let back = serde_json::to_string_pretty(&s).expect("serialises");
    assert_eq!(
        paths_in_text_order(text.trim_end()),
        paths_in_text_order(&back),
        "{what}: key paths differ"
    );
    // Values too (floats within parse precision: serde_json's default float parsing can be
    // off by one unit in the last place, as it always was for `latency_ns.mean`).
    let (a, b): (Value, Value) = (
        serde_json::from_str(text).unwrap(),
        serde_json::from_str(&back).unwrap(),
    );
    assert!(same_values(&a, &b), "{what}: values differ");
    // The checker itself sees nested keys (not only the top level).
    let mut all = Vec::new();
    paths(&serde_json::from_str(text).unwrap(), "", &mut all);
    assert!(all.iter().any(|p| p.starts_with("/config/spread/tiers/")));
    s
}

fn snapshot_text(out: &Path) -> String {
    let dir = std::fs::read_dir(out)
        .expect("results root")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_dir())
        .expect("a results directory");
    std::fs::read_to_string(dir.join("snapshot.json")).expect("snapshot.json")
}

#[test]
fn the_committed_baseline_loads_and_writes_back_the_same() {
    let text = include_str!("../results/baseline/warm-10k.json");
    let s = round_trips("the baseline", text);
    assert_eq!(s.counters, CountersSection::Off);
    assert!(matches!(s.pool, PoolSection::Stats(p) if p.acquires == 22_000 && p.misses == 0));
    assert!(matches!(&s.alloc, AllocSection::Counted(a) if a.allocs == 0));
    assert_eq!(s.config.batch_size, Some(256));
    assert_eq!(s.config.mode, LoopMode::ClosedLoop);
    assert_eq!(s.config.requests.seeds_per_request, 3);
    assert!(s.soak.is_none() && s.calibration.is_none());
}

#[test]
fn fresh_run_snapshots_of_every_shape_round_trip() {
    let dir = tmp();
    let common = [
        "run",
        "-w",
        "chain-64",
        "--spreads",
        "60",
        "--warmup",
        "5",
        "--threads",
        "1",
        "--quiet",
    ];
    for (name, extra) in [
        ("pool-off", &["--pool", "off", "--counters", "auto"][..]),
        (
            "counters-off",
            &["--pool", "on,off", "--counters", "off"][..],
        ),
    ] {
        let out = dir.path().join(name);
        let mut args: Vec<&str> = common.to_vec();
        args.extend_from_slice(extra);
        args.extend(["--out", out.to_str().unwrap()]);
        ok(dir.path(), &args);
        let s = round_trips(name, &snapshot_text(&out));
        match name {
            "pool-off" => {
                assert_eq!(s.pool, PoolSection::Off);
                // Counters read what they can; an event this machine lacks has a reason.
                let CountersSection::Read(c) = &s.counters else {
                    panic!("counters auto recorded nothing: {:?}", s.counters)
                };
                assert!(c.events.contains_key("task_clock_ns"), "{c:?}");
                for e in c.events.values() {
                    if let EventCount::Unavailable(u) = e {
                        assert!(!u.reason.is_empty());
                    }
                }
            }
            _ => {
                assert_eq!(s.counters, CountersSection::Off);
                assert_eq!(s.settings.len(), 2);
                assert!(s.settings[0].pool_stats.stats().is_some());
                assert_eq!(s.settings[1].pool_stats, PoolSection::Off);
            }
        }
    }
}

#[test]
fn fresh_soak_snapshots_round_trip() {
    let dir = tmp();
    let closed = dir.path().join("closed");
    let open = dir.path().join("open");
    let soak = [
        "soak",
        "-w",
        "chain-64",
        "--spreads",
        "2000",
        "--quiet",
        "--max-stall-ratio",
        "1e9",
    ];
    let mut a: Vec<&str> = soak.to_vec();
    a.extend(["--out", closed.to_str().unwrap()]);
    ok(dir.path(), &a);
    let s = round_trips("closed-loop soak", &snapshot_text(&closed));
    let k = s.soak.as_ref().expect("a soak section");
    assert_eq!(k.mode, LoopMode::ClosedLoop);
    assert_eq!(k.interval, SoakInterval::Spreads(1000));
    assert_eq!(k.intervals, 2);
    assert_eq!(k.rate_per_s, None);
    // Soak has no batch size or parallel threshold: absent, not invented.
    assert_eq!(s.config.batch_size, None);
    assert_eq!(s.config.parallel_min_edges, None);
    let v: serde_json::Value = serde_json::from_str(&snapshot_text(&closed)).unwrap();
    assert!(v["config"].get("batch_size").is_none(), "{}", v["config"]);

    let mut b: Vec<&str> = soak.to_vec();
    b.extend([
        "--rate",
        "50000",
        "--interval-secs",
        "0.02",
        "--no-pool",
        "--out",
        open.to_str().unwrap(),
    ]);
    ok(dir.path(), &b);
    let s = round_trips("open-loop soak", &snapshot_text(&open));
    let k = s.soak.as_ref().expect("a soak section");
    assert_eq!(k.mode, LoopMode::OpenLoop);
    assert!(k.coordinated_omission_corrected);
    assert_eq!(k.rate_per_s, Some(50000.0));
    assert_eq!(k.interval, SoakInterval::Secs(0.02));
    assert_eq!(s.pool, PoolSection::Off);
    assert_eq!(k.verdicts.leak.pool_in_use_at_end, None);
}

/// A 1.0.0 counters object from before `scope` was recorded still loads.
#[test]
fn counters_without_scope_still_load() {
    let text = include_str!("../results/baseline/warm-10k.json");
    let mut v: Value = serde_json::from_str(text).unwrap();
    v["counters"] = serde_json::json!({
        "cycles": {"status": "unsupported", "reason": "no PMU"},
        "page_faults": {"value": 4, "raw": 4, "time_enabled_ns": 9, "time_running_ns": 9,
                        "multiplexed": false},
        "derived": {"ipc": null, "cache_miss_rate": null, "cache_misses_per_spread": null,
                    "l1d_read_misses_per_spread": null, "llc_read_misses_per_spread": null,
                    "page_faults_per_spread": 0.0002},
    });
    let s: Snapshot = serde_json::from_value(v).expect("loads");
    let CountersSection::Read(c) = s.counters else {
        panic!("not read")
    };
    assert_eq!(c.scope, None);
    assert_eq!(c.events.len(), 2);
    assert_eq!(c.derived.page_faults_per_spread, Some(0.0002));
}

#[test]
fn the_path_checker_keeps_the_text_order() {
    assert_eq!(
        paths_in_text_order(r#"{"b": {"z": 1, "y": [{"x": 2}]}, "a": null}"#),
        ["/b", "/b/z", "/b/y", "/b/y/0/x", "/a"]
    );
}

/// The soak summary reads the typed verdicts: without the pool, "pool in use at end" is
/// `n/a` (it printed the JSON `null` while it read the section by string key).
#[test]
fn soak_summary_without_the_pool_says_n_a() {
    let dir = tmp();
    let out = dir.path().join("r");
    let o = ok(
        dir.path(),
        &[
            "soak",
            "-w",
            "chain-64",
            "--spreads",
            "2000",
            "--no-pool",
            "--quiet",
            "--max-stall-ratio",
            "1e9",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let text = common::text(&o.stdout);
    assert!(text.contains("pool in use at end n/a,"), "{text}");
    assert!(text.contains("closed-loop, 2 intervals"), "{text}");
    assert!(
        text.contains("(limit 1.5)") && text.contains("(limit 1000000000.0)"),
        "{text}"
    );
}
