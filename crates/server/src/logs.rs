//! Recent log lines kept in memory for the admin UI's logs page.
//!
//! The binary's `tracing` subscriber pushes every line it writes into a [`LogBuffer`]; the UI
//! reads the newest ones, filtered by level, and can follow new lines as they come.

use std::collections::VecDeque;
use std::sync::Mutex;

use jiff::Timestamp;
use tokio::sync::broadcast;

/// One log line as written (the message already carries its fields; secrets are never logged).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LogLine {
    /// When it was logged.
    pub at: Timestamp,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The message and its fields, as one text.
    pub message: String,
}

impl LogLine {
    /// 0 for TRACE … 4 for ERROR (unknown levels count as INFO).
    pub fn severity(&self) -> u8 {
        level_severity(&self.level)
    }
}

/// 0 for TRACE … 4 for ERROR (case-insensitive; unknown levels count as INFO).
pub fn level_severity(level: &str) -> u8 {
    match level.to_ascii_uppercase().as_str() {
        "TRACE" => 0,
        "DEBUG" => 1,
        "WARN" => 3,
        "ERROR" => 4,
        _ => 2,
    }
}

/// The newest `capacity` log lines, and a channel announcing each new one.
#[derive(Debug)]
pub struct LogBuffer {
    capacity: usize,
    lines: Mutex<VecDeque<LogLine>>,
    live: broadcast::Sender<LogLine>,
}

impl LogBuffer {
    /// A buffer keeping the newest `capacity` lines (at least one).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        LogBuffer {
            capacity,
            lines: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            live: broadcast::channel(256).0,
        }
    }

    /// Adds a line, dropping the oldest when full.
    pub fn push(&self, line: LogLine) {
        {
            let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
            if lines.len() == self.capacity {
                lines.pop_front();
            }
            lines.push_back(line.clone());
        }
        let _ = self.live.send(line);
    }

    /// The newest `limit` lines at `min_level` or above (`"WARN"` keeps WARN and ERROR), oldest first.
    pub fn recent(&self, min_level: &str, limit: usize) -> Vec<LogLine> {
        let min = level_severity(min_level);
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<LogLine> = lines.iter().rev().filter(|l| l.severity() >= min).take(limit).cloned().collect();
        out.reverse();
        out
    }

    /// New lines as they are pushed.
    pub fn subscribe(&self) -> broadcast::Receiver<LogLine> {
        self.live.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(level: &str, message: &str) -> LogLine {
        LogLine { at: Timestamp::UNIX_EPOCH, level: level.into(), target: "t".into(), message: message.into() }
    }

    #[test]
    fn keeps_the_newest_lines_and_filters_by_level() {
        let buffer = LogBuffer::new(3);
        for (level, message) in [("INFO", "a"), ("WARN", "b"), ("DEBUG", "c"), ("ERROR", "d")] {
            buffer.push(line(level, message));
        }
        let all: Vec<String> = buffer.recent("TRACE", 10).into_iter().map(|l| l.message).collect();
        assert_eq!(all, ["b", "c", "d"]);
        let warn: Vec<String> = buffer.recent("warn", 10).into_iter().map(|l| l.message).collect();
        assert_eq!(warn, ["b", "d"]);
        let last: Vec<String> = buffer.recent("TRACE", 1).into_iter().map(|l| l.message).collect();
        assert_eq!(last, ["d"]);
    }
}
