//! Template expansion and `when:`/`assert` expressions over any text, with
//! values that are themselves templates: one pass, bounded output, no panic.
#![no_main]

use golive::pack::{expr, template};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (tpl, value) = text.split_once('\u{0}').unwrap_or((&text, "{{a}}"));
    let vars = |n: &str| match n {
        "a" | "b" => Some(Value::String(value.to_string())),
        "n" => Some(serde_json::json!(3)),
        _ => None,
    };
    if let Ok(out) = template::render(tpl, &vars) {
        let bound = tpl.len() + template::names(tpl).len() * value.len().max(2);
        assert!(out.len() <= bound, "{} > {bound}", out.len());
    }
    let _ = template::render_value(&Value::String(tpl.to_string()), &vars);
    let _ = template::parse_duration(tpl);
    if let Ok(e) = expr::parse(tpl) {
        let _ = e.eval(&vars);
    }
});
