//! Validation of a pack's `load:` section: the mix's requests render from
//! the pack's endpoints and inputs, values a call uses are captured by
//! another call, and every SLO parses and names a call of the mix.

use std::collections::BTreeSet;

use super::slo::Slo;
use super::{BUILTINS, Ctx, LoadSpec, PackError, PackFile, validate_request};

/// The `{{names}}` a call's request uses that another call of the mix captures.
pub fn needs(spec: &LoadSpec, call: usize) -> Vec<String> {
    let captured: BTreeSet<&String> = spec.mix.iter().flat_map(|c| c.capture.keys()).collect();
    let mut names = Vec::new();
    spec.mix[call].request.template_names(&mut names);
    names.sort();
    names.dedup();
    names.retain(|n| captured.contains(n));
    names
}

pub(super) fn validate_load(file: &str, pack: &PackFile, spec: &LoadSpec) -> Result<(), PackError> {
    let mut defined: BTreeSet<String> = pack
        .inputs
        .keys()
        .chain(pack.facts.keys())
        .cloned()
        .collect();
    defined.extend(spec.mix.iter().flat_map(|c| c.capture.keys().cloned()));
    let cx = Ctx {
        file,
        pack,
        defined,
        request_steps: BTreeSet::new(),
        basis: crate::vocab::Basis::Doc,
    };
    if spec.mix.is_empty() {
        return Err(cx.err("load", "load.mix needs at least one call"));
    }
    let mut names = BTreeSet::new();
    for (i, call) in spec.mix.iter().enumerate() {
        let label = format!("load.mix[{i}] `{}`", call.name);
        if call.name.trim().is_empty() || !names.insert(call.name.as_str()) {
            return Err(cx.err(&label, "every call of the mix has its own non-empty name"));
        }
        if call.weight == 0 {
            return Err(cx.err(&label, "weight must be at least 1"));
        }
        if !(call.cost.is_finite() && call.cost >= 0.0) {
            return Err(cx.err(&label, "cost must be a number of credits ≥ 0"));
        }
        validate_request(&cx, &label, &call.request, false)?;
        for (name, src) in &call.capture {
            if BUILTINS.contains(&name.as_str()) || pack.inputs.contains_key(name) {
                return Err(cx.err(
                    &label,
                    format!("capture `{name}` would shadow an input or built-in"),
                ));
            }
            let ok = src
                .strip_prefix("body:")
                .is_some_and(|p| p.is_empty() || p.starts_with('/'))
                || src.strip_prefix("header:").is_some_and(|h| !h.is_empty());
            if !ok {
                return Err(cx.err(
                    &label,
                    format!("capture `{name}`: `{src}` is not body:/ptr or header:Name"),
                ));
            }
        }
    }
    if (0..spec.mix.len()).all(|i| !needs(spec, i).is_empty()) {
        return Err(cx.err(
            "load",
            "every call needs a value another call captures: nothing can be sent first",
        ));
    }
    if let Some(u) = &spec.usage {
        validate_request(&cx, "load.usage", &u.request, false)?;
        if !u.credits_used.starts_with('/') {
            return Err(cx.err(
                "load.usage",
                "credits_used is a JSON pointer (`/credits_used`)",
            ));
        }
    }
    for s in &spec.slo {
        let slo = Slo::parse(s).map_err(|e| cx.err("load.slo", e))?;
        if let Some(c) = &slo.call {
            if !names.contains(c.as_str()) {
                return Err(cx.err(
                    "load.slo",
                    format!("SLO `{s}` names `{c}`, which is not a call of load.mix"),
                ));
            }
        }
    }
    Ok(())
}
