//! Maintenance that works on any backend through the traits: training zstd
//! dictionaries on stored conversations and recompressing stored samples
//! with them. Not part of the table contract; the CLI's `train-dict` and
//! `recompress` commands run these.

pub mod recompress;
pub mod train_dict;
