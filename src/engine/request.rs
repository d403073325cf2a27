//! Rendering a request from the pack and the variables in scope: the one
//! place that turns a `RequestSpec` into a sendable `Prepared` (templates,
//! path parameters, keys and auth schemes, bodies). `golive check` and
//! `golive load` both render through here.

use bytes::Bytes;
use serde_json::Value;

use super::PackRun;
use super::http::{self, Prepared};
use super::steps::CheckState;
use crate::pack::template::{self, parse_duration};
use crate::pack::{AuthSpec, RequestSpec};

pub(super) struct Lookup<'a> {
    pub(super) run: &'a PackRun,
    pub(super) st: &'a CheckState,
    pub(super) extra: &'a [(&'a str, Value)],
}

impl template::Vars for Lookup<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        if let Some((_, v)) = self.extra.iter().find(|(k, _)| *k == name) {
            return Some(v.clone());
        }
        if let Some(v) = self.st.vars.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.run.inputs.get(name) {
            return Some(v.clone());
        }
        match name {
            "uuid" => Some(Value::String(self.st.uuid.clone())),
            "run_id" => Some(Value::String(self.run.run_id.clone())),
            "now_ms" => Some(serde_json::json!(chrono::Utc::now().timestamp_millis())),
            _ => None,
        }
    }
}

/// Renders a request spec into a sendable request.
pub(crate) fn prepare(
    run: &PackRun,
    spec: &RequestSpec,
    st: &CheckState,
    extra: &[(&str, Value)],
) -> Result<Prepared, String> {
    let look = Lookup { run, st, extra };
    let (method, path, endpoint) = route(run, spec, &look)?;
    let mut query: Vec<(String, String)> = vec![];
    for (k, v) in &spec.query {
        query.push((k.clone(), v.render(&look)?));
    }
    let mut headers: Vec<(String, String)> = vec![];
    authenticate(run, spec, &mut headers, &mut query)?;
    for (k, v) in &spec.headers {
        let value = v.render(&look)?;
        // A value from an input or a server's answer must not split the header.
        if let Some(why) = crate::pack::header_problem(k, &value) {
            return Err(why);
        }
        headers.push((k.clone(), value));
    }
    let body = body(spec, &look, &st.uuid, &mut headers)?;
    let timeout = match &spec.timeout {
        Some(t) => parse_duration(&t.render(&look)?)?,
        None => run.http_timeout,
    };
    let mut url = format!("{}{}", run.base, path);
    if !query.is_empty() {
        let q = query
            .iter()
            .map(|(k, v)| format!("{}={}", url_escape(k), url_escape(v)))
            .collect::<Vec<_>>()
            .join("&");
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&q);
    }
    Ok(Prepared {
        method: reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| format!("bad method `{method}`"))?,
        url,
        headers,
        body,
        timeout,
        endpoint,
    })
}

/// The method, the path with its parameters filled in (the step's, else the
/// endpoint's samples) and the pack endpoint, if the request names one.
fn route(
    run: &PackRun,
    spec: &RequestSpec,
    look: &Lookup,
) -> Result<(String, String, Option<String>), String> {
    let pack = &run.pack.file;
    let (method, mut path, endpoint) = match (&spec.endpoint, &spec.method, &spec.path) {
        (Some(ep), _, _) => {
            let id = ep.render(look)?;
            let e = pack
                .endpoints
                .get(&id)
                .ok_or_else(|| format!("endpoint `{id}` is not in the pack"))?;
            (e.method.to_ascii_uppercase(), e.path.clone(), Some(id))
        }
        (None, Some(m), Some(p)) => (m.to_ascii_uppercase(), p.render(look)?, None),
        _ => return Err("the request names no endpoint".into()),
    };
    for name in crate::pack::path_params(&path.clone()) {
        let val = match spec.params.get(&name) {
            Some(v) => v.render(look)?,
            None => endpoint
                .as_ref()
                .and_then(|e| pack.endpoints[e].sample.get(&name).cloned())
                .ok_or_else(|| format!("no value for path parameter `{name}`"))?,
        };
        path = path.replace(&format!("{{{name}}}"), &url_escape(&val));
    }
    Ok((method, path, endpoint))
}

/// The key of the step's role (or the invalid one), in the pack's auth
/// scheme's header or, for `in_query`, in the query string.
fn authenticate(
    run: &PackRun,
    spec: &RequestSpec,
    headers: &mut Vec<(String, String)>,
    query: &mut Vec<(String, String)>,
) -> Result<(), String> {
    let pack = &run.pack.file;
    let (role, scheme, in_query) = match &spec.auth {
        None => ("valid".to_string(), None, false),
        Some(AuthSpec::Role(r)) => (r.clone(), None, false),
        Some(AuthSpec::Full(f)) => (f.key.clone(), f.scheme.clone(), f.in_query),
    };
    let key = match role.as_str() {
        "none" => return Ok(()),
        "invalid" => run.invalid_key.clone(),
        r => run
            .keys
            .get(r)
            .map(|s| s.expose().to_string())
            .ok_or_else(|| format!("no key for role `{r}`"))?,
    };
    if in_query {
        let qp = pack
            .auth
            .query_param
            .clone()
            .unwrap_or_else(|| "api_key".into());
        query.push((qp, key));
    } else {
        let sname = scheme.unwrap_or_else(|| pack.auth.default.clone());
        let s = pack
            .auth
            .schemes
            .get(&sname)
            .ok_or_else(|| format!("unknown auth scheme `{sname}`"))?;
        headers.push((s.header.clone(), s.value.replace("{key}", &key)));
    }
    Ok(())
}

/// The body (JSON, multipart or raw text) and its `Content-Type`, unless the
/// step sets one itself.
fn body(
    spec: &RequestSpec,
    look: &Lookup,
    uuid: &str,
    headers: &mut Vec<(String, String)>,
) -> Result<Option<Bytes>, String> {
    let has_ct = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let (bytes, content_type) = if let Some(j) = &spec.json {
        let v = j.render(look)?;
        let bytes = serde_json::to_vec(&v).map_err(|e| e.to_string())?;
        let ct = spec
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json".into());
        (bytes, Some(ct))
    } else if let Some(mp) = &spec.multipart {
        let boundary = format!("golive-{}", uuid.replace('-', ""));
        let mut fields = vec![];
        for (k, v) in &mp.fields {
            fields.push((k.clone(), v.render(look)?));
        }
        let mut files = vec![];
        for f in &mp.files {
            let data = match (&f.content, f.size) {
                (Some(c), _) => c.clone().into_bytes(),
                (None, Some(n)) => http::generated_file(&f.content_type, n),
                (None, None) => vec![],
            };
            files.push((
                f.name.clone(),
                f.filename.render(look)?,
                f.content_type.clone(),
                data,
            ));
        }
        let bytes = http::multipart_body(&boundary, &fields, &files);
        (
            bytes,
            Some(format!("multipart/form-data; boundary={boundary}")),
        )
    } else if let Some(b) = &spec.body {
        let bytes = b.render(look)?.into_bytes();
        (bytes, spec.content_type.clone())
    } else {
        return Ok(None);
    };
    if let (Some(ct), false) = (content_type, has_ct) {
        headers.push(("Content-Type".into(), ct));
    }
    Ok(Some(Bytes::from(bytes)))
}

pub(super) fn url_escape(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Lookup<'_> {
    pub(super) fn get_display(&self, name: &str) -> String {
        use template::Vars;
        match self.get(name) {
            Some(Value::String(s)) => format!("\"{s}\""),
            Some(v) => v.to_string(),
            None => "(undefined)".into(),
        }
    }
}
