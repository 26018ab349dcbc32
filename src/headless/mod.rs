//! The JSON-lines control protocol: a second front end over the core handle.
