//! What the server prints on stdout for each request, as the Python
//! original did: one "passed" or "failed" line per property (in the words
//! of `cloak_core::verdict`, which the client prints too), a reason on
//! failure, and the message only once everything passed, each of its lines
//! quoted (`cloak_core::text::quoted`) so that no line of it reads as the
//! server's own, and none of it under `--hide-text`. Each report is
//! written with a single locked write so concurrent sessions never
//! interleave their lines.

use std::io::Write;

/// The lines of one report.
#[derive(Debug, Default)]
pub(crate) struct Report {
    lines: Vec<String>,
    refusal: bool,
    log: Vec<String>,
    /// Which of `lines` is a message's text.
    text: Option<usize>,
    /// Print no message text (a service's console, whose log is kept).
    hide_text: bool,
}

impl Report {
    pub fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
    }

    /// A message's text, quoted: left out of the print under
    /// [`Report::hide_text`].
    pub fn message_text(&mut self, bytes: &[u8]) {
        self.text = Some(self.lines.len());
        self.lines.push(cloak_core::text::quoted(bytes));
    }

    /// Leaves the message's text out when printing.
    pub fn hide_text(&mut self) {
        self.hide_text = true;
    }

    pub fn failed(&mut self, headline: &str, reason: impl std::fmt::Display) {
        self.refusal = true;
        self.lines.push(headline.to_owned());
        self.lines.push(format!("  Reason: {reason}"));
    }

    /// A refusal whose reason goes to the log (stderr), not the console.
    pub fn log(&mut self, reason: impl Into<String>) {
        self.refusal = true;
        self.log.push(reason.into());
    }

    /// The reasons for the log.
    pub fn logged(&self) -> &[String] {
        &self.log
    }

    /// Whether the report tells of a refusal (whose printing is limited
    /// per peer, so a flood of bad requests cannot flood the console).
    pub fn is_refusal(&self) -> bool {
        self.refusal
    }

    /// Prints the report; a closed stdout must not stop the server.
    pub fn print(&self) {
        if self.lines.is_empty() {
            return;
        }
        let hidden = self.text.filter(|_| self.hide_text);
        let mut text = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if Some(i) != hidden {
                text.push_str(line);
                text.push('\n');
            }
        }
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
