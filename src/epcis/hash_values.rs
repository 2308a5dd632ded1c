//! Canonical values for the event hash (`hash.rs`): how one value is written in the pre-hash
//! string, whatever form the event gave it in.
//!
//! - Namespace prefixes: those of the EPCIS 2.0 context (`cbv`, `gs1`, `epcis`, `cbvmda`, …, with
//!   the expansions the CBV names), plus those the document's and the event's `@context` declare.
//!   Extension keys become `{namespace}name`; CURIE values are expanded.
//! - CBV values: a bare JSON-LD word (`shipping`) becomes its web URI, as does the old URN form.
//! - Timestamps: UTC, milliseconds, `Z`; a 4th decimal of 5–9 rounds the 3rd up.
//! - Numbers: no trailing zeros, written as Python writes a float (the reference implementation
//!   does this to every value that reads as a decimal number, `"0123"` → `123`).
//! - Identifiers: EPC URIs and Digital Link URIs become constrained canonical Digital Link URIs
//!   (`hash_ids.rs`).

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::EventHashError;
use super::ids::digital_link;

const CBV: &str = "https://ref.gs1.org/cbv/";
const GS1_VOC: &str = "https://gs1.org/voc/";

/// The prefixes of the EPCIS 2.0 context, fixed: a document cannot redefine them (the context
/// is `@protected`), and these are the expansions the CBV names for `gs1`, `cbv` and `epcis`.
const STANDARD_PREFIXES: [(&str, &str); 8] = [
    ("epcis", "https://ref.gs1.org/epcis/"),
    ("cbv", CBV),
    ("cbvmda", "urn:epcglobal:cbv:mda:"),
    ("gs1", GS1_VOC),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("owl", "http://www.w3.org/2002/07/owl#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("dcterms", "http://purl.org/dc/terms/"),
];

/// Why a key could not be read as a namespaced name.
pub(super) enum KeyError {
    Unprefixed,
    Undeclared(String),
}

/// Namespace prefixes in scope for an event: prefix → IRI.
#[derive(Debug, Clone)]
pub(super) struct Prefixes(BTreeMap<String, String>);

impl Prefixes {
    pub(super) fn standard() -> Self {
        let owned = |(p, iri): &(&str, &str)| ((*p).to_owned(), (*iri).to_owned());
        Self(STANDARD_PREFIXES.iter().map(owned).collect())
    }

    /// Adds the prefixes a JSON-LD `@context` declares inline. Context URLs are not fetched: the
    /// only one events use is the EPCIS context, whose prefixes are built in.
    pub(super) fn add_context(&mut self, context: &Value) -> Result<(), EventHashError> {
        match context {
            Value::Null | Value::String(_) => Ok(()),
            Value::Object(map) => {
                self.add_definitions(map);
                Ok(())
            }
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Null | Value::String(_) => {}
                        Value::Object(map) => self.add_definitions(map),
                        _ => {
                            return Err(bad_context(
                                "an array entry is neither a URL nor an object",
                            ));
                        }
                    }
                }
                Ok(())
            }
            _ => Err(bad_context("must be a URL, an object or an array of them")),
        }
    }

    fn add_definitions(&mut self, map: &Map<String, Value>) {
        for (term, definition) in map {
            let standard = STANDARD_PREFIXES.iter().any(|(p, _)| *p == term.as_str());
            if term.starts_with('@') || standard {
                continue;
            }
            let iri = match definition {
                Value::String(iri) => iri,
                Value::Object(d) => match d.get("@id") {
                    Some(Value::String(iri)) => iri,
                    _ => continue,
                },
                Value::Null => {
                    self.0.remove(term);
                    continue;
                }
                _ => continue,
            };
            if !iri.starts_with('@') {
                let iri = self.expand_value(iri).into_owned();
                self.0.insert(term.clone(), iri);
            }
        }
    }

    /// A user-extension key as `{namespace}name`: a CURIE with a declared prefix, a full IRI
    /// (split after its last `/` or `#`), or a URN (split after its last `:`).
    pub(super) fn expand_key(&self, key: &str) -> Result<String, KeyError> {
        let Some((prefix, local)) = key.split_once(':') else {
            return Err(KeyError::Unprefixed);
        };
        let (namespace, name) = if let Some(iri) = self.0.get(prefix) {
            (iri.as_str(), local)
        } else if local.starts_with("//") {
            key.split_at(key.rfind(['/', '#']).map_or(key.len(), |i| i + 1))
        } else if prefix == "urn" {
            key.split_at(key.rfind(':').map_or(key.len(), |i| i + 1))
        } else {
            return Err(KeyError::Undeclared(prefix.to_owned()));
        };
        Ok(format!("{{{namespace}}}{name}"))
    }

    /// A CURIE value with a declared prefix, expanded; anything else unchanged.
    fn expand_value<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match text.split_once(':') {
            Some((prefix, local)) if !local.starts_with("//") => match self.0.get(prefix) {
                Some(iri) => Cow::Owned(format!("{iri}{local}")),
                None => Cow::Borrowed(text),
            },
            _ => Cow::Borrowed(text),
        }
    }

    /// The pre-hash form of one text value; `vocab` names the CBV vocabulary of the field.
    pub(super) fn canonical(&self, raw: &str, vocab: Option<Vocab>) -> String {
        let text = raw.trim();
        if let Some(iri) = vocab.and_then(|v| v.expand(text)) {
            return iri;
        }
        let text = self.expand_value(text);
        let text = cbv_web_uri(&text);
        if let Some(number) = number(&text) {
            return number;
        }
        digital_link(&text).unwrap_or_else(|| text.into_owned())
    }
}

fn bad_context(reason: &str) -> EventHashError {
    EventHashError::BadContext {
        reason: reason.to_owned(),
    }
}

/// CBV vocabularies whose values JSON-LD events write as bare words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Vocab {
    BizStep,
    Disposition,
    BizTransactionType,
    SourceDestinationType,
    MeasurementType,
    SensorAlert,
    Component,
}

const BIZ_STEPS: &str = "accepting arriving assembling collecting commissioning consigning \
    creating_class_instance cycle_counting decommissioning departing destroying disassembling \
    dispensing encoding entering_exiting holding inspecting installing killing loading other \
    packing picking receiving removing repackaging repairing replacing reserving retail_selling \
    sampling sensor_reporting shipping staging_outbound stock_taking stocking storing \
    transporting unloading unpacking void_shipping";

const DISPOSITIONS: &str = "active available completeness_verified completeness_inferred \
    conformant container_closed container_open damaged destroyed dispensed disposed encoded \
    expired in_progress in_transit inactive mismatch_instance mismatch_class mismatch_quantity \
    needs_replacement no_pedigree_match non_conformant non_sellable_other partially_dispensed \
    recalled reserved retail_sold returned sellable_accessible sellable_not_accessible stolen \
    unavailable unknown";

const BIZ_TRANSACTION_TYPES: &str =
    "bol cert desadv inv pedigree po poc prodorder recadv rma testprd testres upevt";

const MEASUREMENT_TYPES: &str = "AbsoluteHumidity AbsorbedDose AbsorbedDoseRate Acceleration \
    Radioactivity Altitude AmountOfSubstance AmountOfSubstancePerUnitVolume Angle \
    AngularAcceleration AngularMomentum AngularVelocity Area Capacitance Conductance Conductivity \
    Count Density Dimensionless DoseEquivalent DoseEquivalentRate DynamicViscosity ElectricCharge \
    ElectricCurrent ElectricCurrentDensity ElectricFieldStrength Energy Exposure Force Frequency \
    Illuminance Inductance Irradiance KinematicViscosity Length LinearMomentum Luminance \
    LuminousFlux LuminousIntensity MagneticFlux MagneticFluxDensity MagneticVectorPotential Mass \
    MassConcentration MassFlowRate MassPerAreaTime MemoryCapacity MolalityOfSolute MolarEnergy \
    MolarMass MolarVolume Power Pressure RadiantFlux RadiantIntensity RelativeHumidity Resistance \
    Resistivity SolidAngle SpecificVolume Speed SurfaceDensity SurfaceTension Temperature Time \
    Torque Voltage Volume VolumeFlowRate VolumeFraction VolumetricFlux Wavenumber";

const COMPONENTS: &str = "x y z axial_distance azimuth height spherical_radius polar_angle \
    elevation_angle easting northing latitude longitude altitude";

impl Vocab {
    /// The web URI of a bare word of this vocabulary (as the EPCIS 2.0 context defines them).
    fn expand(self, word: &str) -> Option<String> {
        let (base, words) = match self {
            Vocab::BizStep => ("BizStep-", BIZ_STEPS),
            Vocab::Disposition => ("Disp-", DISPOSITIONS),
            Vocab::BizTransactionType => ("BTT-", BIZ_TRANSACTION_TYPES),
            Vocab::SourceDestinationType => ("SDT-", "owning_party possessing_party location"),
            Vocab::MeasurementType => ("", MEASUREMENT_TYPES),
            Vocab::SensorAlert => ("", "ALARM_CONDITION ERROR_CONDITION"),
            Vocab::Component => ("Comp-", COMPONENTS),
        };
        let namespace = match self {
            Vocab::MeasurementType | Vocab::SensorAlert => GS1_VOC,
            _ => CBV,
        };
        let known = !word.is_empty() && words.split(' ').any(|w| w == word);
        known.then(|| format!("{namespace}{base}{word}"))
    }
}

/// CBV 1.x URNs (`urn:epcglobal:cbv:bizstep:shipping`) as CBV 2.0 web URIs.
fn cbv_web_uri(text: &str) -> Cow<'_, str> {
    const URNS: [(&str, &str); 5] = [
        ("urn:epcglobal:cbv:bizstep:", "BizStep-"),
        ("urn:epcglobal:cbv:disp:", "Disp-"),
        ("urn:epcglobal:cbv:btt:", "BTT-"),
        ("urn:epcglobal:cbv:sdt:", "SDT-"),
        ("urn:epcglobal:cbv:er:", "ER-"),
    ];
    for (urn, term) in URNS {
        if let Some(word) = text.strip_prefix(urn) {
            return Cow::Owned(format!("{CBV}{term}{word}"));
        }
    }
    Cow::Borrowed(text)
}

/// An `xsd:dateTimeStamp` in UTC with milliseconds: `2019-10-21T10:00:30.000Z`.
pub(super) fn timestamp(text: &str) -> Option<String> {
    let t = DateTime::parse_from_rfc3339(text).ok()?.with_timezone(&Utc);
    let below_ms = i64::from(t.timestamp_subsec_nanos() % 1_000_000);
    let mut t = t.checked_sub_signed(TimeDelta::nanoseconds(below_ms))?;
    if below_ms >= 500_000 {
        t = t.checked_add_signed(TimeDelta::milliseconds(1))?;
    }
    Some(t.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A decimal number as the reference implementation writes it (Python `str(float)`, integral
/// values as integers); `None` if `text` is not a finite decimal number.
pub(super) fn number(text: &str) -> Option<String> {
    if !is_decimal(text) {
        return None;
    }
    let x: f64 = text.parse().ok()?;
    if !x.is_finite() {
        return None;
    }
    if x.fract() == 0.0 {
        // `{:.0}` writes the exact integer value, as Python's int() does; `-0` is `0`.
        return Some(if x == 0.0 {
            "0".to_owned()
        } else {
            format!("{x:.0}")
        });
    }
    if x.abs() >= 1e-4 {
        return Some(x.to_string());
    }
    // Python switches to an exponent below 1e-4, with a sign and at least two digits.
    let shortest = format!("{x:e}");
    let (mantissa, exponent) = shortest.split_once('e')?;
    let exponent: i32 = exponent.parse().ok()?;
    let sign = if exponent < 0 { '-' } else { '+' };
    Some(format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs()))
}

fn is_decimal(text: &str) -> bool {
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e.strip_prefix(['+', '-']).unwrap_or(e))),
        None => (unsigned, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    digits(int)
        && digits(frac)
        && !(int.is_empty() && frac.is_empty())
        && exponent.is_none_or(|e| !e.is_empty() && digits(e))
}
