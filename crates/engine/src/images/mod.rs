//! Image operations: moving here from the CLI, starting with the archives (`save`, `load`,
//! `import`).

pub mod archive;
