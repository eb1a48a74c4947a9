//! `system_config`: versions, typed values, listings, deletes, validation.

use crate::register;
use serde_json::json;

use super::basics::{assert_store_empty, at_s};
use super::Harness;
use crate::clock::Clock;
use crate::error::Error;
use crate::tables::config::{ParamType, ParamValue};

fn dict(v: serde_json::Value) -> ParamValue {
    match v {
        serde_json::Value::Object(m) => ParamValue::Dict(m),
        other => panic!("not an object: {other}"),
    }
}

/// `set_param` stores version 1, then 2, 3…, with description, author and
/// `updated_at` = now; `get_param` reads the latest.
pub async fn set_param_increments_versions(h: Harness) {
    let p = h
        .store
        .config
        .set_param("max_tasks", ParamValue::Int(10), "tasks per miner", "alice")
        .await
        .unwrap();
    assert_eq!(p.version, 1);
    assert_eq!(p.param_name, "max_tasks");
    assert_eq!(p.param_type, ParamType::Int);
    assert_eq!(p.description, "tasks per miner");
    assert_eq!(p.updated_by, "alice");
    assert_eq!(p.updated_at, h.clock.now_s());
    assert_eq!(
        h.store.config.get_param("max_tasks").await.unwrap(),
        Some(p)
    );
    at_s(&h, 60);
    let p2 = h
        .store
        .config
        .set_param("max_tasks", ParamValue::Int(20), "more", "bob")
        .await
        .unwrap();
    assert_eq!(p2.version, 2);
    assert_eq!(p2.updated_at, h.clock.now_s());
    assert_eq!(p2.updated_by, "bob");
    let p3 = h
        .store
        .config
        .set_param(
            "max_tasks",
            ParamValue::Str("many".into()),
            "now text",
            "bob",
        )
        .await
        .unwrap();
    assert_eq!(p3.version, 3);
    assert_eq!(p3.param_type, ParamType::Str);
    let got = h
        .store
        .config
        .get_param("max_tasks")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, p3);
    assert_eq!(h.store.config.get_param("missing").await.unwrap(), None);
}
register!(set_param_increments_versions);

/// Values of all six types read back as the same type and value: a float
/// like 1.0 stays a float, big integers stay exact, dicts and lists nest.
pub async fn param_values_round_trip_every_type(h: Harness) {
    let values = vec![
        ("s", ParamValue::Str("héllo, wörld #1".into())),
        ("s_empty", ParamValue::Str(String::new())),
        ("i", ParamValue::Int(-42)),
        ("i_big", ParamValue::Int(9_007_199_254_740_993)),
        ("f_one", ParamValue::Float(1.0)),
        ("f_frac", ParamValue::Float(0.1 + 0.2)),
        ("f_tiny", ParamValue::Float(-2.5e-10)),
        ("f_huge", ParamValue::Float(1e125)),
        ("b_true", ParamValue::Bool(true)),
        ("b_false", ParamValue::Bool(false)),
        (
            "d",
            dict(json!({
                "weights": {"sat": 0.25, "abd": 2},
                "envs": ["sat", "abd"],
                "enabled": true,
                "none": null,
                "name": "x"
            })),
        ),
        ("d_empty", dict(json!({}))),
        (
            "l",
            ParamValue::List(vec![
                json!(1),
                json!("two"),
                json!(0.5),
                json!({"k": [false]}),
                json!(null),
            ]),
        ),
        ("l_empty", ParamValue::List(Vec::new())),
    ];
    for (name, v) in &values {
        let stored = h
            .store
            .config
            .set_param(name, v.clone(), "", "me")
            .await
            .unwrap();
        assert_eq!(&stored.param_value, v, "{name}");
        assert_eq!(stored.param_type, v.param_type(), "{name}");
    }
    for (name, v) in &values {
        let got = h.store.config.get_param(name).await.unwrap().unwrap();
        assert_eq!(&got.param_value, v, "{name}");
        assert_eq!(got.param_type, v.param_type(), "{name}");
    }
    match h
        .store
        .config
        .get_param("f_one")
        .await
        .unwrap()
        .unwrap()
        .param_value
    {
        ParamValue::Float(f) => assert_eq!(f.to_bits(), 1.0f64.to_bits()),
        other => panic!("1.0 read back as {other:?}"),
    }
}
register!(param_values_round_trip_every_type);

/// `get_param_value` returns the value, or the default when unset.
pub async fn get_param_value_uses_the_default(h: Harness) {
    let d = ParamValue::Float(0.5);
    assert_eq!(
        h.store
            .config
            .get_param_value("x", d.clone())
            .await
            .unwrap(),
        d
    );
    h.store
        .config
        .set_param("x", ParamValue::Bool(false), "", "me")
        .await
        .unwrap();
    assert_eq!(
        h.store.config.get_param_value("x", d).await.unwrap(),
        ParamValue::Bool(false)
    );
}
register!(get_param_value_uses_the_default);

/// `list_all_configs` and `get_all_params` hold every parameter, by name.
pub async fn list_all_configs_sorted_by_name(h: Harness) {
    assert!(h.store.config.list_all_configs().await.unwrap().is_empty());
    for (i, name) in ["zeta", "alpha", "Mid", "beta_2", "beta"]
        .iter()
        .enumerate()
    {
        h.store
            .config
            .set_param(name, ParamValue::Int(i as i64), "", "me")
            .await
            .unwrap();
    }
    h.store
        .config
        .set_param("alpha", ParamValue::Int(9), "", "me")
        .await
        .unwrap();
    let list = h.store.config.list_all_configs().await.unwrap();
    let names: Vec<&str> = list.iter().map(|p| p.param_name.as_str()).collect();
    assert_eq!(names, ["Mid", "alpha", "beta", "beta_2", "zeta"]);
    assert_eq!(list[1].version, 2);
    let all = h.store.config.get_all_params().await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(all.get("alpha"), Some(&ParamValue::Int(9)));
    assert_eq!(all.get("zeta"), Some(&ParamValue::Int(0)));
}
register!(list_all_configs_sorted_by_name);

/// `delete_param` says whether the parameter existed; a parameter set
/// again after deletion starts over at version 1.
pub async fn delete_param_reports_existence(h: Harness) {
    h.store
        .config
        .set_param("p", ParamValue::Int(1), "", "me")
        .await
        .unwrap();
    h.store
        .config
        .set_param("p", ParamValue::Int(2), "", "me")
        .await
        .unwrap();
    h.store
        .config
        .set_param("q", ParamValue::Int(1), "", "me")
        .await
        .unwrap();
    assert!(h.store.config.delete_param("p").await.unwrap());
    assert!(!h.store.config.delete_param("p").await.unwrap());
    assert!(!h.store.config.delete_param("never").await.unwrap());
    assert_eq!(h.store.config.get_param("p").await.unwrap(), None);
    assert!(h.store.config.get_param("q").await.unwrap().is_some());
    let again = h
        .store
        .config
        .set_param("p", ParamValue::Int(3), "", "me")
        .await
        .unwrap();
    assert_eq!(again.version, 1);
}
register!(delete_param_reports_existence);

/// Invalid names and non-finite floats are input errors; nothing is written
/// and an existing parameter keeps its value and version.
pub async fn invalid_params_rejected(h: Harness) {
    for bad in ["", "a#b", "line\nbreak"] {
        let err = h
            .store
            .config
            .set_param(bad, ParamValue::Int(1), "", "me")
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }),
            "{bad:?}: {err:?}"
        );
    }
    for f in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = h
            .store
            .config
            .set_param("f", ParamValue::Float(f), "", "me")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{f}: {err:?}");
    }
    assert_store_empty(&h).await;
    h.store
        .config
        .set_param("f", ParamValue::Float(2.5), "", "me")
        .await
        .unwrap();
    let err = h
        .store
        .config
        .set_param("f", ParamValue::Float(f64::NAN), "", "me")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err:?}");
    let p = h.store.config.get_param("f").await.unwrap().unwrap();
    assert_eq!((p.param_value, p.version), (ParamValue::Float(2.5), 1));
}
register!(invalid_params_rejected);

/// Values one backend could not store exactly are input errors on every
/// backend, before anything is written: numbers beyond 38 significant
/// digits or DynamoDB's range (never rounded), empty object keys, nesting
/// deeper than 32 levels, a float like 1e300.
pub async fn unstorable_values_rejected_identically(h: Harness) {
    let mut deep = json!(1);
    for _ in 0..33 {
        deep = json!([deep]);
    }
    let bad: Vec<(&str, ParamValue)> = vec![
        ("empty_key", dict(json!({"": 1}))),
        ("nested_empty_key", dict(json!({"a": {"b": [{"": true}]}}))),
        (
            "digits",
            ParamValue::List(vec![serde_json::from_str(
                "123456789012345678901234567890123456789",
            )
            .unwrap()]),
        ),
        (
            "overflow",
            ParamValue::List(vec![serde_json::from_str("1e126").unwrap()]),
        ),
        (
            "underflow",
            ParamValue::List(vec![serde_json::from_str("1e-131").unwrap()]),
        ),
        ("float_huge", ParamValue::Float(1e300)),
        ("float_tiny", ParamValue::Float(5e-324)),
        ("deep", ParamValue::List(vec![deep])),
    ];
    for (name, v) in bad {
        let err = h
            .store
            .config
            .set_param(name, v, "", "me")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{name}: {err:?}");
    }
    assert_store_empty(&h).await;
}
register!(unstorable_values_rejected_identically);

/// Numbers inside dict and list values keep their exact digits (38
/// significant digits, beyond f64 and i64), and a float like 1.0 inside a
/// dict stays a float.
pub async fn json_values_keep_their_digits(h: Harness) {
    let text = r#"{"big":12345678901234567890123456789012345678,"neg":-98765432109876543210,"frac":0.12345678901234567890123456789,"one":1.0,"list":[18446744073709551616,2.5]}"#;
    let value: serde_json::Value = serde_json::from_str(text).unwrap();
    h.store
        .config
        .set_param("exact", dict(value.clone()), "", "me")
        .await
        .unwrap();
    let got = h.store.config.get_param("exact").await.unwrap().unwrap();
    let ParamValue::Dict(m) = &got.param_value else {
        panic!("not a dict: {got:?}");
    };
    for (k, v) in value.as_object().unwrap() {
        assert_eq!(
            serde_json::to_string(&m[k]).unwrap(),
            serde_json::to_string(v).unwrap(),
            "{k}"
        );
    }
    assert!(m["one"].is_f64(), "1.0 reads back as a float");
}
register!(json_values_keep_their_digits);

/// A parameter of over 400 KB is `TooLarge` on every backend (whatever
/// its type, with the description counted) and nothing is written.
pub async fn oversize_param_is_too_large_and_not_written(h: Harness) {
    let big = "x".repeat(520 * 1024);
    let err = h
        .store
        .config
        .set_param("big", ParamValue::Str(big.clone()), "", "me")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let half = "y".repeat(260 * 1024);
    let err = h
        .store
        .config
        .set_param("big", ParamValue::Str(half.clone()), &half, "me")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    let list = ParamValue::List(vec![json!(big)]);
    let err = h
        .store
        .config
        .set_param("big", list, "", "me")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err:?}");
    assert_store_empty(&h).await;
    let fits = "z".repeat(390 * 1024);
    h.store
        .config
        .set_param("fits", ParamValue::Str(fits.clone()), "", "me")
        .await
        .unwrap();
    let got = h.store.config.get_param("fits").await.unwrap().unwrap();
    assert_eq!(got.param_value, ParamValue::Str(fits));
}
register!(oversize_param_is_too_large_and_not_written);
