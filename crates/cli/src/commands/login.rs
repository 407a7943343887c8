//! `berth login` / `berth logout`: Docker's login commands over the shared credential store
//! (`$DOCKER_CONFIG/config.json`, credential helpers included). A login is checked against the
//! registry before it is saved, and the output matches Docker's.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use berth_client::config::{Config, normalize_registry};
use berth_client::credentials::{Credential, CredentialStore, auth_key};
use berth_client::registry::Client;

/// `berth login`
#[derive(clap::Args)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password or token (insecure: other users can see it; prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password or token from stdin.
    #[arg(long, conflicts_with = "password")]
    pub password_stdin: bool,
    /// Registry to log in to [default: the configured default registry, docker.io].
    pub server: Option<String>,
}

/// `berth logout`
#[derive(clap::Args)]
pub struct LogoutArgs {
    /// Registry to log out from [default: the configured default registry, docker.io].
    pub server: Option<String>,
}

/// Run `berth login`: check the credentials against the registry, then save them.
pub fn login(args: LoginArgs) -> Result<()> {
    let config = Config::load()?;
    let registry = registry_arg(args.server.as_deref(), &config)?;
    let store = CredentialStore::from_env();

    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    let mut password = args.password.clone();
    if args.password_stdin {
        if args.username.is_none() {
            bail!("Must provide --username with --password-stdin");
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        // Only the line end a shell or `echo` adds is dropped, as Docker does.
        let text = text.strip_suffix('\n').unwrap_or(&text);
        password = Some(text.strip_suffix('\r').unwrap_or(text).to_string());
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = Client::new(&config, store.clone())?;
    // Only a convenience here (a default name); a broken store shows up when saving.
    let stored = store.get(&registry).unwrap_or_else(|e| {
        tracing::debug!(error = %e, "cannot read the stored login");
        None
    });

    // With nothing given, Docker first tries the login it already has.
    if args.username.is_none()
        && password.is_none()
        && let Some(cred) = &stored
    {
        println!(
            "Authenticating with existing credentials... [Username: {}]",
            cred.username
        );
        match runtime.block_on(client.check_login(&registry, cred)) {
            Ok(_) => {
                println!("Login Succeeded");
                return Ok(());
            }
            Err(e) => eprintln!("Login did not succeed, error: {e}"),
        }
    }

    let cred = complete_credential(args.username, password, stored)?;
    match runtime.block_on(client.check_login(&registry, &cred)) {
        Ok(()) => {}
        // The Unauthorized message advises `berth login`, which is what just failed.
        Err(berth_client::Error::Unauthorized { reason, .. }) => {
            anyhow::bail!("login to {registry} failed: unauthorized: {reason}")
        }
        Err(e) => return Err(anyhow::Error::from(e).context(format!("login to {registry} failed"))),
    }
    store
        .store(&registry, &cred)
        .with_context(|| format!("cannot save the login for {registry}"))?;
    if store.helper_for(&registry)?.is_none() {
        eprintln!(
            "WARNING! Your credentials are stored unencrypted in '{}'.\n\
             Configure a credential helper to remove this warning. See\n\
             https://docs.docker.com/go/credential-store/\n",
            store.path().display()
        );
    }
    println!("Login Succeeded");
    Ok(())
}

/// Run `berth logout`: forget the saved login for a registry.
pub fn logout(args: LogoutArgs) -> Result<()> {
    let config = Config::load()?;
    let registry = registry_arg(args.server.as_deref(), &config)?;
    // Docker names Docker Hub by its legacy URL here.
    let shown = auth_key(&registry);
    if CredentialStore::from_env().erase(&registry)? {
        println!("Removing login credentials for {shown}");
    } else {
        println!("Not logged in to {shown}");
    }
    Ok(())
}

/// The registry named on the command line (or the default), normalised as Docker does.
fn registry_arg(server: Option<&str>, config: &Config) -> Result<String> {
    let registry = normalize_registry(server.unwrap_or(&config.default_registry));
    if registry.is_empty() || registry.contains(char::is_whitespace) {
        bail!("invalid registry name {:?}", server.unwrap_or_default());
    }
    Ok(registry)
}

/// Prompt on the terminal for whatever was not given.
fn complete_credential(
    username: Option<String>,
    password: Option<String>,
    stored: Option<Credential>,
) -> Result<Credential> {
    if (username.is_none() || password.is_none()) && !std::io::stdin().is_terminal() {
        bail!("cannot perform an interactive login from a non TTY device");
    }
    let username = match username {
        Some(u) => u,
        None => {
            // A stored name is offered as the default, as Docker does (not for tokens).
            let default = stored
                .filter(|c| !c.is_identity_token())
                .map(|c| c.username)
                .unwrap_or_default();
            let prompt = if default.is_empty() {
                "Username: ".to_string()
            } else {
                format!("Username ({default}): ")
            };
            let answer = prompt_line(&prompt)?;
            if answer.is_empty() { default } else { answer }
        }
    };
    if username.trim().is_empty() {
        bail!("Non-null Username Required");
    }
    let password = match password {
        Some(p) => p,
        None => {
            let p = prompt_password("Password: ")?;
            if p.is_empty() {
                bail!("Password Required");
            }
            p
        }
    };
    Ok(Credential {
        username: username.trim().to_string(),
        secret: password,
    })
}

fn prompt_line(prompt: &str) -> Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Read a line with echo off (via `stty`, so no terminal library is needed).
pub(crate) fn prompt_password(prompt: &str) -> Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let echo_off = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        stty("echo");
        // The user's Enter was not echoed either.
        println!();
    }
    read?;
    let line = line.strip_suffix('\n').unwrap_or(&line);
    Ok(line.strip_suffix('\r').unwrap_or(line).to_string())
}

/// Run `stty ARG` on our terminal (stdin); whether it worked.
fn stty(arg: &str) -> bool {
    Command::new("stty")
        .arg(arg)
        .stdin(Stdio::inherit())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
