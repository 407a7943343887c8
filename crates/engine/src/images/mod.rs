//! Image operations: moving here from the CLI, starting with the archives (`save`, `load`,
//! `import`).

pub mod archive;
pub mod progress;
pub mod pull;
pub mod push;
pub mod remove;
pub mod tags;
