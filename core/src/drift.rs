//! The live schema held to the declared one ([`crate::schema`]): what a
//! store's tables look like ([`LiveTable`], described by a backend), the
//! differences from the declaration ([`Drift`], computed here, once for
//! both backends), and which of them `init` repairs in place.
//!
//! `init` checks every table first and acts only when every difference is
//! one it can repair ([`Repair::InPlace`]); otherwise it fails with
//! [`Error::SchemaDrift`] naming each difference, and changes nothing.
//! `check` reports the differences and changes nothing.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::Error;
use crate::schema::{IndexProjection, KeyType, Table, PK, SK};

/// What `init` does about a [`Drift`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// `init` repairs it in place (creates the table, index or column,
    /// enables TTL, marks or migrates the file).
    InPlace,
    /// `init` cannot repair it in place: it refuses and changes nothing.
    Refused,
}

/// One difference between a live table (or file) and its declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Drift {
    /// The table does not exist.
    MissingTable {
        /// The table's name in the store.
        table: String,
    },
    /// The table's primary key is not `pk` (HASH, S) / `sk` (RANGE, S).
    KeySchema {
        /// The table.
        table: String,
        /// The declared key.
        want: String,
        /// The live key.
        got: String,
    },
    /// A key attribute is defined with another type.
    AttributeType {
        /// The table.
        table: String,
        /// The attribute.
        attribute: String,
        /// The declared type.
        want: KeyType,
        /// The live type.
        got: String,
    },
    /// A declared secondary index does not exist.
    MissingIndex {
        /// The table.
        table: String,
        /// The index.
        index: String,
    },
    /// A secondary index has other keys (or, on SQLite, other columns).
    IndexKeys {
        /// The table.
        table: String,
        /// The index.
        index: String,
        /// The declared keys.
        want: String,
        /// The live keys.
        got: String,
    },
    /// A secondary index carries other attributes.
    IndexProjection {
        /// The table.
        table: String,
        /// The index.
        index: String,
        /// The declared projection.
        want: IndexProjection,
        /// The live projection.
        got: IndexProjection,
    },
    /// A secondary index that is not declared.
    ExtraIndex {
        /// The table.
        table: String,
        /// The index.
        index: String,
    },
    /// The declared TTL attribute is not enabled.
    TtlDisabled {
        /// The table.
        table: String,
        /// The declared TTL attribute.
        attribute: String,
    },
    /// TTL is enabled on another attribute than the declared one (or on a
    /// table that declares none).
    TtlAttribute {
        /// The table.
        table: String,
        /// The declared TTL attribute, if any.
        want: Option<String>,
        /// The live TTL attribute.
        got: String,
    },
    /// A declared column is missing (SQLite).
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column that is not declared (SQLite).
    ExtraColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column has another declared type (SQLite).
    ColumnType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The declared type.
        want: String,
        /// The live type.
        got: String,
    },
    /// The file's `PRAGMA application_id` is not affine-db's (SQLite).
    ApplicationId {
        /// affine-db's application id.
        want: i32,
        /// The file's.
        got: i32,
    },
    /// The file's `PRAGMA user_version` is not this build's schema
    /// version (SQLite).
    UserVersion {
        /// This build's schema version.
        want: i64,
        /// The file's.
        got: i64,
    },
}

impl Drift {
    /// The table the difference is about (`None` for a file-wide one).
    pub fn table(&self) -> Option<&str> {
        use Drift::*;
        match self {
            MissingTable { table }
            | KeySchema { table, .. }
            | AttributeType { table, .. }
            | MissingIndex { table, .. }
            | IndexKeys { table, .. }
            | IndexProjection { table, .. }
            | ExtraIndex { table, .. }
            | TtlDisabled { table, .. }
            | TtlAttribute { table, .. }
            | MissingColumn { table, .. }
            | ExtraColumn { table, .. }
            | ColumnType { table, .. } => Some(table),
            ApplicationId { .. } | UserVersion { .. } => None,
        }
    }

    /// What `init` does about it.
    pub fn repair(&self) -> Repair {
        use Drift::*;
        match self {
            MissingTable { .. }
            | MissingIndex { .. }
            | TtlDisabled { .. }
            | MissingColumn { .. } => Repair::InPlace,
            // An unmarked file (an earlier build's) is marked; another
            // application's is never touched.
            ApplicationId { got, .. } => {
                if *got == 0 {
                    Repair::InPlace
                } else {
                    Repair::Refused
                }
            }
            // An older file is migrated; a newer build's is refused.
            UserVersion { want, got } => {
                if got < want && *got >= 0 {
                    Repair::InPlace
                } else {
                    Repair::Refused
                }
            }
            KeySchema { .. }
            | AttributeType { .. }
            | IndexKeys { .. }
            | IndexProjection { .. }
            | ExtraIndex { .. }
            | TtlAttribute { .. }
            | ExtraColumn { .. }
            | ColumnType { .. } => Repair::Refused,
        }
    }

    /// A stable name of the kind of difference, for JSON output and tests.
    pub fn kind(&self) -> &'static str {
        use Drift::*;
        match self {
            MissingTable { .. } => "missing_table",
            KeySchema { .. } => "key_schema",
            AttributeType { .. } => "attribute_type",
            MissingIndex { .. } => "missing_index",
            IndexKeys { .. } => "index_keys",
            IndexProjection { .. } => "index_projection",
            ExtraIndex { .. } => "extra_index",
            TtlDisabled { .. } => "ttl_disabled",
            TtlAttribute { .. } => "ttl_attribute",
            MissingColumn { .. } => "missing_column",
            ExtraColumn { .. } => "extra_column",
            ColumnType { .. } => "column_type",
            ApplicationId { .. } => "application_id",
            UserVersion { .. } => "user_version",
        }
    }

    /// What `init` does (or did) to repair it, in the past tense, for its
    /// output; `None` when it cannot.
    pub fn repaired(&self) -> Option<String> {
        if self.repair() == Repair::Refused {
            return None;
        }
        use Drift::*;
        Some(match self {
            MissingTable { table } => format!("created table {table}"),
            MissingIndex { table, index } => format!("created index {index} on {table}"),
            TtlDisabled { table, attribute } => {
                format!("enabled TTL on {table} (attribute {attribute})")
            }
            MissingColumn { table, column } => format!("added column {column} to {table}"),
            ApplicationId { want, .. } => format!("set application_id to {want:#010x}"),
            UserVersion { want, got } => {
                format!("migrated the file from schema version {got} to {want}")
            }
            other => other.to_string(),
        })
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Drift::*;
        match self {
            MissingTable { table } => write!(f, "table {table}: does not exist"),
            KeySchema { table, want, got } => {
                write!(f, "table {table}: key schema is {got}, declared {want}")
            }
            AttributeType {
                table,
                attribute,
                want,
                got,
            } => write!(
                f,
                "table {table}: attribute {attribute} has type {got}, declared {want}"
            ),
            MissingIndex { table, index } => write!(f, "table {table}: index {index} is missing"),
            IndexKeys {
                table,
                index,
                want,
                got,
            } => write!(
                f,
                "table {table}: index {index} has keys {got}, declared {want}"
            ),
            IndexProjection {
                table,
                index,
                want,
                got,
            } => write!(
                f,
                "table {table}: index {index} projects {got}, declared {want}"
            ),
            ExtraIndex { table, index } => {
                write!(f, "table {table}: index {index} is not declared")
            }
            TtlDisabled { table, attribute } => {
                write!(f, "table {table}: TTL on {attribute} is not enabled")
            }
            TtlAttribute { table, want, got } => match want {
                Some(w) => write!(f, "table {table}: TTL is enabled on {got}, declared {w}"),
                None => write!(f, "table {table}: TTL is enabled on {got}, declared none"),
            },
            MissingColumn { table, column } => {
                write!(f, "table {table}: column {column} is missing")
            }
            ExtraColumn { table, column } => {
                write!(f, "table {table}: column {column} is not declared")
            }
            ColumnType {
                table,
                column,
                want,
                got,
            } => write!(
                f,
                "table {table}: column {column} has type {got}, declared {want}"
            ),
            ApplicationId { want, got } => {
                write!(f, "application_id is {got:#010x}, declared {want:#010x}")
            }
            UserVersion { want, got } => {
                write!(
                    f,
                    "user_version is {got}, this build's schema version is {want}"
                )
            }
        }
    }
}

/// The refusal of `init` when some differences cannot be repaired in
/// place: [`Error::SchemaDrift`] naming each of them. `None` when every
/// difference is repairable.
pub fn refusal(drifts: &[Drift]) -> Option<Error> {
    let refused: Vec<String> = drifts
        .iter()
        .filter(|d| d.repair() == Repair::Refused)
        .map(Drift::to_string)
        .collect();
    if refused.is_empty() {
        return None;
    }
    Some(Error::SchemaDrift(format!(
        "{}; nothing was changed (init cannot repair this in place: recreate the table, or \
         fix it by hand, then run `affine-db check`)",
        refused.join("; ")
    )))
}

/// A key schema: the hash and range key attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveKeys {
    /// The HASH key attribute.
    pub hash: Option<String>,
    /// The RANGE key attribute.
    pub range: Option<String>,
}

impl fmt::Display for LiveKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} HASH / {}",
            self.hash.as_deref().unwrap_or("(none)"),
            self.range
                .as_deref()
                .map_or("no RANGE".to_string(), |r| format!("{r} RANGE"))
        )
    }
}

impl LiveKeys {
    /// `hash` HASH / `range` RANGE.
    pub fn of(hash: &str, range: &str) -> LiveKeys {
        LiveKeys {
            hash: Some(hash.to_string()),
            range: Some(range.to_string()),
        }
    }
}

/// A live secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveIndex {
    /// Its name.
    pub name: String,
    /// Its keys.
    pub keys: LiveKeys,
    /// What it carries (the `INCLUDE` list in any order).
    pub projection: IndexProjection,
}

/// A live table's TTL setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTtl {
    /// The TTL attribute, if one is set.
    pub attribute: Option<String>,
    /// Whether TTL is enabled (or being enabled).
    pub enabled: bool,
}

/// A DynamoDB table as DescribeTable and DescribeTimeToLive state it, in
/// the core's terms (the backend translates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTable {
    /// The table's name in the store.
    pub name: String,
    /// The table's key schema.
    pub keys: LiveKeys,
    /// The attribute definitions (key attributes of the table and its
    /// indexes): name → DynamoDB type (`S`, `N`, `B`).
    pub attribute_types: BTreeMap<String, String>,
    /// Its global secondary indexes.
    pub indexes: Vec<LiveIndex>,
    /// Its TTL setting.
    pub ttl: LiveTtl,
}

/// The differences of the live table `live` (`None`: it does not exist)
/// from the declaration of `table`, in a fixed order: key schema,
/// attribute types, indexes (declared order, then undeclared ones), TTL.
pub fn compare(table: Table, name: &str, live: Option<&LiveTable>) -> Vec<Drift> {
    let Some(live) = live else {
        return vec![Drift::MissingTable {
            table: name.to_string(),
        }];
    };
    let def = table.def();
    let table_name = || name.to_string();
    let mut out = Vec::new();
    let want_keys = LiveKeys::of(PK, SK);
    if live.keys != want_keys {
        out.push(Drift::KeySchema {
            table: table_name(),
            want: want_keys.to_string(),
            got: live.keys.to_string(),
        });
    }
    let mut key_attrs: Vec<&str> = vec![PK, SK];
    for index in def.indexes {
        for k in [index.hash, index.range] {
            if !key_attrs.contains(&k) {
                key_attrs.push(k);
            }
        }
    }
    for attr in key_attrs {
        let Ok(want) = def.key_type(attr) else {
            continue;
        };
        if let Some(got) = live.attribute_types.get(attr) {
            if got != want.as_str() {
                out.push(Drift::AttributeType {
                    table: table_name(),
                    attribute: attr.to_string(),
                    want,
                    got: got.clone(),
                });
            }
        }
    }
    for index in def.indexes {
        let Some(got) = live.indexes.iter().find(|i| i.name == index.name) else {
            out.push(Drift::MissingIndex {
                table: table_name(),
                index: index.name.to_string(),
            });
            continue;
        };
        let want_keys = LiveKeys::of(index.hash, index.range);
        if got.keys != want_keys {
            out.push(Drift::IndexKeys {
                table: table_name(),
                index: index.name.to_string(),
                want: want_keys.to_string(),
                got: got.keys.to_string(),
            });
        }
        let want = def.index_projection(index);
        let got = match &got.projection {
            IndexProjection::Include(attrs) => {
                let mut attrs = attrs.clone();
                attrs.sort();
                IndexProjection::Include(attrs)
            }
            other => other.clone(),
        };
        if got != want {
            out.push(Drift::IndexProjection {
                table: table_name(),
                index: index.name.to_string(),
                want,
                got,
            });
        }
    }
    for index in &live.indexes {
        if def.index(&index.name).is_none() {
            out.push(Drift::ExtraIndex {
                table: table_name(),
                index: index.name.clone(),
            });
        }
    }
    let live_ttl = live.ttl.attribute.as_deref().filter(|_| live.ttl.enabled);
    match (def.ttl, live_ttl) {
        (Some(want), Some(got)) if want == got => {}
        (Some(want), None) => out.push(Drift::TtlDisabled {
            table: table_name(),
            attribute: want.to_string(),
        }),
        (want, Some(got)) => out.push(Drift::TtlAttribute {
            table: table_name(),
            want: want.map(str::to_string),
            got: got.to_string(),
        }),
        (None, None) => {}
    }
    out
}

/// The declared table `table` as a live description would state it: what
/// `init` creates. [`compare`] finds no difference between the two.
pub fn declared(table: Table, name: &str) -> LiveTable {
    let def = table.def();
    let mut attribute_types = BTreeMap::new();
    attribute_types.insert(PK.to_string(), KeyType::S.as_str().to_string());
    attribute_types.insert(SK.to_string(), KeyType::S.as_str().to_string());
    for index in def.indexes {
        for k in [index.hash, index.range] {
            if let Ok(t) = def.key_type(k) {
                attribute_types.insert(k.to_string(), t.as_str().to_string());
            }
        }
    }
    LiveTable {
        name: name.to_string(),
        keys: LiveKeys::of(PK, SK),
        attribute_types,
        indexes: def
            .indexes
            .iter()
            .map(|i| LiveIndex {
                name: i.name.to_string(),
                keys: LiveKeys::of(i.hash, i.range),
                projection: def.index_projection(i),
            })
            .collect(),
        ttl: LiveTtl {
            attribute: def.ttl.map(str::to_string),
            enabled: def.ttl.is_some(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{ENV_TIMESTAMP_INDEX, LATEST_BLOCK_INDEX};

    #[test]
    fn the_declared_table_has_no_drift() {
        for t in Table::ALL {
            let live = declared(t, t.name());
            assert_eq!(compare(t, t.name(), Some(&live)), vec![], "{t}");
        }
    }

    #[test]
    fn each_difference_is_found_and_classified() {
        let t = Table::SampleResults;
        assert_eq!(
            compare(t, "p_sample_results", None),
            vec![Drift::MissingTable {
                table: "p_sample_results".into()
            }]
        );
        let mut live = declared(t, "x");
        live.indexes.retain(|i| i.name != ENV_TIMESTAMP_INDEX);
        let d = compare(t, "x", Some(&live));
        assert_eq!(
            d,
            vec![Drift::MissingIndex {
                table: "x".into(),
                index: ENV_TIMESTAMP_INDEX.into()
            }]
        );
        assert_eq!(d[0].repair(), Repair::InPlace);
        assert!(refusal(&d).is_none());
        assert_eq!(
            d[0].to_string(),
            "table x: index env-timestamp-index is missing"
        );

        let mut live = declared(t, "x");
        live.indexes[0].projection = IndexProjection::All;
        live.keys = LiveKeys {
            hash: Some("pk".into()),
            range: None,
        };
        let d = compare(t, "x", Some(&live));
        assert_eq!(
            d.iter().map(Drift::kind).collect::<Vec<_>>(),
            vec!["key_schema", "index_projection"]
        );
        assert!(d.iter().all(|x| x.repair() == Repair::Refused));
        let e = refusal(&d).unwrap();
        assert_eq!(e.kind(), "schema_drift");
        let text = e.to_string();
        assert!(
            text.contains("table x: key schema is pk HASH / no RANGE"),
            "{text}"
        );
        assert!(
            text.contains("index env-timestamp-index projects ALL"),
            "{text}"
        );
        assert!(text.contains("nothing was changed"), "{text}");

        let s = Table::Scores;
        let mut live = declared(s, "y");
        live.ttl.enabled = false;
        live.indexes[0].keys = LiveKeys::of("latest_marker", "calculated_at");
        live.attribute_types
            .insert("block_number".into(), "S".into());
        let d = compare(s, "y", Some(&live));
        assert_eq!(
            d.iter().map(Drift::kind).collect::<Vec<_>>(),
            vec!["attribute_type", "index_keys", "ttl_disabled"]
        );
        assert_eq!(
            d[1].to_string(),
            format!(
                "table y: index {LATEST_BLOCK_INDEX} has keys latest_marker HASH / \
                 calculated_at RANGE, declared latest_marker HASH / block_number RANGE"
            )
        );
        assert_eq!(d[2].repair(), Repair::InPlace);
        live.ttl = LiveTtl {
            attribute: Some("expires".into()),
            enabled: true,
        };
        let d = compare(s, "y", Some(&live));
        assert_eq!(d.last().unwrap().kind(), "ttl_attribute");
        assert_eq!(d.last().unwrap().repair(), Repair::Refused);
    }

    #[test]
    fn an_include_list_in_another_order_is_the_same_projection() {
        let t = Table::SampleResults;
        let mut live = declared(t, "x");
        if let IndexProjection::Include(attrs) = &mut live.indexes[0].projection {
            attrs.reverse();
        }
        live.indexes.push(LiveIndex {
            name: "adhoc".into(),
            keys: LiveKeys::of("uid", "timestamp"),
            projection: IndexProjection::KeysOnly,
        });
        assert_eq!(
            compare(t, "x", Some(&live)),
            vec![Drift::ExtraIndex {
                table: "x".into(),
                index: "adhoc".into()
            }]
        );
    }

    #[test]
    fn file_marks_repair_only_forwards() {
        let older = Drift::UserVersion { want: 1, got: 0 };
        let newer = Drift::UserVersion { want: 1, got: 2 };
        assert_eq!(older.repair(), Repair::InPlace);
        assert_eq!(newer.repair(), Repair::Refused);
        let unmarked = Drift::ApplicationId { want: 7, got: 0 };
        let foreign = Drift::ApplicationId { want: 7, got: 9 };
        assert_eq!(unmarked.repair(), Repair::InPlace);
        assert_eq!(foreign.repair(), Repair::Refused);
        assert_eq!(older.table(), None);
    }
}
