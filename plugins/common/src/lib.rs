//! Helpers shared by the default entrex plugins (and by the host's data
//! generator, which must produce the same codes and MRZs the plugins check).
//!
//! No dependencies on WIT bindings: everything here is plain Rust.

pub mod dates;
pub mod icao;
pub mod names;

/// Characters of a value a message quotes, at most.
pub const QUOTED_CHARS: usize = 40;

/// A value as a refusal quotes it: in double quotes, control characters
/// escaped, cut to [`QUOTED_CHARS`] with `…`. What a source or a file holds
/// may be of any length, and a refusal goes back to its sender, into a
/// response, a log and a terminal.
pub fn quoted(value: &str) -> String {
    format!("\"{}\"", shortened(value, QUOTED_CHARS))
}

/// `text` cut to `max` characters with `…`, control characters escaped: for
/// any text from outside that a message carries (a value, a decoder's
/// description of what it met).
pub fn shortened(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 4);
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod quoted_tests {
    #[test]
    fn quoted_values_are_short_and_printable() {
        assert_eq!(super::quoted("vehicle"), "\"vehicle\"");
        assert_eq!(super::quoted("a\rb"), "\"a\\rb\"");
        let long = super::quoted(&"x".repeat(1000));
        assert_eq!(long.chars().count(), super::QUOTED_CHARS + 3);
    }
}
