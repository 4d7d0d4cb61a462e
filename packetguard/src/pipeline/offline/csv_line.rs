//! Splitting one CSV line into fields: commas, double quotes around fields, `""` for a
//! quote inside one (what Wireshark and `collect` write). Fields are borrowed from the line
//! when they hold no escaped quote.

use std::borrow::Cow;

/// The fields of `line` (without its line ending); `None` for an unterminated quote.
pub fn fields(line: &str) -> Option<Vec<Cow<'_, str>>> {
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                if c != '"' {
                    value.push(c);
                } else if quoted[i + 1..].starts_with('"') {
                    value.push('"');
                    chars.next();
                } else {
                    break i + 1;
                }
            };
            out.push(if value.len() == end - 1 {
                Cow::Borrowed(&quoted[..end - 1])
            } else {
                Cow::Owned(value)
            });
            rest = &quoted[end..];
            match rest.strip_prefix(',') {
                Some(r) => rest = r,
                None => return rest.is_empty().then_some(out),
            }
        } else {
            match rest.find(',') {
                Some(i) => {
                    out.push(Cow::Borrowed(&rest[..i]));
                    rest = &rest[i + 1..];
                }
                None => {
                    out.push(Cow::Borrowed(rest));
                    return Some(out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_plain_and_escaped_fields() {
        let f = fields(r#""1","0.000","a, b","say ""hi""",7"#).unwrap();
        assert_eq!(f, ["1", "0.000", "a, b", "say \"hi\"", "7"]);
        assert_eq!(fields("x,,y").unwrap(), ["x", "", "y"]);
        assert_eq!(fields(r#""open"#), None);
        assert_eq!(fields(r#""a"b"#), None);
    }
}
