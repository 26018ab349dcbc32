//! Encoding and decoding of headless protocol lines, free of I/O so it can be tested directly.

use serde_json::{Map, Value, json};

use crate::core::error::ErrorBody;
use crate::core::{Command, CoreError, Event, Reply};

/// The longest request line accepted, in bytes.
pub const MAX_LINE: usize = 1 << 20;

/// What an overlong line is replaced with before decoding (it is not valid JSON, on purpose).
pub const OVERLONG_MARKER: &str = "\u{0}overlong";

/// A decoded request line.
#[derive(Debug)]
pub struct Request {
    /// The caller's id, echoed in the reply (`null` when absent).
    pub id: Value,
    /// The command.
    pub command: Command,
}

/// Decodes one request line, or returns the error reply line to print instead.
pub fn decode_request(line: &str) -> Result<Request, String> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line == OVERLONG_MARKER {
        return Err(error_line(&Value::Null, "invalid_input", "line too long"));
    }
    let value: Value = serde_json::from_str(line)
        .map_err(|e| error_line(&Value::Null, "invalid_input", &format!("not JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(error_line(
            &Value::Null,
            "invalid_input",
            "a request must be a JSON object",
        ));
    };
    let id = map.get("id").cloned().unwrap_or(Value::Null);
    if !matches!(id, Value::Null | Value::String(_) | Value::Number(_)) {
        return Err(error_line(
            &Value::Null,
            "invalid_input",
            "id must be a string or number",
        ));
    }
    let mut fields = map;
    fields.remove("id");
    if !fields.contains_key("cmd") {
        return Err(error_line(&id, "invalid_input", "missing \"cmd\""));
    }
    match serde_json::from_value::<Command>(Value::Object(fields)) {
        Ok(command) => Ok(Request { id, command }),
        Err(e) => Err(error_line(&id, "invalid_input", &e.to_string())),
    }
}

/// Encodes the reply to a command.
pub fn encode_reply(id: &Value, result: &Result<Reply, CoreError>) -> String {
    match result {
        Ok(reply) => {
            let mut out = Map::new();
            out.insert("id".into(), id.clone());
            out.insert("ok".into(), Value::Bool(true));
            if let Ok(Value::Object(fields)) = serde_json::to_value(reply) {
                out.extend(fields);
            }
            Value::Object(out).to_string()
        }
        Err(e) => {
            let body = ErrorBody::from(e);
            error_line(id, &body.kind, &body.message)
        }
    }
}

/// Encodes an event line.
pub fn encode_event(event: &Event) -> String {
    serde_json::to_string(event).unwrap_or_else(|e| {
        json!({"event": "error", "kind": "internal", "message": e.to_string()}).to_string()
    })
}

/// The event line telling a slow reader that it missed `n` events.
pub fn encode_lagged(n: u64) -> String {
    json!({"event": "error", "kind": "lagged", "message": format!("{n} events were dropped")})
        .to_string()
}

fn error_line(id: &Value, kind: &str, message: &str) -> String {
    json!({"id": id, "ok": false, "error": {"kind": kind, "message": message}}).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).expect("valid JSON output")
    }

    #[test]
    fn malformed_json_gets_an_invalid_input_reply() {
        let out = parse(&decode_request("{nope").expect_err("must fail"));
        assert_eq!(out["ok"], false);
        assert_eq!(out["error"]["kind"], "invalid_input");
    }

    #[test]
    fn unknown_command_keeps_the_callers_id() {
        let out = parse(&decode_request(r#"{"id":"a1","cmd":"fly"}"#).expect_err("must fail"));
        assert_eq!(out["id"], "a1");
        assert_eq!(out["error"]["kind"], "invalid_input");
    }

    #[test]
    fn missing_field_is_reported_not_defaulted() {
        let out = parse(&decode_request(r#"{"id":7,"cmd":"unlock"}"#).expect_err("must fail"));
        assert_eq!(out["id"], 7);
        assert!(
            out["error"]["message"]
                .as_str()
                .unwrap_or("")
                .contains("passphrase")
        );
    }

    #[test]
    fn a_well_formed_unlock_decodes_and_hides_the_passphrase_in_debug() {
        let req =
            decode_request(r#"{"id":"x","cmd":"unlock","passphrase":"hunter2"}"#).expect("decodes");
        assert!(matches!(req.command, Command::Unlock { .. }));
        assert!(!format!("{:?}", req.command).contains("hunter2"));
    }

    #[test]
    fn non_object_and_overlong_lines_are_refused() {
        assert!(decode_request("[1,2]").is_err());
        assert!(decode_request(OVERLONG_MARKER).is_err());
    }

    #[test]
    fn error_reply_carries_kind_and_message() {
        let out = parse(&encode_reply(&json!("q"), &Err(CoreError::WrongPassphrase)));
        assert_eq!(out["ok"], false);
        assert_eq!(out["error"]["kind"], "wrong_passphrase");
    }

    #[test]
    fn events_are_tagged_with_their_snake_case_name() {
        let out = parse(&encode_event(&Event::Locked));
        assert_eq!(out["event"], "locked");
    }
}
