//! Access control: who may do what to which repository, and how callers prove who they are.
//!
//! - [`model`]: actions, roles, users, teams, grants, robot tokens, audit events (plain data);
//! - [`scope`]: grant globs and the resource scopes of Docker's token protocol;
//! - [`password`]: argon2id, bcrypt, robot secrets, constant-time comparisons;
//! - [`htpasswd`]: an Apache htpasswd file, re-read when it changes;
//! - [`token`]: JWT signing (berth's ES256 key and certificate) and verification;
//! - [`db`]: the SQLite tables behind it all, and the change stamp the server watches;
//! - [`audit`]: the audit log (table, and JSON lines when configured);
//! - [`admin`]: the administrative operations the CLI and the admin API share (each audited);
//! - [`policy`]: the in-memory snapshot that answers "what may this principal do here";
//! - [`limiter`]: the failed-login backoff;
//! - [`guard`]: the [`Auth`] value the HTTP layer asks, per request, for a principal and a
//!   decision, and the token service behind `/token`.

pub mod admin;
pub mod audit;
pub mod db;
pub mod guard;
pub mod htpasswd;
pub mod issue;
pub mod limiter;
pub mod model;
pub mod password;
pub mod policy;
pub mod scope;
pub mod token;

pub use guard::{Auth, Principal};
