//! The flags on a command line: docker's syntax, and together with `berth run`'s own.

use clap::{CommandFactory, Parser};

use super::{ContainerFlags, RunOnlyFlags};

/// The flags as a command line parses them.
#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    flags: ContainerFlags,
    #[command(flatten)]
    run: RunOnlyFlags,
}

fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied()))
}

#[test]
fn command_line_takes_docker_syntax() {
    Cli::command().debug_assert();
    let c = cli(&[
        "-l",
        "a=b",
        "-c",
        "512",
        "--memory-swap",
        "-1",
        "--memory-swappiness",
        "-1",
        "-P",
        "-p",
        "80:80",
        "-a",
        "stdout",
        "-q",
        "--oom-score-adj=-500",
        "--sig-proxy=false",
    ])
    .unwrap();
    assert_eq!(c.flags.label, ["a=b"]);
    assert_eq!(c.flags.cpu_shares, Some(512));
    assert_eq!(c.flags.memory_swap.as_deref(), Some("-1"));
    assert_eq!(c.flags.oom_score_adj, Some(-500));
    assert!(c.flags.publish_all && c.flags.quiet);
    assert!(!c.run.sig_proxy());
    assert!(cli(&["--sig-proxy"]).unwrap().run.sig_proxy());
    assert!(cli(&[]).unwrap().run.sig_proxy());
    assert!(RunOnlyFlags::default().sig_proxy());
    assert!(cli(&["--sig-proxy=maybe"]).is_err());
}

/// `berth run`'s own flags and these together (as `RunArgs` flattens them): no clashing
/// names, docker's command line.
#[derive(Parser)]
struct Run {
    #[command(flatten)]
    args: crate::commands::run::RunArgs,
}

#[test]
fn flatten_into_run_args() {
    Run::command().debug_assert();
    let argv = [
        "berth",
        "-d",
        "--rm",
        "-p",
        "8080:80",
        "-l",
        "a=b",
        "--memory-swap",
        "-1",
        "-m",
        "1g",
        "--sig-proxy=false",
        "-c",
        "512",
        "alpine",
        "sh",
        "-c",
        "echo -p",
    ];
    let r = Run::try_parse_from(argv).unwrap();
    assert_eq!(r.args.image, "alpine");
    assert_eq!(r.args.command, ["sh", "-c", "echo -p"]);
    assert_eq!(
        (r.args.flags.publish.len(), r.args.flags.cpu_shares),
        (1, Some(512))
    );
    assert_eq!(r.args.flags.memory_swap.as_deref(), Some("-1"));
    assert!(!r.args.run_flags.sig_proxy() && r.args.detach && r.args.rm);
    assert!(Run::try_parse_from(["berth", "--memory-swap", "--rm", "alpine"]).is_err());
}
