//! Container records: what `ps -a` lists and what the runtime updates as a container is created,
//! starts and exits. Names are unique; random names look like Docker's (`adjective_surname`).

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
}

fn now() -> i64 {
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

type Row = (
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
);

fn from_row(r: Row) -> Result<Container> {
    let command = serde_json::from_str(&r.4)
        .map_err(|e| Error::Corrupt(format!("container command: {e}")))?;
    Ok(Container {
        id: r.0,
        name: r.1,
        image: r.2,
        image_id: r.3,
        command,
        created_at: r.5,
        state: State::parse(&r.6)?,
        pid: r.7,
        exit_code: r.8,
        started_at: r.9,
        finished_at: r.10,
        config: r.11,
    })
}

const COLUMNS: &str = "SELECT id, name, image, image_id, command, created_at, state, pid, exit_code, started_at, \
                       finished_at, config FROM containers";

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

    /// Mark a container running with `pid`.
    pub async fn container_started(&self, id: &str, pid: i64) -> Result<()> {
        sqlx::query("UPDATE containers SET state = 'running', pid = ?, started_at = ?, exit_code = NULL, finished_at = NULL WHERE id = ?")
            .bind(pid)
            .bind(now())
            .bind(id)
            .execute(self.db())
            .await?;
        Ok(())
    }

    /// Mark a container exited with `code`.
    pub async fn container_exited(&self, id: &str, code: i64) -> Result<()> {
        sqlx::query("UPDATE containers SET state = 'exited', pid = NULL, exit_code = ?, finished_at = ? WHERE id = ?")
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
            sqlx::query_as(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE id = ?")))
                .bind(id)
                .fetch_optional(self.db())
                .await?;
        row.map(from_row).transpose()
    }

    /// A container by name, full id or unique id prefix.
    pub async fn find_container(&self, query: &str) -> Result<Container> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} WHERE name = ? OR id LIKE ? ORDER BY name = ? DESC LIMIT 2"
        )))
        .bind(query)
        .bind(format!("{query}%"))
        .bind(query)
        .fetch_all(self.db())
        .await?;
        let valid_prefix = !query.is_empty() && query.bytes().all(|b| b.is_ascii_hexdigit());
        match rows.len() {
            0 => Err(Error::ContainerUnknown(query.to_string())),
            1 if rows[0].1 == query || valid_prefix => from_row(rows.into_iter().next().unwrap()),
            _ if rows[0].1 == query => from_row(rows.into_iter().next().unwrap()),
            1 => Err(Error::ContainerUnknown(query.to_string())),
            _ => Err(Error::Ambiguous(query.to_string())),
        }
    }

    /// Every container, newest first.
    pub async fn containers(&self) -> Result<Vec<Container>> {
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{COLUMNS} ORDER BY created_at DESC, rowid DESC"
        )))
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

    #[test]
    fn random_names_look_like_dockers() {
        let n = random_name(12345);
        let (a, b) = n.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && NAMES.contains(&b));
        assert_ne!(random_name(1), random_name(2));
    }
}
