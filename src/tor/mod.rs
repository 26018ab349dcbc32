//! The only way Talpa reaches the network: an embedded Arti client with per-account isolation.
