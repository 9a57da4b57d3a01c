//! The lab of the HA tests that cut the network between controllers (tests/tests/controller_ha:
//! `partition` and `history`, docs/ha.md#tests): a group of three controllers, each in a
//! network namespace of its own on one private bridge, where a test black-holes the link
//! between two of them and mends it, while agents, clients and targets stay in the root
//! namespace. It needs root (CAP_NET_ADMIN) and iproute2: without them [`HaLab::start`] skips
//! the test with a message, except under `CI`, where it fails ([`crate::netns::lab`]).

use std::path::PathBuf;

use crate::ha::Group;
use crate::netns::{lab, leftovers, Bridged, Lab};
use crate::temp_dir;

/// Every namespace, veth and bridge of the lab starts with this (a crashed run's leftovers are
/// swept at the next start).
pub const NET_PREFIX: &str = "vlyh";

/// Serializes the tests that build the lab, across test processes.
const NET_LOCK: &str = "/tmp/volley-e2e-controller-ha.lock";

/// Three controllers in network namespaces on one bridge. The fields drop in their order: the
/// group before its network, the network before the lock.
pub struct HaLab {
    pub group: Group,
    pub links: Links,
    /// The folder of the nodes' data dirs, kept after the test (a failing one names it); the
    /// test's scripts may go there too.
    pub dir: PathBuf,
    _lab: Lab,
}

impl HaLab {
    /// Takes the lab for `test` (which the skip message names): the lock, three namespaces on
    /// a bridge `subnet`.0/24 whose MAC addresses start with `mac_prefix` (each test its own),
    /// and the group started in them, one controller each, its data dirs in a fresh temp dir
    /// named after `dir_name`. `None`: the test is skipped.
    pub fn start(test: &str, dir_name: &str, subnet: &str, mac_prefix: &str) -> Option<HaLab> {
        let lab = lab(test, NET_LOCK, NET_PREFIX)?;
        let dir = temp_dir(dir_name);
        let names: Vec<String> = (1..=3).map(ns_name).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let net = Bridged::create(NET_PREFIX, subnet, mac_prefix, &names);
        let hosts: Vec<(String, String)> = names
            .iter()
            .map(|n| {
                let h = net.host(n);
                (h.ns.clone(), h.addr.clone())
            })
            .collect();
        let group = Group::in_namespaces(&dir, &hosts);
        Some(HaLab {
            group,
            links: Links(net),
            dir: dir.keep(),
            _lab: lab,
        })
    }

    /// Ends the lab: stops the group, removes the network and checks that nothing named
    /// [`NET_PREFIX`]… is left behind.
    pub fn finish(self) {
        let HaLab {
            group, links, _lab, ..
        } = self;
        group.clean_up();
        drop(links);
        let left = leftovers(NET_PREFIX);
        assert!(left.is_empty(), "the HA lab left {left:?} behind");
    }
}

/// The network between the controllers' namespaces (removed when dropped).
pub struct Links(Bridged);

impl Links {
    /// Black-holes the link between nodes `a` and `b`, both ways.
    pub fn cut(&self, a: u64, b: u64) {
        self.0.black_hole(&ns_name(a), &ns_name(b));
    }

    /// Mends what [`Links::cut`] cut.
    pub fn mend(&self, a: u64, b: u64) {
        self.0.mend(&ns_name(a), &ns_name(b));
    }
}

/// The name of node `id`'s namespace.
fn ns_name(id: u64) -> String {
    format!("c{id}")
}
