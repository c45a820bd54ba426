//! A workload file that serde refuses — an unknown variant, a key of another generator, a
//! value of the wrong type — is bad input for every command that reads one: exit 2, one line
//! naming the file, the key path and the line, and nothing written.

mod common;

use common::{sb, text, tmp};
use std::fs;

const HEAD: &str = "name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = 5\n";

#[test]
fn refused_workloads_name_file_key_and_line_and_leave_nothing_behind() {
    let t = tmp();
    let d = t.path();
    let cases = [
        (
            "kind.toml",
            format!("{HEAD}[spread.decay]\nkind = \"foo\"\n"),
            "kind.toml: spread.decay.kind: 'foo' is not one of exponential, power-law, linear \
             (line 6)",
        ),
        (
            "m.toml",
            format!("{HEAD}m = 2\n"),
            "m.toml: graph.m: does not apply to generator 'chain' (line 5)",
        ),
        (
            "type.toml",
            "name = \"t\"\n[graph]\ngenerator = \"chain\"\nnodes = \"5\"\n".to_string(),
            "type.toml: graph.nodes: invalid type: string \"5\", expected i64 (line 4)",
        ),
    ];
    for (file, content, want) in cases {
        fs::write(d.join(file), content).unwrap();
        for args in [
            vec!["run", "-w", file, "--spreads", "10", "--warmup", "1"],
            vec!["spread", "-w", file, "--seeds", "0"],
            vec!["gen", "-w", file, "--out", "g.sbg"],
        ] {
            let out = sb(d).args(&args).output().expect("run spreadbench");
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
            assert_eq!(stderr, format!("spreadbench: error: {want}\n"), "{args:?}");
            assert!(out.stdout.is_empty(), "{args:?}");
            assert!(!d.join("results").exists(), "{args:?} left results/");
            assert!(!d.join("g.sbg").exists(), "{args:?} wrote g.sbg");
        }
    }
}
