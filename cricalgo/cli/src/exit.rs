//! Exit codes and how errors map to them (the CLI spec's table).
//!
//! `0` success or gate passed, `99` gate failed, `1` operational error, `2` usage or configuration
//! error, `130` interrupted. Errors are printed once, as a cause chain.

/// How a command that did not error ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Success, or the gate passed.
    Success,
    /// The gate failed: a threshold was breached (k6's own code, 99).
    GateFailed,
    /// Interrupted by Ctrl-C; whatever was gathered has been written, marked incomplete.
    Interrupted,
}

impl Exit {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::GateFailed => 99,
            Exit::Interrupted => 130,
        }
    }
}

/// A usage or configuration error (exit 2): a bad flag value, an unparsable threshold, an
/// unreadable input file. Anything else that fails is operational (exit 1).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct UsageError(#[from] pub anyhow::Error);

/// Wraps an error so that it exits with code 2.
pub fn usage(err: impl Into<anyhow::Error>) -> anyhow::Error {
    UsageError(err.into()).into()
}

/// The exit code for an error: 2 when any cause in the chain is a [`UsageError`], else 1.
pub fn code_for(err: &anyhow::Error) -> u8 {
    if err.chain().any(|cause| cause.is::<UsageError>()) {
        2
    } else {
        1
    }
}

/// The cause chain on one line, outermost first: `failed to read x: no such file`.
pub fn render_chain(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        // `UsageError` is transparent: it shows the wrapped error's text and forwards that error's
        // source, so it must be printed; a repeat of the previous text is skipped below.
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_exit_2_even_under_context() {
        let err = usage(anyhow::anyhow!("bad threshold `p(95)<`"))
            .context("failed to parse `--threshold`");
        assert_eq!(code_for(&err), 2);
        assert_eq!(
            render_chain(&err),
            "failed to parse `--threshold`: bad threshold `p(95)<`"
        );
    }

    #[test]
    fn other_errors_exit_1() {
        let err = anyhow::anyhow!("docker daemon unreachable");
        assert_eq!(code_for(&err), 1);
    }
}
