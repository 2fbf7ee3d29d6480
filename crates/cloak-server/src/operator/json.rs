//! The operator commands' `--json` output: JSON Lines, one object per
//! message (or client), so that a script reads each with one parse and
//! can stop at any line. Times are RFC 3339 in UTC, sizes in bytes, text
//! as it is when it is UTF-8 and in base64 when it is not.

use base64ct::{Base64, Encoding};
use serde::Serialize;

/// A received message, as `inbox --json` and `read --json` show it.
#[derive(Debug, Serialize)]
pub(crate) struct Message {
    /// The message id (32 hex digits).
    pub id: String,
    /// The sender's name when it arrived.
    pub sender: String,
    /// The sender key's fingerprint (`SHA256:...`).
    pub fingerprint: String,
    /// When the server received it.
    pub received: String,
    /// `asymmetric` or `hybrid`.
    pub mode: &'static str,
    /// The text's length.
    pub bytes: u64,
    /// When the sender signed it (`read` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent: Option<String>,
    /// The text, when it is UTF-8 (`read` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The text in base64, when it is not UTF-8 (`read` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_base64: Option<String>,
    /// Where `read --out` wrote the text, instead of either field above.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl Message {
    /// Sets the text field that fits `bytes`.
    pub fn with_text(mut self, bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.text = Some(text.to_owned()),
            Err(_) => self.text_base64 = Some(Base64::encode_string(bytes)),
        }
        self
    }
}

/// A line of `clients --json`: an authorized client (or a key no longer
/// authorized that still has messages queued), or a queued message set
/// aside because it does not open.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum ClientsLine {
    /// A client and how many messages wait for it.
    Client {
        /// Its name (none for a revoked key).
        name: Option<String>,
        /// Its key's fingerprint.
        fingerprint: String,
        /// Messages queued for it.
        queued: usize,
        /// Whether its key is no longer authorized.
        revoked: bool,
    },
    /// A queued message set aside.
    SetAside {
        /// The message id.
        id: String,
        /// The client it was queued for.
        recipient: String,
        /// When it was queued.
        queued: String,
        /// Its size.
        bytes: u64,
    },
}

/// `items` as JSON Lines.
pub(crate) fn lines<T: Serialize>(items: impl IntoIterator<Item = T>) -> anyhow::Result<String> {
    let mut out = String::new();
    for item in items {
        terminal_safe(&serde_json::to_string(&item)?, &mut out);
        out.push('\n');
    }
    Ok(out)
}

/// `json` with every control and format character (C1 controls such as
/// CSI and OSC, DEL, bidirectional overrides, line separators) written as
/// a `\uXXXX` escape: serde_json escapes only those below U+0020, and a
/// message's text read with `--json` on a terminal must not drive it. The
/// structure of JSON is ASCII, so such characters only occur in strings,
/// where the escape means the same character.
fn terminal_safe(json: &str, out: &mut String) {
    for c in json.chars() {
        if cloak_core::text::is_unseen(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn controls_and_invisible_characters_are_escaped() {
        let text = "a\u{1b}[2J b\u{9b}c \u{202e}d\u{2028}e \u{7f} ok ü 界";
        let line = super::lines([serde_json::json!({ "text": text })]).unwrap();
        assert_eq!(
            line,
            "{\"text\":\"a\\u001b[2J b\\u009bc \\u202ed\\u2028e \\u007f ok ü 界\"}\n"
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["text"], text);
    }
}
