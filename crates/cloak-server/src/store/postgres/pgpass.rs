//! The password file's format, as libpq reads it: one
//! `host:port:database:user:password` per line, `*` matching anything,
//! `\:` and `\\` escaping, `#` starting a comment; the first match wins.

use postgres::Config;
use postgres::config::Host;

/// The password of the first line matching `config`'s first host, port,
/// database and user.
pub(super) fn find(text: &str, config: &Config) -> Option<String> {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        // libpq matches a socket connection as `localhost`.
        Some(Host::Unix(_)) | None => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default();
    let db = config.get_dbname().unwrap_or(user);
    let wanted = [host.as_str(), port.as_str(), db, user];
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(fields)
        .find(|f| {
            f[..4]
                .iter()
                .zip(wanted)
                .all(|(field, want)| field.any || field.text == want)
        })
        .map(|mut f| f.swap_remove(4).text)
}

/// One field of a line: its text unescaped, and whether it was a bare `*`
/// (an escaped `\*` is the character itself).
struct Field {
    text: String,
    any: bool,
}

/// A line's five fields; `None` for a line with fewer.
fn fields(line: &str) -> Option<Vec<Field>> {
    let mut raw = vec![String::new()];
    let mut escaped = vec![false];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                raw.last_mut()?.push(chars.next().unwrap_or('\\'));
                *escaped.last_mut()? = true;
            }
            ':' if raw.len() < 5 => {
                raw.push(String::new());
                escaped.push(false);
            }
            c => raw.last_mut()?.push(c),
        }
    }
    let fields = raw.into_iter().zip(escaped).map(|(text, escaped)| Field {
        any: text == "*" && !escaped,
        text,
    });
    Some(fields.collect::<Vec<_>>()).filter(|f| f.len() == 5)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn config(url: &str) -> Config {
        Config::from_str(url).unwrap()
    }

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    otherhost:5432:*:cloak:wrong\n\
                    127.0.0.1:6000:msgs:cloak:p\\:a\\\\ss\n\
                    *:*:*:cloak:fallback\n\
                    short:line\n";
        let exact = config("postgres://cloak@127.0.0.1:6000/msgs");
        assert_eq!(find(text, &exact).as_deref(), Some("p:a\\ss"));
        let other = config("postgres://cloak@127.0.0.1:6001/msgs");
        assert_eq!(find(text, &other).as_deref(), Some("fallback"));
        let nobody = config("postgres://someone@127.0.0.1:6000/msgs");
        assert_eq!(find(text, &nobody), None);
        // An escaped star is a star, not a wildcard.
        let literal = "127.0.0.1:6000:\\*:cloak:starred\n";
        assert_eq!(find(literal, &exact), None);
    }

    #[test]
    fn the_database_defaults_to_the_user_and_the_port_to_5432() {
        let text = "db.example:5432:cloak:cloak:secret\n";
        assert_eq!(
            find(text, &config("postgres://cloak@db.example")).as_deref(),
            Some("secret")
        );
    }
}
