//! `berth top CONTAINER [ps OPTIONS]`: a running container's processes as Docker shows them
//! ([`berth_engine::Engine::top`]: the host's `ps`, default `-ef`, cut down to the container's
//! processes), printed as a table.

use anyhow::Result;

use super::context::{Context, print_table};

/// `berth top`
#[derive(clap::Args)]
pub struct TopArgs {
    /// The container (name or id).
    pub container: String,
    /// Options for ps (default: -ef).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// Run `berth top`.
pub async fn top(args: TopArgs) -> Result<()> {
    let ctx = Context::open().await?;
    let top = ctx.top(&args.container, &args.ps_args).await?;
    let mut rows = vec![top.titles];
    rows.extend(top.processes);
    print_table(&rows);
    Ok(())
}
