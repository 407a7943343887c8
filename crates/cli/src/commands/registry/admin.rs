//! `berth registry user|team|grant|revoke|grants|public|token|audit|auth`: the administrative
//! operations of `berth_registry::auth::admin` on a data root, audited as `local:<unix user>`.
//! Output: tables for people, `--json` for scripts; secrets are shown once (a robot token at
//! creation) and never logged.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use berth_registry::auth::Auth;
use berth_registry::auth::admin::{Actor, Admin, OtherUsers, parse_since};
use berth_registry::auth::audit::{AuditLog, now_ms};
use berth_registry::auth::db::AuthDb;
use berth_registry::auth::htpasswd::Htpasswd;
use berth_registry::auth::model::{AuditFilter, Role, ScopedActions, Subject};
use berth_registry::auth::token::SigningKey;
use berth_registry::config::Config;
use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Location, runtime};
use crate::commands::format::tabwrite;

/// `berth registry user ...`
#[derive(Subcommand)]
pub enum UserCommand {
    /// Add a user (the password is asked for, or read from stdin).
    Add {
        /// User name.
        name: String,
        /// Read the password from stdin (one line).
        #[arg(long)]
        password_stdin: bool,
        /// Also grant the admin role on every repository (`*`).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        at: Location,
    },
    /// Change a user's password (their tokens stop being refreshed at once).
    Passwd {
        /// User name.
        name: String,
        /// Read the password from stdin (one line).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        at: Location,
    },
    /// Remove a user, with their grants, team memberships and robot tokens.
    Rm {
        /// User name.
        name: String,
        #[command(flatten)]
        at: Location,
    },
    /// List users.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Location,
    },
}

/// `berth registry team ...`
#[derive(Subcommand)]
pub enum TeamCommand {
    /// Create a team.
    Add {
        /// Team name (grant it roles as `@NAME`).
        name: String,
        #[command(flatten)]
        at: Location,
    },
    /// Remove a team, with its memberships and grants.
    Rm {
        /// Team name.
        name: String,
        #[command(flatten)]
        at: Location,
    },
    /// List teams and their members.
    Ls {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Location,
    },
    /// Add users to a team or remove them.
    #[command(subcommand)]
    Member(MemberCommand),
}

/// `berth registry team member ...`
#[derive(Subcommand)]
pub enum MemberCommand {
    /// Add a user to a team.
    Add {
        /// Team name.
        team: String,
        /// User name.
        user: String,
        #[command(flatten)]
        at: Location,
    },
    /// Remove a user from a team.
    Rm {
        /// Team name.
        team: String,
        /// User name.
        user: String,
        #[command(flatten)]
        at: Location,
    },
}

/// `berth registry grant USER|@TEAM ROLE SCOPE`
#[derive(Args)]
pub struct GrantArgs {
    /// A user name, or `@team`.
    subject: String,
    /// reader (pull), writer (+ push), maintainer (+ delete) or admin (+ manage access).
    role: String,
    /// A repository name or a glob: `team-a/*` (one level), `team-a/**` (any depth), `*`.
    scope: String,
    #[command(flatten)]
    at: Location,
}

/// `berth registry revoke USER|@TEAM [ROLE] SCOPE`
#[derive(Args)]
pub struct RevokeArgs {
    /// A user name, or `@team`.
    subject: String,
    /// `ROLE SCOPE`, or `SCOPE` alone for every role on it.
    #[arg(num_args = 1..=2, required = true, value_name = "[ROLE] SCOPE")]
    rest: Vec<String>,
    #[command(flatten)]
    at: Location,
}

/// `berth registry grants`
#[derive(Args)]
pub struct GrantsArgs {
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    at: Location,
}

/// `berth registry public [SCOPE on|off]`
#[derive(Args)]
pub struct PublicArgs {
    /// A repository name or glob, e.g. `library/*`.
    scope: Option<String>,
    /// `on`: anyone may pull; `off`: only those granted.
    #[arg(value_parser = ["on", "off"], requires = "scope")]
    state: Option<String>,
    #[command(flatten)]
    at: Location,
}

/// `berth registry token ...`
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a robot token; its secret is printed once.
    Create {
        /// The user it logs in as (it never gets more than the user has).
        #[arg(long)]
        user: String,
        /// A label, unique among the user's live tokens (e.g. ci-main).
        #[arg(long)]
        name: String,
        /// What it may do: SCOPE:ACTIONS, e.g. 'team-a/*:pull,push' (repeatable).
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// Lifetime (e.g. 30d, 12h) [default: never expires].
        #[arg(long)]
        expires: Option<String>,
        /// Print JSON (with the secret).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Location,
    },
    /// List robot tokens (never their secrets), with their last use.
    Ls {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        at: Location,
    },
    /// Revoke a robot token, by ID or name; it is refused at once.
    Revoke {
        /// The token's ID or name.
        token: String,
        /// The user whose token name it is.
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        at: Location,
    },
}

/// `berth registry audit`
#[derive(Args)]
pub struct AuditArgs {
    /// Only records since this time: RFC 3339, or a duration such as 1h or 7d.
    #[arg(long)]
    since: Option<String>,
    /// Only records by this user (`robot:<id>` for a robot token).
    #[arg(long)]
    user: Option<String>,
    /// Only records about this repository.
    #[arg(long)]
    repo: Option<String>,
    /// At most this many (the newest).
    #[arg(long)]
    limit: Option<u32>,
    /// Print JSON lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    at: Location,
}

/// `berth registry auth ...`
#[derive(Subcommand)]
pub enum AuthCommand {
    /// Print the token-signing certificate (PEM), generating the key at first use; give it to
    /// a registry that should trust berth's tokens (Distribution's `rootcertbundle`).
    Cert {
        /// Print the key as a JWKS instead (Distribution 3's `jwks`).
        #[arg(long)]
        jwks: bool,
        #[command(flatten)]
        at: Location,
    },
}

/// The operations on the data root `at` names.
async fn open(at: &Location) -> Result<(Admin, Config)> {
    let config = at.load()?;
    std::fs::create_dir_all(&config.root)
        .with_context(|| format!("cannot create data root {}", config.root.display()))?;
    let db = Arc::new(AuthDb::open(&config.root).await.with_context(|| {
        format!(
            "cannot open the access database in {}",
            config.root.display()
        )
    })?);
    // A JSON-lines file is shared with the server; standard output is the server's, not ours.
    let sink = config
        .auth
        .audit_log
        .as_deref()
        .filter(|p| *p != Path::new("-"));
    let audit = Arc::new(AuditLog::new(db, sink)?);
    let other = if config.auth.external.is_some() {
        OtherUsers::Any
    } else if let Some(h) = &config.auth.htpasswd {
        OtherUsers::Listed(Htpasswd::open(h)?.users())
    } else {
        OtherUsers::None
    };
    Ok((Admin::new(audit).with_other_users(other), config))
}

/// A password from stdin (`--password-stdin`: all of it, less one line end) or asked twice on
/// the terminal.
fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        return Ok(text.strip_suffix('\r').unwrap_or(text).to_string());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: pass it on stdin with --password-stdin");
    }
    let first = crate::commands::login::prompt_password("Password: ")?;
    let again = crate::commands::login::prompt_password("Password again: ")?;
    if first != again {
        bail!("the passwords differ");
    }
    Ok(first)
}

fn print_json<T: Serialize + ?Sized>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn print_table(header: &str, rows: impl IntoIterator<Item = String>) {
    let mut text = format!("{header}\n");
    for r in rows {
        text.push_str(&r);
        text.push('\n');
    }
    print!("{}", tabwrite(&text));
}

fn subject(s: &str) -> Result<Subject> {
    s.parse().map_err(|e: String| anyhow::anyhow!(e))
}

fn role(s: &str) -> Result<Role> {
    s.parse().map_err(|e: String| anyhow::anyhow!(e))
}

/// Run `berth registry user ...`.
pub fn user(cmd: UserCommand) -> Result<()> {
    let actor = Actor::local();
    runtime()?.block_on(async {
        match cmd {
            UserCommand::Add {
                name,
                password_stdin,
                admin,
                at,
            } => {
                let password = read_password(password_stdin)?;
                let (ops, _) = open(&at).await?;
                ops.user_add(&actor, &name, &password, admin).await?;
                let extra = if admin { " (admin on *)" } else { "" };
                println!("Added user {name}{extra}");
            }
            UserCommand::Passwd {
                name,
                password_stdin,
                at,
            } => {
                let password = read_password(password_stdin)?;
                let (ops, _) = open(&at).await?;
                ops.user_passwd(&actor, &name, &password).await?;
                println!("Changed the password of {name}");
            }
            UserCommand::Rm { name, at } => {
                let (ops, _) = open(&at).await?;
                ops.user_rm(&actor, &name).await?;
                println!("Removed user {name}");
            }
            UserCommand::Ls { json, at } => {
                let (ops, _) = open(&at).await?;
                let users = ops.users().await?;
                if json {
                    return print_json(&users);
                }
                print_table(
                    "NAME\tADMIN\tTEAMS\tCREATED",
                    users.iter().map(|u| {
                        format!(
                            "{}\t{}\t{}\t{}",
                            u.name,
                            if u.admin { "yes" } else { "no" },
                            if u.teams.is_empty() {
                                "-".to_string()
                            } else {
                                u.teams.join(",")
                            },
                            u.created_at
                        )
                    }),
                );
            }
        }
        Ok(())
    })
}

/// Run `berth registry team ...`.
pub fn team(cmd: TeamCommand) -> Result<()> {
    let actor = Actor::local();
    runtime()?.block_on(async {
        match cmd {
            TeamCommand::Add { name, at } => {
                open(&at).await?.0.team_add(&actor, &name).await?;
                println!("Added team @{name}");
            }
            TeamCommand::Rm { name, at } => {
                open(&at).await?.0.team_rm(&actor, &name).await?;
                println!("Removed team @{name}");
            }
            TeamCommand::Ls { json, at } => {
                let teams = open(&at).await?.0.teams().await?;
                if json {
                    return print_json(&teams);
                }
                print_table(
                    "TEAM\tMEMBERS",
                    teams.iter().map(|t| {
                        let m = if t.members.is_empty() {
                            "-".to_string()
                        } else {
                            t.members.join(",")
                        };
                        format!("@{}\t{m}", t.name)
                    }),
                );
            }
            TeamCommand::Member(MemberCommand::Add { team, user, at }) => {
                open(&at).await?.0.member_add(&actor, &team, &user).await?;
                println!("Added {user} to @{team}");
            }
            TeamCommand::Member(MemberCommand::Rm { team, user, at }) => {
                open(&at).await?.0.member_rm(&actor, &team, &user).await?;
                println!("Removed {user} from @{team}");
            }
        }
        Ok(())
    })
}

/// Run `berth registry grant`.
pub fn grant(a: GrantArgs) -> Result<()> {
    let subject = subject(&a.subject)?;
    let role = role(&a.role)?;
    runtime()?.block_on(async {
        let (ops, _) = open(&a.at).await?;
        ops.grant(&Actor::local(), subject.clone(), role, &a.scope)
            .await?;
        println!("Granted {role} on {} to {subject}", a.scope);
        Ok(())
    })
}

/// Run `berth registry revoke`.
pub fn revoke(a: RevokeArgs) -> Result<()> {
    let subject = subject(&a.subject)?;
    let (role, scope) = match a.rest.as_slice() {
        [scope] => (None, scope.clone()),
        [r, scope] => (Some(role(r)?), scope.clone()),
        _ => bail!("expected [ROLE] SCOPE"),
    };
    runtime()?.block_on(async {
        let (ops, _) = open(&a.at).await?;
        let n = ops
            .revoke(&Actor::local(), subject.clone(), role, &scope)
            .await?;
        let what = role.map_or("every role".to_string(), |r| r.to_string());
        println!(
            "Revoked {what} on {scope} from {subject} ({n} grant{})",
            if n == 1 { "" } else { "s" }
        );
        Ok(())
    })
}

/// Run `berth registry grants`.
pub fn grants(a: GrantsArgs) -> Result<()> {
    runtime()?.block_on(async {
        let (ops, _) = open(&a.at).await?;
        let grants = ops.grants().await?;
        let public = ops.public_scopes().await?;
        if a.json {
            return print_json(&grants);
        }
        print_table(
            "SUBJECT\tROLE\tSCOPE",
            grants
                .iter()
                .map(|g| format!("{}\t{}\t{}", g.subject, g.role.as_str(), g.scope))
                .chain(public.iter().map(|s| format!("(anyone)\tpull\t{s}"))),
        );
        Ok(())
    })
}

/// Run `berth registry public`.
pub fn public(a: PublicArgs) -> Result<()> {
    runtime()?.block_on(async {
        let (ops, _) = open(&a.at).await?;
        match (&a.scope, a.state.as_deref()) {
            (None, _) => {
                for s in ops.public_scopes().await? {
                    println!("{s}");
                }
            }
            (Some(_), None) => bail!("say on or off: berth registry public SCOPE on|off"),
            (Some(scope), Some(state)) => {
                let on = state == "on";
                let changed = ops.set_public(&Actor::local(), scope, on).await?;
                let now = if on {
                    "public: anyone may pull"
                } else {
                    "not public: only those granted may pull"
                };
                let note = if changed { "" } else { " (unchanged)" };
                println!("{scope} is {now}{note}");
            }
        }
        Ok(())
    })
}

/// Run `berth registry token ...`.
pub fn token(cmd: TokenCommand) -> Result<()> {
    let actor = Actor::local();
    runtime()?.block_on(async {
        match cmd {
            TokenCommand::Create {
                user,
                name,
                scopes,
                expires,
                json,
                at,
            } => {
                let scopes = scopes
                    .iter()
                    .map(|s| s.parse::<ScopedActions>())
                    .collect::<Result<Vec<_>, String>>()
                    .map_err(|e| anyhow::anyhow!(e))?;
                let expires = expires
                    .as_deref()
                    .filter(|e| *e != "never")
                    .map(berth_registry::config::parse_duration)
                    .transpose()
                    .map_err(|e| anyhow::anyhow!(e))?;
                let (ops, _) = open(&at).await?;
                let (view, secret) = ops
                    .token_create(&actor, &user, &name, scopes, expires)
                    .await?;
                if json {
                    let mut v = serde_json::to_value(&view)?;
                    v["token"] = secret.into();
                    return print_json(&v);
                }
                println!(
                    "Created robot token {} ({}) for {user}; the secret is shown only once:",
                    view.label, view.id
                );
                println!("user: {user}");
                println!("token: {secret}");
                println!("scopes: {}", view.scopes.join(" "));
                println!("expires: {}", view.expires.as_deref().unwrap_or("never"));
                println!("Log in with: berth login -u {user} --password-stdin REGISTRY");
            }
            TokenCommand::Ls { user, json, at } => {
                let (ops, _) = open(&at).await?;
                let tokens = ops.token_ls(user.as_deref()).await?;
                if json {
                    return print_json(&tokens);
                }
                print_table(
                    "ID\tUSER\tNAME\tSCOPES\tSTATE\tEXPIRES\tLAST USED",
                    tokens.iter().map(|t| {
                        format!(
                            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                            t.id,
                            t.user,
                            t.label,
                            t.scopes.join(" "),
                            t.state,
                            t.expires.as_deref().unwrap_or("never"),
                            t.last_used.as_deref().unwrap_or("never")
                        )
                    }),
                );
            }
            TokenCommand::Revoke { token, user, at } => {
                let (ops, _) = open(&at).await?;
                ops.token_revoke(&actor, user.as_deref(), &token).await?;
                println!("Revoked token {token}");
            }
        }
        Ok(())
    })
}

/// Run `berth registry audit`.
pub fn audit(a: AuditArgs) -> Result<()> {
    runtime()?.block_on(async {
        let (ops, _) = open(&a.at).await?;
        let filter = AuditFilter {
            since_ms: a
                .since
                .as_deref()
                .map(|s| parse_since(s, now_ms()))
                .transpose()?,
            actor: a.user.clone(),
            repo: a.repo.clone(),
            limit: a.limit,
        };
        let records = ops.audit(&filter).await?;
        if a.json {
            for r in &records {
                println!("{}", serde_json::to_string(r)?);
            }
            return Ok(());
        }
        print_table(
            "TIME\tACTION\tRESULT\tACTOR\tCLIENT\tREPOSITORY\tTARGET\tDETAIL",
            records.iter().map(|r| {
                let e = &r.event;
                let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
                format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    r.time,
                    e.action,
                    if e.success { "ok" } else { "refused" },
                    dash(&e.actor),
                    dash(&e.client),
                    dash(&e.repo),
                    dash(&e.target),
                    dash(&e.detail)
                )
            }),
        );
        Ok(())
    })
}

/// Run `berth registry auth ...`.
pub fn auth(cmd: AuthCommand) -> Result<()> {
    let AuthCommand::Cert { jwks, at } = cmd;
    let config = at.load()?;
    let key = match &config.auth.key {
        Some(k) => SigningKey::from_files(k, config.auth.cert.as_deref())?,
        None => SigningKey::load_or_generate(&Auth::key_dir(&config.root))?,
    };
    if jwks {
        println!("{}", key.jwks_json());
    } else {
        print!("{}", key.certificate_pem());
    }
    Ok(())
}
