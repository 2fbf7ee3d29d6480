//! The server's limit on open files. Every connection holds a socket, and
//! the soft limit many systems start a program with (1024) is a quarter of
//! the connections the server is meant to hold (`--max-connections`, 4096
//! by default): past it, accepting fails and new clients wait however few
//! of the open connections are doing anything. A process may raise its own
//! soft limit up to the hard one without privilege, as most servers do at
//! start; the hard limit stays the administrator's to set.

/// Files the server keeps open besides its connections: the listener, the
/// database and its journal, spool and message files being written or
/// read, key files being re-read, the runtime's own.
pub(crate) const SPARE_FILES: u64 = 64;

/// The soft limit to aim for when the hard limit is unlimited: some
/// systems (macOS, whose `OPEN_MAX` this is) refuse an unlimited soft
/// limit on open files.
const UNLIMITED_HARD_TARGET: u64 = 10_240;

/// What [`raise`] did. `None` stands for unlimited.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The soft limit was below the hard one and now equals it.
    Raised { from: Option<u64>, to: Option<u64> },
    /// Nothing to raise: the soft limit is already as high as it may be.
    Unchanged(Option<u64>),
    /// The system refused (or does not have) the limit; it stays.
    Kept {
        limit: Option<u64>,
        error: std::io::Error,
    },
}

impl Outcome {
    /// The soft limit the server runs with.
    pub(crate) fn limit(&self) -> Option<u64> {
        match self {
            Outcome::Raised { to, .. } => *to,
            Outcome::Unchanged(limit) | Outcome::Kept { limit, .. } => *limit,
        }
    }
}

/// The soft limit to set given the current `soft` and `hard` ones, or
/// `None` to leave it (it never goes down).
fn target(soft: Option<u64>, hard: Option<u64>) -> Option<u64> {
    let soft = soft?;
    let wanted = hard.unwrap_or(UNLIMITED_HARD_TARGET);
    (wanted > soft).then_some(wanted)
}

/// Raises this process's soft limit on open files to its hard limit.
#[cfg(unix)]
pub(crate) fn raise() -> Outcome {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let now = getrlimit(Resource::Nofile);
    let Some(to) = target(now.current, now.maximum) else {
        return Outcome::Unchanged(now.current);
    };
    let new = Rlimit {
        current: Some(to),
        maximum: now.maximum,
    };
    match setrlimit(Resource::Nofile, new) {
        Ok(()) => Outcome::Raised {
            from: now.current,
            to: getrlimit(Resource::Nofile).current,
        },
        Err(e) => Outcome::Kept {
            limit: now.current,
            error: e.into(),
        },
    }
}

/// Elsewhere there is no such limit to raise.
#[cfg(not(unix))]
pub(crate) fn raise() -> Outcome {
    Outcome::Kept {
        limit: None,
        error: std::io::ErrorKind::Unsupported.into(),
    }
}

/// How a limit reads in the log.
pub(crate) fn show(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_soft_limit_below_the_hard_one_goes_up_to_it() {
        assert_eq!(target(Some(1024), Some(524_288)), Some(524_288));
        assert_eq!(target(Some(1), Some(2)), Some(2));
    }

    #[test]
    fn a_soft_limit_at_or_above_the_hard_one_stays() {
        assert_eq!(target(Some(4096), Some(4096)), None);
        // Not a state a system allows, but never a reason to lower it.
        assert_eq!(target(Some(8192), Some(4096)), None);
        assert_eq!(target(None, None), None);
        assert_eq!(target(None, Some(4096)), None);
    }

    #[test]
    fn an_unlimited_hard_limit_aims_for_a_finite_soft_one() {
        assert_eq!(target(Some(256), None), Some(UNLIMITED_HARD_TARGET));
        assert_eq!(target(Some(UNLIMITED_HARD_TARGET), None), None);
    }

    #[cfg(unix)]
    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        // Lowering it first would starve the tests running beside this
        // one; the end-to-end test starts a server with a lowered limit.
        let outcome = raise();
        let now = rustix::process::getrlimit(rustix::process::Resource::Nofile);
        assert_eq!(outcome.limit(), now.current, "{outcome:?}");
        if now.maximum.is_some() {
            assert_eq!(now.current, now.maximum, "{outcome:?}");
        }
    }
}
