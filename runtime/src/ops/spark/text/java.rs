//! Java's string semantics as Spark's text stages run them, and the translation of
//! `java.util.regex` patterns (`RegexTokenizer`'s `pattern`) into the `regex` crate's syntax.
//!
//! - `String.split(regex)` ([`java_split`]): pieces between matches; when nothing matches the
//!   whole string (even empty) is the one piece; trailing empty pieces are removed.
//! - `String.length` counts UTF-16 code units ([`utf16_len`]), which `RegexTokenizer`'s
//!   `minTokenLength` compares against.
//! - `toLowerCase()` under a non-Turkic, non-Lithuanian locale is Unicode's default lowercase
//!   mapping (with the final-sigma rule), which Rust's `str::to_lowercase` also implements.
//! - `java.util.regex` patterns are translated to the `regex` crate's syntax by
//!   [`java_regex`], for a subset whose meaning is the same in both (ASCII `\s \d \w`, classes,
//!   groups, alternation, greedy and lazy quantifiers); anything else is refused at load. The
//!   spark-ml importer checks patterns with this same function (`keel_runtime::java_regex`),
//!   so the importer and the op cannot disagree on what is supported.

use crate::error::Error;
use crate::op::BuildCtx;

/// Java's `String.length()`: UTF-16 code units.
#[inline]
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// Java's `String.split(regex)` (limit 0) for a pattern that cannot match the empty string
/// (see [`java_regex`]): the pieces between matches, the whole string when nothing matches,
/// trailing empty pieces removed.
pub fn java_split<'a>(re: &regex::Regex, s: &'a str, out: &mut Vec<&'a str>) {
    out.clear();
    let mut index = 0;
    let mut found = false;
    for m in re.find_iter(s) {
        out.push(&s[index..m.start()]);
        index = m.end();
        found = true;
    }
    if !found {
        out.push(s);
        return;
    }
    out.push(&s[index..]);
    while out.last().is_some_and(|p| p.is_empty()) {
        out.pop();
    }
}

/// Java's `\s`, `\d`, `\w` (without `UNICODE_CHARACTER_CLASS`: ASCII only), as the members of
/// a `regex` class.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    Some(match c {
        's' => (r"\t\n\x0B\x0C\r ", false),
        'S' => (r"\t\n\x0B\x0C\r ", true),
        'd' => ("0-9", false),
        'D' => ("0-9", true),
        'w' => ("0-9A-Za-z_", false),
        'W' => ("0-9A-Za-z_", true),
        _ => return None,
    })
}

/// A single character escaped for the `regex` crate (inside or outside a class).
fn lit(c: char, out: &mut String) {
    if c.is_ascii_punctuation() {
        out.push('\\');
    }
    out.push(c);
}

/// Reads the character of a Java escape `\c` that denotes one character (`\t`, `\n`, `\r`,
/// `\f`, `\xhh`, `\uhhhh`, or escaped punctuation); `None` for anything else.
fn escaped_char(c: char, it: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<char> {
    let hex = |it: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| {
        let mut v = 0u32;
        for _ in 0..n {
            v = v * 16 + it.next()?.to_digit(16)?;
        }
        char::from_u32(v)
    };
    match c {
        't' => Some('\t'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        'f' => Some('\x0C'),
        'x' => hex(it, 2),
        'u' => hex(it, 4),
        c if c.is_ascii_punctuation() => Some(c),
        _ => None,
    }
}

/// Translates a `java.util.regex` pattern to the `regex` crate's syntax, for the subset where
/// both mean the same: literals, `.` (any character but Java's line terminators), the ASCII
/// classes `\s \S \d \D \w \W`, bracket classes with ranges and negation (no nesting or
/// intersection), `(...)`, `(?:...)`, `|`, `^` at the start, and the quantifiers `* + ? {n}
/// {n,} {n,m}`, greedy or lazy. Refused (as a message): anything else, e.g. `$` (Java also
/// matches before a final line terminator), `\b`, `\p{..}`, back references, lookaround,
/// inline flags, possessive quantifiers; and a pattern that can match the empty string
/// (Java and `regex` step past empty matches differently).
pub fn java_regex(java: &str) -> Result<regex::Regex, String> {
    let mut out = String::with_capacity(java.len() * 2);
    let mut it = java.chars().peekable();
    // Whether the previous item can take a quantifier (and whether it was a quantifier).
    let mut quantifiable = false;
    let mut after_quantifier = false;
    while let Some(c) = it.next() {
        let mut quantifier = false;
        match c {
            '\\' => {
                let e = it.next().ok_or("a trailing `\\`")?;
                if let Some((members, neg)) = perl_class(e) {
                    out.push('[');
                    if neg {
                        out.push('^');
                    }
                    out.push_str(members);
                    out.push(']');
                } else if let Some(ch) = escaped_char(e, &mut it) {
                    lit(ch, &mut out);
                } else {
                    return Err(format!("the escape `\\{e}` is not supported"));
                }
                quantifiable = true;
            }
            '.' => {
                out.push_str("[^\\n\\r\\x{85}\\x{2028}\\x{2029}]");
                quantifiable = true;
            }
            '(' => {
                if it.peek() == Some(&'?') {
                    it.next();
                    if it.next() != Some(':') {
                        return Err("only `(?:` groups are supported (no flags, lookaround or \
                                    named groups)"
                            .into());
                    }
                    out.push_str("(?:");
                } else {
                    out.push('(');
                }
                quantifiable = false;
            }
            ')' => {
                out.push(')');
                quantifiable = true;
            }
            '|' => {
                out.push('|');
                quantifiable = false;
            }
            '^' if out.is_empty() => {
                out.push('^');
                quantifiable = false;
            }
            '^' => return Err("`^` is supported only at the start of the pattern".into()),
            '*' | '+' | '?' | '{' => {
                if after_quantifier && c == '?' {
                    // Lazy: the same in both.
                    out.push('?');
                    after_quantifier = false;
                    quantifiable = false;
                    continue;
                }
                if after_quantifier && c == '+' {
                    return Err("possessive quantifiers are not supported".into());
                }
                if !quantifiable {
                    return Err(format!("a dangling quantifier `{c}`"));
                }
                out.push(c);
                if c == '{' {
                    let mut body = String::new();
                    loop {
                        match it.next() {
                            Some('}') => break,
                            Some(d) if d.is_ascii_digit() || d == ',' => body.push(d),
                            _ => return Err("a malformed `{n,m}` quantifier".into()),
                        }
                    }
                    let ok = match body.split_once(',') {
                        None => !body.is_empty(),
                        Some((a, b)) => !a.is_empty() && !b.contains(','),
                    };
                    if !ok {
                        return Err(format!("a malformed quantifier `{{{body}}}`"));
                    }
                    out.push_str(&body);
                    out.push('}');
                }
                quantifier = true;
                quantifiable = false;
            }
            '[' => {
                class(&mut it, &mut out)?;
                quantifiable = true;
            }
            '$' => {
                return Err(
                    "`$` is not supported (Java's also matches before a final line \
                               terminator)"
                        .into(),
                );
            }
            c => {
                lit(c, &mut out);
                quantifiable = true;
            }
        }
        after_quantifier = quantifier;
    }
    let whole = regex::Regex::new(&format!("^(?:{out})$")).map_err(|e| e.to_string())?;
    if whole.is_match("") {
        return Err("the pattern can match the empty string".into());
    }
    regex::Regex::new(&out).map_err(|e| e.to_string())
}

/// A Java bracket class (after its `[`), appended to `out` in `regex` syntax.
fn class(
    it: &mut std::iter::Peekable<std::str::Chars<'_>>,
    out: &mut String,
) -> Result<(), String> {
    out.push('[');
    if it.peek() == Some(&'^') {
        it.next();
        out.push('^');
    }
    let mut first = true;
    // The last single character, which a following `-x` turns into a range.
    let mut prev: Option<char> = None;
    loop {
        let c = it.next().ok_or("an unclosed `[`")?;
        match c {
            ']' if !first => break,
            ']' => return Err("a `]` first in a class is not supported".into()),
            '[' => return Err("nested classes are not supported".into()),
            '&' if it.peek() == Some(&'&') => {
                return Err("class intersections (`&&`) are not supported".into());
            }
            '\\' => {
                let e = it.next().ok_or("a trailing `\\`")?;
                if let Some((members, neg)) = perl_class(e) {
                    if neg {
                        return Err(format!("`\\{e}` inside a class is not supported"));
                    }
                    out.push_str(members);
                    prev = None;
                } else if let Some(ch) = escaped_char(e, it) {
                    lit(ch, out);
                    prev = Some(ch);
                } else {
                    return Err(format!("the escape `\\{e}` is not supported"));
                }
            }
            '-' if prev.is_some() && it.peek().is_some_and(|n| *n != ']') => {
                let mut hi = it.next().ok_or("an unclosed `[`")?;
                if hi == '\\' {
                    let e = it.next().ok_or("a trailing `\\`")?;
                    hi =
                        escaped_char(e, it).ok_or_else(|| format!("`\\{e}` cannot end a range"))?;
                } else if hi == '[' {
                    return Err("nested classes are not supported".into());
                }
                if prev.is_some_and(|lo| lo > hi) {
                    return Err("a class range out of order".into());
                }
                out.push('-');
                lit(hi, out);
                prev = None;
            }
            c => {
                lit(c, out);
                prev = Some(c);
            }
        }
        first = false;
    }
    out.push(']');
    Ok(())
}

/// Java's `toLowerCase(locale)` for the locales the exporter accepts (all but Turkish,
/// Azerbaijani and Lithuanian, whose special casings are refused at load).
#[inline]
pub fn java_lower(s: &str) -> String {
    s.to_lowercase()
}

/// Refuses the locales whose Java lowercase mapping differs from Unicode's default one.
pub fn check_locale(ctx: &BuildCtx<'_>, locale: &str) -> Result<(), Error> {
    let lang = locale
        .split(['_', '-'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(lang.as_str(), "tr" | "az" | "lt") {
        return Err(ctx.err(format!(
            "locale `{locale}` has special lowercase rules that keel does not reproduce"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_keeps_leading_and_inner_empties_but_not_trailing() {
        let re = java_regex(r"\s").unwrap();
        let mut out = Vec::new();
        java_split(&re, " a  b ", &mut out);
        assert_eq!(out, ["", "a", "", "b"]);
        java_split(&re, "", &mut out);
        assert_eq!(out, [""]);
        java_split(&re, "   ", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn java_classes_are_ascii() {
        let re = java_regex(r"\w+").unwrap();
        let found: Vec<_> = re.find_iter("héllo wörld").map(|m| m.as_str()).collect();
        assert_eq!(found, ["h", "llo", "w", "rld"]);
        let re = java_regex(r"[^a-z\d]+").unwrap();
        assert!(re.is_match("!"));
        assert!(!re.is_match("a1"));
    }

    #[test]
    fn unsupported_java_syntax_is_refused() {
        for p in [
            r"\b", "a$", "(?i)a", "(?=a)", "a++", r"\p{L}", "[a[b]]", "[a&&b]", "a*", "x|",
        ] {
            assert!(java_regex(p).is_err(), "{p}");
        }
        for p in [r"\s+", r"\W+", "[,.!?]", "a{2,3}?", r"(?:ab)+|\.", "^x"] {
            assert!(java_regex(p).is_ok(), "{p}");
        }
    }
}
