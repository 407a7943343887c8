//! The Dockerfile language.
