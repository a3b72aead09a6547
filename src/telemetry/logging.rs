//! Logging: JSON (default, for clusters) or text, filtered like RUST_LOG.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}

/// Installs the global subscriber. `level` is a RUST_LOG-style filter such as `info` or
/// `pbconnector=debug`. Logs go to stderr so stdout stays the command's output.
pub fn init(format: LogFormat, level: &str) {
    // A second init (tests) keeps the first subscriber.
    match format {
        LogFormat::Json => {
            let _ = json_subscriber(level, std::io::stderr).try_init();
        }
        LogFormat::Text => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter(level))
                .with_writer(std::io::stderr)
                .with_ansi(stderr_colour())
                .compact()
                .try_init();
        }
    }
}

/// The JSON subscriber `init` installs, writing to `writer`: one object per line, the event's
/// fields at the top level, the current span (namespace, connector) under `span`.
pub fn json_subscriber<W>(level: &str, writer: W) -> impl tracing::Subscriber + Send + Sync + use<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter(level))
        .with_writer(writer)
        .with_ansi(false)
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .finish()
}

fn filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Whether stderr gets colour: only on a terminal, and never when `NO_COLOR` is set to anything
/// but the empty string (<https://no-color.org>).
pub fn stderr_colour() -> bool {
    use std::io::IsTerminal;
    colour_allowed(std::env::var_os("NO_COLOR").as_deref()) && std::io::stderr().is_terminal()
}

fn colour_allowed(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour_allowed;

    #[test]
    fn no_color_with_a_value_turns_colour_off() {
        assert!(colour_allowed(None));
        assert!(colour_allowed(Some("".as_ref())));
        assert!(!colour_allowed(Some("1".as_ref())));
    }
}
