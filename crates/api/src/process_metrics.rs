//! The `process_*` metrics every Prometheus client library exports (CPU,
//! memory, file descriptors, start time), read from `/proc/self` at scrape
//! time; dashboards and the upstream mixins use them for every component.

use sightline_model::exposition::Exposition;

pub fn expose(e: &mut Exposition) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return;
    };
    // Fields after the parenthesised command name, which may contain spaces.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): field n is f[n - 3].
    let field = |n: usize| f.get(n - 3).and_then(|s| s.parse::<f64>().ok());
    // SAFETY: sysconf only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as f64;
    if let (Some(utime), Some(stime)) = (field(14), field(15)) {
        e.counter1(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
            (utime + stime) / ticks,
        );
    }
    if let Some(fds) = std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count()) {
        e.gauge1(
            "process_open_fds",
            "Number of open file descriptors.",
            fds as f64,
        );
    }
    if let Some(max) = max_open_files() {
        e.gauge1(
            "process_max_fds",
            "Maximum number of open file descriptors.",
            max,
        );
    }
    if let Some(vsize) = field(23) {
        e.gauge1(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            vsize,
        );
    }
    if let Some(rss) = field(24) {
        e.gauge1(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            rss * page,
        );
    }
    if let (Some(start), Some(boot)) = (field(22), boot_time()) {
        e.gauge1(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            boot + start / ticks,
        );
    }
}

fn max_open_files() -> Option<f64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line["Max open files".len()..].split_whitespace().next()?;
    match soft {
        "unlimited" => Some(f64::INFINITY),
        n => n.parse().ok(),
    }
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mut e = Exposition::new();
        expose(&mut e);
        let text = e.into_string();
        let value = |name: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name} missing in {text}"))
                .parse()
                .unwrap()
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_open_fds") >= 3.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(
            start <= now + 1.0 && start > now - 86400.0 * 365.0,
            "{start}"
        );
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }
}
