//! `berth attach CONTAINER`: the live streams of a detached container (`run -d`, `start`).
//!
//! berth has no daemon: the container's `berth container-monitor` listens on a unix socket,
//! `attach.sock` in the container's directory (mode 0600, there while the monitor lives), and
//! [`Hub`] is its side. Each client that connects receives the container's output from that
//! moment and may send it input:
//!
//! - monitor → client, without a terminal: Docker's stdcopy frames, an 8-byte header
//!   `[stream, 0, 0, 0, length (u32, big-endian)]` then `length` bytes, stream 1 for stdout
//!   and 2 for stderr; with a terminal (`-t`), the terminal's raw bytes.
//! - client → monitor, always framed the same way: stream 0 is stdin (written to the
//!   container's stdin pipe, or its terminal, when it was run with `-i`; ignored otherwise),
//!   3 a window size (rows and columns, two big-endian u16) for its terminal.
//!
//! Output goes to each client through a bounded queue and its own thread: a slow client loses
//! output when its queue is full, a gone one is dropped; neither blocks the container or its
//! log. The monitor closes every connection when the container's run ends; the client then
//! waits for the record to say it exited and exits with its code, as `docker attach` does.

use std::fs::File;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, bail};
use berth_store::{Container, State};

use super::context::Context;

/// Frame stream ids: stdin, stdout and stderr as in Docker's stdcopy; resize, berth's own.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const RESIZE: u8 = 3;

/// Chunks of output queued for one client before its output is dropped.
const QUEUE: usize = 256;
/// The largest frame a client may send.
const MAX_FRAME: usize = 1 << 20;

/// The attach socket of container `id`.
pub fn socket_path(ctx: &Context, id: &str) -> PathBuf {
    ctx.layout().container(id).join("attach.sock")
}

/// `data` in a frame of stream `stream`.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// The next frame on `from`: (stream, data); `None` at its end (or on a bad frame).
fn read_frame(from: &mut impl std::io::Read) -> Option<(u8, Vec<u8>)> {
    let mut header = [0u8; 8];
    from.read_exact(&mut header).ok()?;
    let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if len > MAX_FRAME {
        return None;
    }
    let mut data = vec![0u8; len];
    from.read_exact(&mut data).ok()?;
    Some((header[0], data))
}

/// Run `f` on `path`, through `/proc/self/fd` of its directory when `path` is too long for a
/// unix socket's address (108 bytes; data roots can be deep).
fn short_path<T>(path: &Path, f: impl FnOnce(&Path) -> std::io::Result<T>) -> std::io::Result<T> {
    if path.as_os_str().len() < 100 {
        return f(path);
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return f(path);
    };
    let dir = File::open(dir)?;
    let short = Path::new(&format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name);
    f(&short)
}

/// What the monitor shares with its clients' threads.
struct Shared {
    tty: bool,
    /// Each connected client's output queue, and the thread sending it.
    clients: Mutex<Vec<Client>>,
    /// Where client input goes: the container's stdin pipe or terminal (`-i` only).
    stdin: Mutex<Option<Arc<File>>>,
    /// The container's terminal, for window sizes.
    terminal: Mutex<Option<Arc<OwnedFd>>>,
}

/// A connected client.
struct Client {
    queue: SyncSender<Arc<Vec<u8>>>,
    sender: std::thread::JoinHandle<()>,
}

/// How long the end of a run waits for its clients to be sent their queued output.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// The monitor's side of `attach.sock`: clients' connections, the container's output sent to
/// them and their input to the container.
pub struct Hub {
    shared: Arc<Shared>,
    path: Mutex<Option<PathBuf>>,
}

impl Hub {
    /// Listen on `path` (replacing any stale socket) for clients of a container that has a
    /// terminal (`tty`) or not. A socket that cannot be made leaves the container without
    /// attach (said on the monitor's log), not without running.
    pub fn listen(path: &Path, tty: bool) -> Hub {
        let shared = Arc::new(Shared {
            tty,
            clients: Mutex::new(Vec::new()),
            stdin: Mutex::new(None),
            terminal: Mutex::new(None),
        });
        let _ = std::fs::remove_file(path);
        let bound = short_path(path, |p| UnixListener::bind(p)).and_then(|listener| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            Ok(listener)
        });
        let listener = match bound {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot listen for attach");
                return Hub {
                    shared,
                    path: Mutex::new(None),
                };
            }
        };
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(conn) => serve(&s, conn),
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
                }
            }
        });
        Hub {
            shared,
            path: Mutex::new(Some(path.to_path_buf())),
        }
    }

    /// Send `data` the container wrote on `stream` (stdout or stderr) to every client, never
    /// waiting for one: a full queue loses this chunk, a closed one is forgotten.
    pub fn output(&self, stream: u8, data: &[u8]) {
        let mut clients = self.shared.clients.lock().unwrap();
        if clients.is_empty() {
            return;
        }
        let chunk = Arc::new(if self.shared.tty {
            data.to_vec()
        } else {
            frame(stream, data)
        });
        clients.retain(|c| match c.queue.try_send(chunk.clone()) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    /// Where client input goes from now on (`None`: nowhere).
    pub fn set_stdin(&self, stdin: Option<File>) {
        *self.shared.stdin.lock().unwrap() = stdin.map(Arc::new);
    }

    /// The container's terminal (`master`) for window sizes, and for input with `stdin`.
    pub fn set_terminal(&self, master: &OwnedFd, stdin: bool) {
        *self.shared.terminal.lock().unwrap() = master.try_clone().ok().map(Arc::new);
        if stdin {
            self.set_stdin(master.try_clone().ok().map(File::from));
        }
    }

    /// The container's run has ended: every client's connection is closed once its queued
    /// output is sent (waited for a little: the monitor may exit next), and input goes
    /// nowhere.
    pub fn end_run(&self) {
        let clients = std::mem::take(&mut *self.shared.clients.lock().unwrap());
        let senders: Vec<_> = clients.into_iter().map(|c| c.sender).collect();
        let deadline = std::time::Instant::now() + DRAIN;
        while senders.iter().any(|s| !s.is_finished()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        *self.shared.stdin.lock().unwrap() = None;
        *self.shared.terminal.lock().unwrap() = None;
    }

    /// The monitor is ending: the socket goes, and the clients with it.
    pub fn close(&self) {
        if let Some(path) = self.path.lock().unwrap().take() {
            let _ = std::fs::remove_file(path);
        }
        self.end_run();
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.close();
    }
}

/// A new client: a thread sends it its queue, another reads its input.
fn serve(shared: &Arc<Shared>, conn: UnixStream) {
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::sync_channel::<Arc<Vec<u8>>>(QUEUE);
    let sender = std::thread::spawn(move || {
        for chunk in rx {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = writer.shutdown(std::net::Shutdown::Both);
    });
    shared
        .clients
        .lock()
        .unwrap()
        .push(Client { queue: tx, sender });
    let s = shared.clone();
    std::thread::spawn(move || {
        let mut conn = conn;
        while let Some((stream, data)) = read_frame(&mut conn) {
            match stream {
                STDIN => {
                    let stdin = s.stdin.lock().unwrap().clone();
                    if let Some(stdin) = stdin {
                        // A full pipe blocks this client's input only.
                        let _ = (&*stdin).write_all(&data);
                    }
                }
                RESIZE if data.len() == 4 => {
                    let terminal = s.terminal.lock().unwrap().clone();
                    if let Some(t) = terminal {
                        let size = libc::winsize {
                            ws_row: u16::from_be_bytes([data[0], data[1]]),
                            ws_col: u16::from_be_bytes([data[2], data[3]]),
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        // SAFETY: TIOCSWINSZ reads a winsize from the stack.
                        unsafe { libc::ioctl(t.as_raw_fd(), libc::TIOCSWINSZ, &size) };
                    }
                }
                _ => {}
            }
        }
    });
}

/// `berth attach`
#[derive(clap::Args)]
pub struct AttachArgs {
    /// Do not attach STDIN.
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process (not with a terminal).
    #[arg(
        long,
        value_name = "BOOL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true"
    )]
    pub sig_proxy: Option<bool>,
    /// Override the key sequence for detaching a container (default `ctrl-p,ctrl-q`).
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// The container (name or id).
    pub container: String,
}

/// Docker's refusals to attach to a container that is not running.
fn check_state(c: &Container) -> Result<()> {
    if c.state != State::Running {
        if c.restarting {
            bail!("You cannot attach to a restarting container, wait until it is running");
        }
        bail!("You cannot attach to a stopped container, start it first");
    }
    if c.paused {
        bail!("You cannot attach to a paused container, unpause it first");
    }
    Ok(())
}

/// Recognises the detach keys in the input stream.
pub struct EscapeProxy {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeProxy {
    pub fn new(keys: Vec<u8>) -> EscapeProxy {
        EscapeProxy { keys, matched: 0 }
    }

    /// What of `input` to forward now (a partial sequence is held back until the bytes that
    /// follow tell), and whether the whole sequence was read.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        if self.keys.is_empty() {
            out.extend_from_slice(input);
            return (out, false);
        }
        for &b in input {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    self.matched = 0;
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// The first `die` event of container `id` at or after `since` (Unix nanoseconds): its exit
/// code (for a `--rm` container, gone when its exit is looked for).
fn died_since(ctx: &Context, id: &str, since: i64) -> Option<i64> {
    let mut filter = berth_engine::events::EventFilter {
        since_nano: Some(since),
        ..Default::default()
    };
    filter
        .filters
        .insert("type".into(), vec!["container".into()]);
    filter.filters.insert("event".into(), vec!["die".into()]);
    filter.filters.insert("container".into(), vec![id.into()]);
    let events = berth_engine::events::journal(&ctx.config.root)
        .read(&filter)
        .ok()?;
    events.iter().find(|e| e.actor.id == id).map(|e| {
        e.actor
            .attributes
            .get("exitCode")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    })
}

/// Send one frame on the shared connection.
fn send(conn: &Mutex<UnixStream>, stream: u8, data: &[u8]) -> std::io::Result<()> {
    conn.lock().unwrap().write_all(&frame(stream, data))
}

/// Send the window size of this terminal (stdout's, else stdin's), `grow` more each way.
fn send_size(conn: &Mutex<UnixStream>, grow: u16) {
    let (mut rows, mut cols) = super::tty::window_size(1);
    if rows == 0 && cols == 0 {
        (rows, cols) = super::tty::window_size(0);
    }
    if rows == 0 && cols == 0 {
        return;
    }
    let mut data = Vec::with_capacity(4);
    data.extend_from_slice(&(rows + grow).to_be_bytes());
    data.extend_from_slice(&(cols + grow).to_be_bytes());
    let _ = send(conn, RESIZE, &data);
}

/// Copy the container's output from `conn` to this process's stdout and stderr until the
/// monitor closes it.
fn pump_output(mut conn: UnixStream, tty: bool) {
    if tty {
        let mut out = std::io::stdout().lock();
        let mut buf = [0u8; 16 * 1024];
        loop {
            match conn.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                        return;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
    while let Some((stream, data)) = read_frame(&mut conn) {
        let written = if stream == STDERR {
            let mut err = std::io::stderr().lock();
            err.write_all(&data).and_then(|()| err.flush())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(&data).and_then(|()| out.flush())
        };
        if written.is_err() {
            return;
        }
    }
}

/// Forward this process's stdin to the container until it ends or the detach keys are read
/// (then `detached` is told); a thread, as a read of a terminal cannot be cancelled.
fn pump_input(
    conn: Arc<Mutex<UnixStream>>,
    keys: Vec<u8>,
    detached: tokio::sync::oneshot::Sender<()>,
) {
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut proxy = EscapeProxy::new(keys);
        let mut buf = [0u8; 4096];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let (forward, detach) = proxy.feed(&buf[..n]);
            if !forward.is_empty() && send(&conn, STDIN, &forward).is_err() {
                return;
            }
            if detach {
                let _ = detached.send(());
                return;
            }
        }
        // End of input: the container's stdin stays open (it was run with `-d -i`), as
        // Docker keeps it; the output goes on until the container ends.
        let _ = conn.lock().unwrap().shutdown(std::net::Shutdown::Write);
    });
}

/// Forward the signals `docker attach --sig-proxy` does to container `id`.
fn proxy_signals(ctx: Arc<Context>, id: String) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let kinds = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
    ];
    for sig in kinds {
        let mut stream = signal(SignalKind::from_raw(sig))?;
        let (ctx, id) = (ctx.clone(), id.clone());
        tokio::spawn(async move {
            while stream.recv().await.is_some() {
                if let Err(e) = ctx.kill(&id, sig).await {
                    tracing::debug!(error = %e, "cannot forward a signal");
                }
            }
        });
    }
    Ok(())
}

/// Run `berth attach`.
pub async fn attach(args: AttachArgs) -> Result<()> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let keys = match args.detach_keys.as_deref() {
        None | Some("") => "ctrl-p,ctrl-q",
        Some(k) => k,
    };
    let keys = super::run::flags::parse::detach_keys(keys)
        .map_err(|e| anyhow::anyhow!("Invalid detach keys ({keys}) provided: {e}"))?;
    let ctx = Arc::new(Context::open().await?);
    let c = berth_engine::containers::liveness::find(&ctx, &args.container).await?;
    check_state(&c)?;
    let record = super::run::record(&c)?;
    let tty = record.config.tty;
    if tty && !args.no_stdin && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY");
    }
    let with_stdin = !args.no_stdin && record.config.open_stdin;
    let path = socket_path(&ctx, &c.id);
    let conn = match short_path(&path, |p| UnixStream::connect(p)) {
        Ok(conn) => conn,
        Err(e) => {
            // Gone meanwhile, or run in the foreground (no monitor to attach to).
            let now = berth_engine::containers::liveness::find(&ctx, &c.id).await?;
            check_state(&now)?;
            return Err(e).with_context(|| {
                format!(
                    "cannot attach to container {}: it was not started detached",
                    c.name
                )
            });
        }
    };
    // Checked again: a container that stopped meanwhile would leave this waiting.
    let now = berth_engine::containers::liveness::find(&ctx, &c.id).await?;
    check_state(&now)?;

    if args.sig_proxy.unwrap_or(true) && !tty {
        proxy_signals(ctx.clone(), c.id.clone())?;
    }
    let writer = Arc::new(Mutex::new(conn.try_clone()?));
    let raw = if tty && with_stdin {
        super::tty::RawMode::enable(0)
    } else {
        None
    };
    if tty && std::io::stdout().is_terminal() {
        // A size one bigger first, so that the container redraws for this attach (as
        // Docker does), then this terminal's, and its changes after.
        send_size(&writer, 1);
        send_size(&writer, 0);
        let w = writer.clone();
        let mut winch =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
        tokio::spawn(async move {
            while winch.recv().await.is_some() {
                send_size(&w, 0);
            }
        });
    }
    let (detached_tx, detached_rx) = tokio::sync::oneshot::channel();
    if with_stdin {
        pump_input(writer.clone(), keys, detached_tx);
    } else {
        drop(detached_tx);
    }
    let output = tokio::task::spawn_blocking(move || pump_output(conn, tty));
    let detached = async {
        match detached_rx.await {
            Ok(()) => (),
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = output => {}
        () = detached => {
            drop(raw);
            let _ = writer.lock().unwrap().shutdown(std::net::Shutdown::Both);
            eprintln!("read escape sequence");
            return Err(super::run::ContainerExit(1).into());
        }
    }
    drop(raw);
    // The run ended (or its monitor went): its exit code, once recorded.
    let code = match ctx.store.container(&c.id).await? {
        Some(_) => ctx.wait(&c.id).await.unwrap_or(0),
        None => died_since(&ctx, &c.id, since).unwrap_or(0),
    };
    if code != 0 {
        return Err(super::run::ContainerExit(code as i32).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_proxy_holds_partial_sequences() {
        let mut p = EscapeProxy::new(vec![16, 17]);
        assert_eq!(p.feed(b"ab"), (b"ab".to_vec(), false));
        // A partial sequence is held, then forwarded as is when other bytes follow.
        assert_eq!(p.feed(&[16]), (vec![], false));
        assert_eq!(p.feed(b"x"), (vec![16, b'x'], false));
        assert_eq!(p.feed(&[16, 16]), (vec![16], false));
        assert_eq!(p.feed(&[17, b'y']), (vec![], true));
        let mut p = EscapeProxy::new(vec![1]);
        assert_eq!(p.feed(b"hi\x01rest"), (b"hi".to_vec(), true));
    }

    #[test]
    fn frames_round_trip() {
        let f = frame(STDERR, b"err\n");
        assert_eq!(&f[..8], &[2, 0, 0, 0, 0, 0, 0, 4]);
        assert_eq!(read_frame(&mut &f[..]), Some((STDERR, b"err\n".to_vec())));
        assert_eq!(read_frame(&mut &f[..5]), None);
    }
}
