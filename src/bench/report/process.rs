//! CPU time of a process and its descendants, from /proc.

/// CPU seconds (user + system) used so far by a process (`self` or a PID)
/// and all its descendants, from /proc: a forking server such as
/// `socat ... fork` serves each client in a child, and its children's time
/// is its cost too (live children directly, reaped ones through the
/// parent's cutime/cstime).
pub fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let pid: u32 = if pid == "self" {
        std::process::id()
    } else {
        pid.parse().ok()?
    };
    let stats = all_process_stats();
    let own = stats.iter().find(|s| s.pid == pid)?;
    let mut ticks = own.ticks;
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for child in stats.iter().filter(|s| s.ppid == parent) {
            ticks += child.ticks;
            frontier.push(child.pid);
        }
    }
    let per_second = crate::sys::clock_ticks_per_second();
    (per_second > 0).then(|| ticks as f64 / per_second as f64)
}

/// A process's resident memory in bytes, from /proc (`VmRSS`).
pub fn process_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

struct ProcessStat {
    pid: u32,
    ppid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    ticks: u64,
}

fn all_process_stats() -> Vec<ProcessStat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name (which may hold spaces).
        let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
        let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
        Some(ProcessStat {
            pid,
            ppid: number(1)? as u32,
            ticks: number(11)? + number(12)? + number(13)? + number(14)?,
        })
    })
    .collect()
}
