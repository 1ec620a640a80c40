//! Progress of a long run on stderr: a bar when stderr is a terminal, else a line every
//! [`Progress::LINE_EVERY`] (for logs and CI).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    /// Who speaks in the lines: `cdc-load`.
    speaker: &'static str,
    /// What is counted, in the lines: `records on the stream`.
    counted: &'static str,
    done: AtomicU64,
    start: Instant,
    last_line: Mutex<Instant>,
    message: Mutex<String>,
}

impl Progress {
    pub const LINE_EVERY: Duration = Duration::from_secs(10);

    /// Progress towards `total()` records (asked only for a bar, on a terminal); nothing at
    /// all unless `enabled`.
    pub fn new(
        enabled: bool,
        total: impl FnOnce() -> Result<u64>,
        speaker: &'static str,
        counted: &'static str,
    ) -> Result<Progress> {
        let terminal = enabled && std::io::stderr().is_terminal();
        let bar = if terminal {
            let total = total()?;
            let style = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} records, {per_sec}, eta {eta} {msg}",
            )
            .context("the progress bar template")?
            .progress_chars("=> ");
            Some(
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr())
                    .with_style(style),
            )
        } else {
            None
        };
        Ok(Progress {
            bar,
            lines: enabled && !terminal,
            speaker,
            counted,
            done: AtomicU64::new(0),
            start: Instant::now(),
            last_line: Mutex::new(Instant::now()),
            message: Mutex::new(String::new()),
        })
    }

    /// `records` more are done.
    pub fn add(&self, records: u64) {
        let done = self.done.fetch_add(records, Ordering::Relaxed) + records;
        if let Some(bar) = &self.bar {
            bar.inc(records);
        } else if self.lines {
            let mut last = self.last_line.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= Self::LINE_EVERY {
                *last = Instant::now();
                let seconds = self.start.elapsed().as_secs_f64();
                let message = self.message.lock().unwrap_or_else(|e| e.into_inner());
                eprintln!(
                    "{}: {done} {} after {seconds:.0} s ({:.0} records/s){}{}",
                    self.speaker,
                    self.counted,
                    done as f64 / seconds,
                    if message.is_empty() { "" } else { " · " },
                    message
                );
            }
        }
    }

    /// A note shown after the counts (`p50 120 ms`).
    pub fn set_message(&self, message: String) {
        if let Some(bar) = &self.bar {
            bar.set_message(message);
        } else {
            *self.message.lock().unwrap_or_else(|e| e.into_inner()) = message;
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
