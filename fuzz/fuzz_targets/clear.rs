//! What every fuzz target asserts of an error: it names a problem in words,
//! and it is short, so a hostile input cannot make the hub echo it back at
//! length (an error goes into a response, a log line and the audit).

/// Longest error a target accepts. The longest legitimate ones name a field,
/// a line and the expected form; none comes near this.
const MAX_ERROR: usize = 2048;

pub fn assert_clear(what: &str, message: &str) {
    assert!(
        message.trim().len() >= 10,
        "{what}: an error with no explanation: {message:?}"
    );
    assert!(
        message.len() <= MAX_ERROR,
        "{what}: an error of {} bytes (at most {MAX_ERROR}): {:?}…",
        message.len(),
        &message[..message.floor_char_boundary(200)]
    );
}
