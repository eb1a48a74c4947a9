//! Operational tools built on the table traits, not part of the contract:
//! importing R2 result shards ([`migrate`]), loading an R2-shaped directory
//! for benches ([`corpus`]), export/import of whole stores ([`snapshot`]),
//! and the DynamoDB write cost of a stored sample ([`write_cost`]).

pub mod corpus;
pub mod migrate;
pub mod snapshot;
pub mod write_cost;

/// A new file in the temporary directory, unlinked at once: the open handle
/// keeps its data until it is closed, and nothing is left behind however
/// the process ends.
pub(crate) fn unlinked_temp_file(prefix: &str) -> std::io::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!(
        "{prefix}-{}-{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}
