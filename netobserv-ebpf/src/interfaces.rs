//! Which interfaces the agent attaches to (in its own network namespace and, when asked, in the
//! named namespaces of `ip netns`), and watching them come and go.
//!
//! Selection follows upstream's `INTERFACES` / `EXCLUDE_INTERFACES`: each entry is trimmed; an
//! entry written `/.../` is an unanchored regular expression, anything else an exact name; an
//! empty allow list allows every interface; an exclusion wins over an inclusion.
// Listing interfaces uses libc's if_nameindex (netlink in the calling thread's namespace).
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};

use regex::Regex;

/// Upstream's default `EXCLUDE_INTERFACES`.
pub const DEFAULT_EXCLUDE: &[&str] = &["lo"];

#[derive(Debug, Clone)]
enum Pattern {
    Exact(String),
    Regex(Regex),
}

impl Pattern {
    fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::Exact(s) => s == name,
            Pattern::Regex(r) => r.is_match(name),
        }
    }
}

/// An allow list and a deny list of interface names.
#[derive(Debug, Clone, Default)]
pub struct InterfaceFilter {
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
}

/// An entry of an interface list that is not a valid regular expression.
#[derive(Debug, thiserror::Error)]
#[error("{list}: wrong interface regexp {entry:?}: {source}")]
pub struct PatternError {
    /// `INTERFACES` or `EXCLUDE_INTERFACES`.
    pub list: &'static str,
    /// The entry.
    pub entry: String,
    /// Why it does not compile.
    #[source]
    pub source: regex::Error,
}

fn patterns(list: &'static str, entries: &[String]) -> Result<Vec<Pattern>, PatternError> {
    let mut out = Vec::new();
    for e in entries {
        let e = e.trim();
        if e.is_empty() {
            continue;
        }
        match e.strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            Some(re) if e.len() >= 2 => {
                out.push(Pattern::Regex(Regex::new(re).map_err(|source| {
                    PatternError {
                        list,
                        entry: e.to_string(),
                        source,
                    }
                })?))
            }
            _ => out.push(Pattern::Exact(e.to_string())),
        }
    }
    Ok(out)
}

impl InterfaceFilter {
    /// From `INTERFACES` and `EXCLUDE_INTERFACES` entries.
    pub fn new(allow: &[String], deny: &[String]) -> Result<Self, PatternError> {
        Ok(InterfaceFilter {
            allow: patterns("INTERFACES", allow)?,
            deny: patterns("EXCLUDE_INTERFACES", deny)?,
        })
    }

    /// Whether the agent attaches to `name`.
    pub fn allows(&self, name: &str) -> bool {
        (self.allow.is_empty() || self.allow.iter().any(|p| p.matches(name)))
            && !self.deny.iter().any(|p| p.matches(name))
    }
}

/// The interfaces of the calling thread's network namespace: (index, name).
pub fn list() -> std::io::Result<Vec<(u32, String)>> {
    // SAFETY: if_nameindex returns a heap array terminated by an entry with index 0 and a null
    // name, or null on failure; each name is a NUL-terminated string owned by the array, read
    // before the array is freed with if_freenameindex, exactly once.
    unsafe {
        let head = libc::if_nameindex();
        if head.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut at = head;
        while (*at).if_index != 0 && !(*at).if_name.is_null() {
            let name = CStr::from_ptr((*at).if_name).to_string_lossy().into_owned();
            out.push(((*at).if_index, name));
            at = at.add(1);
        }
        libc::if_freenameindex(head);
        Ok(out)
    }
}

/// The hardware address of `interface` in the calling thread's namespace.
pub fn mac(interface: &str) -> std::io::Result<[u8; 6]> {
    let name = interface.as_bytes();
    if name.len() >= libc::IFNAMSIZ {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    }
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: `ifreq` is plain data (zeroed is valid); the name is copied within IFNAMSIZ - 1
    // bytes so it stays NUL-terminated; SIOCGIFHWADDR reads the name and writes the address
    // into the same struct, which outlives the call; the socket is a valid descriptor.
    unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (dst, src) in req.ifr_name.iter_mut().zip(name) {
            *dst = *src as libc::c_char;
        }
        if libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&sock),
            libc::SIOCGIFHWADDR,
            &mut req,
        ) < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        let data = req.ifr_ifru.ifru_hwaddr.sa_data;
        let mut mac = [0u8; 6];
        for (dst, src) in mac.iter_mut().zip(data.iter()) {
            *dst = *src as u8;
        }
        Ok(mac)
    }
}

/// The directory where `ip netns` keeps named network namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The named network namespaces (`ip netns list`), sorted; none when the directory is absent.
pub fn namespaces() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `f` in network namespace `name` (under [`NETNS_DIR`]) on a short-lived thread, so the
/// calling thread never leaves its own namespace (not even when `f` panics or the way back
/// fails). A panic in `f` is an error here.
pub fn in_netns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> std::io::Result<T> {
    use rustix::fs::{Mode, OFlags, open};
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    let target = open(
        format!("{NETNS_DIR}/{name}"),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                move_into_link_name_space(target.as_fd(), Some(LinkNameSpaceType::Network))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| {
                Err(std::io::Error::other(format!(
                    "a task in network namespace {name} panicked"
                )))
            })
    })
}

/// A netlink socket subscribed to link changes (`RTMGRP_LINK`) in the namespace it was opened
/// in: readable when an interface appears, vanishes or changes.
pub struct LinkEvents {
    fd: OwnedFd,
}

impl LinkEvents {
    /// Subscribes (non-blocking).
    pub fn open() -> std::io::Result<Self> {
        use rustix::net::{AddressFamily, SocketFlags, SocketType, netlink};
        let fd = rustix::net::socket_with(
            AddressFamily::NETLINK,
            SocketType::RAW,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None, // NETLINK_ROUTE is protocol 0
        )?;
        // RTMGRP_LINK = 1
        rustix::net::bind(&fd, &netlink::SocketAddrNetlink::new(0, 1))?;
        Ok(LinkEvents { fd })
    }

    /// Waits up to `timeout` for an event; true when one (or more) came, all read.
    pub fn wait(&self, timeout: std::time::Duration) -> bool {
        use rustix::event::{PollFd, PollFlags, poll};
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let ts = rustix::time::Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let ready = matches!(poll(&mut fds, Some(&ts)), Ok(n) if n > 0);
        if ready {
            let mut buf = [0u8; 8192];
            while rustix::net::recv(self.fd.as_fd(), &mut buf, rustix::net::RecvFlags::DONTWAIT)
                .is_ok_and(|(n, _)| n > 0)
            {}
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(allow: &[&str], deny: &[&str]) -> InterfaceFilter {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        InterfaceFilter::new(&s(allow), &s(deny)).unwrap_or_default()
    }

    #[test]
    fn exact_names_regexes_and_exclusion_first() {
        let lo = f(&[], DEFAULT_EXCLUDE);
        assert!(lo.allows("eth0") && !lo.allows("lo"));
        let some = f(&["eth0", " /^veth/ "], &["/1$/"]);
        assert!(some.allows("eth0"));
        assert!(some.allows("veth2a"));
        assert!(!some.allows("veth1"), "exclusion wins");
        assert!(
            !some.allows("eth01") || !some.allows("eth0x"),
            "exact match only"
        );
        assert!(!some.allows("eth"));
        let unanchored = f(&["/eth/"], &[]);
        assert!(unanchored.allows("myeth0"));
    }

    #[test]
    fn a_bad_regex_names_its_list_and_entry() {
        let err = InterfaceFilter::new(&[], &["/a(/".to_string()]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("EXCLUDE_INTERFACES: wrong interface regexp \"/a(/\""),
            "{err}"
        );
    }

    #[test]
    fn loopback_has_a_zero_mac_and_unknown_interfaces_fail() {
        assert_eq!(mac("lo").ok(), Some([0; 6]));
        assert!(mac("nosuchdev0").is_err());
    }

    #[test]
    fn this_namespace_has_a_loopback() {
        let names = list().unwrap_or_default();
        assert!(names.iter().any(|(i, n)| n == "lo" && *i > 0), "{names:?}");
    }
}
