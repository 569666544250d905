//! The browser's address: the connection's peer, or, behind a reverse proxy on this host
//! (`forwarded_for`, allowed only with a loopback `listen`), the last hop of
//! `X-Forwarded-For`, the one address the proxy itself added.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

/// The address requests are counted and audited under, from `extensions` (the connection's
/// peer) and `headers`. A request without a peer (only in tests that forget it) counts as
/// the unspecified address.
pub(crate) fn client_addr(
    forwarded_for: bool,
    extensions: &Extensions,
    headers: &HeaderMap,
) -> IpAddr {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map_or(
        IpAddr::from([0, 0, 0, 0]),
        |ConnectInfo(addr)| {
            // On a dual-stack socket an IPv4 client shows as ::ffff:a.b.c.d.
            addr.ip().to_canonical()
        },
    );
    if forwarded_for && peer.is_loopback() {
        last_forwarded_hop(headers).unwrap_or(peer)
    } else {
        peer
    }
}

/// The last address of the last `X-Forwarded-For` header. Earlier entries are whatever the
/// client wrote; only the proxy's own is worth anything.
fn last_forwarded_hop(headers: &HeaderMap) -> Option<IpAddr> {
    let last = headers.get_all("x-forwarded-for").iter().next_back()?;
    let hop = last.to_str().ok()?.rsplit(',').next()?.trim();
    hop.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: &[&str]) -> (Extensions, HeaderMap) {
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        (extensions, headers)
    }

    #[test]
    fn only_the_proxys_own_hop_counts() {
        let (e, h) = request("127.0.0.1:5000", &["203.0.113.9, 198.51.100.7"]);
        assert_eq!(
            client_addr(true, &e, &h),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let (e, h) = request("127.0.0.1:5000", &["1.1.1.1", "198.51.100.8"]);
        assert_eq!(
            client_addr(true, &e, &h),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
        // Off, or from a peer that is not the local proxy, the header is ignored.
        assert_eq!(
            client_addr(false, &e, &h),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
        let (e, h) = request("192.0.2.1:5000", &["198.51.100.8"]);
        assert_eq!(
            client_addr(true, &e, &h),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        // An IPv4 client of a dual-stack socket is named as IPv4.
        let (e, h) = request("[::ffff:192.0.2.1]:5000", &[]);
        assert_eq!(
            client_addr(false, &e, &h),
            "192.0.2.1".parse::<IpAddr>().unwrap()
        );
        // A header that is not an address leaves the proxy's.
        let (e, h) = request("127.0.0.1:5000", &["nonsense"]);
        assert_eq!(
            client_addr(true, &e, &h),
            "127.0.0.1".parse::<IpAddr>().unwrap()
        );
    }
}
