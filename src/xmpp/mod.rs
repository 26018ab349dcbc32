//! XMPP sessions over Tor streams: connector, login, and one module per XEP area.
