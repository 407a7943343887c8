//! One module per subcommand.

pub mod archive;
pub mod attach;
pub mod build;
pub mod builder;
pub mod commit;
pub mod container;
pub mod container_group;
pub mod context;
pub mod cp;
pub mod envfile;
pub mod events;
pub mod exec;
pub mod export;
pub mod filter;
pub mod format;
pub mod history;
pub mod image_group;
pub mod images;
pub mod info;
pub use berth_engine::containers::liveness;
pub mod login;
pub mod logs;
pub mod monitor;
pub mod pause;
pub mod port;
pub mod prune;
pub mod ps;
pub mod pull;
pub mod push;
pub mod registry;
pub mod rename;
pub mod run;
pub mod start;
pub mod stats;
pub mod system;
pub mod template;
pub mod top;
pub mod tty;
pub mod update;
pub mod volume;
pub use berth_engine::volumes;

use std::io::IsTerminal;

use berth_registry::config::LogFormat;
use tracing_subscriber::EnvFilter;

/// Install the process-wide log subscriber (stderr; `RUST_LOG` filters, else `default`).
pub fn init_logging(format: LogFormat, default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
