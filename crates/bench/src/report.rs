//! Figures and their Markdown: percentiles, the machine, tables, targets, and the sections of
//! `BENCHMARKS.md` (each between markers, so that a later run replaces only its own sections).

use std::fmt::Write as _;
use std::time::Duration;

/// The `p`-th percentile (0–100) of `sorted` by the nearest-rank method; `None` when empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Bytes as MiB with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The machine: cores, memory, CPU model, load average.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Online cores (`available_parallelism`).
    pub cores: usize,
    /// `MemTotal`, bytes.
    pub mem_total: u64,
    /// `model name` of the first CPU.
    pub cpu_model: String,
}

impl Machine {
    /// Reads `/proc/cpuinfo` and `/proc/meminfo`.
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name").and_then(|r| r.split_once(':')).map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let mem_total = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        Machine { cores, mem_total, cpu_model }
    }

    /// One line: `2 cores (CPU), 7.8 GiB`.
    pub fn describe(&self) -> String {
        format!(
            "{} cores ({}), {:.1} GiB memory",
            self.cores,
            self.cpu_model,
            self.mem_total as f64 / (1u64 << 30) as f64
        )
    }
}

/// `/proc/loadavg`'s three averages.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A target and whether it was met.
#[derive(Debug, Clone)]
pub struct Target {
    /// What is measured against what, e.g. `p99 ≤ 500 ms`.
    pub what: String,
    /// The measured figure, as text.
    pub measured: String,
    /// Met or missed.
    pub met: bool,
}

impl Target {
    /// A target `what`, `measured`, met when `met`.
    pub fn new(what: impl Into<String>, measured: impl Into<String>, met: bool) -> Target {
        Target { what: what.into(), measured: measured.into(), met }
    }
}

/// One section of the report.
#[derive(Debug, Clone, Default)]
pub struct Section {
    /// Marker key, e.g. `sync-1000`.
    pub key: String,
    /// Heading.
    pub title: String,
    /// The exact command line.
    pub command: String,
    /// Machine, date and load (one line each).
    pub context: Vec<String>,
    /// Table rows `(figure, value)`.
    pub rows: Vec<(String, String)>,
    /// Targets with met/missed.
    pub targets: Vec<Target>,
    /// Free text (how it was measured, what limited it).
    pub notes: Vec<String>,
}

impl Section {
    /// Adds a figure.
    pub fn row(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.rows.push((name.into(), value.into()));
    }

    /// The Markdown of the section, between its markers.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "<!-- bench:{} -->", self.key);
        let _ = writeln!(s, "## {}\n", self.title);
        let _ = writeln!(s, "Command: `{}`\n", self.command);
        for c in &self.context {
            let _ = writeln!(s, "- {c}");
        }
        let _ = writeln!(s, "\n| figure | value |\n|---|---|");
        for (k, v) in &self.rows {
            let _ = writeln!(s, "| {k} | {v} |");
        }
        if !self.targets.is_empty() {
            let _ = writeln!(s, "\n| target | measured | |\n|---|---|---|");
            for t in &self.targets {
                let _ = writeln!(s, "| {} | {} | {} |", t.what, t.measured, if t.met { "met" } else { "**missed**" });
            }
        }
        if !self.notes.is_empty() {
            s.push('\n');
            for n in &self.notes {
                let _ = writeln!(s, "{n}\n");
            }
        }
        let _ = writeln!(s, "<!-- /bench:{} -->", self.key);
        s
    }
}

/// The heading of a new `BENCHMARKS.md`.
pub const PREAMBLE: &str = "# Benchmarks\n\n\
Produced by `exbridge-bench` (`crates/bench`): the release binaries `exbridge sim` and `exbridge serve` \
run as child processes on loopback; the connector's memory and CPU are its own process's \
(`/proc/PID/status` VmHWM/VmRSS, `/proc/PID/stat` utime+stime). Each section is replaced when the \
benchmark runs again with the same section and size.\n\n";

/// `doc` with `section` replacing the text between its markers, or appended when absent.
pub fn upsert(doc: &str, section: &Section) -> String {
    let doc = if doc.trim().is_empty() { PREAMBLE.to_string() } else { doc.to_string() };
    let begin = format!("<!-- bench:{} -->", section.key);
    let end = format!("<!-- /bench:{} -->", section.key);
    let rendered = section.render();
    if let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end))
        && e > b
    {
        let after = e + end.len();
        let after = if doc[after..].starts_with('\n') { after + 1 } else { after };
        return format!("{}{}{}", &doc[..b], rendered, &doc[after..]);
    }
    let sep = if doc.ends_with("\n\n") {
        ""
    } else if doc.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    format!("{doc}{sep}{rendered}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(d).collect();
        assert_eq!(percentile(&v, 50.0), Some(d(50)));
        assert_eq!(percentile(&v, 99.0), Some(d(99)));
        assert_eq!(percentile(&v, 100.0), Some(d(100)));
        assert_eq!(percentile(&[d(7)], 99.0), Some(d(7)));
        assert_eq!(percentile(&[d(1), d(2), d(3)], 50.0), Some(d(2)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_section_replaces_its_previous_text_and_keeps_the_others() {
        let mut a = Section { key: "sync-1000".into(), title: "Initial sync".into(), ..Section::default() };
        a.row("wall time", "10 s");
        a.targets.push(Target::new("≤ 120 s", "10 s", true));
        let b = Section { key: "idle-1000".into(), title: "Idle".into(), ..Section::default() };
        let doc = upsert(&upsert("", &a), &b);
        assert!(doc.starts_with("# Benchmarks"));
        assert!(doc.contains("| wall time | 10 s |") && doc.contains("| ≤ 120 s | 10 s | met |"));
        a.rows[0].1 = "99 s".into();
        a.targets[0] = Target::new("≤ 120 s", "130 s", false);
        let doc2 = upsert(&doc, &a);
        assert!(doc2.contains("| wall time | 99 s |") && !doc2.contains("| wall time | 10 s |"));
        assert!(doc2.contains("**missed**"));
        assert_eq!(doc2.matches("<!-- bench:sync-1000 -->").count(), 1);
        assert_eq!(doc2.matches("<!-- bench:idle-1000 -->").count(), 1);
        assert!(doc2.find("bench:sync-1000").unwrap() < doc2.find("bench:idle-1000").unwrap(), "order kept");
    }
}
