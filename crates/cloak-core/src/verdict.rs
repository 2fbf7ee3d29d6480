//! The lines both programs print for each property a message was checked
//! for, so that a reader (or a script) sees the same words on either side.

/// Defines a property's name and its "passed." and "failed." lines.
macro_rules! property {
    ($(#[$doc:meta])* $name:ident, $passed:ident, $failed:ident, $text:literal) => {
        $(#[$doc])*
        pub const $name: &str = $text;
        /// The line printed when the property held.
        pub const $passed: &str = concat!($text, " passed.");
        /// The line printed when it did not.
        pub const $failed: &str = concat!($text, " failed.");
    };
}

property!(
    /// Only the intended recipient could read the message.
    CONFIDENTIALITY,
    CONFIDENTIALITY_PASSED,
    CONFIDENTIALITY_FAILED,
    "Message confidentiality"
);
property!(
    /// The message is unaltered and from the key it names.
    INTEGRITY,
    INTEGRITY_PASSED,
    INTEGRITY_FAILED,
    "Message integrity & sender authentication"
);
