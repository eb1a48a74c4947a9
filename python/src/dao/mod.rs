//! The seven DAO classes of `affine_db.dao`, one file per table. Method
//! names, parameters, defaults and return shapes are the original's
//! (DESIGN §9); a few additions (keyword arguments with defaults, extra
//! methods) are named in each method's doc.

pub mod config;
pub mod logs;
pub mod miners;
pub mod retention;
pub mod samples;
pub mod scores;
pub mod tasks;
