//! The process's resident set size, and the memory still available to it, read from /proc
//! (Linux). Elsewhere these return `None`,
//! and reports say the figure is unavailable rather than zero.

/// Current resident set size in bytes (`VmRSS`).
pub fn current_rss_bytes() -> Option<u64> {
    status_kb("VmRSS:").map(|kb| kb * 1024)
}

/// Peak resident set size in bytes (`VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    status_kb("VmHWM:").map(|kb| kb * 1024)
}

/// Memory the system can give this process now, in bytes: `MemAvailable` from
/// /proc/meminfo, lowered to a cgroup v2 `memory.max` limit when one is set.
pub fn available_memory_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = kb_field(&text, "MemAvailable:")? * 1024;
    let cgroup_limit = std::fs::read_to_string("/sys/fs/cgroup/memory.max")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok());
    Some(cgroup_limit.map_or(available, |l| l.min(available)))
}

fn kb_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn status_kb(key: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    kb_field(&text, key)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn reads_a_plausible_rss() {
        let rss = super::current_rss_bytes().unwrap();
        let peak = super::peak_rss_bytes().unwrap();
        assert!(rss > 100_000 && peak >= rss);
        let avail = super::available_memory_bytes().unwrap();
        assert!(avail > rss, "{avail}");
    }
}
