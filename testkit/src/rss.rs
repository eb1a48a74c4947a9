//! The memory a process used: its peak resident set size.

/// The peak resident set size of this process in bytes (`VmHWM` in
/// `/proc/self/status`); `None` where that file does not exist (not Linux).
pub fn peak_rss_bytes() -> Option<u64> {
    status_kib("VmHWM:").map(|kib| kib * 1024)
}

/// The current resident set size of this process in bytes (`VmRSS`).
pub fn current_rss_bytes() -> Option<u64> {
    status_kib("VmRSS:").map(|kib| kib * 1024)
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_is_at_least_current_and_grows_with_memory() {
        // The RSS first, then the peak: the peak read later holds every
        // RSS before it, even while other tests of this process allocate.
        let now = current_rss_bytes();
        let (Some(now), Some(before)) = (now, peak_rss_bytes()) else {
            // Only Linux has /proc/self/status; elsewhere both are None.
            assert!(peak_rss_bytes().is_none() && std::fs::metadata("/proc/self/status").is_err());
            return;
        };
        assert!(before >= now && now > 0);
        let block = vec![1u8; 64 << 20];
        assert_eq!(block.iter().map(|&b| u64::from(b)).sum::<u64>(), 64 << 20);
        // The block is resident now, so the peak holds at least it; the
        // peak never falls. (Other tests of this process allocate and free
        // concurrently, so the peak before need not be near the RSS now.)
        let after = peak_rss_bytes().unwrap();
        assert!(after >= before, "{before} -> {after}");
        assert!(after >= 64 << 20, "{before} -> {after}");
    }
}
