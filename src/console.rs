//! Results printed to standard output.
//!
//! Rust's `println!` panics when stdout is a closed pipe (`cifar-gpu train ... | head`).
//! A long training run must not die, or lose its checkpoint, because a pager was closed,
//! so results go through [`print`], which drops output that can no longer be delivered.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to stdout and flushes it. Once stdout is closed, output is dropped and
/// a single warning goes to the log.
pub fn print(text: &str) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    let result = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    if let Err(error) = result {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        log::warn!(
            "standard output is no longer writable ({error}); results still go to --out files"
        );
    }
}

/// Writes `text` and a newline to stdout, as [`print`] does.
pub fn print_line(text: &str) {
    print(&format!("{text}\n"));
}
