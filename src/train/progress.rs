//! Progress of long loops: a bar on a terminal, a log line every tenth of the way
//! otherwise, so redirected runs still show that they are alive.

use std::cell::{Cell, RefCell};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// Progress over `len` images.
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    len: u64,
    next_log: Cell<u64>,
    status: RefCell<String>,
    started: Instant,
}

impl Progress {
    /// Shows a bar when `terminal` is true, else logs at every tenth of `len`.
    pub fn new(terminal: bool, len: u64, label: String) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(len);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {pos}/{len} images, {per_sec:.1}, ETA {eta} {prefix}",
                )
                .expect("valid progress template")
                .progress_chars("=> "),
            );
            bar.set_message(label.clone());
            bar
        });
        Self {
            bar,
            label,
            len,
            next_log: Cell::new(len.div_ceil(10).max(1)),
            status: RefCell::new(String::new()),
            started: Instant::now(),
        }
    }

    /// Sets the running figures shown after the counts, such as loss and accuracy.
    pub fn set_status(&self, status: String) {
        if let Some(bar) = &self.bar {
            bar.set_prefix(status.clone());
        }
        *self.status.borrow_mut() = status;
    }

    pub fn set_position(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        if done < self.next_log.get() || done >= self.len {
            return;
        }
        self.next_log.set(done + self.len.div_ceil(10).max(1));
        let seconds = self.started.elapsed().as_secs_f64();
        let rate = done as f64 / seconds.max(1e-9);
        let remaining = (self.len - done) as f64 / rate.max(1e-9);
        let status = self.status.borrow();
        let separator = if status.is_empty() { "" } else { ", " };
        log::info!(
            "{}: {done}/{} images, {rate:.1} images/s, about {remaining:.0} s left{separator}{status}",
            self.label,
            self.len,
        );
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
