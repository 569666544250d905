//! `mfa-radius`: a RADIUS server (RFC 2865, 2869, 3579, 5080) for VPNs, firewalls and Wi-Fi
//! controllers. It parses untrusted UDP, so it runs as its own user, holds no user secret,
//! and relays each login to the daemon's verification service over `radius.sock`.

pub mod packet;
