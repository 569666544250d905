//! The RADIUS wire format: packets, attributes and their authenticators. Pure: no I/O, no
//! clock, so it is tested against the RFCs' bytes and fuzzed.
