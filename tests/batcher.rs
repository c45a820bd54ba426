//! The adaptive batcher (issue 11): convergence within 3 updates on synthetic throughput
//! curves, no oscillation under noisy measurements, `compute_optimal_batch_size`, the
//! fingerprint and the per-fingerprint memory file.

use spreadbench::engine::batcher::{MAX_HISTORY, UPDATE_EVERY};
use spreadbench::engine::{AdaptiveBatcher, BatchSetting, BatcherMemory, Fingerprint};
use spreadbench::rng::SeededRng;
use spreadbench::InputError;
use std::path::Path;

fn fp() -> Fingerprint {
    Fingerprint {
        parallelism: 2,
        threads: 2,
        l2_bytes: Some(1 << 20),
        l3_bytes: Some(32 << 20),
    }
}

/// Edges per ns of a setting: a unimodal curve in log2 of each parameter, peaking at
/// (batch_peak, threshold_peak). `spread` numbers the spread, for noise.
struct Curve {
    batch_peak: f64,
    threshold_peak: f64,
    /// Per-spread multiplicative noise: uniform in [1 − noise, 1 + noise].
    noise: f64,
}

impl Curve {
    fn tput(&self, s: BatchSetting) -> f64 {
        let db = (s.batch_size as f64).log2() - self.batch_peak.log2();
        let dt = (s.parallel_min_edges as f64).log2() - self.threshold_peak.log2();
        2.0 * (1.0 - 0.04 * db * db).max(0.1) * (1.0 - 0.03 * dt * dt).max(0.1)
    }
}

/// Runs `spreads` spreads through the batcher; returns the setting after each update.
fn drive(
    b: &mut AdaptiveBatcher,
    curve: &Curve,
    spreads: u64,
    rng: &mut SeededRng,
) -> Vec<BatchSetting> {
    let mut after = Vec::new();
    for _ in 0..spreads {
        let s = b.next_setting();
        let edges = 5_000 + rng.below(50_000);
        let noise = 1.0 + curve.noise * (2.0 * rng.unit() - 1.0);
        let ns = (edges as f64 / (curve.tput(s) * noise)) as u64;
        if b.observe_spread(s, edges, ns) {
            after.push(b.current());
        }
    }
    after
}

fn setting(batch_size: usize, parallel_min_edges: u64) -> BatchSetting {
    BatchSetting {
        batch_size,
        parallel_min_edges,
    }
}

#[test]
fn converges_within_three_updates_on_synthetic_curves() {
    for (bp, tp) in [
        (64.0, 8192.0),
        (1.0, 32768.0),
        (4096.0, 1024.0),
        (256.0, 32768.0),
        (8.0, 65536.0),
    ] {
        let curve = Curve {
            batch_peak: bp,
            threshold_peak: tp,
            noise: 0.0,
        };
        let mut b = AdaptiveBatcher::new(fp());
        assert_eq!(
            b.current(),
            setting(256, 32768),
            "cold start at the defaults"
        );
        let mut rng = SeededRng::new(1);
        let after = drive(&mut b, &curve, 10 * UPDATE_EVERY, &mut rng);
        assert_eq!(after.len(), 10);
        let s = b.stats();
        assert!(s.converged, "{bp} {tp}: {s:?}");
        let n = s.updates_to_converge.unwrap();
        assert!((1..=3).contains(&n), "{bp} {tp}: {n}");
        // It held from then on.
        assert!(
            after[n as usize - 1..].iter().all(|&x| x == b.current()),
            "{after:?}"
        );
        // Its choice is within 5% of the curve's optimum.
        let best = curve.tput(setting(bp as usize, tp as u64));
        assert!(
            curve.tput(b.current()) >= 0.95 * best,
            "{bp} {tp}: chose {:?}",
            b.current()
        );
        assert_eq!(s.history.len(), 10);
        assert_eq!(s.history[0].spread, UPDATE_EVERY);
        assert_eq!(s.history.last().unwrap().batch_size, b.current().batch_size);
        let last = s.history.last().unwrap().edges_per_us;
        assert!((last - 1e3 * curve.tput(b.current())).abs() < 1.0, "{last}");
    }
}

#[test]
fn a_flat_curve_converges_at_the_first_update_where_it_started() {
    // Batch size and threshold make no difference (no hop goes parallel, as on warm-10k).
    let curve = Curve {
        batch_peak: 256.0,
        threshold_peak: 32768.0,
        noise: 0.0,
    };
    let flat = |_: BatchSetting| 1.5;
    let mut b = AdaptiveBatcher::new(fp());
    let mut rng = SeededRng::new(2);
    for _ in 0..UPDATE_EVERY {
        let s = b.next_setting();
        let edges = 1000 + rng.below(10_000);
        let _ = curve.tput(s);
        b.observe_spread(s, edges, (edges as f64 / flat(s)) as u64);
    }
    assert!(b.converged());
    assert_eq!(b.stats().updates_to_converge, Some(1));
    assert_eq!(b.current(), setting(256, 32768));
    // Converged: only the chosen setting runs.
    assert!((0..50).all(|_| b.next_setting() == setting(256, 32768)));
}

#[test]
fn noisy_measurements_do_not_make_it_oscillate() {
    for seed in 0..8 {
        let curve = Curve {
            batch_peak: 128.0,
            threshold_peak: 16384.0,
            noise: 0.25,
        };
        let mut b = AdaptiveBatcher::new(fp());
        let mut rng = SeededRng::new(100 + seed);
        let after = drive(&mut b, &curve, 40 * UPDATE_EVERY, &mut rng);
        let n = b.stats().updates_to_converge.expect("converged") as usize;
        assert!(n <= 3, "{seed}: {n}");
        assert!(
            after[n - 1..].iter().all(|&x| x == b.current()),
            "{seed}: {after:?}"
        );
        // Noise may cost it the exact optimum, not more than a few percent.
        let best = curve.tput(setting(128, 16384));
        assert!(
            curve.tput(b.current()) >= 0.95 * best,
            "{seed}: {:?}",
            b.current()
        );
        // Settings switched at most once per update before convergence.
        let changes = after.windows(2).filter(|w| w[0] != w[1]).count();
        assert!(changes <= 2, "{seed}: {after:?}");
    }
}

#[test]
fn history_is_bounded_over_a_soak() {
    let curve = Curve {
        batch_peak: 256.0,
        threshold_peak: 32768.0,
        noise: 0.1,
    };
    let mut b = AdaptiveBatcher::new(fp());
    let mut rng = SeededRng::new(3);
    drive(
        &mut b,
        &curve,
        (MAX_HISTORY as u64 + 20) * UPDATE_EVERY,
        &mut rng,
    );
    assert_eq!(b.stats().history.len(), MAX_HISTORY);
}

#[test]
fn compute_optimal_batch_size_takes_the_best_measured_with_hysteresis() {
    // One window where each arm's throughput is scripted: 64 is 10% faster than 256, 16 is
    // 2% faster (within the 3% hysteresis, so it would not count alone).
    let run = |speed: &dyn Fn(BatchSetting) -> f64| {
        let mut b = AdaptiveBatcher::new(fp());
        // Nothing measured yet: the current batch size.
        assert_eq!(b.compute_optimal_batch_size(), 256);
        for _ in 0..UPDATE_EVERY - 1 {
            let s = b.next_setting();
            b.observe_spread(s, 10_000, (10_000.0 / speed(s)) as u64);
        }
        assert_eq!(
            b.compute_optimal_batch_size(),
            256,
            "no update before 500 spreads"
        );
        let s = b.next_setting();
        assert!(b.observe_spread(s, 10_000, (10_000.0 / speed(s)) as u64));
        b
    };
    let b = run(&|s| match s.batch_size {
        64 => 1.1,
        16 => 1.02,
        _ => 1.0,
    });
    assert_eq!(b.current().batch_size, 64);
    assert_eq!(
        b.compute_optimal_batch_size(),
        64,
        "64 is now current and best"
    );
    let b = run(&|s| if s.batch_size == 16 { 1.02 } else { 1.0 });
    assert_eq!(b.current().batch_size, 256, "2% is within the hysteresis");
    assert!(b.converged());
    let b = run(&|s| {
        if s.parallel_min_edges == 4096 {
            1.2
        } else {
            1.0
        }
    });
    assert_eq!(b.current(), setting(256, 4096));
    assert_eq!(b.compute_optimal_parallel_min_edges(), 4096);
    assert!(!b.converged(), "it moved: not converged yet");
}

fn write_cache(dir: &Path, index: &str, level: &str, kind: &str, size: &str) {
    let d = dir.join(index);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("level"), level).unwrap();
    std::fs::write(d.join("type"), kind).unwrap();
    std::fs::write(d.join("size"), size).unwrap();
}

#[test]
fn fingerprint_reads_cache_sizes_from_sysfs() {
    let t = tempfile::tempdir().unwrap();
    write_cache(t.path(), "index0", "1\n", "Data\n", "32K\n");
    write_cache(t.path(), "index1", "1\n", "Instruction\n", "32K\n");
    write_cache(t.path(), "index2", "2\n", "Unified\n", "1024K\n");
    write_cache(t.path(), "index3", "3\n", "Unified\n", "32M\n");
    std::fs::write(t.path().join("uevent"), "").unwrap();
    let f = Fingerprint::from_sysfs(t.path(), 2, 2);
    assert_eq!(f, fp());
    assert_eq!(f.id(), "p2-t2-l2_1024k-l3_32768k");
    assert_eq!(
        f.memory_file_name(),
        "batcher-p2-t2-l2_1024k-l3_32768k.json"
    );
    let none = Fingerprint::from_sysfs(&t.path().join("absent"), 4, 1);
    assert_eq!(none.id(), "p4-t1-l2_na-l3_na");
    // This machine: whatever it has, detection does not fail.
    let here = Fingerprint::detect(2);
    assert!(here.parallelism >= 1 && here.threads == 2);
}

#[test]
fn memory_round_trips_and_a_resumed_batcher_starts_converged() {
    let t = tempfile::tempdir().unwrap();
    let curve = Curve {
        batch_peak: 64.0,
        threshold_peak: 8192.0,
        noise: 0.0,
    };
    let mut b = AdaptiveBatcher::new(fp());
    drive(&mut b, &curve, 4 * UPDATE_EVERY, &mut SeededRng::new(4));
    let path = t.path().join(fp().memory_file_name());
    b.memory().save(&path).unwrap();
    let m = BatcherMemory::load(&path).unwrap();
    assert_eq!(m, b.memory());

    let mut r = AdaptiveBatcher::resume(fp(), &m);
    assert!(r.converged());
    let s = r.stats();
    assert!(s.from_memory && s.updates_to_converge == Some(0));
    assert_eq!(r.next_setting(), b.current());
    // Another machine (or executor) does not take it.
    let other = Fingerprint { threads: 4, ..fp() };
    let c = AdaptiveBatcher::resume(other, &m);
    assert!(!c.converged() && !c.stats().from_memory);
    assert_eq!(c.current(), setting(256, 32768));

    let json = serde_json::to_value(b.stats()).unwrap();
    for key in [
        "fingerprint",
        "batch_size",
        "parallel_min_edges",
        "converged",
        "updates_to_converge",
        "history",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
    for key in ["spread", "batch_size", "parallel_min_edges", "edges_per_us"] {
        assert!(
            json["history"][0].get(key).is_some(),
            "{key} missing in {json}"
        );
    }
}

#[test]
fn a_bad_memory_file_is_bad_input_naming_it() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("batcher.json");
    let msg = |content: &str| {
        std::fs::write(&p, content).unwrap();
        let e = BatcherMemory::load(&p).unwrap_err();
        e.downcast_ref::<InputError>()
            .unwrap_or_else(|| panic!("not an InputError: {e:#}"))
            .0
            .clone()
    };
    let m = msg("{not json");
    assert!(
        m.contains("batcher.json") && m.contains("not a batcher memory file"),
        "{m}"
    );
    let mut good = serde_json::to_value(AdaptiveBatcher::new(fp()).memory()).unwrap();
    good["batch_size"] = 100.into();
    let m = msg(&good.to_string());
    assert!(m.contains("powers of two") && m.contains("100"), "{m}");
    let e = BatcherMemory::load(&t.path().join("absent.json")).unwrap_err();
    assert!(e.downcast_ref::<InputError>().is_some(), "{e:#}");
}
