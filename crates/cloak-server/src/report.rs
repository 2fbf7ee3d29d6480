//! What the server prints on stdout for each request, as the Python
//! original did: one "passed" or "failed" line per property (in the words
//! of `cloak_core::verdict`, which the client prints too), a reason on
//! failure, and the message only once everything passed. Each report is
//! written with a single locked write so concurrent sessions never
//! interleave their lines.

use std::io::Write;

/// The lines of one report.
#[derive(Debug, Default)]
pub(crate) struct Report {
    lines: Vec<String>,
    refusal: bool,
    log: Vec<String>,
}

impl Report {
    pub fn line(&mut self, text: impl Into<String>) {
        self.lines.push(text.into());
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
        let mut text = self.lines.join("\n");
        text.push('\n');
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
