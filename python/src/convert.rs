//! Values between Python and Rust.
//!
//! Out: records are serialised with `serde_json` (the same attribute names
//! and values the `affine-db` binary prints) and [`Json`] turns the value
//! into plain Python objects: an integer stays an `int`, a float stays a
//! `float` (`1.0` is not `1`), objects become dicts in their order.
//!
//! In: [`to_json`] turns a Python value (conversation, dict/list parameter,
//! score map) into JSON, rejecting what JSON cannot hold exactly (NaN,
//! infinities, non-string keys, sets, bytes, ...) as invalid input before
//! anything is written.

use affine_db::{Error, Result, Sample};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::Serialize;
use serde_json::{Map, Number, Value};

/// How deep a Python value given as JSON may nest (a self-containing list
/// would otherwise recurse forever).
const MAX_DEPTH: usize = 128;

/// A JSON value on its way to Python.
pub struct Json(pub Value);

impl Json {
    /// Serialises `value` (a record or a list of records).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<Json> {
        serde_json::to_value(value)
            .map(Json)
            .map_err(|e| Error::backend(format!("cannot convert the result for Python: {e}")))
    }
}

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, self.0)
    }
}

/// Samples on their way to Python: a list of dicts, field by field in the
/// order `serde` writes a [`Sample`] (what [`Json::of`] gives), without
/// building the JSON first — the scorer's hot read converts every sample
/// of every miner. Destructuring every field makes a field added to
/// `Sample` a compile error here.
pub struct Samples(pub Vec<Sample>);

impl<'py> IntoPyObject<'py> for Samples {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let list = PyList::empty(py);
        for sample in self.0 {
            list.append(sample_dict(py, sample)?)?;
        }
        Ok(list.into_any())
    }
}

fn sample_dict(py: Python<'_>, sample: Sample) -> PyResult<Bound<'_, PyDict>> {
    use pyo3::intern;
    let Sample {
        sample_id,
        miner_hotkey,
        model_revision,
        model_hash,
        uid,
        env,
        subset,
        dataset_index,
        task_id,
        score,
        success,
        latency_ms,
        timestamp,
        conversation,
        validator_hotkey,
        block_number,
        signature,
    } = sample;
    let d = PyDict::new(py);
    d.set_item(intern!(py, "sample_id"), sample_id)?;
    d.set_item(intern!(py, "miner_hotkey"), miner_hotkey)?;
    d.set_item(intern!(py, "model_revision"), model_revision)?;
    d.set_item(intern!(py, "model_hash"), model_hash)?;
    d.set_item(intern!(py, "uid"), uid)?;
    d.set_item(intern!(py, "env"), env)?;
    d.set_item(intern!(py, "subset"), subset)?;
    d.set_item(intern!(py, "dataset_index"), dataset_index)?;
    d.set_item(intern!(py, "task_id"), task_id)?;
    d.set_item(intern!(py, "score"), PyFloat::new(py, score))?;
    d.set_item(intern!(py, "success"), success)?;
    d.set_item(intern!(py, "latency_ms"), latency_ms)?;
    d.set_item(intern!(py, "timestamp"), timestamp)?;
    let conversation = match conversation {
        Some(v) => to_py(py, v)?,
        None => py.None().into_bound(py),
    };
    d.set_item(intern!(py, "conversation"), conversation)?;
    d.set_item(intern!(py, "validator_hotkey"), validator_hotkey)?;
    d.set_item(intern!(py, "block_number"), block_number)?;
    d.set_item(intern!(py, "signature"), signature)?;
    Ok(d)
}

/// A JSON number as an `int` when it is an integer (of any size), else a `float`.
fn number_to_py<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    if let Some(i) = n.as_i64() {
        return Ok(i.into_pyobject(py)?.into_any());
    }
    if let Some(u) = n.as_u64() {
        return Ok(u.into_pyobject(py)?.into_any());
    }
    let text = n.to_string();
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        // An integer beyond 64 bits (kept as digits): Python's int parses it.
        return py.get_type::<PyInt>().call1((text,)).map(Bound::into_any);
    }
    Ok(PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any())
}

/// Converts a JSON value into Python objects.
pub fn to_py(py: Python<'_>, value: Value) -> PyResult<Bound<'_, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, b).to_owned().into_any(),
        Value::Number(n) => number_to_py(py, &n)?,
        Value::String(s) => PyString::new(py, &s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// Converts a Python value into JSON; `field` names it in errors.
pub fn to_json(obj: &Bound<'_, PyAny>, field: &str) -> Result<Value> {
    to_json_at(obj, field, 0)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn to_json_at(obj: &Bound<'_, PyAny>, field: &str, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(
            field,
            format!("nests deeper than {MAX_DEPTH} levels"),
        ));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: Python's bool is an int.
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        return int_to_json(obj, field);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| Error::invalid(field, format!("{v} is not a finite number")));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return s
            .to_str()
            .map(|s| Value::String(s.to_string()))
            .map_err(|e| Error::invalid(field, format!("not valid UTF-8 text: {e}")));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = k.cast::<PyString>().map_err(|_| {
                Error::invalid(
                    field,
                    format!("has a {} key; JSON object keys are strings", type_name(&k)),
                )
            })?;
            let key = key
                .to_str()
                .map_err(|e| Error::invalid(field, format!("key is not valid UTF-8: {e}")))?
                .to_string();
            map.insert(key, to_json_at(&v, field, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l
            .iter()
            .map(|v| to_json_at(&v, field, depth + 1))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t
            .iter()
            .map(|v| to_json_at(&v, field, depth + 1))
            .collect::<Result<Vec<_>>>()
            .map(Value::Array);
    }
    Err(Error::invalid(
        field,
        format!(
            "holds a {}; only dict, list, tuple, str, int, float, bool and None are stored",
            type_name(obj)
        ),
    ))
}

/// A Python int as a JSON number: exact when it fits 64 bits; larger ones
/// only where the library keeps digits exactly, never rounded.
fn int_to_json(obj: &Bound<'_, PyAny>, field: &str) -> Result<Value> {
    if let Ok(i) = obj.extract::<i64>() {
        return Ok(Value::from(i));
    }
    if let Ok(u) = obj.extract::<u64>() {
        return Ok(Value::from(u));
    }
    let text = obj
        .str()
        .map(|s| s.to_string())
        .map_err(|e| Error::invalid(field, format!("cannot read an integer: {e}")))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Number(n)) if !n.is_f64() => Ok(Value::Number(n)),
        _ => Err(Error::invalid(
            field,
            format!("the integer {text} does not fit in 64 bits"),
        )),
    }
}

/// A float argument: finite, or invalid input.
pub fn finite(field: &str, v: f64) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::invalid(field, format!("{v} is not a finite number")))
    }
}

/// A limit argument: `None`, or a non-negative count.
pub fn limit(field: &str, v: Option<i64>) -> Result<Option<usize>> {
    v.map(|n| usize::try_from(n).map_err(|_| Error::invalid(field, format!("{n} is negative"))))
        .transpose()
}

/// A mapping of names to floats (`scores_by_layer`, `scores_by_env`).
pub fn float_map(
    obj: &Bound<'_, PyAny>,
    field: &str,
) -> Result<std::collections::BTreeMap<String, f64>> {
    let d = obj
        .cast::<PyDict>()
        .map_err(|_| Error::invalid(field, format!("is a {}, not a dict", type_name(obj))))?;
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in d.iter() {
        let key: String = k
            .extract()
            .map_err(|_| Error::invalid(field, "keys must be strings"))?;
        if v.is_instance_of::<PyBool>() {
            return Err(Error::invalid(
                field,
                format!("{key}: a bool is not a score"),
            ));
        }
        let value: f64 = v.extract().map_err(|_| {
            Error::invalid(field, format!("{key}: {} is not a number", type_name(&v)))
        })?;
        out.insert(key.clone(), finite(&format!("{field}[{key}]"), value)?);
    }
    Ok(out)
}
