//! DynamoDB write cost of saving samples, from actual item sizes: one write
//! capacity unit per started KiB of the table item, plus the same for the
//! item each global secondary index stores (only when the item has the
//! index's key attributes). This is what BENCHMARKS.md's write-cost table
//! and the write-cost test compute; nothing here talks to a server.

use serde::Serialize;

use affine_db_core::codec::{gzip9, Codec};
use affine_db_core::error::Result;
use affine_db_core::item::{item_size, Attr, Item};
use affine_db_core::schema::{
    IndexDef, Projection, Table, CONVERSATION_ATTR, LEAN_SAMPLES_INDEX, PK, SK,
};
use affine_db_core::tables::samples::NewSample;

/// Write capacity units of writing an item of `bytes` (1 per started KiB,
/// at least 1).
pub fn write_units(bytes: usize) -> u64 {
    (bytes.max(1) as u64).div_ceil(1024)
}

/// The item `index` stores for `item`, or `None` when the item lacks the
/// index's key attributes (the index then stores nothing).
pub fn index_item(item: &Item, index: &IndexDef) -> Option<Item> {
    if !item.contains_key(index.hash) || !item.contains_key(index.range) {
        return None;
    }
    let keep = |name: &str| -> bool {
        [PK, SK, index.hash, index.range].contains(&name)
            || match index.projection {
                Projection::All => true,
                Projection::KeysOnly => false,
                Projection::AllExcept(skip) => !skip.contains(&name),
            }
    };
    Some(
        item.iter()
            .filter(|(k, _)| keep(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Write units of writing `item` to a table with `indexes`: the table item
/// plus each index item.
pub fn item_write_units(item: &Item, indexes: &[IndexDef]) -> u64 {
    write_units(item_size(item))
        + indexes
            .iter()
            .filter_map(|ix| index_item(item, ix))
            .map(|ix| write_units(item_size(&ix)))
            .sum::<u64>()
}

/// One layout's totals over a set of samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct LayoutCost {
    /// Samples counted.
    pub samples: u64,
    /// Total bytes of the table items.
    pub table_bytes: u64,
    /// Total bytes of the index items.
    pub index_bytes: u64,
    /// Total conversation bytes (inside the table items).
    pub conversation_bytes: u64,
    /// Total write units (table plus index).
    pub write_units: u64,
    /// The part of `write_units` that writes the lean samples index
    /// ([`LEAN_SAMPLES_INDEX`]: what buys reads by miner without
    /// conversations at their lean size).
    pub lean_index_units: u64,
}

impl LayoutCost {
    /// Mean write units per saved sample.
    pub fn mean_write_units(&self) -> f64 {
        self.write_units as f64 / self.samples.max(1) as f64
    }
}

/// The original Python layer's layout: the conversation gzip level 9, and
/// the `env-timestamp-index` projecting every attribute.
pub fn original_index() -> IndexDef {
    IndexDef {
        projection: Projection::All,
        ..Table::SampleResults.def().indexes[0]
    }
}

/// Write cost of saving `samples` in the original layout and in ours (our
/// schema's index, conversations encoded by `codec`), stamped at `now_ms`
/// when a sample has no timestamp. Samples whose item would exceed the
/// item limit are left out of both (neither layout can store them).
pub fn compare(
    samples: &[NewSample],
    codec: &Codec,
    now_ms: i64,
) -> Result<(LayoutCost, LayoutCost)> {
    let ours_ix = Table::SampleResults.def().indexes;
    let orig_ix = [original_index()];
    let (mut orig, mut ours) = (LayoutCost::default(), LayoutCost::default());
    for s in samples {
        let sample = s.clone().into_sample(now_ms)?;
        let Ok(item) = sample.to_item(codec) else {
            continue;
        };
        let raw = serde_json::to_vec(&s.conversation).unwrap_or_default();
        let mut original = item.clone();
        original.insert(CONVERSATION_ATTR.into(), Attr::B(gzip9(&raw)));
        if affine_db_core::item::check_item_size("original", &original).is_err() {
            continue;
        }
        for (cost, item, ix) in [
            (&mut orig, &original, &orig_ix[..]),
            (&mut ours, &item, ours_ix),
        ] {
            cost.samples += 1;
            cost.table_bytes += item_size(item) as u64;
            cost.index_bytes += ix
                .iter()
                .filter_map(|i| index_item(item, i))
                .map(|i| item_size(&i) as u64)
                .sum::<u64>();
            if let Some(Attr::B(c)) = item.get(CONVERSATION_ATTR) {
                cost.conversation_bytes += c.len() as u64;
            }
            cost.write_units += item_write_units(item, ix);
            cost.lean_index_units += ix
                .iter()
                .filter(|i| i.name == LEAN_SAMPLES_INDEX)
                .filter_map(|i| index_item(item, i))
                .map(|i| write_units(item_size(&i)))
                .sum::<u64>();
        }
    }
    Ok((orig, ours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_round_up_per_kib() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(write_units(400 * 1024), 400);
    }

    #[test]
    fn our_index_leaves_the_conversation_out() {
        let mut item = Item::new();
        item.insert(PK.into(), Attr::s("p"));
        item.insert(SK.into(), Attr::s("s"));
        item.insert("env".into(), Attr::s("sat"));
        item.insert("timestamp".into(), Attr::int(1));
        item.insert(CONVERSATION_ATTR.into(), Attr::B(vec![7; 3000]));
        let ours = index_item(&item, &Table::SampleResults.def().indexes[0]).unwrap();
        assert!(!ours.contains_key(CONVERSATION_ATTR));
        assert_eq!(ours.len(), 4);
        let all = index_item(&item, &original_index()).unwrap();
        assert_eq!(all, item);
        assert_eq!(item_write_units(&item, &[original_index()]), 3 + 3);
        // The table item, the env index's lean entry, the lean index's.
        assert_eq!(
            item_write_units(&item, Table::SampleResults.def().indexes),
            3 + 1 + 1
        );
        item.remove("env");
        assert_eq!(index_item(&item, &original_index()), None);
    }
}
