//! Loading, attaching and evicting the flow programs.

use std::collections::HashMap as StdHashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use aya::maps::{HashMap, MapData};
use aya::programs::tc::{self, NlOptions, SchedClassifier, TcAttachOptions, TcAttachType, TcError};
use aya::programs::{LinkOrder, ProgramError};
use aya::{Ebpf, EbpfLoader};
use netobserv_flow::flow::{Interfaces, intern};
use netobserv_flow::{Flow, MacAddr, TcpFlags};
use rustix::time::{ClockId, clock_gettime};

use crate::error::{Error, Result};
use crate::types::{FlowKey, FlowValue};

/// The compiled `bpf/flows.c` (see `bpf/build.sh`).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/flows.bpf.o");

const INGRESS: &str = "tc_ingress";
const EGRESS: &str = "tc_egress";
const FLOWS: &str = "flows";

/// How a program was attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// A TCX link (kernel 6.6+); removed when the link is dropped.
    Tcx,
    /// A filter on a clsact qdisc (older kernels).
    Clsact,
}

/// The loaded flow programs and their map. Dropping it detaches every program (aya detaches the
/// links it owns when the programs drop).
pub struct FlowAgent {
    ebpf: Ebpf,
    flows: HashMap<MapData, FlowKey, FlowValue>,
    names: StdHashMap<u32, Arc<str>>,
    modes: Vec<(String, AttachMode)>,
}

/// Options for loading a [`FlowAgent`].
#[derive(Clone, Debug)]
pub struct FlowAgentBuilder {
    max_flows: u32,
}

impl Default for FlowAgentBuilder {
    fn default() -> Self {
        FlowAgentBuilder {
            max_flows: DEFAULT_MAX_FLOWS,
        }
    }
}

/// The flow map's size unless set, upstream's `CACHE_MAX_FLOWS` default.
pub const DEFAULT_MAX_FLOWS: u32 = 100_000;

impl FlowAgentBuilder {
    /// The flow map's capacity (upstream's `CACHE_MAX_FLOWS`); packets of new flows are not
    /// counted while the map is full (the ring-buffer fallback comes later).
    pub fn with_max_flows(mut self, max_flows: u32) -> Self {
        self.max_flows = max_flows;
        self
    }

    /// Loads the programs into the kernel (nothing is attached yet).
    pub fn load(self) -> Result<FlowAgent> {
        let ebpf = EbpfLoader::new()
            .map_max_entries(FLOWS, self.max_flows)
            .load(OBJECT)
            .map_err(Error::Load)?;
        FlowAgent::from_ebpf(ebpf)
    }
}

impl FlowAgent {
    /// Loads the programs with default options (nothing is attached yet).
    pub fn load() -> Result<Self> {
        FlowAgentBuilder::default().load()
    }

    /// Options for loading.
    pub fn builder() -> FlowAgentBuilder {
        FlowAgentBuilder::default()
    }

    fn from_ebpf(mut ebpf: Ebpf) -> Result<Self> {
        for name in [INGRESS, EGRESS] {
            classifier(&mut ebpf, name)?
                .load()
                .map_err(|source| Error::Program {
                    program: name,
                    source,
                })?;
        }
        let map = ebpf.take_map(FLOWS).ok_or(Error::Map {
            map: FLOWS,
            source: aya::maps::MapError::InvalidName { name: FLOWS.into() },
        })?;
        let flows = HashMap::try_from(map).map_err(|source| Error::Map { map: FLOWS, source })?;
        Ok(FlowAgent {
            ebpf,
            flows,
            names: StdHashMap::new(),
            modes: Vec::new(),
        })
    }

    /// Attaches the ingress and egress programs to `interface`, looked up in the calling thread's
    /// network namespace: TCX first, a clsact qdisc filter when TCX is refused.
    pub fn attach(&mut self, interface: &str) -> Result<AttachMode> {
        let index = if_index(interface)?;
        let mut mode = AttachMode::Tcx;
        for (name, at) in [
            (INGRESS, TcAttachType::Ingress),
            (EGRESS, TcAttachType::Egress),
        ] {
            let prog = classifier(&mut self.ebpf, name)?;
            let tcx = TcAttachOptions::TcxOrder(LinkOrder::default());
            if let Err(error) = prog.attach_with_options(interface, at, tcx) {
                tracing::debug!(%error, interface, program = name, "tcx attach failed, trying clsact");
                match tc::qdisc_add_clsact(interface) {
                    // An existing clsact qdisc is what we want.
                    Ok(()) | Err(TcError::AlreadyAttached) => {}
                    Err(TcError::NetlinkError(e)) if e.to_string().contains("Exclusivity") => {}
                    Err(e) => {
                        return Err(Error::Attach {
                            program: name,
                            interface: interface.into(),
                            source: ProgramError::TcError(e),
                        });
                    }
                }
                let nl = TcAttachOptions::Netlink(NlOptions::default());
                prog.attach_with_options(interface, at, nl)
                    .map_err(|source| Error::Attach {
                        program: name,
                        interface: interface.into(),
                        source,
                    })?;
                mode = AttachMode::Clsact;
            }
        }
        self.names.insert(index, intern(interface));
        self.modes.push((interface.into(), mode));
        Ok(mode)
    }

    /// The interfaces attached so far and how.
    pub fn attached(&self) -> &[(String, AttachMode)] {
        &self.modes
    }

    /// Reads and deletes every entry of the flow map, as flows. Packets that arrive between the
    /// read and the delete of an entry are lost (batch lookup-and-delete comes later).
    pub fn evict(&mut self) -> Result<Vec<Flow>> {
        let clock = Clock::now();
        let mut entries = Vec::new();
        for item in self.flows.iter() {
            match item {
                Ok(kv) => entries.push(kv),
                // The entry was deleted between the key walk and the lookup.
                Err(aya::maps::MapError::KeyNotFound) => {}
                Err(source) => return Err(Error::Map { map: FLOWS, source }),
            }
        }
        let mut out = Vec::with_capacity(entries.len());
        for (key, value) in &entries {
            match self.flows.remove(key) {
                Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
                Err(source) => return Err(Error::Map { map: FLOWS, source }),
            }
            out.push(self.to_flow(key, value, &clock));
        }
        Ok(out)
    }

    fn to_flow(&self, k: &FlowKey, v: &FlowValue, clock: &Clock) -> Flow {
        let mut f = Flow::default();
        f.set_bytes(v.bytes);
        f.set_packets(u64::from(v.packets));
        f.set_time_flow_start_ms(clock.wall_ms(v.start_ns));
        f.set_time_flow_end_ms(clock.wall_ms(v.end_ns));
        f.set_etype(k.eth_protocol);
        f.set_src_mac(MacAddr(v.src_mac));
        f.set_dst_mac(MacAddr(v.dst_mac));
        f.set_flow_direction(k.direction);
        let name = match self.names.get(&k.if_index) {
            Some(n) => n.clone(),
            None => intern(&k.if_index.to_string()),
        };
        f.set_interface_list(Arc::new(Interfaces::new(
            vec![name],
            vec![k.direction],
            vec![intern("")],
        )));
        if k.eth_protocol == 0x0800 || k.eth_protocol == 0x86DD {
            f.set_src_addr(ip(k.src_ip));
            f.set_dst_addr(ip(k.dst_ip));
            f.set_proto(k.proto);
            f.set_dscp(v.dscp);
            match k.proto {
                1 | 58 => {
                    f.set_icmp_type(k.icmp_type);
                    f.set_icmp_code(k.icmp_code);
                }
                6 | 17 | 132 => {
                    f.set_src_port(k.src_port);
                    f.set_dst_port(k.dst_port);
                    if k.proto == 6 {
                        f.set_flags(TcpFlags::raw(v.flags));
                    }
                }
                _ => {}
            }
        }
        f
    }
}

fn classifier<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut SchedClassifier> {
    let prog = ebpf.program_mut(name).ok_or(Error::Program {
        program: name,
        source: ProgramError::UnexpectedProgramType,
    })?;
    prog.try_into().map_err(|source| Error::Program {
        program: name,
        source,
    })
}

fn if_index(interface: &str) -> Result<u32> {
    let err = |e: rustix::io::Errno| Error::Interface {
        interface: interface.into(),
        source: e.into(),
    };
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(err)?;
    rustix::net::netdevice::name_to_index(&sock, interface).map_err(err)
}

/// An address as the kernel stores it: IPv4-mapped IPv6 back to IPv4.
fn ip(b: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The offset between the kernel's monotonic clock and wall-clock time, read once per eviction.
struct Clock {
    mono_ns: i128,
    real_ns: i128,
}

impl Clock {
    fn now() -> Self {
        let ns = |t: rustix::time::Timespec| {
            i128::from(t.tv_sec) * 1_000_000_000 + i128::from(t.tv_nsec)
        };
        Clock {
            mono_ns: ns(clock_gettime(ClockId::Monotonic)),
            real_ns: ns(clock_gettime(ClockId::Realtime)),
        }
    }

    fn wall_ms(&self, mono: u64) -> i64 {
        let real = self.real_ns - (self.mono_ns - i128::from(mono));
        i64::try_from(real / 1_000_000).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_come_back_as_ipv4() {
        let mut b = [0u8; 16];
        b[10] = 0xff;
        b[11] = 0xff;
        b[12..].copy_from_slice(&[10, 1, 2, 3]);
        assert_eq!(
            ip(b),
            "10.1.2.3".parse::<IpAddr>().unwrap_or(IpAddr::V4(0.into()))
        );
        let v6: Ipv6Addr = "fd00::1".parse().unwrap_or(Ipv6Addr::UNSPECIFIED);
        assert_eq!(ip(v6.octets()), IpAddr::V6(v6));
    }

    #[test]
    fn monotonic_time_maps_to_wall_clock() {
        let c = Clock {
            mono_ns: 5_000_000_000,
            real_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(c.wall_ms(4_000_000_000), 1_699_999_999_000);
    }
}
