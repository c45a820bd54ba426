//! The latency predictor (issue 11): the online ridge fit against known coefficients, the
//! error tally and noise ceiling against hand-computed shares, and the cost profile against
//! a hand-worked chain, with its cache file's checks.

use spreadbench::engine::cost_profile::{config_identity, ProfileSource};
use spreadbench::engine::predictor::{OnlineRidge, REQUEST_FEATURES};
use spreadbench::engine::{
    noise_ceiling, CostProfile, ErrorTally, HopFeatures, LatencyPredictor, RequestFeatures, Seed,
    SpreadConfig, Spreader,
};
use spreadbench::graph::{EdgeKind, EdgeSpec, Graph, Tier};
use spreadbench::rng::SeededRng;
use spreadbench::InputError;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

/// y = 100 + 3·x0 − 2·x1 + 0.5·x2 over features of very different scales.
fn truth(x: &[f64; 3]) -> f64 {
    100.0 + 3.0 * x[0] - 2.0 * x[1] + 0.5 * x[2]
}

fn draw(rng: &mut SeededRng) -> [f64; 3] {
    [
        rng.range_f64(0.0, 10.0),
        rng.range_f64(0.0, 20.0),
        rng.range_f64(1000.0, 100_000.0),
    ]
}

#[test]
fn least_squares_recovers_exact_coefficients() {
    for relative in [false, true] {
        let mut m = OnlineRidge::new(&["a", "b", "c"], 1e-9, relative);
        let mut rng = SeededRng::new(1);
        for _ in 0..500 {
            let x = draw(&mut rng);
            m.add(&x, truth(&x));
        }
        m.fit();
        let c = m.coefficients();
        assert!(
            close(m.intercept(), 100.0, 1e-5),
            "{relative}: {}",
            m.intercept()
        );
        assert!(close(c[0], 3.0, 1e-6), "{relative}: {c:?}");
        assert!(close(c[1], -2.0, 1e-6), "{relative}: {c:?}");
        assert!(close(c[2], 0.5, 1e-6), "{relative}: {c:?}");
        assert!(close(
            m.predict(&[1.0, 2.0, 3.0]),
            100.0 + 3.0 - 4.0 + 1.5,
            1e-5
        ));
        assert_eq!((m.n(), m.n_fitted()), (500, 500));
    }
}

#[test]
fn least_squares_with_noise_stays_near_the_truth() {
    let mut m = OnlineRidge::new(&["a", "b", "c"], 1e-4, false);
    let mut rng = SeededRng::new(2);
    for _ in 0..20_000 {
        let x = draw(&mut rng);
        // Zero-mean uniform noise of ±50 on outputs of about 25,000.
        m.add(&x, truth(&x) + rng.range_f64(-50.0, 50.0));
    }
    m.fit();
    let c = m.coefficients();
    // The standard error of c[0] is about σ/(sd(x0)·√n) = 28.9/(2.89·141) ≈ 0.07.
    assert!((c[0] - 3.0).abs() < 0.3, "{c:?}");
    assert!((c[1] + 2.0).abs() < 0.15, "{c:?}");
    assert!((c[2] - 0.5).abs() < 0.001, "{c:?}");
    assert!((m.intercept() - 100.0).abs() < 5.0, "{}", m.intercept());
}

#[test]
fn collinear_and_constant_features_still_predict() {
    // x1 = 2·x0 exactly, x2 constant: the coefficients are not identifiable, the
    // predictions are. The ridge splits the weight as the minimum-norm solution does
    // (in standardised units, equally): w0·sd0 = w1·sd1, so w0 = 2·w1 and w0 + 2·w1 = 4.
    let mut m = OnlineRidge::new(&["x", "2x", "const"], 1e-6, false);
    let mut rng = SeededRng::new(3);
    for _ in 0..1000 {
        let x0 = rng.range_f64(0.0, 100.0);
        m.add(&[x0, 2.0 * x0, 7.0], 10.0 + 4.0 * x0);
    }
    m.fit();
    let c = m.coefficients();
    assert!(c.iter().all(|v| v.is_finite()), "{c:?}");
    assert!(close(c[0] + 2.0 * c[1], 4.0, 1e-4), "{c:?}");
    assert!(close(c[0], 2.0, 1e-3) && close(c[1], 1.0, 1e-3), "{c:?}");
    assert_eq!(c[2], 0.0, "a constant feature gets no weight");
    for x0 in [0.0, 1.0, 55.5, 100.0] {
        let p = m.predict(&[x0, 2.0 * x0, 7.0]);
        assert!(close(p, 10.0 + 4.0 * x0, 1e-4), "{x0}: {p}");
    }
}

#[test]
fn an_empty_or_poisoned_model_predicts_nothing_harmful() {
    let mut m = OnlineRidge::new(&["a"], 1e-4, true);
    assert_eq!(m.predict(&[5.0]), 0.0, "unfitted: no opinion");
    m.fit();
    assert_eq!(m.predict(&[5.0]), 0.0);
    // Non-finite values and (in relative mode) non-positive observations are skipped.
    m.add(&[f64::NAN], 1.0);
    m.add(&[1.0], f64::INFINITY);
    m.add(&[1.0], 0.0);
    m.add(&[1.0], -3.0);
    assert_eq!(m.n(), 0);
}

/// Reproducer: a fit extrapolated out of its training span went below 0, and a trained
/// predictor then predicted 0 ns, so that `spread --budget 1ns --train 100` ran a spread of a
/// hundred microseconds instead of falling back (the CI failure of 2026-12-03). A latency is
/// now never predicted below half the fastest observation the fit learned from.
#[test]
fn a_fit_extrapolated_past_zero_predicts_half_its_fastest_observation() {
    let mut m = OnlineRidge::new(&["x"], 1e-6, true);
    assert_eq!(m.predict_latency(&[5.0]), 0.0, "unfitted: no opinion");
    for i in 1..=50 {
        m.add(&[i as f64], 100.0 - i as f64);
    }
    m.fit();
    assert!(close(m.predict(&[200.0]), -100.0, 1e-5), "the line itself");
    assert_eq!(
        m.predict_latency(&[200.0]),
        25.0,
        "half the fastest of 99 … 50"
    );
    assert!(
        close(m.predict_latency(&[10.0]), 90.0, 1e-6),
        "inside: the line"
    );

    // The same through the request model: latency falls with the edges in training.
    let mut p = LatencyPredictor::new();
    for i in 0..64 {
        let edges = 100.0 + 300.0 * i as f64;
        p.observe_request(&request(edges, 2), 50_000.0 - 2.0 * edges);
    }
    let fastest = 50_000.0 - 2.0 * (100.0 + 300.0 * 63.0);
    assert_eq!(p.request_model().n_fitted(), 64);
    let got = p.predict_latency(&request(40_000.0, 2));
    assert!(
        close(got, 0.5 * fastest * p.drift().0.factor(), 1e-9),
        "{got}"
    );
}

fn request(edges: f64, seeds: u32) -> RequestFeatures {
    RequestFeatures {
        edges,
        activated: edges / 4.0,
        expanded: edges / 8.0,
        rejected: edges / 2.0,
        weighted_edges: edges,
        seed_degree: 12.0,
        seeds,
        depth: 3,
    }
}

#[test]
fn predict_latency_learns_a_linear_cost() {
    let mut p = LatencyPredictor::new();
    assert_eq!(p.predict_latency(&request(1000.0, 3)), 0.0, "untrained: 0");
    // 800 ns fixed plus 3 ns per profile edge plus 150 ns per seed.
    let cost = |f: &RequestFeatures| 800.0 + 3.0 * f.edges + 150.0 * f.seeds as f64;
    let mut rng = SeededRng::new(4);
    for _ in 0..640 {
        let f = request(rng.range_f64(100.0, 20_000.0), 1 + rng.below(5) as u32);
        p.observe_request(&f, cost(&f));
    }
    // 640 is a multiple of the refit interval: the last observation refitted.
    assert_eq!(p.request_model().n_fitted(), 640);
    for (edges, seeds) in [(100.0, 1), (5000.0, 3), (19_000.0, 5)] {
        let f = request(edges, seeds);
        let got = p.predict_latency(&f);
        assert!(close(got, cost(&f), 1e-3), "{edges} {seeds}: {got}");
        p.request_errors.record(got, cost(&f));
    }
    let s = p.request_stats();
    assert_eq!(s.model, "request");
    assert_eq!(s.n_train, 640);
    assert_eq!(s.errors.count, 3);
    assert_eq!(s.errors.within_10pct, 1.0);
    assert_eq!(s.coefficients[0].feature, "intercept");
    let names: Vec<_> = s.coefficients[1..]
        .iter()
        .map(|c| c.feature.as_str())
        .collect();
    assert_eq!(names, REQUEST_FEATURES);
    // The snapshot shape: the error shares sit beside the coefficients.
    let json = serde_json::to_value(&s).unwrap();
    for key in [
        "model",
        "coefficients",
        "n_train",
        "within_10pct",
        "within_20pct",
        "within_50pct",
        "p50_rel_err",
        "p95_rel_err",
    ] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }
}

/// The drift factor: a model fitted at one speed follows the machine to another without a
/// refit, a single outlier moves it by a bounded step, and tracking leaves the fit alone.
#[test]
fn the_drift_factor_follows_the_machine_and_not_one_outlier() {
    let mut p = LatencyPredictor::new();
    let cost = |f: &RequestFeatures| 800.0 + 3.0 * f.edges;
    let mut rng = SeededRng::new(9);
    for _ in 0..640 {
        let f = request(rng.range_f64(100.0, 20_000.0), 2);
        p.observe_request(&f, cost(&f));
    }
    let f = request(5000.0, 2);
    let base = p.predict_latency(&f);
    assert!(close(base, cost(&f), 1e-3), "{base}");
    assert!(
        close(p.drift().0.factor(), 1.0, 1e-4),
        "{}",
        p.drift().0.factor()
    );
    let coef = p.request_model().coefficients().to_vec();
    // The machine runs 1.5× slower: after 40 tracked requests the prediction is 1.5× too
    // (EWMA 0.2: (1 − 0.2)^40 of the gap is left, under 1e-3 of it).
    for _ in 0..40 {
        p.track_request(&f, 1.5 * cost(&f));
    }
    let slow = p.predict_latency(&f);
    assert!(close(slow / base, 1.5, 1e-3), "{}", slow / base);
    assert_eq!(
        p.request_model().coefficients(),
        &coef[..],
        "tracking is not fitting"
    );
    // One preempted request 100× slower moves it by at most 2^0.2 (the ratio is clamped
    // to 2 before the EWMA).
    p.track_request(&f, 100.0 * cost(&f));
    let after = p.predict_latency(&f) / slow;
    assert!(after <= 2f64.powf(0.2) + 1e-9 && after > 1.0, "{after}");
    // The hop model has its own factor, untouched by requests.
    assert_eq!(p.drift().1.factor(), 1.0);
    // A model with no opinion (0) tracks nothing.
    let mut fresh = LatencyPredictor::new();
    fresh.track_request(&f, 1e6);
    assert_eq!(fresh.drift().0.factor(), 1.0);
}

#[test]
fn hop_model_separates_serial_and_parallel_hops() {
    let mut p = LatencyPredictor::new().with_refit_every(0);
    // Serial: 2 ns per edge; parallel on 2 threads: 3 µs hand-off + 1.1 ns per edge.
    let cost = |f: &HopFeatures| {
        if f.parallel {
            3000.0 + 1.1 * f.frontier_edges as f64
        } else {
            300.0 + 2.0 * f.frontier_edges as f64
        }
    };
    let mut rng = SeededRng::new(5);
    for i in 0..2000 {
        let edges = 100 + rng.below(200_000);
        let f = HopFeatures {
            hop: 1 + (i % 3),
            frontier_size: (edges / 8) as u32,
            frontier_edges: edges,
            tier_mix: [0, (edges / 8) as u32, 0],
            threads: 2,
            batch_size: 256,
            parallel: edges >= 32_768,
        };
        p.observe_hop(&f, cost(&f));
    }
    assert_eq!(p.predict_hop_latency(&HopFeatures::default()), 0.0);
    p.fit();
    for (edges, parallel) in [
        (1000, false),
        (30_000, false),
        (40_000, true),
        (190_000, true),
    ] {
        let f = HopFeatures {
            hop: 2,
            frontier_size: (edges / 8) as u32,
            frontier_edges: edges,
            tier_mix: [0, (edges / 8) as u32, 0],
            threads: 2,
            batch_size: 256,
            parallel,
        };
        let got = p.predict_hop_latency(&f);
        // The ridge shrinks a little between frontier size and edges (nearly collinear).
        assert!(
            close(got, cost(&f), 2e-3),
            "{edges} {parallel}: {got} vs {}",
            cost(&f)
        );
    }
}

#[test]
fn error_tally_counts_shares_and_percentiles() {
    let mut t = ErrorTally::new();
    assert_eq!(t.stats().count, 0);
    assert_eq!(t.stats().within_20pct, 0.0);
    // Relative errors 0.05, 0.15, 0.30, 0.60 (over and under), and exactly 0.20.
    for (p, o) in [
        (105.0, 100.0),
        (85.0, 100.0),
        (130.0, 100.0),
        (40.0, 100.0),
        (1200.0, 1000.0),
    ] {
        t.record(p, o);
    }
    t.record(1.0, 0.0); // no relative error for a 0 ns observation: skipped
    let s = t.stats();
    assert_eq!(s.count, 5);
    assert_eq!(s.within_10pct, 0.2);
    assert_eq!(s.within_20pct, 0.6, "0.20 itself is within 20%");
    assert_eq!(s.within_50pct, 0.8);
    // Sorted: 0.05 0.15 0.20 0.30 0.60; p50 is the 3rd, p95 the 5th (3 significant digits).
    assert!((s.p50_rel_err - 0.20).abs() < 0.001, "{s:?}");
    assert!((s.p95_rel_err - 0.60).abs() < 0.001, "{s:?}");
    let mut u = ErrorTally::new();
    u.record(100.0, 100.0);
    u.add(&t);
    assert_eq!(u.stats().count, 6);
    assert_eq!(u.stats().within_10pct, 2.0 / 6.0);
}

#[test]
fn noise_ceiling_is_the_share_near_each_requests_median() {
    // Request A, median 100: 100, 90, 130 → errors 0, 0.111, 0.231: two within 20%.
    // Request B (even: median (10 + 12)/2 = 11): 10, 12 → 0.1, 0.083: both within.
    // Request C: no observations, skipped.
    let repeats: Vec<Vec<f64>> = vec![vec![100.0, 90.0, 130.0], vec![10.0, 12.0], vec![]];
    let n = noise_ceiling(&repeats);
    assert_eq!((n.requests, n.observations), (2, 5));
    assert_eq!(n.within_20pct, 4.0 / 5.0);
    assert_eq!(n.within_10pct, 3.0 / 5.0, "0, 0.1 and 0.083");
    assert_eq!(n.within_50pct, 1.0);
}

/// 0 → 1 → 2 → 3 → 4, weight 1, all warm.
fn chain() -> Graph {
    let edges = (0..4)
        .map(|i| EdgeSpec {
            src: i,
            dst: i + 1,
            weight: 1.0,
            kind: EdgeKind::Excitatory,
        })
        .collect();
    Graph::from_edges(&[Tier::Warm; 5], edges).unwrap()
}

/// A stop flag set before the profile is complete gives no profile and caches none; one
/// never set gives the profile `compute` gives.
#[test]
fn a_cost_profile_given_up_on_a_stop_flag_is_neither_returned_nor_cached() {
    use std::sync::atomic::AtomicBool;
    let g = chain();
    let sp = Spreader::new(SpreadConfig::default()).unwrap();
    assert_eq!(
        CostProfile::compute_until(&g, &sp, &AtomicBool::new(true)),
        None
    );
    assert_eq!(
        CostProfile::compute_until(&g, &sp, &AtomicBool::new(false)),
        Some(CostProfile::compute(&g, &sp))
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(CostProfile::file_name(&g, sp.config()));
    let stopped = CostProfile::load_or_compute_until(&path, &g, &sp, &AtomicBool::new(true));
    assert!(stopped.unwrap().is_none());
    assert!(!path.exists(), "a profile given up on was cached");
}

#[test]
fn cost_profile_of_a_chain_by_hand() {
    // Depth 3, decay e^(−0.5·d), warm θ = 0.05. From node 0: hop 1 gives node 1 e^−0.5 =
    // 0.607, hop 2 node 2 0.607·e^−1 = 0.223, hop 3 offers node 3 0.223·e^−1.5 = 0.0498 < θ:
    // rejected. So 3 edges, 3 activated, 3 expanded (one per hop), 1 rejected, 3 hops; node
    // 1 alike. Node 2: 2 edges (2→3, 3→4), 3 activated, hop 3 expands node 4 (no edges).
    // Node 3: 3→4, then node 4 expands at hop 2 with no edges: 2 hops. Node 4: 1 hop.
    let g = chain();
    let sp = Spreader::new(SpreadConfig::default()).unwrap();
    for threads in [1, 2, 8] {
        let p = CostProfile::compute_with_threads(&g, &sp, threads);
        assert_eq!(p.edges, [3, 3, 2, 1, 0], "{threads}");
        assert_eq!(p.activated, [3, 3, 3, 2, 1]);
        assert_eq!(p.expanded, [3, 3, 3, 2, 1]);
        assert_eq!(p.rejected, [1, 1, 0, 0, 0]);
        assert_eq!(p.hops, [3, 3, 3, 2, 1]);
        assert!(p.matches(&g, sp.config()));
    }
    let p = CostProfile::compute(&g, &sp);
    let seeds = [Seed::new(0, 1.0), Seed::new(3, 0.5)];
    let f = p.request_features(&g, &seeds, 3);
    assert_eq!(f.edges, 4.0);
    assert_eq!(f.activated, 5.0);
    assert_eq!(f.expanded, 5.0);
    assert_eq!(f.rejected, 1.0);
    assert_eq!(f.weighted_edges, 3.0 + 0.5);
    assert_eq!(f.seed_degree, 2.0);
    assert_eq!((f.seeds, f.depth), (2, 3));
}

fn input_error(e: &anyhow::Error) -> String {
    e.downcast_ref::<InputError>()
        .unwrap_or_else(|| panic!("not an InputError: {e:#}"))
        .0
        .clone()
}

#[test]
fn cost_profile_cache_round_trips_and_refuses_damage() {
    let t = tempfile::tempdir().unwrap();
    let g = chain();
    let sp = Spreader::new(SpreadConfig::default()).unwrap();
    let name = CostProfile::file_name(&g, sp.config());
    assert!(
        name.starts_with("cost-profile-") && name.ends_with(".bin"),
        "{name}"
    );
    let other = SpreadConfig {
        max_depth: 2,
        ..SpreadConfig::default()
    };
    assert_ne!(CostProfile::file_name(&g, &other), name);
    assert_ne!(config_identity(&other), config_identity(sp.config()));

    let path = t.path().join(&name);
    let (p, src) = CostProfile::load_or_compute(&path, &g, &sp).unwrap();
    assert!(
        matches!(src, ProfileSource::Computed { stale: None, .. }),
        "{src:?}"
    );
    let (q, src) = CostProfile::load_or_compute(&path, &g, &sp).unwrap();
    assert_eq!(src, ProfileSource::Loaded, "the second run loads");
    assert_eq!(p, q);
    // 32-byte header, 17 bytes per node, 8-byte checksum; nothing else left in the directory.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 32 + 5 * 17 + 8);
    assert_eq!(std::fs::read_dir(t.path()).unwrap().count(), 1);

    // For another config it does not match, and load_or_compute recomputes and says why.
    let sp2 = Spreader::new(other).unwrap();
    assert!(!q.matches(&g, sp2.config()));
    let (_, src) = CostProfile::load_or_compute(&path, &g, &sp2).unwrap();
    assert!(
        matches!(&src, ProfileSource::Computed { stale: Some(w), .. } if w.contains("another")),
        "{src:?}"
    );
    p.save(&path).unwrap();

    let bad = t.path().join("bad.bin");
    let check = |content: &[u8], want: &str| {
        std::fs::write(&bad, content).unwrap();
        let e = CostProfile::load(&bad).unwrap_err();
        let msg = input_error(&e);
        assert!(
            msg.contains("bad.bin") && msg.contains(want),
            "{want}: {msg}"
        );
    };
    let mut flipped = bytes.clone();
    flipped[40] ^= 1;
    check(&flipped, "checksum mismatch");
    check(&bytes[..bytes.len() - 1], "truncated");
    check(&bytes[..10], "shorter than its header");
    let mut magic = bytes.clone();
    magic[0] = b'X';
    check(&magic, "wrong magic");
    let mut long = bytes.clone();
    long.push(0);
    check(&long, "larger than");
    let mut huge = bytes.clone();
    huge[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
    check(&huge, "node count out of range");
    let e = CostProfile::load(&t.path().join("absent")).unwrap_err();
    assert!(input_error(&e).contains("cannot read"));
    // A damaged cache is recomputed and replaced.
    std::fs::write(&path, &flipped).unwrap();
    let (r, src) = CostProfile::load_or_compute(&path, &g, &sp).unwrap();
    assert!(
        matches!(&src, ProfileSource::Computed { stale: Some(w), .. } if w.contains("checksum")),
        "{src:?}"
    );
    assert_eq!(r, p);
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn cost_profile_save_keeps_a_symlink_a_link() {
    let t = tempfile::tempdir().unwrap();
    let g = chain();
    let sp = Spreader::new(SpreadConfig::default()).unwrap();
    let p = CostProfile::compute(&g, &sp);
    let real = t.path().join("real.bin");
    let link = t.path().join("link.bin");
    std::os::unix::fs::symlink("real.bin", &link).unwrap();
    p.save(&link).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(CostProfile::load(&real).unwrap(), p);
    // A directory at the path is refused, and nothing is left behind.
    let dir = t.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    assert!(p.save(&dir).is_err());
    let mut names: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["dir", "link.bin", "real.bin"]);
}

/// `/metrics`' prediction-error histogram reads these: exact counts at its bucket bounds, even
/// for an error the HDR histogram rounds onto a bound, and an exact sum.
#[test]
fn error_tally_counts_at_most_each_bound_and_sums() {
    let mut t = ErrorTally::new();
    // Relative errors 0.05, 0.15, 0.20, 0.30, 0.60, 1.5, 3.0.
    for (p, o) in [
        (105.0, 100.0),
        (85.0, 100.0),
        (1200.0, 1000.0),
        (130.0, 100.0),
        (40.0, 100.0),
        (250.0, 100.0),
        (400.0, 100.0),
    ] {
        t.record(p, o);
    }
    let at_most = |t: &ErrorTally| {
        spreadbench::engine::predictor::EXACT_ERROR_BOUNDS.map(|b| t.count_at_most(b))
    };
    assert_eq!(at_most(&t), [1, 1, 3, 4, 5, 6]);
    assert_eq!(t.count_at_most(f64::INFINITY), 7);
    assert!((t.sum() - 5.8).abs() < 1e-12, "{}", t.sum());
    // Between the bounds, the histogram: 0.05, 0.15 and 0.20 are at most 0.25.
    assert_eq!(t.count_at_most(0.25), 3);
    // 0.05004 is stored as 500 × 1e-4 in the histogram, but it is not within 0.05.
    t.record_rel_err(0.05004);
    assert_eq!(t.count_at_most(0.05), 1);
    assert_eq!(t.count_at_most(0.10), 2);
    let mut u = ErrorTally::new();
    u.add(&t);
    u.add(&t);
    assert_eq!(at_most(&u), [2, 4, 8, 10, 12, 14]);
    assert!((u.sum() - 2.0 * (5.8 + 0.05004)).abs() < 1e-12);
    u.reset();
    assert_eq!((u.count_at_most(2.0), u.sum()), (0, 0.0));
}
