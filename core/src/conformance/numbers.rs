//! Numbers as DynamoDB stores them, the same on every backend
//! ([`crate::number`]): the canonical text DynamoDB returns, the 38-digit
//! and 1E-130 … 9.99…E+125 limits checked before writing, and the exact
//! JSON text a `dict` or `list` config value keeps beside it.

use serde_json::Value;

use super::basics::put_raw;
use super::Harness;
use crate::error::Error;
use crate::item::{Attr, Item};
use crate::keys;
use crate::register;
use crate::schema::{Table, PK, SK};
use crate::tables::config::{ParamValue, EXACT_JSON_ATTR};

const DIGITS_38: &str = "12345678901234567890123456789012345678";
const DIGITS_39: &str = "123456789012345678901234567890123456789";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

fn value_of(v: Value) -> ParamValue {
    match v {
        Value::Object(m) => ParamValue::Dict(m),
        Value::Array(a) => ParamValue::List(a),
        other => panic!("not a dict or list: {other}"),
    }
}

async fn stored(h: &Harness, name: &str) -> Item {
    let key = (keys::CONFIG_PK.to_string(), keys::config_sk(name));
    let mut items = h
        .store
        .admin
        .get_items(Table::SystemConfig, vec![key])
        .await
        .unwrap();
    assert_eq!(items.len(), 1, "{name} is stored");
    items.remove(0)
}

fn raw_param(name: &str, ty: &str, value: Attr) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), Attr::s(keys::CONFIG_PK));
    item.insert(SK.into(), Attr::S(keys::config_sk(name)));
    item.insert("param_name".into(), Attr::s(name));
    item.insert("param_value".into(), value);
    item.insert("param_type".into(), Attr::s(ty));
    item
}

/// Numbers written in any text read back in the canonical text DynamoDB
/// returns, as top-level values and inside maps and lists: `1.0`→`1`,
/// `1.5E2`→`150`, `-0`→`0`, leading and trailing zeros dropped, 1E-130 and
/// 9.99…E+125 in plain notation, 38 significant digits kept.
pub async fn numbers_read_back_in_canonical_form(h: Harness) {
    let tiny = format!("0.{}1", "0".repeat(129));
    let huge = format!("{}{}", "9".repeat(38), "0".repeat(88));
    let cases: Vec<(&str, String)> = vec![
        ("1.0", "1".into()),
        ("1.5E2", "150".into()),
        ("-0", "0".into()),
        ("-0.0e7", "0".into()),
        ("00042.500", "42.5".into()),
        ("-12.3400e-1", "-1.234".into()),
        ("1E-130", tiny.clone()),
        ("-1E-130", format!("-{tiny}")),
        ("9.9999999999999999999999999999999999999E+125", huge.clone()),
        (DIGITS_38, DIGITS_38.into()),
        (
            "0.12345678901234567890123456789012345678",
            "0.12345678901234567890123456789012345678".into(),
        ),
    ];
    // Top level: the number itself is the parameter's value (type "float"
    // as the original stored it), written raw.
    let mut items = Vec::new();
    for (i, (text, _)) in cases.iter().enumerate() {
        items.push(raw_param(
            &format!("top{i}"),
            "float",
            Attr::N(text.to_string()),
        ));
    }
    let list = Attr::L(cases.iter().map(|(t, _)| Attr::N(t.to_string())).collect());
    let map = Attr::M(
        cases
            .iter()
            .enumerate()
            .map(|(i, (t, _))| (format!("k{i:02}"), Attr::N(t.to_string())))
            .collect(),
    );
    items.push(raw_param("in_list", "list", Attr::L(vec![list.clone()])));
    items.push(raw_param(
        "in_map",
        "dict",
        Attr::M([("m".to_string(), map)].into()),
    ));
    put_raw(&h, Table::SystemConfig, items).await;
    for (i, (text, want)) in cases.iter().enumerate() {
        let item = stored(&h, &format!("top{i}")).await;
        assert_eq!(item["param_value"], Attr::N(want.clone()), "{text}");
    }
    let Attr::L(outer) = &stored(&h, "in_list").await["param_value"] else {
        panic!("in_list is not a list");
    };
    let Attr::L(got) = &outer[0] else {
        panic!("in_list[0] is not a list");
    };
    for ((text, want), got) in cases.iter().zip(got) {
        assert_eq!(*got, Attr::N(want.clone()), "{text} in a list");
    }
    let Attr::M(outer) = &stored(&h, "in_map").await["param_value"] else {
        panic!("in_map is not a map");
    };
    let Attr::M(got) = &outer["m"] else {
        panic!("in_map.m is not a map");
    };
    for (i, (text, want)) in cases.iter().enumerate() {
        assert_eq!(
            got[&format!("k{i:02}")],
            Attr::N(want.clone()),
            "{text} in a map"
        );
    }
    // Through the typed API: a float reads as the same float.
    let p = h.store.config.get_param("top1").await.unwrap().unwrap();
    assert_eq!(p.param_value, ParamValue::Float(150.0));
    let p = h.store.config.get_param("top2").await.unwrap().unwrap();
    assert_eq!(p.param_value, ParamValue::Float(0.0));
}
register!(numbers_read_back_in_canonical_form);

/// 39 significant digits, 1E126 and 1E-131 are input errors before
/// anything is written, as top-level values and inside dicts and lists,
/// through the typed API and raw; 38 digits, 1E-130 and 9.99…E+125 are
/// stored.
pub async fn numbers_beyond_dynamodbs_limits_are_invalid_input(h: Harness) {
    let max = format!("9.{}E+125", "9".repeat(37));
    for bad in [
        DIGITS_39,
        "1E126",
        "1e-131",
        "-1E126",
        "1.00000000000000000000000000000000000001",
    ] {
        for (name, v) in [
            ("list", format!("[{bad}]")),
            ("dict", format!(r#"{{"a": {{"b": [{bad}]}}}}"#)),
        ] {
            let err = h
                .store
                .config
                .set_param(name, value_of(json(&v)), "", "me")
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::InvalidInput { .. }),
                "{bad} in a {name}: {err:?}"
            );
        }
        let err = h
            .store
            .admin
            .put_items(
                Table::SystemConfig,
                vec![raw_param("raw", "float", Attr::N(bad.to_string()))],
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{bad} raw: {err:?}"
        );
    }
    let scan = crate::admin::scan_all(h.store.admin.as_ref(), Table::SystemConfig)
        .await
        .unwrap();
    assert!(scan.is_empty(), "nothing was written: {scan:?}");
    for good in [DIGITS_38, "1E-130", "-1E-130", max.as_str(), "-0"] {
        let v = json(&format!("[{good}]"));
        h.store
            .config
            .set_param("ok", value_of(v.clone()), "", "me")
            .await
            .unwrap_or_else(|e| panic!("{good}: {e}"));
        let got = h.store.config.get_param("ok").await.unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&got.param_value).unwrap(),
            serde_json::to_string(&v).unwrap(),
            "{good} keeps its text"
        );
    }
}
register!(numbers_beyond_dynamodbs_limits_are_invalid_input);

/// A dict or list config value reads back as written (floats like `1.0`,
/// exponents, key order) through the exact JSON text kept beside it, while
/// the stored `param_value` is what DynamoDB holds (canonical numbers); a
/// value that needs no text gets none, and a text that no longer agrees
/// with `param_value` (another writer changed the value) is ignored.
pub async fn config_json_keeps_what_was_written(h: Harness) {
    let text = r#"{"z":1.0,"a":{"y":1.5E2,"b":-0,"c":[2.50,1e-3]},"m":-0.0}"#;
    let v = json(text);
    h.store
        .config
        .set_param("exact", value_of(v.clone()), "", "me")
        .await
        .unwrap();
    let got = h.store.config.get_param("exact").await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&got.param_value).unwrap(),
        serde_json::to_string(&v).unwrap()
    );
    let ParamValue::Dict(m) = &got.param_value else {
        panic!("not a dict");
    };
    assert!(m["z"].is_f64(), "1.0 reads back as a float");
    let listed = h.store.config.list_all_configs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].param_value, got.param_value);
    let item = stored(&h, "exact").await;
    assert_eq!(
        item["param_value"],
        Attr::from_json(&json(
            r#"{"a":{"b":0,"c":[2.5,0.001],"y":150},"m":0,"z":1}"#
        ))
    );
    assert!(matches!(item.get(EXACT_JSON_ATTR), Some(Attr::S(_))));

    // A value whose canonical, key-sorted form is the text needs none,
    // and setting it clears the old text.
    h.store
        .config
        .set_param("exact", value_of(json(r#"{"a":1,"b":[2.5]}"#)), "", "me")
        .await
        .unwrap();
    let item = stored(&h, "exact").await;
    assert!(
        matches!(item.get(EXACT_JSON_ATTR), None | Some(Attr::Null)),
        "{item:?}"
    );
    let got = h.store.config.get_param("exact").await.unwrap().unwrap();
    assert_eq!(
        serde_json::to_string(&got.param_value).unwrap(),
        r#"{"a":1,"b":[2.5]}"#
    );

    // Another writer (the original Python layer) changes param_value and
    // leaves the text: the text no longer agrees and is ignored.
    h.store
        .config
        .set_param("other", value_of(json("[1.0, 2]")), "", "me")
        .await
        .unwrap();
    let mut item = stored(&h, "other").await;
    assert!(matches!(item.get(EXACT_JSON_ATTR), Some(Attr::S(_))));
    item.insert("param_value".into(), Attr::from_json(&json("[3, 2]")));
    put_raw(&h, Table::SystemConfig, vec![item]).await;
    let got = h.store.config.get_param("other").await.unwrap().unwrap();
    assert_eq!(serde_json::to_string(&got.param_value).unwrap(), "[3,2]");
}
register!(config_json_keeps_what_was_written);
