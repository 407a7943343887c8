//! Container records: what `ps -a` lists and what the runtime updates as a container is created,
//! starts and exits. Names are unique; random names look like Docker's (`adjective_surname`).
//!
//! A running record also names the processes it depends on (the container's first process and
//! the berth process supervising it) by pid and /proc identity, so that readers can tell a
//! record whose supervisor is gone ([`Container::is_alive`]) from one that still runs.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::images::Store;

/// A container's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created, not started.
    Created,
    /// Its process runs.
    Running,
    /// Its process ended.
    Exited,
}

impl State {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        }
    }

    fn parse(s: &str) -> Result<State> {
        match s {
            "created" => Ok(State::Created),
            "running" => Ok(State::Running),
            "exited" => Ok(State::Exited),
            other => Err(Error::Corrupt(format!("container state {other:?}"))),
        }
    }
}

/// A container record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// 64-hex id.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The image as the user named it.
    pub image: String,
    /// The image id (config digest).
    pub image_id: String,
    /// The command as run (entrypoint + cmd).
    pub command: Vec<String>,
    /// Creation time (Unix seconds).
    pub created_at: i64,
    /// Lifecycle state.
    pub state: State,
    /// Process id while running.
    pub pid: Option<i64>,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Start time.
    pub started_at: Option<i64>,
    /// Finish time.
    pub finished_at: Option<i64>,
    /// Runtime configuration (JSON).
    pub config: String,
    /// [`process_identity`] of `pid` when it started.
    pub pid_identity: Option<String>,
    /// The berth process supervising the current run (it records the exit).
    pub monitor_pid: Option<i64>,
    /// [`process_identity`] of `monitor_pid`.
    pub monitor_identity: Option<String>,
    /// Whether its processes are frozen (`berth pause`); its state stays running.
    pub paused: bool,
    /// How many times its monitor restarted it (`--restart`).
    pub restart_count: i64,
    /// Whether the user stopped it (`stop`, `kill`, `rm -f`): its monitor does not restart it.
    pub stopped_by_user: bool,
    /// Whether it has exited and its monitor is waiting to restart it.
    pub restarting: bool,
    /// Its health as last probed (`None`: no health check).
    pub health: Option<Health>,
    /// Whether the kernel's OOM killer hit its last run.
    pub oom_killed: bool,
}

/// A container's health, as Docker's `State.Health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failed probes.
    pub failing_streak: i64,
    /// The last probes, as a JSON array of Docker's `{Start, End, ExitCode, Output}`.
    pub log: String,
}

impl Container {
    /// Whether a record in the running state still has a live supervisor (or, for records
    /// without one, a live first process). Records in other states, and records that name no
    /// process to check, count as alive: there is nothing to reconcile.
    pub fn is_alive(&self) -> bool {
        if self.state != State::Running {
            return true;
        }
        match (
            self.monitor_pid,
            &self.monitor_identity,
            self.pid,
            &self.pid_identity,
        ) {
            (Some(m), Some(identity), _, _) => process_identity(m).as_ref() == Some(identity),
            (_, _, Some(pid), Some(identity)) => process_identity(pid).as_ref() == Some(identity),
            // Records from before identities: the pid alone.
            (_, _, Some(pid), None) if pid > 0 => {
                std::path::Path::new(&format!("/proc/{pid}")).exists()
            }
            _ => true,
        }
    }
}

/// This boot's id, so a process identity does not survive a reboot.
fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_string())
}

/// `"<boot id>:<start time>"` of process `pid` (its start time in clock ticks since boot, field
/// 22 of `/proc/<pid>/stat`), which a later process reusing the pid does not share. `None` when
/// there is no such process (or it is a zombie already reaped).
pub fn process_identity(pid: i64) -> Option<String> {
    if pid <= 0 {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); field 22 is starttime.
    if fields.first() == Some(&"Z") || fields.first() == Some(&"X") {
        return None;
    }
    let start = fields.get(19)?;
    Some(format!("{}:{start}", boot_id()?))
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

const ADJECTIVES: &[&str] = &[
    "admiring", "agile", "amazing", "bold", "brave", "busy", "calm", "clever", "cool", "dazzling",
    "eager", "elegant", "festive", "focused", "gallant", "gentle", "happy", "hopeful", "jolly",
    "keen", "kind", "lucid", "modest", "nifty", "noble", "patient", "quirky", "relaxed", "serene",
    "sharp", "stoic", "tender", "upbeat", "vibrant", "wizardly", "zealous",
];
const NAMES: &[&str] = &[
    "babbage", "bohr", "curie", "darwin", "dijkstra", "einstein", "euler", "faraday", "feynman",
    "galileo", "gauss", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lovelace", "maxwell",
    "meitner", "newton", "noether", "pascal", "ritchie", "shannon", "tesla", "thompson",
    "torvalds", "turing", "wozniak", "wu",
];

/// A Docker-style random name, from `seed` (any random number).
pub fn random_name(seed: u64) -> String {
    let a = ADJECTIVES[(seed % ADJECTIVES.len() as u64) as usize];
    let n = NAMES[((seed / ADJECTIVES.len() as u64) % NAMES.len() as u64) as usize];
    format!("{a}_{n}")
}

type Row = sqlx::sqlite::SqliteRow;

fn from_row(r: Row) -> Result<Container> {
    use sqlx::Row as _;
    let command: String = r.try_get(4)?;
    let command = serde_json::from_str(&command)
        .map_err(|e| Error::Corrupt(format!("container command: {e}")))?;
    let state: String = r.try_get(6)?;
    Ok(Container {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        image: r.try_get(2)?,
        image_id: r.try_get(3)?,
        command,
        created_at: r.try_get(5)?,
        state: State::parse(&state)?,
        pid: r.try_get(7)?,
        exit_code: r.try_get(8)?,
        started_at: r.try_get(9)?,
        finished_at: r.try_get(10)?,
        config: r.try_get(11)?,
        pid_identity: r.try_get(12)?,
        monitor_pid: r.try_get(13)?,
        monitor_identity: r.try_get(14)?,
        paused: r.try_get(15)?,
        restart_count: r.try_get(16)?,
        stopped_by_user: r.try_get(17)?,
        restarting: r.try_get(18)?,
        health: match r.try_get::<Option<String>, _>(19)? {
            Some(status) => Some(Health {
                status,
                failing_streak: r.try_get(20)?,
                log: r.try_get(21)?,
            }),
            None => None,
        },
        oom_killed: r.try_get(22)?,
    })
}

const COLUMNS: &str = "SELECT c.id, c.name, c.image, c.image_id, c.command, c.created_at, c.state, c.pid, \
                       c.exit_code, c.started_at, c.finished_at, c.config, c.pid_identity, \
                       c.monitor_pid, c.monitor_identity, c.paused_at IS NOT NULL, \
                       c.restart_count, c.stopped_by_user != 0, c.restarting != 0, \
                       c.health_status, c.health_failing_streak, c.health_log, \
                       c.oom_killed != 0 FROM containers c";

impl Store {
    /// Record a new container. `Error::NameInUse` when the name is taken.
    pub async fn create_container(
        &self,
        id: &str,
        name: &str,
        image: &str,
        image_id: &str,
        command: &[String],
        config: &str,
    ) -> Result<Container> {
        let cmd = serde_json::to_string(command).expect("json");
        let r = sqlx::query(
            "INSERT INTO containers (id, name, image, image_id, command, created_at, state, config) \
             VALUES (?, ?, ?, ?, ?, ?, 'created', ?)",
        )
        .bind(id)
        .bind(name)
        .bind(image)
        .bind(image_id)
        .bind(&cmd)
        .bind(now())
        .bind(config)
        .execute(self.db())
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(Error::NameInUse(name.to_string()));
            }
            Err(e) => return Err(e.into()),
        }
        self.container(id)
            .await?
            .ok_or_else(|| Error::ContainerUnknown(id.to_string()))
    }

    /// Mark a container running with `pid` (0 when the runtime does not tell), remembering the
    /// process's identity.
    pub async fn container_started(&self, id: &str, pid: i64) -> Result<()> {
        sqlx::query(
            "UPDATE containers SET state = 'running', pid = ?, pid_identity = ?, started_at = ?, \
             exit_code = NULL, finished_at = NULL, restarting = 0, paused_at = NULL, \
             oom_killed = 0 WHERE id = ?",
        )
        .bind(pid)
        .bind(process_identity(pid))
        .bind(now())
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Record `pid` as the process supervising the container's next run (it records the start
    /// and the exit); call before the run starts.
    pub async fn container_monitor(&self, id: &str, pid: i64) -> Result<()> {
        sqlx::query(
            "UPDATE containers SET pid_identity = NULL, monitor_pid = ?, monitor_identity = ? \
             WHERE id = ?",
        )
        .bind(pid)
        .bind(process_identity(pid))
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// Make an exited or created container ready to start again: state created, no pid, exit
    /// code or start time. False (and nothing changed) when it runs or does not exist.
    pub async fn container_reset(&self, id: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE containers SET state = 'created', pid = NULL, exit_code = NULL, \
             started_at = NULL WHERE id = ? AND state != 'running'",
        )
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Mark a running container whose supervisor `monitor_identity` is gone as exited with
    /// code 255 (as Docker does after losing its daemon). False when the record changed
    /// meanwhile: it exited properly, was removed, or a new supervisor took it over.
    pub async fn container_lost(&self, id: &str, monitor_identity: Option<&str>) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE containers SET state = 'exited', pid = NULL, exit_code = 255, finished_at = ?, \
             paused_at = NULL WHERE id = ? AND state = 'running' \
             AND coalesce(monitor_identity, '') = ?",
        )
        .bind(now())
        .bind(id)
        .bind(monitor_identity.unwrap_or_default())
        .execute(self.db())
        .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Mark a container exited with `code`.
    pub async fn container_exited(&self, id: &str, code: i64) -> Result<()> {
        sqlx::query(
            "UPDATE containers SET state = 'exited', pid = NULL, exit_code = ?, finished_at = ?, \
             paused_at = NULL WHERE id = ?",
        )
        .bind(code)
        .bind(now())
        .bind(id)
        .execute(self.db())
        .await?;
        Ok(())
    }

    /// One container by full id.
    pub async fn container(&self, id: &str) -> Result<Option<Container>> {
        let row: Option<Row> =
            sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE c.id = ?")))
                .bind(id)
                .fetch_optional(self.db())
                .await?;
        row.map(from_row).transpose()
    }

    /// A container by name, full id or unique id prefix.
    pub async fn find_container(&self, query: &str) -> Result<Container> {
        let rows: Vec<Row> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE c.name = ? OR c.id LIKE ? ORDER BY c.name = ? DESC LIMIT 2"
        )))
        .bind(query)
        .bind(format!("{query}%"))
        .bind(query)
        .fetch_all(self.db())
        .await?;
        let valid_prefix = !query.is_empty() && query.bytes().all(|b| b.is_ascii_hexdigit());
        let named = match rows.first() {
            Some(r) => sqlx::Row::try_get::<String, _>(r, 1)? == query,
            None => false,
        };
        match rows.len() {
            0 => Err(Error::ContainerUnknown(query.to_string())),
            1 if named || valid_prefix => from_row(rows.into_iter().next().unwrap()),
            _ if named => from_row(rows.into_iter().next().unwrap()),
            1 => Err(Error::ContainerUnknown(query.to_string())),
            _ => Err(Error::Ambiguous(query.to_string())),
        }
    }

    /// Every container, newest first.
    pub async fn containers(&self) -> Result<Vec<Container>> {
        let rows: Vec<Row> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} ORDER BY c.created_at DESC, c.rowid DESC"
        )))
        .fetch_all(self.db())
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// The containers whose configuration does not start with `prefix` (records in an older
    /// format), oldest first.
    pub async fn containers_config_without(&self, prefix: &str) -> Result<Vec<Container>> {
        let rows: Vec<Row> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE substr(c.config, 1, length(?1)) != ?1 ORDER BY c.created_at, c.rowid"
        )))
        .bind(prefix)
        .fetch_all(self.db())
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// Forget a container record.
    pub async fn remove_container(&self, id: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM containers WHERE id = ?")
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Whether any container was made from image `image_id` (rmi refuses such images).
    pub async fn image_in_use(&self, image_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM containers WHERE image_id = ?")
            .bind(image_id)
            .fetch_all(self.db())
            .await?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lifecycle_names_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let id = "ab".repeat(32);
        let cmd = vec!["/hello".to_string()];
        let c = store
            .create_container(&id, "happy_curie", "hello-world", "sha256:x", &cmd, "{}")
            .await
            .unwrap();
        assert_eq!((c.state, c.command.clone()), (State::Created, cmd.clone()));
        let dup = store
            .create_container(&"cd".repeat(32), "happy_curie", "x", "y", &cmd, "{}")
            .await;
        assert!(matches!(dup, Err(Error::NameInUse(_))));
        store.container_started(&id, 42).await.unwrap();
        assert_eq!(store.container(&id).await.unwrap().unwrap().pid, Some(42));
        store.container_exited(&id, 3).await.unwrap();
        let c = store.find_container("happy_curie").await.unwrap();
        assert_eq!(
            (c.state, c.exit_code, c.pid),
            (State::Exited, Some(3), None)
        );
        assert_eq!(store.find_container("abab").await.unwrap().id, id);
        assert!(matches!(
            store.find_container("nope").await,
            Err(Error::ContainerUnknown(_))
        ));
        assert_eq!(
            store.image_in_use("sha256:x").await.unwrap(),
            vec![id.clone()]
        );
        assert!(store.remove_container(&id).await.unwrap());
        assert!(store.containers().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn liveness_follows_the_supervisor() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let id = "ef".repeat(32);
        store
            .create_container(&id, "n", "i", "sha256:x", &["/x".into()], "{}")
            .await
            .unwrap();
        // Supervised by this test process: alive.
        let me = i64::from(std::process::id());
        store.container_monitor(&id, me).await.unwrap();
        store.container_started(&id, me).await.unwrap();
        let c = store.container(&id).await.unwrap().unwrap();
        assert_eq!(c.monitor_pid, Some(me));
        assert_eq!(c.pid_identity, process_identity(me));
        assert!(c.is_alive());
        assert!(store.find_container(&id[..6]).await.unwrap().is_alive());
        // A supervisor that has gone (its identity no longer matches): not alive, and lost
        // only while the identity recorded is still the one seen.
        sqlx::query("UPDATE containers SET monitor_identity = 'gone:1' WHERE id = ?")
            .bind(&id)
            .execute(store.db())
            .await
            .unwrap();
        let c = store.container(&id).await.unwrap().unwrap();
        assert!(!c.is_alive());
        assert!(!store.container_lost(&id, Some("other:2")).await.unwrap());
        assert!(store.container_lost(&id, Some("gone:1")).await.unwrap());
        let c = store.container(&id).await.unwrap().unwrap();
        assert_eq!((c.state, c.exit_code), (State::Exited, Some(255)));
        assert!(c.is_alive(), "nothing left to reconcile");
        assert!(!store.container_lost(&id, Some("gone:1")).await.unwrap());
        // Started again: created, no exit code, start time cleared.
        assert!(store.container_reset(&id).await.unwrap());
        let c = store.container(&id).await.unwrap().unwrap();
        assert_eq!(
            (c.state, c.exit_code, c.started_at),
            (State::Created, None, None)
        );
        store.container_started(&id, 0).await.unwrap();
        assert!(!store.container_reset(&id).await.unwrap(), "running");
        assert!(store.remove_container(&id).await.unwrap());
        assert!(store.container(&id).await.unwrap().is_none());
    }

    #[test]
    fn process_identities() {
        let me = i64::from(std::process::id());
        let a = process_identity(me).unwrap();
        assert_eq!(process_identity(me), Some(a.clone()));
        assert!(a.contains(':'));
        assert_ne!(process_identity(1), Some(a));
        assert_eq!(process_identity(0), None);
        assert_eq!(process_identity(i64::from(i32::MAX)), None);
    }

    #[test]
    fn random_names_look_like_dockers() {
        let n = random_name(12345);
        let (a, b) = n.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && NAMES.contains(&b));
        assert_ne!(random_name(1), random_name(2));
    }
}
