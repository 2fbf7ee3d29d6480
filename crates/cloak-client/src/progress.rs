//! A progress bar for transfers long enough to wait for, only when stderr
//! is a terminal (scripts and logs stay quiet).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Transfers smaller than this finish too fast for a bar to help.
const MIN_SHOWN: u64 = 16 * 1024 * 1024;

/// A bar, or nothing.
pub(crate) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for `len` bytes (a spinner when unknown), if worth showing.
    pub(crate) fn new(len: Option<u64>) -> Progress {
        if !std::io::stderr().is_terminal() || len.is_some_and(|l| l < MIN_SHOWN) {
            return Progress(None);
        }
        let bar = match len {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template(
                    "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        Progress(Some(bar))
    }

    pub(crate) fn advance(&self, bytes: u64) {
        if let Some(bar) = &self.0 {
            bar.inc(bytes);
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
