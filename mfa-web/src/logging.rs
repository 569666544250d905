//! The diagnostic log: plain lines on stderr, `mfa-web: <message>`, for the journal (which
//! stamps the time). The level is `RUST_LOG` (the `tracing` filter syntax) or `info`; a
//! dependency's events name their target after the prefix.
//!
//! Nothing a browser sends is logged beyond the route and the client's address: never a
//! link's token, a credential or an assertion.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::registry::LookupSpan;

/// What every line starts with; the end-to-end suites wait for `mfa-web: listening on`.
const PREFIX: &str = "mfa-web: ";

/// Installs the process's subscriber. Call once, first thing in `main`.
pub(crate) fn install() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| EnvFilter::builder().parse(directives).ok())
        .unwrap_or_else(|| EnvFilter::new("warn,mfa_web=info"));
    let journal = std::env::var_os("JOURNAL_STREAM").is_some();
    // Fails only if a subscriber is installed already; then lines still reach stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Line { journal })
        .try_init();
}

/// `<priority>` (sd-daemon(3), under the journal) `mfa-web: [target: ]message fields`.
struct Line {
    journal: bool,
}

impl<S, N> FormatEvent<S, N> for Line
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        if self.journal {
            let priority = match *metadata.level() {
                Level::ERROR => 3,
                Level::WARN => 4,
                Level::INFO => 6,
                _ => 7,
            };
            write!(writer, "<{priority}>")?;
        }
        writer.write_str(PREFIX)?;
        let target = metadata.target();
        if target != "mfa_web" && !target.starts_with("mfa_web::") {
            write!(writer, "{target}: ")?;
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
