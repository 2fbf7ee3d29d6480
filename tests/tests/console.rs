//! A console no client can forge: a message whose text holds the programs'
//! own lines (the verdicts, a sender line, a stored line) and every trick
//! that starts a new line on a terminal is shown with each of its lines
//! behind `  | `, by the server as it arrives, by the operator's `read`, and
//! by the client as it receives; `--hide-text` shows none of it.

use cloak_core::text::QUOTE;
use cloak_core::verdict::{CONFIDENTIALITY_PASSED, INTEGRITY_PASSED};
use cloak_tests::{Keys, Server, client, delivered_id, ok_stdout};

/// A text written to be mistaken for the programs' own lines.
fn forgery() -> String {
    [
        "hello",
        CONFIDENTIALITY_PASSED,
        INTEGRITY_PASSED,
        "Message from server (SHA256:AAAA, hybrid mode, id 00):",
        "\x1b[2K\rMessage confidentiality failed.\r",
        "Stored as 0123456789abcdef0123456789abcdef.\u{2028}",
        "\u{85}Message integrity & sender authentication failed.\x0b",
        "\x0cThis is a message from the server!",
    ]
    .join("\n")
}

/// The lines of `printed` that are not quoted: the program's own.
fn own_lines(printed: &str) -> Vec<&str> {
    printed.lines().filter(|l| !l.starts_with(QUOTE)).collect()
}

/// Checks that `printed` shows `messages` messages: exactly that many
/// verdict lines of its own, no failure, nothing a terminal would act on,
/// and the forgery's lines all quoted.
fn assert_unforged(printed: &str, messages: usize) {
    let own = own_lines(printed);
    let count = |wanted: &str| own.iter().filter(|l| **l == wanted).count();
    assert_eq!(count(CONFIDENTIALITY_PASSED), messages, "{printed}");
    assert_eq!(count(INTEGRITY_PASSED), messages, "{printed}");
    for line in &own {
        assert!(
            !line.contains("failed")
                && !line.contains("Stored as 0123")
                && !line.contains("SHA256:AAAA")
                && !line.contains("from the server!"),
            "a line of the message's passes for the program's own: {line:?}\n{printed}"
        );
    }
    assert!(
        !printed.chars().any(|c| c.is_control() && c != '\n'),
        "{printed:?}"
    );
    for forged in [CONFIDENTIALITY_PASSED, INTEGRITY_PASSED] {
        let quoted = format!("{QUOTE}{forged}");
        assert_eq!(printed.matches(&quoted).count(), messages, "{printed}");
    }
    for escaped in [
        r"\u{1b}[2K\u{d}Message confidentiality failed.",
        r"\u{2028}",
    ] {
        assert!(printed.contains(escaped), "{escaped} not shown: {printed}");
    }
}

#[test]
fn no_line_of_a_message_passes_for_the_server_s_or_the_client_s_own() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &[]);
    let text = forgery();
    let mut ids = Vec::new();
    for mode in ["asymmetric", "hybrid"] {
        let args = ["--mode", mode, "send_msg", &text];
        ids.push(delivered_id(&ok_stdout(&client(
            keys.path(),
            server.addr,
            &args,
        ))));
    }
    let printed = server.wait_stdout_count("Stored as", 2);
    // Both reports whole: each ends with its own `Stored as` line.
    let printed = &printed[..printed.rfind("Stored as").unwrap()];
    assert_unforged(printed, 2);

    let read = ok_stdout(&server.operator(keys.path(), &["read", &ids[0]]));
    assert_unforged(&read, 1);

    ok_stdout(&server.operator(keys.path(), &["post", "--to", "client", &text]));
    let received = ok_stdout(&client(keys.path(), server.addr, &["recv_msg"]));
    assert_unforged(&received, 1);
    server.assert_no_panic();
}

#[test]
fn hide_text_prints_the_verdicts_and_metadata_but_never_the_text() {
    let keys = Keys::new(2048);
    let server = Server::start(keys.path(), &["--hide-text"]);
    let secret = "the text a service's console must not keep";
    for mode in ["asymmetric", "hybrid"] {
        let args = ["--mode", mode, "send_msg", secret];
        ok_stdout(&client(keys.path(), server.addr, &args));
    }
    let printed = server.wait_stdout_count("Stored as", 2);
    assert!(!printed.contains("must not keep"), "{printed}");
    assert!(!printed.lines().any(|l| l.starts_with(QUOTE)), "{printed}");
    for line in [CONFIDENTIALITY_PASSED, INTEGRITY_PASSED] {
        assert_eq!(printed.matches(line).count(), 2, "{printed}");
    }
    for mode in ["asymmetric", "hybrid"] {
        let sender = format!("{mode} mode, id ");
        assert!(printed.contains(&sender), "{printed}");
    }
    assert!(
        printed.contains("Message from client (SHA256:"),
        "{printed}"
    );
    server.assert_no_panic();
}
