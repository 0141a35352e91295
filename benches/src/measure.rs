//! What every benchmark measures with: latency percentiles, the process's
//! resident memory and CPU time, and a child process's CPU time.

use std::time::Duration;

/// Latencies, sorted once, read as percentiles.
#[derive(Debug, Default, Clone)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Latencies {
        samples.sort_unstable();
        Latencies(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many samples are shorter than `limit`.
    pub fn count_under(&self, limit: Duration) -> usize {
        self.0.partition_point(|sample| *sample < limit)
    }

    /// The `p`-th percentile (0–100) in milliseconds; 0 without samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[rank.min(self.0.len() - 1)].as_secs_f64() * 1e3
    }
}

/// The resident set of this process in bytes (Linux `/proc/self/statm`; 0
/// elsewhere).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|text| {
            text.split_whitespace()
                .nth(1)
                .and_then(|pages| pages.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// User plus system CPU time this process has used so far (Linux
/// `/proc/self/stat`, in clock ticks of 1/100 s; zero elsewhere).
pub fn cpu_time() -> Duration {
    cpu_time_in("/proc/self/stat")
}

/// The same for another process (all its threads), such as a server the
/// benchmark started as a child; zero once it has exited.
pub fn cpu_time_of(pid: u32) -> Duration {
    cpu_time_in(&format!("/proc/{pid}/stat"))
}

fn cpu_time_in(stat_path: &str) -> Duration {
    std::fs::read_to_string(stat_path)
        .map(|stat| parse_cpu_time(&stat))
        .unwrap_or(Duration::ZERO)
}

/// utime plus stime of a `/proc/<pid>/stat` line.
fn parse_cpu_time(stat: &str) -> Duration {
    // The command name may hold spaces; fields count from after its ')'.
    let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the full line, 12 and 13 here.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&index| {
            fields
                .get(index)
                .and_then(|field| field.parse::<u64>().ok())
        })
        .sum();
    Duration::from_millis(ticks * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranked_samples() {
        let latencies = Latencies::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(latencies.percentile_ms(50.0), 51.0);
        assert_eq!(latencies.percentile_ms(99.0), 99.0);
        assert_eq!(latencies.percentile_ms(0.0), 1.0);
        assert_eq!(Latencies::default().percentile_ms(50.0), 0.0);
        assert_eq!(latencies.count_under(Duration::from_millis(10)), 9);
    }

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        assert!(resident_bytes() > 0);
        // The kernel counts CPU time in clock ticks (10 ms), so spin until a
        // tick shows rather than for a fixed time; a reader that stays at
        // zero fails at the deadline.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while cpu_time() == Duration::ZERO {
            assert!(std::time::Instant::now() < deadline, "cpu_time stayed zero");
        }
        assert!(cpu_time_of(std::process::id()) > Duration::ZERO);
    }

    #[test]
    fn cpu_time_reads_utime_and_stime_after_the_command_name() {
        let stat = "42 (a (strange) name) S 1 42 42 0 -1 4194560 10 0 0 0 150 50 0 0 20 0 1";
        assert_eq!(parse_cpu_time(stat), Duration::from_secs(2));
        assert_eq!(parse_cpu_time("garbage"), Duration::ZERO);
    }
}
