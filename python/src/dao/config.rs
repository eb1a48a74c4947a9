//! `SystemConfigDAO`: dynamic parameters with versions.

use affine_db::tables::config::validate_set;
use affine_db::{ConfigParam, Error, ParamType, ParamValue, Result};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

use crate::client::{run, store};
use crate::convert::{to_json, Json};
use crate::errors::check;

/// Dynamic configuration.
#[pyclass(module = "affine_db.dao", frozen, subclass)]
pub struct SystemConfigDAO;

fn mismatch(ty: ParamType, value: &Bound<'_, PyAny>) -> Error {
    let got = value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into());
    Error::invalid(
        "param_value",
        format!("a {got} does not match param_type {ty:?}", ty = ty.as_str()),
    )
}

/// The typed value of a Python value declared as `ty`: `str` takes a str,
/// `int` an int, `float` a float or an int (stored as a float), `bool` a
/// bool, `dict` a dict, `list` a list or tuple. Bools are not numbers here.
fn param_value(ty: ParamType, value: &Bound<'_, PyAny>) -> Result<ParamValue> {
    let is_bool = value.is_instance_of::<PyBool>();
    let v = match ty {
        ParamType::Str if value.is_instance_of::<PyString>() => {
            ParamValue::Str(value.extract().map_err(|_| mismatch(ty, value))?)
        }
        ParamType::Int if value.is_instance_of::<PyInt>() && !is_bool => {
            ParamValue::Int(value.extract().map_err(|_| {
                Error::invalid("param_value", "the integer does not fit in 64 bits")
            })?)
        }
        ParamType::Float if value.is_instance_of::<PyFloat>() => {
            ParamValue::Float(value.extract().map_err(|_| mismatch(ty, value))?)
        }
        ParamType::Float if value.is_instance_of::<PyInt>() && !is_bool => {
            let i: i64 = value.extract().map_err(|_| {
                Error::invalid("param_value", "the integer does not fit in 64 bits")
            })?;
            ParamValue::Float(i as f64)
        }
        ParamType::Bool if is_bool => {
            ParamValue::Bool(value.extract().map_err(|_| mismatch(ty, value))?)
        }
        ParamType::Dict if value.is_instance_of::<PyDict>() => match to_json(value, "param_value")?
        {
            Value::Object(m) => ParamValue::Dict(m),
            _ => return Err(mismatch(ty, value)),
        },
        ParamType::List
            if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() =>
        {
            match to_json(value, "param_value")? {
                Value::Array(a) => ParamValue::List(a),
                _ => return Err(mismatch(ty, value)),
            }
        }
        _ => return Err(mismatch(ty, value)),
    };
    v.validate()?;
    Ok(v)
}

fn param(p: Option<ConfigParam>) -> Result<Option<Json>> {
    p.map(|p| Json::of(&p)).transpose()
}

/// What `get_param_value` resolves to: the stored value or the caller's default.
enum ValueOr {
    Stored(Json),
    Default(Py<PyAny>),
}

impl<'py> IntoPyObject<'py> for ValueOr {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match self {
            ValueOr::Stored(v) => v.into_pyobject(py),
            ValueOr::Default(d) => Ok(d.into_bound(py)),
        }
    }
}

#[pymethods]
impl SystemConfigDAO {
    #[new]
    fn new() -> Self {
        SystemConfigDAO
    }

    /// Sets a parameter; its `version` is the previous + 1 (1 when new), and
    /// concurrent sets never repeat one. `param_type` is one of `str`, `int`,
    /// `float`, `bool`, `dict`, `list` and the value must match it
    /// (`InvalidInput` otherwise, nothing written). Returns what was stored.
    #[pyo3(signature = (param_name, param_value, param_type, description="", updated_by="system"))]
    fn set_param<'py>(
        &self,
        py: Python<'py>,
        param_name: String,
        param_value: &Bound<'py, PyAny>,
        param_type: String,
        description: &str,
        updated_by: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (description, updated_by) = (description.to_string(), updated_by.to_string());
        let store = store()?;
        let ty: ParamType = check(py, param_type.parse())?;
        let value = check(py, self::param_value(ty, param_value))?;
        check(
            py,
            validate_set(&param_name, &value, &description, &updated_by),
        )?;
        run(py, async move {
            Json::of(
                &store
                    .config
                    .set_param(&param_name, value, &description, &updated_by)
                    .await?,
            )
        })
    }

    /// One parameter (`param_name`, `param_value`, `param_type`,
    /// `description`, `updated_at`, `updated_by`, `version`), or `None`.
    fn get_param<'py>(&self, py: Python<'py>, param_name: String) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            param(store.config.get_param(&param_name).await?)
        })
    }

    /// A parameter's value, or `default` when it is not set.
    #[pyo3(signature = (param_name, default=None))]
    fn get_param_value<'py>(
        &self,
        py: Python<'py>,
        param_name: String,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        let default = default.unwrap_or_else(|| py.None());
        run(py, async move {
            Ok(match store.config.get_param(&param_name).await? {
                Some(p) => ValueOr::Stored(Json(p.param_value.to_json())),
                None => ValueOr::Default(default),
            })
        })
    }

    /// Every parameter's value by name.
    fn get_all_params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            let map: serde_json::Map<String, Value> = store
                .config
                .list_all_configs()
                .await?
                .into_iter()
                .map(|p| (p.param_name, p.param_value.to_json()))
                .collect();
            Ok(Json(Value::Object(map)))
        })
    }

    /// Deletes a parameter; whether it existed.
    fn delete_param<'py>(
        &self,
        py: Python<'py>,
        param_name: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(
            py,
            async move { store.config.delete_param(&param_name).await },
        )
    }

    /// Every parameter (as `get_param` returns them), by name.
    fn list_all_configs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let store = store()?;
        run(py, async move {
            Json::of(&store.config.list_all_configs().await?)
        })
    }
}
