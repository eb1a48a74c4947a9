//! The dictionaries a codec knows: each prepared once (a zstd `CDict` and
//! `DDict`), known by the id its frames carry, and which of them new frames
//! use (a default and one per environment). Where dictionaries are stored
//! is [`crate::dictionaries`]'s business.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use zstd::zstd_safe::{self, CDict, DDict};

use crate::error::{Error, Result};

/// A zstd dictionary, known by the id written into its frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dictionary {
    /// The dictionary id (from the dictionary header).
    pub id: u32,
    /// The raw dictionary bytes.
    pub bytes: Vec<u8>,
}

impl Dictionary {
    /// Wraps trained dictionary bytes; rejects bytes that carry no dictionary id.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let id = zstd_safe::get_dict_id_from_dict(&bytes)
            .map(u32::from)
            .ok_or_else(|| Error::invalid("dictionary", "not a zstd dictionary with an id"))?;
        Ok(Dictionary { id, bytes })
    }
}

/// One dictionary, prepared for both directions.
pub(super) struct Prepared {
    pub(super) id: u32,
    pub(super) raw: Arc<Vec<u8>>,
    pub(super) cdict: CDict<'static>,
    pub(super) ddict: DDict<'static>,
}

impl Prepared {
    fn new(dict: &Dictionary, level: i32) -> Prepared {
        Prepared {
            id: dict.id,
            raw: Arc::new(dict.bytes.clone()),
            cdict: CDict::create(&dict.bytes, level),
            ddict: DDict::create(&dict.bytes),
        }
    }
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("id", &self.id)
            .field("size", &self.raw.len())
            .finish()
    }
}

#[derive(Debug, Default)]
struct State {
    known: HashMap<u32, Arc<Prepared>>,
    default: Option<Arc<Prepared>>,
    envs: HashMap<String, Arc<Prepared>>,
    synced_at: Option<Instant>,
}

/// The known dictionaries and the targets of new frames, shared by every
/// thread of a codec; dictionaries can be added while in use.
#[derive(Debug, Default)]
pub(super) struct Registry {
    state: RwLock<State>,
}

impl Registry {
    fn state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn state_mut(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// `dict`, prepared for frames at `level` (once per id).
    pub(super) fn prepared(&self, dict: &Dictionary, level: i32) -> Arc<Prepared> {
        if let Some(p) = self.state().known.get(&dict.id) {
            return p.clone();
        }
        let p = Arc::new(Prepared::new(dict, level));
        self.state_mut()
            .known
            .entry(dict.id)
            .or_insert_with(|| p.clone())
            .clone()
    }

    /// The prepared dictionary `id`, if known.
    pub(super) fn get(&self, id: u32) -> Option<Arc<Prepared>> {
        self.state().known.get(&id).cloned()
    }

    /// Makes `p` the default target.
    pub(super) fn set_default(&self, p: Arc<Prepared>) {
        self.state_mut().default = Some(p);
    }

    /// Makes `p` the target of `env`.
    pub(super) fn set_env(&self, env: &str, p: Arc<Prepared>) {
        self.state_mut().envs.insert(env.to_string(), p);
    }

    /// Points the targets at known dictionaries; unknown ids are a
    /// not-found error and change nothing.
    pub(super) fn set_targets(
        &self,
        default: Option<u32>,
        envs: &BTreeMap<String, u32>,
    ) -> Result<()> {
        let mut st = self.state_mut();
        let find = |id: u32| {
            st.known
                .get(&id)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("zstd dictionary {id} is not loaded")))
        };
        let default = default.map(find).transpose()?;
        let envs = envs
            .iter()
            .map(|(env, id)| Ok((env.clone(), find(*id)?)))
            .collect::<Result<HashMap<_, _>>>()?;
        st.default = default;
        st.envs = envs;
        Ok(())
    }

    /// The dictionary new frames of `env` use (`None`: the default one).
    pub(super) fn target(&self, env: Option<&str>) -> Option<Arc<Prepared>> {
        let st = self.state();
        env.and_then(|e| st.envs.get(e))
            .or(st.default.as_ref())
            .cloned()
    }

    /// Whether the last synchronisation is older than `max_age` (or never was).
    pub(super) fn sync_due(&self, max_age: Duration) -> bool {
        self.state()
            .synced_at
            .is_none_or(|at| at.elapsed() >= max_age)
    }

    /// Records a synchronisation now.
    pub(super) fn mark_synced(&self) {
        self.state_mut().synced_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_bytes_without_id_are_rejected() {
        assert!(matches!(
            Dictionary::from_bytes(b"just some text".to_vec()),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn targets_name_only_known_dictionaries() {
        let r = Registry::default();
        assert!(matches!(
            r.set_targets(Some(7), &BTreeMap::new()),
            Err(Error::NotFound(_))
        ));
        assert!(r.target(Some("SAT")).is_none());
        assert!(r.sync_due(Duration::from_secs(60)));
        r.mark_synced();
        assert!(!r.sync_due(Duration::from_secs(60)));
    }
}
