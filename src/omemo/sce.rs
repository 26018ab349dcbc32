//! Stanza Content Encryption (XEP-0420).
