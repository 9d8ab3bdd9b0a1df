//! Logs: `tracing` to three places.
//!
//! * **stdout**, human-readable text by default, one JSON object per line with
//!   `EXBRIDGE_LOG_FORMAT=json`; the level filter comes from `RUST_LOG` (default `info`, the
//!   simulator's and HTTP libraries' chatter at `warn`). The few lines `serve` and `demo` print
//!   for people (`exbridge: API on …`, the demo's instructions) go to stdout too, so a collector
//!   reading JSON lines from stdout must skip lines that are not JSON objects (they never start
//!   with `{`). Tests and scripts that wait for those lines keep finding them: log lines are
//!   whole lines written one at a time and never split a printed line.
//! * **A rotating file** in `server.data_dir`: `logs/exbridge.log`, in the same format without
//!   colours, rotated by size ([`FILE_MAX_BYTES`], 10 MiB): `exbridge.log` becomes
//!   `exbridge.log.1`, `.1` becomes `.2`, …, and the oldest beyond [`FILE_KEEP`] is deleted.
//!   Size rather than daily rotation bounds the disk use whatever the log volume (a debug
//!   session can write gigabytes a day). Lines are handed to a dedicated thread through a
//!   bounded channel, so logging never blocks the async runtime: when the disk cannot keep up
//!   and the channel is full, lines are dropped and the number dropped is written to the file
//!   once it catches up. [`start_file`] opens the file once the configuration is known;
//!   dropping its [`FileGuard`] (at shutdown) writes out what is queued and flushes.
//! * **The admin UI's buffer** ([`buffer`], a [`LogBuffer`] of the newest
//!   [`BUFFER_LINES`] lines) that `serve` and `demo` hand to
//!   [`AppState::with_logs`](exbridge_server::AppState::with_logs).
//!
//! Secrets are never logged: the code logs names, URLs, states and error messages, never a
//! password, token, webhook secret or key (the configuration's `Secret` prints as
//! `Secret(source, redacted)`); `crates/exbridge/tests/logging.rs` checks it.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use exbridge_server::logs::{LogBuffer, LogLine};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

/// The log file is rotated once it would grow beyond this.
pub const FILE_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// Rotated files kept besides the current one (`exbridge.log.1` … `exbridge.log.5`).
pub const FILE_KEEP: usize = 5;
/// Lines the admin UI's buffer keeps.
pub const BUFFER_LINES: usize = 5000;
/// Lines queued for the file thread before new ones are dropped.
const QUEUE: usize = 8192;

/// Installs the global subscriber once (stdout, the log file once [`start_file`] opened it,
/// the UI buffer); later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,exbridge_sim=warn,hyper=warn,reqwest=warn,sqlx=warn"));
    let json = std::env::var("EXBRIDGE_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let registry = tracing_subscriber::registry().with(filter).with(BufferLayer { buffer: buffer() });
    use tracing_subscriber::fmt::layer;
    let _ = if json {
        registry
            .with(layer().json().with_writer(std::io::stdout).with_ansi(ansi))
            .with(layer().json().with_writer(FileWriter).with_ansi(false))
            .try_init()
    } else {
        registry
            .with(layer().with_writer(std::io::stdout).with_ansi(ansi))
            .with(layer().with_writer(FileWriter).with_ansi(false))
            .try_init()
    };
}

/// The buffer of recent lines the admin UI shows (one per process).
pub fn buffer() -> Arc<LogBuffer> {
    static BUFFER: OnceLock<Arc<LogBuffer>> = OnceLock::new();
    BUFFER.get_or_init(|| Arc::new(LogBuffer::new(BUFFER_LINES))).clone()
}

// --- the UI buffer ---------------------------------------------------------------------------

/// Pushes every event into the [`LogBuffer`] as one line: the message, then `key=value` fields.
struct BufferLayer {
    buffer: Arc<LogBuffer>,
}

#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for BufferLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut visitor = LineVisitor::default();
        event.record(&mut visitor);
        let meta = event.metadata();
        self.buffer.push(LogLine {
            at: jiff::Timestamp::now(),
            level: meta.level().to_string(),
            target: meta.target().to_owned(),
            message: format!("{}{}", visitor.message, visitor.fields),
        });
    }
}

// --- the file --------------------------------------------------------------------------------

enum Msg {
    Line(Vec<u8>),
    Stop,
}

/// The file thread's queue, once [`start_file`] ran.
static FILE_QUEUE: OnceLock<SyncSender<Msg>> = OnceLock::new();
/// Lines dropped because the queue was full, not yet reported in the file.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// The `fmt` layer's writer for the file: each event is formatted into a [`LineSink`], which
/// queues it when dropped.
struct FileWriter;

impl<'a> MakeWriter<'a> for FileWriter {
    type Writer = LineSink;

    fn make_writer(&'a self) -> LineSink {
        LineSink(Vec::new())
    }
}

/// One formatted event on its way to the file thread.
struct LineSink(Vec<u8>);

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for LineSink {
    fn drop(&mut self) {
        let Some(queue) = FILE_QUEUE.get() else { return };
        if self.0.is_empty() {
            return;
        }
        if let Err(TrySendError::Full(_)) = queue.try_send(Msg::Line(std::mem::take(&mut self.0))) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Keeps the log file open; dropping it writes what is queued, flushes and closes the file.
pub struct FileGuard {
    queue: SyncSender<Msg>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

impl FileGuard {
    /// The current log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for FileGuard {
    fn drop(&mut self) {
        // `send` waits for room: the thread is draining the queue, so this ends.
        let _ = self.queue.send(Msg::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Opens `data_dir/logs/exbridge.log` (creating the folder) and starts writing every log line
/// to it. Only the first call in a process opens a file; later ones fail.
pub fn start_file(data_dir: &Path) -> io::Result<FileGuard> {
    let file = RotatingFile::open(&data_dir.join("logs"), "exbridge.log", FILE_MAX_BYTES, FILE_KEEP)?;
    let path = file.path();
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    if FILE_QUEUE.set(tx.clone()).is_err() {
        return Err(io::Error::other("the log file is already open"));
    }
    let thread = std::thread::Builder::new().name("exbridge-log-file".into()).spawn(move || file_thread(file, rx))?;
    Ok(FileGuard { queue: tx, thread: Some(thread), path })
}

fn file_thread(mut file: RotatingFile, rx: Receiver<Msg>) {
    let mut failed = false;
    let mut write = |file: &mut RotatingFile, line: &[u8]| {
        if let Err(e) = file.write_line(line)
            && !failed
        {
            // Once: the log cannot report its own failure through itself.
            failed = true;
            eprintln!("exbridge: writing the log file {} failed: {e}", file.path().display());
        }
    };
    while let Ok(msg) = rx.recv() {
        let mut next = Some(msg);
        // Write what is queued, then flush once.
        while let Some(msg) = next.take() {
            match msg {
                Msg::Line(line) => {
                    let dropped = DROPPED.swap(0, Ordering::Relaxed);
                    if dropped > 0 {
                        let note =
                            format!("[exbridge: {dropped} log line(s) dropped: the log file could not keep up]\n");
                        write(&mut file, note.as_bytes());
                    }
                    write(&mut file, &line);
                }
                Msg::Stop => {
                    let _ = file.flush();
                    return;
                }
            }
            next = rx.try_recv().ok();
        }
        let _ = file.flush();
    }
    let _ = file.flush();
}

/// A log file rotated by size: `NAME` is renamed `NAME.1` (`NAME.1` to `NAME.2`, …) when the
/// next line would take it beyond `max_bytes`; at most `keep` rotated files are kept.
pub struct RotatingFile {
    dir: PathBuf,
    name: String,
    max_bytes: u64,
    keep: usize,
    out: BufWriter<File>,
    size: u64,
}

impl RotatingFile {
    /// Opens (appending to) `dir/name`, creating `dir`.
    pub fn open(dir: &Path, name: &str, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(name);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            dir: dir.to_owned(),
            name: name.to_owned(),
            max_bytes,
            keep,
            out: BufWriter::new(file),
            size,
        })
    }

    /// The current file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    fn rotated(&self, n: usize) -> PathBuf {
        self.dir.join(format!("{}.{n}", self.name))
    }

    /// Appends one line (rotating first when it would not fit; a line longer than the limit
    /// gets a file of its own).
    pub fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        self.out.write_all(line)?;
        self.size += len;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if self.keep == 0 {
            std::fs::remove_file(self.path())?;
        } else {
            match std::fs::remove_file(self.rotated(self.keep)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            for n in (1..self.keep).rev() {
                match std::fs::rename(self.rotated(n), self.rotated(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(self.path(), self.rotated(1))?;
        }
        let file = OpenOptions::new().create(true).append(true).open(self.path())?;
        self.out = BufWriter::new(file);
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn rotates_by_size_and_keeps_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        let logs = dir.path().join("logs");
        let mut file = RotatingFile::open(&logs, "x.log", 25, 2).unwrap();
        for n in 0..7 {
            file.write_line(format!("line {n} 0123456789\n").as_bytes()).unwrap(); // 18 bytes
        }
        file.flush().unwrap();
        // One line per file (two would be 36 > 25): x.log holds the newest, .1 and .2 the two
        // before, older ones are gone.
        assert_eq!(read(&logs.join("x.log")), "line 6 0123456789\n");
        assert_eq!(read(&logs.join("x.log.1")), "line 5 0123456789\n");
        assert_eq!(read(&logs.join("x.log.2")), "line 4 0123456789\n");
        assert!(!logs.join("x.log.3").exists());

        // Reopening appends, and small lines share a file up to the limit.
        let mut file = RotatingFile::open(&logs, "x.log", 40, 2).unwrap();
        file.write_line(b"a\n").unwrap();
        file.write_line(b"b\n").unwrap();
        file.flush().unwrap();
        assert_eq!(read(&logs.join("x.log")), "line 6 0123456789\na\nb\n");
        file.write_line(b"0123456789012345678901234567890123456789\n").unwrap();
        file.flush().unwrap();
        assert_eq!(read(&logs.join("x.log.1")), "line 6 0123456789\na\nb\n");
        assert_eq!(read(&logs.join("x.log")).len(), 41, "an over-long line gets a file of its own");
    }

    #[test]
    fn the_buffer_layer_keeps_message_and_fields() {
        let buffer = Arc::new(LogBuffer::new(10));
        let subscriber = tracing_subscriber::registry().with(BufferLayer { buffer: buffer.clone() });
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(user = "u1", attempts = 3, "mailbox not resolved");
        });
        let lines = buffer.recent("TRACE", 10);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].level, "WARN");
        assert_eq!(lines[0].message, "mailbox not resolved user=\"u1\" attempts=3");
        assert!(lines[0].target.contains("logging"));
    }
}
