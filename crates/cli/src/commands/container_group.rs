//! `berth container COMMAND`: Docker's management-command spellings (`container ls`,
//! `container rm`, `container prune`…) of the container commands.

use anyhow::Result;
use clap::Subcommand;

use super::{container, export, images, logs, pause, port, prune, rename, run, start, stats, top};

/// `berth container`
#[derive(clap::Args)]
pub struct ContainerArgs {
    #[command(subcommand)]
    command: ContainerCommand,
}

#[derive(Subcommand)]
enum ContainerCommand {
    /// List containers.
    #[command(visible_aliases = ["ps", "list"])]
    Ls(super::ps::PsArgs),
    /// Run a command in a new container.
    Run(Box<run::RunArgs>),
    /// Create a new container (without starting it).
    Create(Box<run::RunArgs>),
    /// Update the resources and restart policy of containers.
    Update(super::update::UpdateArgs),
    /// Start stopped containers.
    Start(start::StartArgs),
    /// Stop running containers.
    Stop(container::StopArgs),
    /// Restart containers.
    Restart(start::RestartArgs),
    /// Send a signal to running containers.
    Kill(container::KillArgs),
    /// Wait for containers to exit and print their exit codes.
    Wait(container::WaitArgs),
    /// Remove containers.
    #[command(visible_alias = "remove")]
    Rm(container::RmArgs),
    /// Fetch the logs of a container.
    Logs(logs::LogsArgs),
    /// Show low-level information on containers.
    Inspect(images::InspectArgs),
    /// Remove all stopped containers.
    Prune(prune::PruneArgs),
    /// Display the running processes of a container.
    Top(top::TopArgs),
    /// Display a live stream of containers' resource usage.
    Stats(stats::StatsArgs),
    /// Pause all processes within containers.
    Pause(pause::PauseArgs),
    /// Unpause all processes within containers.
    Unpause(pause::UnpauseArgs),
    /// Rename a container.
    Rename(rename::RenameArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(super::attach::AttachArgs),
    /// Export a container's filesystem as a tar archive.
    Export(export::ExportArgs),
    /// List port mappings or a specific mapping for the container.
    Port(port::PortArgs),
}

impl ContainerArgs {
    /// Whether the command supervises a container (`container run|start|restart`).
    pub fn supervises(&self) -> bool {
        matches!(
            self.command,
            ContainerCommand::Run(_)
                | ContainerCommand::Start(_)
                | ContainerCommand::Restart(_)
                | ContainerCommand::Attach(_)
        )
    }
}

/// Run `berth container COMMAND`.
pub async fn run(args: ContainerArgs) -> Result<()> {
    match args.command {
        ContainerCommand::Ls(a) => super::ps::ps(a).await,
        ContainerCommand::Run(a) => run::run(*a).await,
        ContainerCommand::Create(a) => run::create(*a).await,
        ContainerCommand::Update(a) => super::update::update(a).await,
        ContainerCommand::Start(a) => start::start(a).await,
        ContainerCommand::Stop(a) => container::stop(a).await,
        ContainerCommand::Restart(a) => start::restart(a).await,
        ContainerCommand::Kill(a) => container::kill(a).await,
        ContainerCommand::Wait(a) => container::wait(a).await,
        ContainerCommand::Rm(a) => container::rm(a).await,
        ContainerCommand::Logs(a) => logs::logs(a).await,
        ContainerCommand::Inspect(mut a) => {
            a.kind.get_or_insert_with(|| "container".into());
            images::inspect(a).await
        }
        ContainerCommand::Prune(a) => prune::prune(a).await,
        ContainerCommand::Top(a) => top::top(a).await,
        ContainerCommand::Stats(a) => stats::stats(a).await,
        ContainerCommand::Pause(a) => pause::pause(a).await,
        ContainerCommand::Unpause(a) => pause::unpause(a).await,
        ContainerCommand::Rename(a) => rename::rename(a).await,
        ContainerCommand::Attach(a) => super::attach::attach(a).await,
        ContainerCommand::Export(a) => export::export(a).await,
        ContainerCommand::Port(a) => port::port(a).await,
    }
}
