//! The keys of an MQTT `[[upstream]]` (`url = "mqtts://host:port"`, `topic`).

use super::reader::{Problems, Table};
use super::upstream_target::MqttTarget;

pub(super) fn read(
    t: &Table<'_>,
    url: &str,
    _name: Option<&str>,
    p: &mut Problems,
) -> Option<MqttTarget> {
    p.add(
        t.path_of("url"),
        format!("'{url}': MQTT upstreams are not supported yet"),
    );
    None
}
