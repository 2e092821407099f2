//! Service names by port and protocol, read from tables in the `/etc/services` and
//! `/etc/protocols` formats, with upstream's lookup rules (flowlogs-pipeline
//! `pkg/pipeline/transform/netdb`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

type Hasher = foldhash::fast::FixedState;

/// The embedded `/etc/services`-format table.
pub const EMBEDDED_SERVICES: &str = include_str!("services.txt");
/// The embedded `/etc/protocols`-format table.
pub const EMBEDDED_PROTOCOLS: &str = include_str!("protocols.txt");

/// Service names by port and protocol.
///
/// As upstream: a later line of the services table replaces an earlier one with the same key;
/// a lookup with a protocol the protocols table does not know answers the service of the port
/// under any protocol; a lookup with a known protocol answers only that protocol's service.
#[derive(Debug, Default)]
pub struct ServiceNames {
    proto_numbers: HashSet<i64, Hasher>,
    proto_names: HashMap<Box<str>, i64, Hasher>,
    by_port: HashMap<i64, Arc<str>, Hasher>,
    by_number: HashMap<(i64, i64), Arc<str>, Hasher>,
    by_name: HashMap<Box<str>, HashMap<i64, Arc<str>, Hasher>, Hasher>,
}

/// Splits a table line into its fields, comments removed.
fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split('#').next().unwrap_or("").split_whitespace()
}

impl ServiceNames {
    /// The embedded tables.
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED_PROTOCOLS, EMBEDDED_SERVICES)
    }

    /// Reads a protocols table and a services table. Lines that do not parse are skipped, as
    /// upstream does.
    pub fn parse(protocols: &str, services: &str) -> Self {
        let mut db = ServiceNames::default();
        let mut aliases: HashMap<&str, Vec<&str>> = HashMap::new();
        for line in protocols.lines() {
            let f: Vec<&str> = fields(line).collect();
            let [name, number, rest @ ..] = f.as_slice() else {
                continue;
            };
            let Ok(number) = number.parse::<i32>() else {
                continue;
            };
            let number = i64::from(number);
            db.proto_numbers.insert(number);
            db.proto_names.insert((*name).into(), number);
            for a in rest {
                db.proto_names.insert((*a).into(), number);
            }
            aliases.insert(name, rest.to_vec());
        }
        for line in services.lines() {
            let mut f = fields(line);
            let (Some(name), Some(port_proto)) = (f.next(), f.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            let Ok(port) = port.parse::<i32>() else {
                continue;
            };
            let port = i64::from(port);
            let name: Arc<str> = Arc::from(name);
            db.by_port.insert(port, name.clone());
            if let Some(n) = db.proto_names.get(proto) {
                db.by_number.insert((port, *n), name.clone());
            }
            let names = std::iter::once(proto).chain(
                aliases
                    .get(proto)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .copied(),
            );
            for p in names {
                db.by_name
                    .entry(p.into())
                    .or_default()
                    .insert(port, name.clone());
            }
        }
        db
    }

    /// The service of `port` for protocol number `proto`; `None` where upstream answers "".
    pub fn by_number(&self, port: i64, proto: i64) -> Option<&Arc<str>> {
        if self.proto_numbers.contains(&proto) {
            self.by_number.get(&(port, proto))
        } else {
            self.by_port.get(&port)
        }
    }

    /// The service of `port` for protocol name or alias `proto`; `None` where upstream
    /// answers "".
    pub fn by_name(&self, port: i64, proto: &str) -> Option<&Arc<str>> {
        if self.proto_names.contains_key(proto) {
            self.by_name.get(proto).and_then(|m| m.get(&port))
        } else {
            self.by_port.get(&port)
        }
    }

    /// How many (port, protocol name) entries the table has.
    pub fn len(&self) -> usize {
        self.by_name.values().map(HashMap::len).sum()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROTOS: &str = "# comment\nip 0 IP\ntcp 6 TCP\nudp 17 UDP # user datagram\nbad x\n";
    const SERVICES: &str = "ssh 22/tcp\nssh 22/udp\nhttp 80/tcp www # web\nmyproto 4000/sctp\nbroken 12\nweird x/tcp\n";

    #[test]
    fn lookups_follow_upstreams_rules() {
        let db = ServiceNames::parse(PROTOS, SERVICES);
        assert_eq!(db.by_number(22, 6).map(|s| &**s), Some("ssh"));
        assert_eq!(db.by_name(80, "tcp").map(|s| &**s), Some("http"));
        // Aliases of the protocol name count.
        assert_eq!(db.by_name(80, "TCP").map(|s| &**s), Some("http"));
        // A known protocol without that service: nothing, even if another protocol has it.
        assert_eq!(db.by_name(80, "udp"), None);
        assert_eq!(db.by_number(80, 17), None);
        // An unknown protocol: the service of the port under any protocol.
        assert_eq!(db.by_name(80, "quic").map(|s| &**s), Some("http"));
        assert_eq!(db.by_number(4000, 132).map(|s| &**s), Some("myproto"));
        assert_eq!(db.by_number(9999, 6), None);
    }

    #[test]
    fn the_embedded_tables_know_the_usual_ports() {
        let db = ServiceNames::embedded();
        assert!(db.len() > 90, "{}", db.len());
        for (port, proto, name) in [
            (22, 6, "ssh"),
            (53, 17, "domain"),
            (443, 6, "https"),
            (5432, 6, "postgresql"),
            (6443, 6, ""),
        ] {
            assert_eq!(
                db.by_number(port, proto).map(|s| &**s).unwrap_or(""),
                name,
                "{port}/{proto}"
            );
        }
        assert_eq!(db.by_name(123, "udp").map(|s| &**s), Some("ntp"));
        assert_eq!(db.by_name(123, "UDP").map(|s| &**s), Some("ntp"));
    }
}
