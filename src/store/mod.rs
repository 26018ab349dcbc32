//! The encrypted SQLCipher profile store: unlock, migrations, messages, retention, wipe.
