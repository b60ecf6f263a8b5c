//! A STIX 2.1 bundle: the SOC's `identity`, one `incident` per case, an `indicator`
//! with a STIX pattern per shareable indicator (CVEs as `vulnerability` objects), the
//! observables in one `observed-data` per case, the `relationship`s between them, and
//! the TLP marking definitions, one on every object.
//!
//! TLP: the validator (stix2-validator 3.3) knows the TLP 1.0 marking definitions of
//! the STIX 2.1 specification (§7.2.1.4), with their fixed ids; TLP 2.0's extension
//! markings it reads as unknown extensions. So CLEAR is sent as TLP:WHITE, and
//! AMBER+STRICT as TLP:AMBER plus a statement marking saying it is AMBER+STRICT.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use uuid::Uuid;

use super::{description, shareable, summary, uuid5, Sharer};
use crate::domain::Tlp;
use crate::store::sharing::SharedCase;

/// The namespace of SCO ids in the STIX 2.1 specification (§2.9).
const SCO_NAMESPACE: Uuid = Uuid::from_u128(0x00ab_edb4_aa42_466c_9c01_fed2_3315_a9b7);

/// When the TLP 1.0 marking definitions were created (fixed by the specification).
const TLP_CREATED: &str = "2017-01-20T00:00:00.000Z";
/// The identity's and the AMBER+STRICT statement's creation time (fixed, so that
/// re-exports are identical).
const FIXED_CREATED: &str = "2022-08-01T00:00:00.000Z";

/// How strict a label is (a shared object takes the strictest of its cases).
fn strictness(t: Tlp) -> u8 {
    match t {
        Tlp::Clear => 0,
        Tlp::Green => 1,
        Tlp::Amber => 2,
        Tlp::AmberStrict => 3,
        Tlp::Red => 4,
    }
}

/// The TLP 1.0 marking definition standing for `t`, as the specification writes it.
fn tlp1(t: Tlp) -> (&'static str, &'static str) {
    match t {
        Tlp::Clear => ("613f2e26-407d-48c7-9eca-b8e91df99dc9", "white"),
        Tlp::Green => ("34098fce-860f-48ae-8e50-ebd3cc5e41da", "green"),
        Tlp::Amber | Tlp::AmberStrict => ("f88d31f6-486f-44da-b317-01333bde0b82", "amber"),
        Tlp::Red => ("5e57c739-391a-4eb3-b6be-7d15ca92d5ed", "red"),
    }
}

fn strict_statement_id(s: &Sharer<'_>) -> String {
    format!("marking-definition--{}", s.id(&["tlp", "amber+strict"]))
}

/// The marking refs of an object under `t`.
fn marking_refs(s: &Sharer<'_>, t: Tlp) -> Vec<String> {
    let mut refs = vec![format!("marking-definition--{}", tlp1(t).0)];
    if t == Tlp::AmberStrict {
        refs.push(strict_statement_id(s));
    }
    refs
}

/// The marking definition objects for the labels used.
fn marking_definitions(s: &Sharer<'_>, used: &[Tlp]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    for &t in used {
        let (id, name) = tlp1(t);
        if !seen.contains(&id) {
            seen.push(id);
            out.push(json!({
                "type": "marking-definition",
                "spec_version": "2.1",
                "id": format!("marking-definition--{id}"),
                "created": TLP_CREATED,
                "definition_type": "tlp",
                "name": format!("TLP:{}", name.to_uppercase()),
                "definition": { "tlp": name },
            }));
        }
    }
    if used.contains(&Tlp::AmberStrict) {
        out.push(json!({
            "type": "marking-definition",
            "spec_version": "2.1",
            "id": strict_statement_id(s),
            "created": FIXED_CREATED,
            "name": "TLP:AMBER+STRICT",
            "definition_type": "statement",
            "definition": { "statement": "TLP:AMBER+STRICT (TLP 2.0): recipients may share this only within their own organisation, on a need-to-know basis." },
        }));
    }
    out
}

/// `'` and `\` escaped for a STIX pattern's string literal.
fn literal(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The observable of an indicator: its SCO type, the ID contributing properties, and
/// the pattern. `None` for CVEs (a `vulnerability`, not an observable).
fn observable(kind: &str, value: &str) -> Option<(&'static str, Value, String)> {
    let (ty, props, path) = match kind {
        "ipv4" => ("ipv4-addr", json!({ "value": value }), "value"),
        "ipv6" => ("ipv6-addr", json!({ "value": value }), "value"),
        "domains" => ("domain-name", json!({ "value": value }), "value"),
        "urls" => ("url", json!({ "value": value }), "value"),
        "emails" => ("email-addr", json!({ "value": value }), "value"),
        "md5" => ("file", json!({ "hashes": { "MD5": value } }), "hashes.MD5"),
        "sha1" => (
            "file",
            json!({ "hashes": { "SHA-1": value } }),
            "hashes.'SHA-1'",
        ),
        "sha256" => (
            "file",
            json!({ "hashes": { "SHA-256": value } }),
            "hashes.'SHA-256'",
        ),
        _ => return None,
    };
    Some((ty, props, format!("[{ty}:{path} = {}]", literal(value))))
}

/// What kind of thing an indicator is, for its name.
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "ipv4" => "IPv4 address",
        "ipv6" => "IPv6 address",
        "domains" => "Domain",
        "urls" => "URL",
        "emails" => "Email address",
        "md5" => "MD5",
        "sha1" => "SHA-1",
        "sha256" => "SHA-256",
        _ => "Indicator",
    }
}

/// Objects of the bundle by id: the first writer of a shared object (an SCO, a
/// vulnerability) keeps its content, its marking becomes the strictest of its users.
#[derive(Default)]
struct Objects {
    by_id: BTreeMap<String, (Value, Tlp)>,
    order: Vec<String>,
}

impl Objects {
    fn add(&mut self, id: String, obj: Value, tlp: Tlp) {
        match self.by_id.get_mut(&id) {
            Some((_, t)) => {
                if strictness(tlp) > strictness(*t) {
                    *t = tlp;
                }
            }
            None => {
                self.order.push(id.clone());
                self.by_id.insert(id, (obj, tlp));
            }
        }
    }
}

/// The bundle of `cases`; its own id is random (a bundle is a transport, not an object
/// a partner stores), every object inside has a deterministic one.
pub fn bundle(s: &Sharer<'_>, cases: &[SharedCase]) -> Value {
    let identity_id = format!("identity--{}", s.id(&["identity"]));
    let mut objects = Objects::default();
    let mut used: Vec<Tlp> = Vec::new();
    for c in cases {
        let tlp = s.tlp(c);
        used.push(tlp);
        case_objects(s, c, tlp, &identity_id, &mut objects);
    }
    let strictest = used
        .iter()
        .copied()
        .max_by_key(|t| strictness(*t))
        .unwrap_or(s.default_tlp);
    if used.is_empty() {
        used.push(strictest);
    }
    let mut out = marking_definitions(s, &used);
    out.push(json!({
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id,
        "created": FIXED_CREATED,
        "modified": FIXED_CREATED,
        "name": s.identity,
        "identity_class": "organization",
        "sectors": ["government"],
        "object_marking_refs": marking_refs(s, strictest),
    }));
    for id in &objects.order {
        if let Some((mut obj, tlp)) = objects.by_id.remove(id) {
            obj["object_marking_refs"] = json!(marking_refs(s, tlp));
            out.push(obj);
        }
    }
    json!({
        "type": "bundle",
        "id": format!("bundle--{}", Uuid::new_v4()),
        "objects": out,
    })
}

fn case_objects(
    s: &Sharer<'_>,
    c: &SharedCase,
    tlp: Tlp,
    identity_id: &str,
    objects: &mut Objects,
) {
    let tid = c.case.tracking_id.as_str();
    let (created, modified) = (c.case.created_at.as_str(), c.case.updated_at.as_str());
    let modified = modified.max(created);
    let indicators = shareable(c);
    let incident_id = format!("incident--{}", s.id(&["incident", tid]));
    objects.add(
        incident_id.clone(),
        json!({
            "type": "incident",
            "spec_version": "2.1",
            "id": incident_id,
            "created_by_ref": identity_id,
            "created": created,
            "modified": modified,
            "name": summary(c),
            "description": description(c, s, indicators.len()),
            "external_references": [{ "source_name": s.identity, "external_id": tid }],
        }),
        tlp,
    );
    let relationship = |objects: &mut Objects, rel: &str, from: &str, to: &str| {
        let id = format!(
            "relationship--{}",
            s.id(&["relationship", tid, rel, from, to])
        );
        objects.add(
            id.clone(),
            json!({
                "type": "relationship",
                "spec_version": "2.1",
                "id": id,
                "created_by_ref": identity_id,
                "created": created,
                "modified": modified,
                "relationship_type": rel,
                "source_ref": from,
                "target_ref": to,
            }),
            tlp,
        );
    };
    let observed_id = format!("observed-data--{}", s.id(&["observed-data", tid]));
    let mut observed_refs: Vec<String> = Vec::new();
    for (kind, value) in &indicators {
        let Some((ty, props, pattern)) = observable(kind, value) else {
            if *kind == "cves" {
                let name = value.to_uppercase();
                let id = format!("vulnerability--{}", s.id(&["vulnerability", &name]));
                objects.add(
                    id.clone(),
                    json!({
                        "type": "vulnerability",
                        "spec_version": "2.1",
                        "id": id,
                        "created_by_ref": identity_id,
                        "created": created,
                        "modified": modified,
                        "name": name,
                        "external_references": [{ "source_name": "cve", "external_id": name }],
                    }),
                    tlp,
                );
                relationship(objects, "related-to", &id, &incident_id);
            }
            continue;
        };
        // An SCO's id is the specification's: UUIDv5 of its ID contributing
        // properties (canonical JSON) in the SCO namespace, the same at every producer.
        let sco_id = format!("{ty}--{}", uuid5(SCO_NAMESPACE, &props.to_string()));
        let mut sco = props;
        sco["type"] = json!(ty);
        sco["spec_version"] = json!("2.1");
        sco["id"] = json!(sco_id);
        objects.add(sco_id.clone(), sco, tlp);
        if !observed_refs.contains(&sco_id) {
            observed_refs.push(sco_id);
        }
        let indicator_id = format!("indicator--{}", s.id(&["indicator", tid, kind, value]));
        objects.add(
            indicator_id.clone(),
            json!({
                "type": "indicator",
                "spec_version": "2.1",
                "id": indicator_id,
                "created_by_ref": identity_id,
                "created": created,
                "modified": modified,
                "name": format!("{} {value}", kind_label(kind)),
                "description": format!("Seen in incident {tid} reported to {}.", s.identity),
                "indicator_types": ["malicious-activity"],
                "pattern": pattern,
                "pattern_type": "stix",
                "pattern_version": "2.1",
                "valid_from": created,
            }),
            tlp,
        );
        relationship(objects, "related-to", &indicator_id, &incident_id);
        relationship(objects, "based-on", &indicator_id, &observed_id);
    }
    if !observed_refs.is_empty() {
        objects.add(
            observed_id.clone(),
            json!({
                "type": "observed-data",
                "spec_version": "2.1",
                "id": observed_id,
                "created_by_ref": identity_id,
                "created": created,
                "modified": modified,
                "first_observed": created,
                "last_observed": modified,
                "number_observed": 1,
                "object_refs": observed_refs,
            }),
            tlp,
        );
        relationship(objects, "related-to", &observed_id, &incident_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_literals_escape_quotes_and_backslashes() {
        let (_, _, p) = observable("urls", r"http://x.test/a'b\c").expect("url");
        assert_eq!(p, r"[url:value = 'http://x.test/a\'b\\c']");
        let (ty, props, p) = observable("sha256", "ab").expect("hash");
        assert_eq!(ty, "file");
        assert_eq!(props.to_string(), r#"{"hashes":{"SHA-256":"ab"}}"#);
        assert_eq!(p, "[file:hashes.'SHA-256' = 'ab']");
    }

    #[test]
    fn sco_ids_are_uuid5_of_the_contributing_properties() {
        // As Python's uuid.uuid5(UUID("00abedb4-…"), '{"value":"198.51.100.3"}') gives.
        let id = uuid5(SCO_NAMESPACE, r#"{"value":"198.51.100.3"}"#);
        assert_eq!(id.to_string(), "28bb3599-77cd-5a82-a950-b5bc3caf07c4");
        assert_eq!(id.get_version_num(), 5);
    }
}
