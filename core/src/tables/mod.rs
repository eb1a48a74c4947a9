//! The seven tables: each file holds a table's records, their item
//! conversion and its storage trait.

pub mod config;
pub mod logs;
pub mod miners;
pub mod retention;
pub mod samples;
pub mod scores;
pub mod tasks;

#[cfg(test)]
mod shapes;
