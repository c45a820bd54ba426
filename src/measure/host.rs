//! Facts about the machine a measurement ran on, read from the OS: they go into every
//! snapshot so that a reader (or `diff`) knows what produced a figure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// CPU model name (from /proc/cpuinfo), or "unknown".
    pub cpu: String,
    /// Available parallelism.
    pub cores: usize,
    /// OS name and release (from /etc/os-release when present).
    pub os: String,
    /// Kernel release, or "unknown".
    pub kernel: String,
    /// /proc/sys/kernel/perf_event_paranoid, or null when it cannot be read.
    pub perf_event_paranoid: Option<i64>,
}

impl HostInfo {
    pub fn detect() -> HostInfo {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let cpu = read("/proc/cpuinfo")
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let os_release = read("/etc/os-release").and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        });
        let os = match os_release {
            Some(r) => format!("{} ({r})", std::env::consts::OS),
            None => std::env::consts::OS.to_string(),
        };
        HostInfo {
            cpu,
            cores: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            os,
            kernel: read("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|| "unknown".into()),
            perf_event_paranoid: read("/proc/sys/kernel/perf_event_paranoid")
                .and_then(|s| s.trim().parse().ok()),
        }
    }
}
