//! Library-level tests of recall (DESIGN §7, issue 10): the top-k scan against a plain scalar
//! scan, exact against quantized seeding and the machine-independence of the hits, the `.npy`
//! files, the seeding sigmoid and the rank formula worked out by hand, and thread-count
//! independence of whole recalls.
//!
//! The unit tests beside the code already hold each kernel against a full sort of its own
//! scores, the `.npy` reader's messages and the generator's bits; these tests hold the public
//! API to the contract from outside, with references that share no code with what they check.
//! Data is small (or warm-10k generated once and shared), since the crate is built at
//! opt-level 0 for tests.

mod common;
use spreadbench::engine::{
    Decay, FanEffect, HopExecutor, SpreadConfig, SpreadResult, SpreadScratch, Spreader,
};
use spreadbench::graph::{EdgeKind, EdgeSpec, Graph, Tier};
use spreadbench::recall::exact::canonical_dot;
use spreadbench::recall::npy::{read_cue, read_npy, write_npy};
use spreadbench::recall::quality::recall_at_k;
use spreadbench::recall::quantized::QuantKernel;
use spreadbench::recall::similarity::score_bound;
use spreadbench::recall::{
    top_k_with, CueList, CueStream, Embeddings, Generated, Kernel, RecallConfig, RecallMode,
    RecallScratch, Recaller, SeedIndex, SimilarityMode,
};
use spreadbench::rng::SeededRng;
use spreadbench::workload::Workload;
use std::sync::{Arc, OnceLock};

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// Random rows, uniform components in [-1, 1) (normalised by `Embeddings::from_rows`).
fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = SeededRng::new(seed);
    (0..n * dim)
        .map(|_| rng.range_f64(-1.0, 1.0) as f32)
        .collect()
}

fn random_embeddings(n: usize, dim: usize, seed: u64) -> Embeddings {
    Embeddings::from_rows(dim, random_rows(n, dim, seed)).expect("random rows are finite")
}

/// A unit cue: a random row, normalised the way the embeddings are.
fn random_cue(dim: usize, seed: u64) -> Vec<f32> {
    random_embeddings(1, dim, seed).row(0).to_vec()
}

/// The kernels this CPU runs; the others are named on stderr, not silently skipped.
fn kernels() -> Vec<Kernel> {
    for k in Kernel::ALL.iter().filter(|k| !k.available()) {
        eprintln!("kernel {} not available on this CPU: not tested", k.name());
    }
    Kernel::ALL.into_iter().filter(|k| k.available()).collect()
}

fn quant_kernels() -> Vec<QuantKernel> {
    for k in QuantKernel::ALL.iter().filter(|k| !k.available()) {
        eprintln!(
            "int8 kernel {} not available on this CPU: not tested",
            k.name()
        );
    }
    QuantKernel::ALL
        .into_iter()
        .filter(|k| k.available())
        .collect()
}

/// warm-10k's graph and generated embeddings, built once for every test that needs them.
fn warm_10k() -> &'static (Workload, Graph, Generated) {
    static W: OnceLock<(Workload, Graph, Generated)> = OnceLock::new();
    W.get_or_init(|| {
        let w = Workload::load("warm-10k").expect("built-in workload");
        let g = spreadbench::graph::generate::generate(&w.graph).expect("warm-10k graph");
        let spec = w.embeddings.expect("warm-10k has [embeddings]");
        let gen = Embeddings::generate(&g, &spec).expect("warm-10k embeddings");
        (w, g, gen)
    })
}

// ---------------------------------------------------------------------------------------------
// top-k against a plain scalar scan
// ---------------------------------------------------------------------------------------------

/// The plain scalar scan: every row's dot product in f64 (exact for f32 inputs up to the
/// final sum's rounding, far below any kernel's error), fully sorted by score descending then
/// id ascending.
fn scalar_scan(e: &Embeddings, cue: &[f32]) -> Vec<(u32, f64)> {
    let mut all: Vec<(u32, f64)> = (0..e.len())
        .map(|i| {
            let dot = e
                .row(i)
                .iter()
                .zip(cue)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum::<f64>();
            (i as u32, dot)
        })
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all
}

/// Holds `got` (a kernel's top-k) to the scalar scan: the right length, distinct ids, ranked
/// by its own scores, each score within the stated bound of the exact dot, and at every rank
/// the same row as the scalar scan unless the two rows are a near-tie (exact scores within
/// twice the bound, where the kernels' rounding may legitimately order them either way).
#[track_caller]
fn assert_matches_scalar(got: &[(u32, f32)], e: &Embeddings, cue: &[f32], k: usize, what: &str) {
    let want = scalar_scan(e, cue);
    let exact: Vec<f64> = {
        let mut v = vec![0.0; e.len()];
        want.iter().for_each(|&(id, s)| v[id as usize] = s);
        v
    };
    let bound = f64::from(score_bound(e.dim()));
    assert_eq!(got.len(), k.min(e.len()), "{what}: length");
    let mut ids: Vec<u32> = got.iter().map(|h| h.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), got.len(), "{what}: an id appears twice");
    for w in got.windows(2) {
        assert!(
            w[0].1 > w[1].1 || (w[0].1 == w[1].1 && w[0].0 < w[1].0),
            "{what}: not ranked (score desc, id asc): {:?} then {:?}",
            w[0],
            w[1]
        );
    }
    for (rank, (&(id, s), &(want_id, want_s))) in got.iter().zip(&want).enumerate() {
        let ex = exact[id as usize];
        assert!(
            (f64::from(s) - ex).abs() <= bound,
            "{what}: row {id} scored {s}, exact {ex}, beyond the bound {bound}"
        );
        if id != want_id {
            assert!(
                (ex - want_s).abs() <= 2.0 * bound,
                "{what}: rank {rank} holds row {id} ({ex}) where the scalar scan has row \
                 {want_id} ({want_s}): not a near-tie"
            );
        }
    }
}

#[test]
fn top_k_matches_a_plain_scalar_scan_for_every_kernel() {
    // dims around the 8- and 16-lane widths and the 4-accumulator groups; n across the
    // 256-row block boundary; k from 0 to past n.
    let mut out = vec![(7u32, 0.5f32); 3]; // stale contents must not leak into a result
    for kernel in kernels() {
        for (n, dim) in [
            (1, 1),
            (300, 5),
            (513, 31),
            (257, 33),
            (700, 100),
            (300, 769),
        ] {
            let e = random_embeddings(n, dim, (n * 31 + dim) as u64);
            let cue = random_cue(dim, dim as u64 + 1);
            for k in [0, 1, 2, 17, 256, n - 1, n, n + 1, 10 * n] {
                top_k_with(kernel, &e, &cue, k, &mut out);
                let what = format!("{} n={n} dim={dim} k={k}", kernel.name());
                assert_matches_scalar(&out, &e, &cue, k, &what);
            }
        }
    }
}

#[test]
fn k_zero_and_k_past_n() {
    let e = random_embeddings(40, 17, 3);
    let cue = random_cue(17, 4);
    for kernel in kernels() {
        let mut out = vec![(1, 1.0)];
        top_k_with(kernel, &e, &cue, 0, &mut out);
        assert!(out.is_empty(), "{}: k = 0 returns nothing", kernel.name());
        top_k_with(kernel, &e, &cue, 1000, &mut out);
        assert_eq!(out.len(), 40, "{}: k > n returns every row", kernel.name());
    }
}

/// Rows `[x, …]` whose only component along the cue `e₀` is `x`: every kernel computes
/// `x·1 + 0 + … + 0` exactly, so their scores are bit-identical and equal to the scalar
/// scan's. Values are drawn from a handful, so distinct rows tie exactly, across the block
/// boundary at 256.
fn exact_tie_rows(n: usize, dim: usize) -> (Embeddings, Vec<f32>) {
    // Pythagorean pairs: (a, b) with a² + b² = 1 exactly for the normalisation; the rest 0.
    let pairs = [
        (0.6f32, 0.8f32),
        (0.8, 0.6),
        (0.28, 0.96),
        (0.0, 1.0),
        (-0.6, 0.8),
    ];
    let mut rng = SeededRng::new(12);
    let mut data = vec![0f32; n * dim];
    for row in data.chunks_exact_mut(dim) {
        let (a, b) = pairs[rng.below(pairs.len() as u64) as usize];
        row[0] = a;
        // b anywhere but column 0: the rows differ, the scores do not.
        let col = 1 + rng.below(dim as u64 - 1) as usize;
        row[col] = if rng.below(2) == 0 { b } else { -b };
    }
    let e = Embeddings::from_rows(dim, data).expect("unit rows");
    let mut cue = vec![0f32; dim];
    cue[0] = 1.0;
    (e, cue)
}

#[test]
fn exact_ties_between_distinct_rows_rank_by_lower_id_in_every_kernel() {
    for dim in [3, 17, 40] {
        let (e, cue) = exact_tie_rows(600, dim);
        let want = scalar_scan(&e, &cue);
        for kernel in kernels() {
            for k in [1, 100, 300, 599, 600] {
                let mut out = Vec::new();
                top_k_with(kernel, &e, &cue, k, &mut out);
                let got: Vec<(u32, f64)> = out.iter().map(|&(i, s)| (i, f64::from(s))).collect();
                assert_eq!(
                    got,
                    want[..k],
                    "{} dim={dim} k={k}: exact ties must break by lower id",
                    kernel.name()
                );
            }
        }
    }
}

#[test]
fn identical_rows_score_bit_identically_wherever_they_sit() {
    // One vector copied into rows 0, 255, 256, 511, 512 and 700 (both sides of each block
    // boundary), the rest random: the copies score the same bits and rank in id order.
    let dim = 45;
    let mut data = random_rows(701, dim, 8);
    let copy: Vec<f32> = random_rows(1, dim, 9);
    let at = [0usize, 255, 256, 511, 512, 700];
    for &i in &at {
        data[i * dim..(i + 1) * dim].copy_from_slice(&copy);
    }
    let e = Embeddings::from_rows(dim, data).unwrap();
    let cue = e.row(0).to_vec();
    for kernel in kernels() {
        let mut out = Vec::new();
        top_k_with(kernel, &e, &cue, 6, &mut out);
        let ids: Vec<u32> = out.iter().map(|h| h.0).collect();
        assert_eq!(ids, at.map(|i| i as u32), "{}", kernel.name());
        assert!(
            out.iter().all(|h| h.1.to_bits() == out[0].1.to_bits()),
            "{}: copies scored differently: {out:?}",
            kernel.name()
        );
        assert_matches_scalar(&out, &e, &cue, 6, kernel.name());
    }
}

// ---------------------------------------------------------------------------------------------
// SeedIndex: exact and quantized seeding, every kernel combination
// ---------------------------------------------------------------------------------------------

/// The canonical top-k over every row: what `SeedIndex::top_k` must return in either mode.
fn canonical_top_k(e: &Embeddings, cue: &[f32], k: usize) -> Vec<(u32, f32)> {
    let mut all: Vec<(u32, f32)> = (0..e.len())
        .map(|i| (i as u32, canonical_dot(e.row(i), cue)))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

fn bits(hits: &[(u32, f32)]) -> Vec<(u32, u32)> {
    hits.iter().map(|&(i, s)| (i, s.to_bits())).collect()
}

#[test]
fn quantized_seeding_finds_the_exact_top_k_on_warm_10k() {
    let (w, _, gen) = warm_10k();
    let config = RecallConfig {
        similarity: SimilarityMode::Quantized,
        rerank_factor: 4,
        ..w.recall
    };
    let k = config.max_candidates;
    let index = SeedIndex::new(gen.embeddings.clone(), true);
    let cues = CueList::draw(
        &mut CueStream::new(w.seed, w.embeddings.unwrap().cue_noise),
        index.embeddings(),
        20,
    );
    let mut s = RecallScratch::for_config(&config);
    let (mut exact, mut quant) = (Vec::new(), Vec::new());
    for i in 0..cues.len() {
        let (cue, node) = cues.get(i);
        index.top_k(SimilarityMode::Exact, 1, cue, k, &mut s, &mut exact);
        index.top_k(SimilarityMode::Quantized, 4, cue, k, &mut s, &mut quant);
        assert_eq!(bits(&quant), bits(&exact), "cue {i} (node {node})");
        if i < 3 {
            // The exact scan is the canonical top-k of all 10k rows.
            assert_eq!(
                bits(&exact),
                bits(&canonical_top_k(index.embeddings(), cue, k))
            );
        }
    }
    let r = recall_at_k(
        &index,
        &mut CueStream::new(w.seed, w.embeddings.unwrap().cue_noise),
        &config,
        20,
    );
    assert_eq!((r.requests, r.k, r.mean, r.min), (20, 100, 1.0, 1.0));
}

#[test]
fn every_kernel_combination_gives_bit_identical_hits() {
    // Clustered data like warm-10k's (a BA graph, graph-Voronoi cells) but smaller, and a dim
    // that is neither a multiple of 16 nor of the int8 rows' 64-byte stride.
    let w = Workload::parse(&recall_toml(), "recall-test.toml").unwrap();
    let mut p = w.graph.clone();
    p.nodes = 1500;
    let g = spreadbench::graph::generate::generate(&p).unwrap();
    for dim in [100, 768] {
        let spec = spreadbench::recall::EmbeddingSpec {
            dim,
            clusters: 15,
            noise: 0.03,
            cue_noise: 0.02,
            seed: 5,
        };
        let e = Embeddings::generate(&g, &spec).unwrap().embeddings;
        let cues = CueList::draw(&mut CueStream::new(6, spec.cue_noise), &e, 8);
        let mut reference: Option<Vec<Vec<(u32, u32)>>> = None;
        for kernel in kernels() {
            for quant in quant_kernels() {
                let index = SeedIndex::new(e.clone(), true).with_kernels(kernel, quant);
                let mut s = RecallScratch::default();
                let mut out = Vec::new();
                let mut got = Vec::new();
                for i in 0..cues.len() {
                    for mode in [SimilarityMode::Exact, SimilarityMode::Quantized] {
                        index.top_k(mode, 4, cues.get(i).0, 50, &mut s, &mut out);
                        got.push(bits(&out));
                    }
                }
                match &reference {
                    None => reference = Some(got),
                    Some(r) => assert_eq!(
                        &got,
                        r,
                        "dim {dim}: {} / {} differs from the first combination",
                        kernel.name(),
                        quant.name()
                    ),
                }
            }
        }
        // And both modes are the canonical top-k.
        let r = reference.unwrap();
        for i in 0..cues.len() {
            let want = bits(&canonical_top_k(&e, cues.get(i).0, 50));
            assert_eq!(r[2 * i], want, "dim {dim}, cue {i}: exact");
            assert_eq!(r[2 * i + 1], want, "dim {dim}, cue {i}: quantized");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// .npy
// ---------------------------------------------------------------------------------------------

#[test]
fn npy_round_trip_through_files() {
    let t = tempfile::tempdir().unwrap();
    for (n, dim) in [(1, 1), (3, 17), (500, 32), (2, 768)] {
        let e = random_embeddings(n, dim, dim as u64);
        let p = t.path().join(format!("e{n}x{dim}.npy"));
        write_npy(&p, &e).unwrap();
        let back = read_npy(&p, n).unwrap();
        assert_eq!(back.as_slice(), e.as_slice(), "{n} × {dim}: bit-exact");
        assert_eq!((back.len(), back.dim()), (n, dim));
        // A row of it read back as a cue, both as [dim] and [1, dim].
        let one = Embeddings::from_rows(dim, e.row(n - 1).to_vec()).unwrap();
        let q = t.path().join("cue.npy");
        write_npy(&q, &one).unwrap();
        let cue = read_cue(&q, dim).unwrap();
        assert_eq!(cue.len(), dim);
        assert!(cue
            .iter()
            .zip(e.row(n - 1))
            .all(|(a, b)| (a - b).abs() <= 1e-7));
        let flat = npy_bytes("<f4", &format!("({dim},)"), &f32_bytes(e.row(n - 1)));
        std::fs::write(&q, flat).unwrap();
        assert_eq!(read_cue(&q, dim).unwrap(), cue);
    }
    // Nothing but the files written: no temporary left behind.
    let mut names: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "cue.npy",
            "e1x1.npy",
            "e2x768.npy",
            "e3x17.npy",
            "e500x32.npy"
        ]
    );
}

/// A `.npy` file written by hand: magic, version 1.0, the header dict padded with spaces to a
/// multiple of 64 bytes and ended by a newline, then `data`.
fn npy_bytes(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend_from_slice(data);
    b
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn every_bad_npy_is_one_message_naming_the_file() {
    let t = tempfile::tempdir().unwrap();
    let ones = vec![1f32; 3 * 4];
    let good = npy_bytes("<f4", "(3, 4)", &f32_bytes(&ones));
    let with = |i: usize, v: f32| {
        let mut d = ones.clone();
        d[i] = v;
        npy_bytes("<f4", "(3, 4)", &f32_bytes(&d))
    };
    let header_len = good.len() - 48;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("f8", npy_bytes("<f8", "(3, 4)", &[0; 96]), "dtype is '<f8'"),
        ("i4", npy_bytes("<i4", "(3, 4)", &[0; 48]), "dtype is '<i4'"),
        (
            "1d",
            npy_bytes("<f4", "(12,)", &[0; 48]),
            "shape is [12]; expected [3, dim]",
        ),
        (
            "3d",
            npy_bytes("<f4", "(3, 2, 2)", &[0; 48]),
            "shape is [3, 2, 2]",
        ),
        (
            "nodes",
            npy_bytes("<f4", "(4, 3)", &[0; 48]),
            "shape is [4, 3]; expected [3, dim]",
        ),
        ("nan", with(5, f32::NAN), "row 1 holds NaN at column 1"),
        (
            "inf",
            with(11, f32::INFINITY),
            "row 2 holds inf at column 3",
        ),
        (
            "ninf",
            with(0, f32::NEG_INFINITY),
            "row 0 holds -inf at column 0",
        ),
        (
            "zero",
            npy_bytes(
                "<f4",
                "(3, 4)",
                &f32_bytes(&[[1.0; 4], [0.0; 4], [1.0; 4]].concat()),
            ),
            "row 1 is all zeros",
        ),
        (
            "header",
            good[..header_len - 5].to_vec(),
            "truncated: the file ends inside its .npy header",
        ),
        ("magic", good[..4].to_vec(), "truncated"),
        (
            "data",
            good[..good.len() - 3].to_vec(),
            "truncated: its header declares [3, 4]",
        ),
        (
            "trailing",
            [good.clone(), vec![0]].concat(),
            "longer than its header declares",
        ),
        ("empty", Vec::new(), "not a .npy file"),
    ];
    for (name, bytes, needle) in cases {
        let p = t.path().join(format!("{name}.npy"));
        std::fs::write(&p, &bytes).unwrap();
        let err = read_npy(&p, 3).expect_err(name).0;
        assert!(
            err.starts_with(&format!("{}: ", p.display())) && err.contains(needle),
            "{name}: {err:?} should name the file and say {needle:?}"
        );
        assert!(!err.contains('\n'), "{name}: one line: {err:?}");
    }
    assert!(
        read_npy(&t.path().join("ok.npy"), 3).is_err(),
        "a missing file"
    );
    std::fs::write(t.path().join("ok.npy"), &good).unwrap();
    assert_eq!(read_npy(&t.path().join("ok.npy"), 3).unwrap().len(), 3);
}

#[test]
fn a_cue_of_the_wrong_dimension_names_the_file() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("cue.npy");
    for shape in ["(5,)", "(1, 5)", "(2, 4)", "(4, 1)"] {
        std::fs::write(&p, npy_bytes("<f4", shape, &[0; 40])).unwrap();
        let err = read_cue(&p, 4).unwrap_err().0;
        assert!(
            err.starts_with(&format!("{}: shape is ", p.display()))
                && err.contains("[4] or [1, 4]"),
            "{shape}: {err}"
        );
    }
    std::fs::write(&p, npy_bytes("<f4", "(4,)", &f32_bytes(&[0.0; 4]))).unwrap();
    assert!(read_cue(&p, 4).unwrap_err().0.contains("all zeros"));
}

// ---------------------------------------------------------------------------------------------
// Seeding and ranking by hand
// ---------------------------------------------------------------------------------------------

/// One fixed-point unit.
const UNIT: f64 = 1.0 / 4_294_967_296.0;

#[test]
fn seed_activation_is_the_sigmoid_rounded_to_fixed_point() {
    let c = RecallConfig {
        similarity_threshold: 0.4,
        temperature: 0.5,
        ..RecallConfig::default()
    };
    // The similarity arrives as f32, so x = (f32(s) − 0.4) / 0.5 and the result is rounded to
    // the nearest 2⁻³² (computed with 60-digit decimals):
    // - s = 0.4 is 0.4000000059604645 in f32: x = 1.19e-8, sigmoid = 0.5 + 2.980e-9 = 0.5 +
    //   12.8 units → 0.5 + 13·2⁻³²;
    // - s = 0.9 is 0.8999999761581421: x = 1 − 4.77e-8, sigmoid = 0.7310585692548 (sigmoid(1)
    //   = 0.7310585786300 less 0.1966·4.77e-8) → 3139872646·2⁻³²;
    // - s = 0.65 is 0.6499999761581421: x = 0.5 − 4.77e-8, sigmoid = 0.6224593199960
    //   (sigmoid(0.5) = 0.6224593312019 less 0.2350·4.77e-8) → 2673442422·2⁻³².
    for (s, units, nominal) in [
        (0.4f32, 2_147_483_661u64, 0.5),
        (0.9, 3_139_872_646, 0.731_058_578_6),
        (0.65, 2_673_442_422, 0.622_459_331_2),
    ] {
        let a = c.seed_activation(s);
        assert_eq!(a, units as f64 * UNIT, "s = {s}");
        assert!((a - nominal).abs() < 2e-8, "s = {s}: {a} vs {nominal}");
    }
    // Exactly at θ in f64 terms (s = 0.5 with θ 0.5, both exact): sigmoid(0) = 0.5.
    let half = RecallConfig {
        similarity_threshold: 0.5,
        ..c
    };
    assert_eq!(half.seed_activation(0.5), 0.5);
    // Far below θ the sigmoid underflows the fixed point: the seed keeps one unit, never 0.
    let steep = RecallConfig {
        similarity_threshold: 1.0,
        temperature: 0.001,
        ..c
    };
    assert_eq!(steep.seed_activation(-1.0), UNIT);
    // Far above: at most 1.
    assert_eq!(
        RecallConfig {
            similarity_threshold: -1.0,
            temperature: 0.001,
            ..c
        }
        .seed_activation(1.0),
        1.0
    );
}

/// The hand-worked recall: six warm nodes (κ 0.95), vectors in the plane, cue `[1, 0]`.
///
/// | node | vector (normalised) | s = cos | seed? | a₀ = sigmoid((s − 0.4)/0.5) in 2⁻³² units |
/// |---|---|---|---|---|
/// | 0 | [1, 0]     | 1.0        | yes | 3300788811 (sigmoid(1.2) = 0.768524783) |
/// | 1 | [0.6, 0.8] | 0.6 (f32)  | yes | 2571343970 (≈ sigmoid(0.4) = 0.598687672) |
/// | 2 | [0, 1]     | 0          | no  | |
/// | 3 | [0.8, 0.6] | 0.8 (f32)  | yes | 2963417853 (≈ sigmoid(0.8) = 0.689974486) |
/// | 4 | [0, 1]     | 0          | no  | |
/// | 5 | [−1, 0]    | −1         | no  | |
///
/// Edges 0→2 (0.75), 1→2 (0.25), 3→4 (0.25), 2→5 (1.0); depth 2, no decay, no fan effect.
/// Each contribution is `round(a·w)` in units, ties to even:
/// - hop 1: n2 = 3300788811·0.75 = 2475591608.25 → 2475591608, plus 2571343970·0.25 =
///   642835992.5 → 642835992 (even): 3118427600; n4 = 2963417853·0.25 = 740854463.25 →
///   740854463. Both pass warm θ 0.05.
/// - hop 2: n5 = 3118427600·1.0 = 3118427600 (the same as n2: a tie, broken by id).
const A0: u64 = 3_300_788_811;
const A1: u64 = 2_571_343_970;
const A3: u64 = 2_963_417_853;
const N2: u64 = 3_118_427_600;
const N4: u64 = 740_854_463;
const N5: u64 = 3_118_427_600;

fn tiny_graph() -> Graph {
    let e = |src, dst, weight| EdgeSpec {
        src,
        dst,
        weight,
        kind: EdgeKind::Excitatory,
    };
    Graph::from_edges(
        &[Tier::Warm; 6],
        vec![e(0, 2, 0.75), e(1, 2, 0.25), e(3, 4, 0.25), e(2, 5, 1.0)],
    )
    .unwrap()
}

fn tiny_index() -> SeedIndex {
    let rows = vec![1.0, 0.0, 3.0, 4.0, 0.0, 1.0, 4.0, 3.0, 0.0, 1.0, -1.0, 0.0];
    let e = Embeddings::from_rows(2, rows).unwrap();
    assert_eq!(
        (e.row(1), e.row(3)),
        (&[0.6f32, 0.8][..], &[0.8f32, 0.6][..])
    );
    SeedIndex::new(e, true)
}

fn tiny_spread() -> SpreadConfig {
    SpreadConfig {
        max_depth: 2,
        decay: Decay::Linear { slope: 0.0 },
        fan_effect: FanEffect::None,
        ..SpreadConfig::default()
    }
}

struct Recall {
    s: RecallScratch,
    spread: SpreadResult,
    times: spreadbench::recall::PhaseTimes,
}

fn recall_tiny(config: RecallConfig, spread: SpreadConfig) -> Recall {
    let g = tiny_graph();
    let index = tiny_index();
    // As the commands build it: the workload's `[spread]` with recall's overrides.
    let spreader = Spreader::new(config.spread_config(&spread)).unwrap();
    let r = Recaller::new(config, spreader).unwrap();
    let mut s = RecallScratch::for_config(&config);
    let mut result = SpreadResult::default();
    let times = r
        .recall_into(
            &g,
            &index,
            &[1.0, 0.0],
            &mut s,
            &mut SpreadScratch::new(6),
            &mut result,
        )
        .unwrap();
    Recall {
        s,
        spread: result,
        times,
    }
}

fn tiny_config(mode: RecallMode) -> RecallConfig {
    RecallConfig {
        mode,
        max_candidates: 10,
        ..RecallConfig::default()
    }
}

/// (id, activation units, similarity) of every node the tiny recall reaches, by id.
fn reached() -> Vec<(u32, u64, Option<f32>)> {
    vec![
        (0, A0, Some(1.0)),
        (1, A1, Some(0.6)),
        (2, N2, None),
        (3, A3, Some(0.8)),
        (4, N4, None),
        (5, N5, None),
    ]
}

#[track_caller]
fn assert_close(got: f64, want: f64, what: &str) {
    assert!((got - want).abs() <= 1e-12, "{what}: {got} vs {want}");
}

#[test]
fn hybrid_scores_seeds_as_the_midpoint_and_others_as_activation_times_confidence() {
    let r = recall_tiny(tiny_config(RecallMode::Hybrid), tiny_spread());
    // Seeds: the hits at or above θ_sim in rank order, with their sigmoid activations.
    let seeds: Vec<(u32, f32, f64)> =
        r.s.seeds
            .iter()
            .map(|h| (h.node, h.similarity, h.activation))
            .collect();
    assert_eq!(
        seeds,
        [
            (0, 1.0, A0 as f64 * UNIT),
            (3, 0.8, A3 as f64 * UNIT),
            (1, 0.6, A1 as f64 * UNIT)
        ]
    );
    assert_eq!(r.s.hits.len(), 6, "every row is a hit (k = 10 > 6 nodes)");
    // Scores by hand: a = units·2⁻³², confidence = 0.95·a;
    // seeds (a·c + s)/2: n0 (0.561099 + 1)/2 = 0.780549, n3 (0.452262 + 0.8)/2 = 0.626131,
    // n1 (0.340506 + 0.6)/2 = 0.470253; others a·c: n2 = n5 = 0.500813, n4 = 0.028266.
    let score = |units: u64, sim: Option<f32>| {
        let a = units as f64 * UNIT;
        match sim {
            Some(s) => (a * (a * 0.95) + f64::from(s)) / 2.0,
            None => a * (a * 0.95),
        }
    };
    let order = [0u32, 3, 2, 5, 1, 4];
    let got: Vec<u32> = r.s.results.iter().map(|m| m.id).collect();
    assert_eq!(got, order, "score descending, then id (2 and 5 tie)");
    for m in &r.s.results {
        let (_, units, sim) = reached()[m.id as usize];
        let a = units as f64 * UNIT;
        assert_eq!(m.activation, a, "node {}", m.id);
        assert_close(m.confidence, a * 0.95, "confidence");
        assert_close(m.score, score(units, sim), &format!("node {} score", m.id));
        assert_eq!(m.similarity, sim, "node {}", m.id);
        assert_eq!(m.tier, Tier::Warm);
    }
    let hops: Vec<u32> = r.s.results.iter().map(|m| m.hop).collect();
    assert_eq!(hops, [0, 0, 1, 2, 0, 1]);
    assert!(r.times.spread.is_some(), "hybrid spreads");
    assert_eq!(r.spread.work.nodes_activated, 6);
    assert_eq!(r.spread.work.hops, 2);
}

#[test]
fn hybrid_scores_match_the_rounded_hand_figures() {
    let r = recall_tiny(tiny_config(RecallMode::Hybrid), tiny_spread());
    let by_id = |id: u32| r.s.results.iter().find(|m| m.id == id).unwrap().score;
    for (id, want) in [
        (0, 0.780_549),
        (3, 0.626_131),
        (1, 0.470_253),
        (2, 0.500_813),
        (5, 0.500_813),
        (4, 0.028_266),
    ] {
        assert!((by_id(id) - want).abs() < 1e-6, "node {id}: {}", by_id(id));
    }
}

#[test]
fn min_confidence_drops_by_confidence_and_max_results_cuts_in_rank_order() {
    // min_confidence 0.55 drops n4 (confidence 0.164) and keeps n2, n5 (0.690) and n1 (0.569)
    // although their scores (0.501, 0.470) are below it: the drop is by confidence.
    let c = RecallConfig {
        min_confidence: 0.55,
        ..tiny_config(RecallMode::Hybrid)
    };
    let r = recall_tiny(c, tiny_spread());
    let ids: Vec<u32> = r.s.results.iter().map(|m| m.id).collect();
    assert_eq!(ids, [0, 3, 2, 5, 1]);
    // 0.7 keeps only n0 (confidence 0.730): n2, n5 (0.690), n3 (0.655), n1 (0.569) go.
    let c = RecallConfig {
        min_confidence: 0.7,
        ..tiny_config(RecallMode::Hybrid)
    };
    let ids: Vec<u32> = recall_tiny(c, tiny_spread())
        .s
        .results
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [0], "only n0 has confidence ≥ 0.7 (0.730)");
    // max_results 3: the best three, the tie at n2/n5 cut by id.
    let c = RecallConfig {
        max_results: 3,
        ..tiny_config(RecallMode::Hybrid)
    };
    let ids: Vec<u32> = recall_tiny(c, tiny_spread())
        .s
        .results
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [0, 3, 2]);
    // max_candidates 2: only the two best hits can seed (n0, n3); n1 is neither seed nor
    // reached, so the spread reaches n2 from n0 alone: 2475591608 units.
    let c = RecallConfig {
        max_candidates: 2,
        ..tiny_config(RecallMode::Hybrid)
    };
    let r = recall_tiny(c, tiny_spread());
    assert_eq!(r.s.seeds.len(), 2);
    let n2 = r.s.results.iter().find(|m| m.id == 2).unwrap();
    assert_eq!(n2.activation, 2_475_591_608.0 * UNIT);
    assert!(r.s.results.iter().all(|m| m.id != 1));
}

#[test]
fn similarity_mode_scores_by_similarity_and_does_not_spread() {
    let r = recall_tiny(tiny_config(RecallMode::Similarity), tiny_spread());
    let got: Vec<(u32, f64, Option<f32>, u32)> =
        r.s.results
            .iter()
            .map(|m| (m.id, m.score, m.similarity, m.hop))
            .collect();
    assert_eq!(
        got,
        [
            (0, 1.0, Some(1.0), 0),
            (3, f64::from(0.8f32), Some(0.8), 0),
            (1, f64::from(0.6f32), Some(0.6), 0)
        ]
    );
    for m in &r.s.results {
        assert_close(m.confidence, m.activation * 0.95, "confidence");
    }
    assert_eq!(r.times.spread, None, "no spread in similarity mode");
    assert_eq!(r.spread.work.hops, 0);
    assert!(r.spread.nodes.is_empty());
    // min_confidence applies to the seeds' confidence: 0.6 drops n1 (0.569), keeps n3 (0.655).
    let c = RecallConfig {
        min_confidence: 0.6,
        ..tiny_config(RecallMode::Similarity)
    };
    let ids: Vec<u32> = recall_tiny(c, tiny_spread())
        .s
        .results
        .iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [0, 3]);
}

#[test]
fn spreading_mode_ranks_by_activation() {
    let r = recall_tiny(tiny_config(RecallMode::Spreading), tiny_spread());
    // a: n0 0.7685, n2 = n5 0.7261, n3 0.6900, n1 0.5987, n4 0.1725.
    let got: Vec<(u32, f64)> = r.s.results.iter().map(|m| (m.id, m.score)).collect();
    let want: Vec<(u32, f64)> = [(0, A0), (2, N2), (5, N5), (3, A3), (1, A1), (4, N4)]
        .iter()
        .map(|&(id, u)| (id, u as f64 * UNIT))
        .collect();
    assert_eq!(got, want);
    assert!(r.times.spread.is_some());
}

#[test]
fn no_hit_above_theta_means_no_spread_and_no_results() {
    let c = RecallConfig {
        similarity_threshold: 1.0,
        ..tiny_config(RecallMode::Hybrid)
    };
    // Only n0 has s = 1.0 ≥ θ: one seed.
    assert_eq!(recall_tiny(c, tiny_spread()).s.seeds.len(), 1);
    let g = tiny_graph();
    let index = tiny_index();
    let r = Recaller::new(
        tiny_config(RecallMode::Hybrid),
        Spreader::new(tiny_spread()).unwrap(),
    )
    .unwrap();
    let mut s = RecallScratch::default();
    let mut spread = SpreadResult::default();
    // Cue [0, −1]: n0 and n5 at 0, n1 −0.8, n3 −0.6, n2 and n4 −1; no hit reaches θ_sim.
    let t = r
        .recall_into(
            &g,
            &index,
            &[0.0, -1.0],
            &mut s,
            &mut SpreadScratch::new(6),
            &mut spread,
        )
        .unwrap();
    assert!(s.seeds.is_empty() && s.results.is_empty());
    assert_eq!(t.spread, None);
}

/// A workload's `[spread] top_k` (the `spread` command's cut, by activation) must not cut a
/// recall before it ranks: recall's cut is `max_results`, applied after the hybrid scores.
/// With `top_k = 2` the spread kept n0 and n2 only, and the second-best memory, seed n3
/// (score 0.626), was lost.
#[test]
fn the_spreads_top_k_does_not_cut_recall_before_ranking() {
    let spread = SpreadConfig {
        top_k: Some(2),
        ..tiny_spread()
    };
    let r = recall_tiny(tiny_config(RecallMode::Hybrid), spread);
    let ids: Vec<u32> = r.s.results.iter().map(|m| m.id).collect();
    assert_eq!(ids, [0, 3, 2, 5, 1, 4]);
}

// ---------------------------------------------------------------------------------------------
// Threads
// ---------------------------------------------------------------------------------------------

#[test]
fn recall_is_identical_for_one_and_two_threads_on_warm_10k() {
    let (w, g, gen) = warm_10k();
    let index = SeedIndex::new(gen.embeddings.clone(), true);
    let spread = w.recall.spread_config(&w.spread);
    let one = Recaller::new(w.recall, Spreader::new(spread.clone()).unwrap()).unwrap();
    let two = Recaller::new(
        w.recall,
        Spreader::new(spread)
            .unwrap()
            .with_executor(Some(Arc::new(HopExecutor::new(2))))
            .with_parallel_min_edges(0),
    )
    .unwrap();
    assert_eq!(two.spreader().threads(), 2);
    let cues = CueList::draw(
        &mut CueStream::new(w.seed, w.embeddings.unwrap().cue_noise),
        index.embeddings(),
        50,
    );
    let n = g.node_count();
    let (mut s1, mut s2) = (
        RecallScratch::for_config(&w.recall),
        RecallScratch::for_config(&w.recall),
    );
    let (mut x1, mut x2) = (SpreadScratch::new(n), SpreadScratch::new(n));
    let (mut r1, mut r2) = (SpreadResult::default(), SpreadResult::default());
    let mut spread_ran = 0;
    for i in 0..cues.len() {
        let cue = cues.get(i).0;
        let t1 = one
            .recall_into(g, &index, cue, &mut s1, &mut x1, &mut r1)
            .unwrap();
        let t2 = two
            .recall_into(g, &index, cue, &mut s2, &mut x2, &mut r2)
            .unwrap();
        assert_eq!(s1.seeds, s2.seeds, "cue {i}: seeds");
        assert_eq!(s1.results, s2.results, "cue {i}: results");
        assert_eq!(r1, r2, "cue {i}: the spread and its work counters");
        assert_eq!(t1.spread.is_some(), t2.spread.is_some());
        spread_ran += usize::from(t1.spread.is_some());
        assert!(
            !s1.results.is_empty(),
            "cue {i}: a warm-10k cue recalls something"
        );
    }
    assert_eq!(spread_ran, 50, "every cue seeded a spread");
}

/// A small workload with `[embeddings]` for tests where warm-10k is not needed.
fn recall_toml() -> String {
    common::small_workload(
        "recall-test",
        7,
        r#"[embeddings]
dim = 32
clusters = 5
noise = 0.1
cue_noise = 0.05

[recall]
max_candidates = 20
max_results = 30
fan_effect = "sqrt-out-degree"
"#,
    )
}

/// Exact seeding's hits are machine-independent only off near-ties: the f32 scan keeps k + 16
/// candidates, so when more than 16 rows sit within the kernels' rounding of the k-th score
/// (here 300 near-duplicates of one vector, 3·10⁻⁷ apart per component), which rows reach
/// the canonical re-score depends on the kernel. The pipeline's documentation states this
/// limit; the test records it (`cargo test --test recall -- --ignored` shows which kernel
/// misses the canonical top-5).
#[test]
#[ignore = "known limit of exact seeding: near-duplicate rows beyond the 16-row margin"]
fn exact_seeding_with_many_near_duplicates_is_kernel_independent() {
    let dim = 768;
    let base = random_rows(1, dim, 1);
    let mut rng = SeededRng::new(2);
    let mut data = Vec::new();
    for _ in 0..300 {
        for &b in &base {
            data.push((f64::from(b) + 3e-7 * rng.range_f64(-1.0, 1.0)) as f32);
        }
    }
    data.extend(random_rows(300, dim, 3));
    let e = Embeddings::from_rows(dim, data).unwrap();
    let cue = random_cue(dim, 1);
    let want = bits(&canonical_top_k(&e, &cue, 5));
    for kernel in kernels() {
        let index = SeedIndex::new(e.clone(), false).with_kernels(kernel, QuantKernel::Portable);
        let mut out = Vec::new();
        index.top_k(
            SimilarityMode::Exact,
            1,
            &cue,
            5,
            &mut RecallScratch::default(),
            &mut out,
        );
        assert_eq!(bits(&out), want, "{}", kernel.name());
    }
}
