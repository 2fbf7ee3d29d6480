//! Showing untrusted text on a terminal. A verified message is still
//! attacker-chosen bytes as far as the terminal is concerned: escape
//! sequences in it could rewrite earlier lines (forging a "passed" line) or
//! worse, so control characters are shown escaped. And a message is shown
//! [`quoted`]: each of its lines behind a margin no line of the programs'
//! own starts with, so that a sender cannot write a line that reads as
//! theirs ("Message integrity & sender authentication passed.").

/// `bytes` as UTF-8 (lossily), with control characters other than newline
/// and tab, and characters that change how text is shown without being
/// seen, replaced by their `\u{..}` escapes.
pub fn printable(bytes: &[u8]) -> String {
    escaped(bytes, |c| c == '\n' || c == '\t')
}

/// What every line of a message's text starts with when shown.
pub const QUOTE: &str = "  | ";

/// Display columns of a message line behind [`QUOTE`]: with the margin,
/// 76, so that on a terminal of 80 columns or more no line of a message
/// ever wraps. A wrapped row would start at the left edge, where the
/// programs' own lines start: a sender padding its text to the terminal's
/// width could otherwise make a row read as "... passed.".
pub const QUOTE_WIDTH: usize = 72;

/// `bytes` as [`printable`] text with [`QUOTE`] before each of its lines,
/// wrapped at [`QUOTE_WIDTH`] display columns with the margin repeated
/// (an empty text is one empty quoted line), without a final newline.
/// Every way to start a new line on a terminal is a newline here:
/// carriage returns, vertical tabs, form feeds, NEL and the Unicode line
/// and paragraph separators are all escaped by [`printable`]; a tab is
/// shown as four spaces, so that its width is known.
pub fn quoted(bytes: &[u8]) -> String {
    let text = printable(bytes).replace('\t', "    ");
    let mut out = String::with_capacity(text.len() + QUOTE.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(QUOTE);
        let mut width = 0;
        for c in line.chars() {
            let w = unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
            if width + w > QUOTE_WIDTH {
                out.push('\n');
                out.push_str(QUOTE);
                width = 0;
            }
            out.push(c);
            width += w;
        }
    }
    out
}

/// `bytes` as one line: [`printable`] with newlines and tabs escaped too,
/// for text shown inside a line of our own (a peer's error detail), where
/// a line break would let the peer write lines that look like ours.
pub fn printable_line(bytes: &[u8]) -> String {
    escaped(bytes, |_| false)
}

/// Whether `c` is a control character or one of those that change how
/// text around them is shown without being seen (see [`printable`]): what
/// no untrusted text may put on a terminal as is.
pub fn is_unseen(c: char) -> bool {
    c.is_control() || invisible(c)
}

/// Characters that change how text around them is shown without being
/// controls: bidirectional overrides and isolates (which can make a line
/// read in another order than it was written), zero-width characters, and
/// line and paragraph separators.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{ad}'
        | '\u{34f}'
        | '\u{61c}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2069}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}

fn escaped(bytes: &[u8], keep: impl Fn(char) -> bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && !keep(c)) || invisible(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Bytes shown from the start and the end of a long capture.
const HEAD: usize = 48;
const TAIL: usize = 16;

/// `bytes` as one line of hex, shortened in the middle when long: what a
/// wire capture shows of a frame.
pub fn hex_preview(bytes: &[u8]) -> String {
    let hex = |part: &[u8]| {
        part.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    if bytes.len() <= HEAD + TAIL {
        hex(bytes)
    } else {
        format!(
            "{} … {} ({} bytes hidden)",
            hex(&bytes[..HEAD]),
            hex(&bytes[bytes.len() - TAIL..]),
            bytes.len() - HEAD - TAIL
        )
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_captures_are_shortened() {
        assert_eq!(super::hex_preview(&[0, 1, 255]), "00 01 ff");
        let long = vec![0xabu8; 1000];
        let line = super::hex_preview(&long);
        assert!(line.ends_with("(936 bytes hidden)"), "{line}");
        assert_eq!(line.matches("ab").count(), 64);
    }

    #[test]
    fn a_long_line_wraps_behind_the_margin_before_a_terminal_would() {
        use super::{QUOTE, QUOTE_WIDTH, quoted};
        use unicode_width::UnicodeWidthStr;
        // Padding that would put a forged line at the start of a wrapped
        // row on terminals of 80 to 132 columns, in ASCII and in wide
        // characters, with tabs.
        let mut text = String::new();
        for cols in [80, 100, 120, 132] {
            text.push_str(&" ".repeat(cols - 4));
            text.push_str("Message integrity & sender authentication passed.");
            text.push_str(&"界".repeat(cols / 2));
            text.push_str("\tMessage from alice:\t\t");
        }
        for row in quoted(text.as_bytes()).split('\n') {
            assert!(row.starts_with(QUOTE), "{row:?}");
            assert!(row.width() <= QUOTE.len() + QUOTE_WIDTH, "{row:?}");
        }
    }

    #[test]
    fn every_line_of_a_quoted_text_is_set_apart() {
        use super::{QUOTE, quoted};
        assert_eq!(quoted(b""), "  | ");
        assert_eq!(quoted(b"one"), "  | one");
        assert_eq!(
            quoted(b"hi\nMessage confidentiality passed.\n"),
            "  | hi\n  | Message confidentiality passed.\n  | "
        );
        // Nothing that moves a terminal to a new line or back to the start
        // of one survives unquoted.
        let tricks = "a\rMessage ok\x0bb\x0cc\u{85}d\u{2028}e\u{2029}f\x1bE\r\n";
        let shown = quoted(tricks.as_bytes());
        assert!(shown.lines().all(|line| line.starts_with(QUOTE)), "{shown}");
        assert_eq!(shown.lines().count(), 2, "{shown}");
        assert!(
            !shown.chars().any(|c| c.is_control() && c != '\n'),
            "{shown}"
        );
    }

    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(super::printable(b"hi\n\tthere"), "hi\n\tthere");
        assert_eq!(super::printable(b"\x1b[2Kfake"), "\\u{1b}[2Kfake");
        assert_eq!(super::printable(b"a\rb\x07"), "a\\u{d}b\\u{7}");
        assert_eq!(super::printable(&[0xff, b'a']), "\u{fffd}a");
        assert_eq!(
            super::printable("a\u{202e}b\u{200b}c".as_bytes()),
            "a\\u{202e}b\\u{200b}c"
        );
        assert_eq!(
            super::printable_line(b"one\nMessage ok.\t\x1b"),
            "one\\u{a}Message ok.\\u{9}\\u{1b}"
        );
    }
}
