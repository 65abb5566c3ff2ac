//! Request templates: compiled once per plan, rendered per request only when
//! they contain expressions.
//!
//! Templates are Jinja (minijinja): `{{ item_id }}`, `{{ uuid() }}`,
//! `{{ random_int(1, 100) }}`, `{{ payload('medium') }}`. A text without
//! expressions is never rendered: its bytes are reused as they are.
//! In JSON bodies a string that is exactly one expression (`"{{ item_id }}"`)
//! is replaced by the expression's *value*, so numbers stay numbers and
//! `payload('large')` embeds an object rather than a quoted string.

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind};
use rand::RngExt;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Index of a compiled template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TemplateId(u32);

/// A text that is either fixed or a compiled template.
#[derive(Debug, Clone)]
pub enum Text {
    /// No expressions: used as is.
    Static(Arc<str>),
    /// Rendered per use.
    Dynamic(TemplateId),
}

/// A JSON body: fixed, or a tree with templated strings.
#[derive(Debug, Clone)]
pub enum JsonBody {
    /// Serialized once.
    Static(bytes::Bytes),
    /// Rendered per use.
    Dynamic(JsonNode),
}

/// A JSON value whose strings may be templates.
#[derive(Debug, Clone)]
pub enum JsonNode {
    /// A value without templates.
    Fixed(serde_json::Value),
    /// A string with expressions, rendered to a string.
    Text(TemplateId),
    /// A string that is one expression: replaced by the expression's value.
    Expr(TemplateId),
    /// An array.
    Array(Vec<JsonNode>),
    /// An object.
    Object(Vec<(String, JsonNode)>),
}

/// All templates of a plan, compiled once.
pub struct Templates {
    env: Environment<'static>,
    count: u32,
    names: Vec<String>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("count", &self.count)
            .finish()
    }
}

/// Per-render variables: vu, iter, scenario, env, captures, feeder rows, setup.
pub type Scope = BTreeMap<String, Value>;

impl Default for Templates {
    fn default() -> Self {
        Templates::new()
    }
}

impl Templates {
    /// An environment with gauntlet's functions registered.
    pub fn new() -> Templates {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.add_function("uuid", || -> String { uuid::Uuid::new_v4().to_string() });
        env.add_function("random_int", |a: i64, b: i64| -> Result<i64, Error> {
            if a > b {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "random_int(a, b) needs a <= b",
                ));
            }
            Ok(rand::rng().random_range(a..=b))
        });
        env.add_function("random_float", |a: f64, b: f64| -> f64 {
            if a < b {
                rand::rng().random_range(a..b)
            } else {
                a
            }
        });
        env.add_function("random_string", |n: usize| -> String {
            let mut r = rand::rng();
            (0..n.min(1 << 20))
                .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[r.random_range(0..36)]))
                .collect()
        });
        env.add_function("choice", |list: Vec<Value>| -> Result<Value, Error> {
            if list.is_empty() {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "choice() of an empty list",
                ));
            }
            Ok(list[rand::rng().random_range(0..list.len())].clone())
        });
        env.add_function("now", || -> String {
            humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
        });
        env.add_function("timestamp", || -> u64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        });
        env.add_function("fake", |kind: String| -> Result<String, Error> {
            fake_value(&kind)
        });
        env.add_function("payload", |size: String| -> Result<Value, Error> {
            payload(&size).map(|v| Value::from(minijinja::value::Serde(v)))
        });
        // Basic authentication from templates (`auth: {basic: …}`).
        env.add_filter("b64encode", |s: String| -> String {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(s)
        });
        Templates {
            env,
            count: 0,
            names: Vec::new(),
        }
    }

    /// Compile a text; static texts are not compiled.
    pub fn text(&mut self, source: &str) -> Result<Text, Error> {
        if !(source.contains("{{") || source.contains("{%")) {
            return Ok(Text::Static(Arc::from(source)));
        }
        Ok(Text::Dynamic(self.add(source.to_owned())?))
    }

    fn add(&mut self, source: String) -> Result<TemplateId, Error> {
        let name = format!("t{}", self.count);
        self.env.add_template_owned(name.clone(), source)?;
        self.names.push(name);
        let id = TemplateId(self.count);
        self.count += 1;
        Ok(id)
    }

    /// Compile a JSON body.
    pub fn json(&mut self, value: &serde_json::Value) -> Result<JsonBody, Error> {
        if !has_template(value) {
            let bytes = serde_json::to_vec(value)
                .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?;
            return Ok(JsonBody::Static(bytes.into()));
        }
        Ok(JsonBody::Dynamic(self.json_node(value)?))
    }

    fn json_node(&mut self, value: &serde_json::Value) -> Result<JsonNode, Error> {
        Ok(match value {
            serde_json::Value::String(s) if s.contains("{{") || s.contains("{%") => {
                let t = s.trim();
                let single = t.starts_with("{{")
                    && t.ends_with("}}")
                    && t[2..].find("}}") == Some(t.len() - 4)
                    && !t.contains("{%");
                if single {
                    // Compiled once as `{{ (expr) | tojson }}`: the value keeps its JSON type.
                    let inner = &t[2..t.len() - 2];
                    JsonNode::Expr(self.add(format!("{{{{ ({}) | tojson }}}}", inner.trim()))?)
                } else {
                    JsonNode::Text(self.add(s.clone())?)
                }
            }
            serde_json::Value::Array(a) => JsonNode::Array(
                a.iter()
                    .map(|v| self.json_node(v))
                    .collect::<Result<_, _>>()?,
            ),
            serde_json::Value::Object(o) => JsonNode::Object(
                o.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json_node(v)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            other => JsonNode::Fixed(other.clone()),
        })
    }

    /// Render a text.
    pub fn render(&self, text: &Text, scope: &Scope) -> Result<Arc<str>, Error> {
        match text {
            Text::Static(s) => Ok(s.clone()),
            Text::Dynamic(id) => Ok(Arc::from(self.render_id(*id, scope)?)),
        }
    }

    fn render_id(&self, id: TemplateId, scope: &Scope) -> Result<String, Error> {
        let t = self.env.get_template(&self.names[id.0 as usize])?;
        t.render(scope)
    }

    /// Render a JSON body to bytes.
    pub fn render_json(&self, body: &JsonBody, scope: &Scope) -> Result<bytes::Bytes, Error> {
        match body {
            JsonBody::Static(b) => Ok(b.clone()),
            JsonBody::Dynamic(node) => {
                let v = self.json_value(node, scope)?;
                serde_json::to_vec(&v)
                    .map(Into::into)
                    .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))
            }
        }
    }

    fn json_value(&self, node: &JsonNode, scope: &Scope) -> Result<serde_json::Value, Error> {
        Ok(match node {
            JsonNode::Fixed(v) => v.clone(),
            JsonNode::Text(id) => serde_json::Value::String(self.render_id(*id, scope)?),
            JsonNode::Expr(id) => {
                let json = self.render_id(*id, scope)?;
                serde_json::from_str(&json)
                    .map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string()))?
            }
            JsonNode::Array(a) => serde_json::Value::Array(
                a.iter()
                    .map(|n| self.json_value(n, scope))
                    .collect::<Result<_, _>>()?,
            ),
            JsonNode::Object(o) => serde_json::Value::Object(
                o.iter()
                    .map(|(k, n)| Ok((k.clone(), self.json_value(n, scope)?)))
                    .collect::<Result<_, Error>>()?,
            ),
        })
    }
}

fn has_template(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains("{{") || s.contains("{%"),
        serde_json::Value::Array(a) => a.iter().any(has_template),
        serde_json::Value::Object(o) => o.values().any(has_template),
        _ => false,
    }
}

/// Realistic fake data for request bodies: `fake('name')`, `fake('email')`, …
pub fn fake_value(kind: &str) -> Result<String, Error> {
    use fake::Fake;
    use fake::faker::{
        address::en as address, company::en as company, internet::en as internet,
        lorem::en as lorem, name::en as name, phone_number::en as phone,
    };
    Ok(match kind {
        "name" => name::Name().fake(),
        "first_name" => name::FirstName().fake(),
        "last_name" => name::LastName().fake(),
        "email" => internet::SafeEmail().fake(),
        "username" => internet::Username().fake(),
        "phone" => phone::PhoneNumber().fake(),
        "address" => {
            let n: String = address::BuildingNumber().fake();
            let st: String = address::StreetName().fake();
            let city: String = address::CityName().fake();
            let zip: String = address::ZipCode().fake();
            format!("{n} {st}, {city} {zip}")
        }
        "city" => address::CityName().fake(),
        "country" => address::CountryName().fake(),
        "company" => company::CompanyName().fake(),
        "word" => lorem::Word().fake(),
        "sentence" => lorem::Sentence(4..10).fake(),
        "paragraph" => lorem::Paragraph(2..4).fake(),
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "fake('{other}'): use name, first_name, last_name, email, username, phone, address, city, country, company, word, sentence or paragraph"
                ),
            ));
        }
    })
}

/// Seed 002's payload sizes: small (~1 KB), medium (~5 KB), large (~10 KB)
/// JSON objects, sized on their serialized form.
pub fn payload(size: &str) -> Result<serde_json::Value, Error> {
    let target: usize = match size {
        "small" => 1024,
        "medium" => 5 * 1024,
        "large" => 10 * 1024,
        other => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("payload('{other}'): use small, medium or large"),
            ));
        }
    };
    let mut r = rand::rng();
    let mut obj = serde_json::Map::new();
    obj.insert(
        "id".into(),
        format!("test_{}", r.random_range(100_000..1_000_000)).into(),
    );
    obj.insert(
        "user_id".into(),
        format!("user_{}", r.random_range(1..=10_000)).into(),
    );
    obj.insert(
        "type".into(),
        ["create", "update", "delete"][r.random_range(0..3)].into(),
    );
    let attributes: serde_json::Map<String, serde_json::Value> = (0..20)
        .map(|i| (format!("attr{i}"), format!("value{i}").into()))
        .collect();
    obj.insert("attributes".into(), attributes.into());
    let base = serde_json::to_string(&obj).map(|s| s.len()).unwrap_or(0) + r#","text":"""#.len();
    let fill = target.saturating_sub(base);
    obj.insert("text".into(), "x".repeat(fill).into());
    Ok(serde_json::Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope {
        let mut s = Scope::new();
        s.insert("vu".into(), Value::from(3));
        s.insert("iter".into(), Value::from(7));
        s.insert("item_id".into(), Value::from(42));
        s
    }

    #[test]
    fn static_texts_are_not_compiled() {
        let mut t = Templates::new();
        assert!(matches!(t.text("/api/items").unwrap(), Text::Static(_)));
        let d = t.text("/api/items/{{ item_id }}").unwrap();
        assert_eq!(&*t.render(&d, &scope()).unwrap(), "/api/items/42");
    }

    #[test]
    fn json_single_expressions_keep_their_type() {
        let mut t = Templates::new();
        let body = t.json(&serde_json::json!({"id": "{{ item_id }}", "name": "item {{ vu }}-{{ iter }}", "n": 1})).unwrap();
        let out: serde_json::Value =
            serde_json::from_slice(&t.render_json(&body, &scope()).unwrap()).unwrap();
        assert_eq!(
            out,
            serde_json::json!({"id": 42, "name": "item 3-7", "n": 1})
        );
        let fixed = t.json(&serde_json::json!({"a": 1})).unwrap();
        assert!(matches!(fixed, JsonBody::Static(_)));
    }

    #[test]
    fn payload_sizes_match_seed_002() {
        for (name, size) in [("small", 1024), ("medium", 5120), ("large", 10240)] {
            let len = serde_json::to_vec(&payload(name).unwrap()).unwrap().len();
            assert!(
                (size as f64 * 0.95..size as f64 * 1.05).contains(&(len as f64)),
                "{name}: {len}"
            );
        }
        assert!(payload("huge").is_err());
        let mut t = Templates::new();
        let body = t
            .json(&serde_json::json!({"data": "{{ payload('medium') }}"}))
            .unwrap();
        let out: serde_json::Value =
            serde_json::from_slice(&t.render_json(&body, &scope()).unwrap()).unwrap();
        assert!(out["data"].is_object());
    }

    #[test]
    fn functions_work_and_undefined_is_an_error() {
        let mut t = Templates::new();
        let x = t
            .text("{{ uuid() }}|{{ random_int(5, 5) }}|{{ random_string(4) }}|{{ choice(['a']) }}")
            .unwrap();
        let out = t.render(&x, &scope()).unwrap();
        let parts: Vec<&str> = out.split('|').collect();
        assert_eq!(parts[0].len(), 36);
        assert_eq!(&parts[1..], &["5", parts[2], "a"]);
        assert_eq!(parts[2].len(), 4);
        let f = t.text("{{ fake('email') }}").unwrap();
        assert!(t.render(&f, &scope()).unwrap().contains('@'));
        assert!(fake_value("address").unwrap().len() > 5);
        assert!(fake_value("nonsense").is_err());
        let bad = t.text("{{ nope }}").unwrap();
        assert!(t.render(&bad, &scope()).is_err());
    }
}
