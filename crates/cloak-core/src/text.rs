//! Showing untrusted text on a terminal. A verified message is still
//! attacker-chosen bytes as far as the terminal is concerned: escape
//! sequences in it could rewrite earlier lines (forging a "passed" line) or
//! worse, so control characters are shown escaped.

/// `bytes` as UTF-8 (lossily), with control characters other than newline
/// and tab replaced by their `\u{..}` escapes.
pub fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_terminal_controls() {
        assert_eq!(super::printable(b"hi\n\tthere"), "hi\n\tthere");
        assert_eq!(super::printable(b"\x1b[2Kfake"), "\\u{1b}[2Kfake");
        assert_eq!(super::printable(b"a\rb\x07"), "a\\u{d}b\\u{7}");
        assert_eq!(super::printable(&[0xff, b'a']), "\u{fffd}a");
    }
}
