//! `berth`: the whole Docker system in one binary. This file only parses arguments, installs
//! logging and turns errors into one readable line and an exit code; each subcommand lives in
//! `commands/` and is a thin layer over a library crate.

mod commands;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use commands::{images, pull, push};

/// berth: a private registry, image client, builder and container runtime in one binary.
#[derive(Parser)]
#[command(name = "berth", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run and manage the OCI registry.
    Registry(commands::registry::RegistryArgs),
    /// Download an image from a registry.
    Pull(pull::PullArgs),
    /// Upload an image to a registry.
    Push(push::PushArgs),
    /// List images.
    Images(images::ImagesArgs),
    /// Give an image another name.
    Tag(images::TagArgs),
    /// Remove images.
    Rmi(images::RmiArgs),
    /// Show the history of an image.
    History(commands::history::HistoryArgs),
    /// Manage images (`image ls`, `image prune`…).
    Image(commands::image_group::ImageArgs),
    /// Show low-level information on images.
    Inspect(images::InspectArgs),
    /// Log in to a registry.
    Login(commands::login::LoginArgs),
    /// Log out from a registry.
    Logout(commands::login::LogoutArgs),
    /// Run a command in a new container.
    Run(Box<commands::run::RunArgs>),
    /// Create a new container (without starting it).
    Create(Box<commands::run::RunArgs>),
    /// Update the resources and restart policy of containers.
    Update(commands::update::UpdateArgs),
    /// List containers.
    Ps(commands::ps::PsArgs),
    /// Remove containers.
    Rm(commands::container::RmArgs),
    /// Fetch the logs of a container.
    Logs(commands::logs::LogsArgs),
    /// Show past events of containers, images and volumes.
    Events(commands::events::EventsArgs),
    /// Stop running containers (SIGTERM, then SIGKILL).
    Stop(commands::container::StopArgs),
    /// Send a signal to running containers.
    Kill(commands::container::KillArgs),
    /// Wait for containers to exit and print their exit codes.
    Wait(commands::container::WaitArgs),
    /// Start stopped containers.
    Start(commands::start::StartArgs),
    /// Restart containers.
    Restart(commands::start::RestartArgs),
    /// Display the running processes of a container.
    Top(commands::top::TopArgs),
    /// Display a live stream of containers' resource usage.
    Stats(commands::stats::StatsArgs),
    /// Pause all processes within containers.
    Pause(commands::pause::PauseArgs),
    /// Unpause all processes within containers.
    Unpause(commands::pause::UnpauseArgs),
    /// Rename a container.
    Rename(commands::rename::RenameArgs),
    /// Attach local standard input, output, and error streams to a running container.
    Attach(commands::attach::AttachArgs),
    /// Manage containers (`container ls`, `container prune`…).
    Container(commands::container_group::ContainerArgs),
    /// Run a detached container (started by `berth run -d`).
    #[command(hide = true)]
    ContainerMonitor(commands::monitor::MonitorArgs),
    /// Save images to a tar archive (streamed to stdout by default).
    Save(commands::archive::save::SaveArgs),
    /// Load images from a tar archive or stdin.
    Load(commands::archive::load::LoadArgs),
    /// Create an image from a root filesystem tarball.
    Import(commands::archive::import::ImportArgs),
    /// Export a container's filesystem as a tar archive.
    Export(commands::export::ExportArgs),
    /// List port mappings or a specific mapping for the container.
    Port(commands::port::PortArgs),
    /// Run a command in a running container.
    Exec(commands::exec::ExecArgs),
    /// Create a new image from a container's changes.
    Commit(commands::commit::CommitArgs),
    /// Copy files between a container and the host.
    Cp(commands::cp::CpArgs),
    /// List the changes to a container's file system.
    Diff(commands::commit::DiffArgs),
    /// Build an image from a Dockerfile.
    Build(commands::build::BuildArgs),
    /// Manage the build cache (`builder prune`).
    Builder(commands::builder::BuilderArgs),
    /// Show berth's version.
    Version(commands::info::VersionArgs),
    /// Show system-wide information.
    Info,
    /// Disk usage and cleanup (`system df`, `system prune`).
    System(commands::system::SystemArgs),
    /// Manage volumes (`volume create`, `ls`, `inspect`, `rm`, `prune`).
    Volume(commands::volume::VolumeArgs),
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(f)
}

/// Whether `command` dies quietly of SIGPIPE when its reader goes away, as `docker` does
/// (`berth ps | head` ends with 141, not a panic at the next `println!`). Rust ignores SIGPIPE,
/// which only the commands that own something live keep: the registry server (a peer's closed
/// socket must not stop it) and the commands supervising containers or builds, which a lost
/// reader must not kill halfway (their writes fail as errors instead).
fn dies_of_sigpipe(command: &Command) -> bool {
    !matches!(
        command,
        Command::Registry(_)
            | Command::ContainerMonitor(_)
            | Command::Run(_)
            | Command::Start(_)
            | Command::Restart(_)
            | Command::Exec(_)
            // `attach` writes to its container's monitor: a monitor gone must not kill it.
            | Command::Attach(_)
            | Command::Build(_)
            // `cp` streams through pipes of its own (into the container's process): a copy
            // that fails there must report it, not die of SIGPIPE.
            | Command::Cp(_)
    ) && !matches!(command, Command::Container(a) if a.supervises())
        && !matches!(command, Command::Image(a) if a.supervises())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if dies_of_sigpipe(&cli.command) {
        // SAFETY: no other thread runs yet, and SIG_DFL is a valid disposition for SIGPIPE.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if !matches!(cli.command, Command::Registry(_)) {
        commands::init_logging(berth_registry::config::LogFormat::Text, "warn");
    }
    let result = match cli.command {
        Command::Registry(args) => commands::registry::run(args),
        Command::Pull(a) => block_on(pull::run(a)),
        Command::Push(a) => block_on(push::run(a)),
        Command::Images(a) => block_on(images::images(a)),
        Command::Tag(a) => block_on(images::tag(a)),
        Command::Rmi(a) => block_on(images::rmi(a)),
        Command::Inspect(a) => block_on(images::inspect(a)),
        Command::History(a) => block_on(commands::history::history(a)),
        Command::Image(a) => block_on(commands::image_group::run(a)),
        Command::Login(a) => commands::login::login(a),
        Command::Logout(a) => commands::login::logout(a),
        Command::Run(a) => block_on(commands::run::run(*a)),
        Command::Create(a) => block_on(commands::run::create(*a)),
        Command::Update(a) => block_on(commands::update::update(a)),
        Command::Ps(a) => block_on(commands::ps::ps(a)),
        Command::Rm(a) => block_on(commands::container::rm(a)),
        Command::Logs(a) => block_on(commands::logs::logs(a)),
        Command::Events(a) => block_on(commands::events::events(a)),
        Command::Stop(a) => block_on(commands::container::stop(a)),
        Command::Kill(a) => block_on(commands::container::kill(a)),
        Command::Wait(a) => block_on(commands::container::wait(a)),
        Command::Start(a) => block_on(commands::start::start(a)),
        Command::Restart(a) => block_on(commands::start::restart(a)),
        Command::Top(a) => block_on(commands::top::top(a)),
        Command::Stats(a) => block_on(commands::stats::stats(a)),
        Command::Pause(a) => block_on(commands::pause::pause(a)),
        Command::Unpause(a) => block_on(commands::pause::unpause(a)),
        Command::Rename(a) => block_on(commands::rename::rename(a)),
        Command::Attach(a) => block_on(commands::attach::attach(a)),
        Command::Container(a) => block_on(commands::container_group::run(a)),
        Command::ContainerMonitor(a) => block_on(commands::monitor::run(a)),
        Command::Save(a) => block_on(commands::archive::save::run(a)),
        Command::Load(a) => block_on(commands::archive::load::run(a)),
        Command::Import(a) => block_on(commands::archive::import::run(a)),
        Command::Export(a) => block_on(commands::export::export(a)),
        Command::Port(a) => block_on(commands::port::port(a)),
        Command::Exec(a) => block_on(commands::exec::exec(a)),
        Command::Commit(a) => block_on(commands::commit::commit(a)),
        Command::Cp(a) => block_on(commands::cp::cp(a)),
        Command::Diff(a) => block_on(commands::commit::diff(a)),
        Command::Build(a) => block_on(commands::build::run(a)),
        Command::Builder(a) => block_on(commands::builder::run(a)),
        Command::System(a) => block_on(commands::system::run(a)),
        Command::Volume(a) => block_on(commands::volume::run(a)),
        Command::Version(a) => commands::info::version(a),
        Command::Info => block_on(commands::info::info()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `berth run` exits with its container's code, silently.
        Err(err) if err.downcast_ref::<commands::run::ContainerExit>().is_some() => {
            let code = err
                .downcast_ref::<commands::run::ContainerExit>()
                .unwrap()
                .0;
            ExitCode::from(code.clamp(0, 255) as u8)
        }
        Err(err) => {
            let mut line = format!("berth: error: {err}");
            // Causes a message already quotes (as "{path}: {source}" errors do) are not repeated.
            for cause in err.chain().skip(1) {
                let cause = cause.to_string();
                if !line.contains(&cause) {
                    line.push_str(&format!(": {cause}"));
                }
            }
            eprintln!("{line}");
            ExitCode::FAILURE
        }
    }
}
