//! A small CSV reader for flow and host feature files.
//!
//! One record per line (LF or CRLF), comma separated. Fields may be quoted with `"`, with
//! `""` for a literal quote and commas allowed inside; a quoted field cannot span lines (the
//! files this reads are numeric and written by `packetguard collect`). Blank lines are not
//! records. The reader keeps the raw line so `score` can echo it unchanged, and reuses its
//! buffers so reading allocates nothing per row once warmed up.

use std::io::{self, BufRead};

/// Reads records line by line, remembering line numbers for error reports.
pub struct CsvReader<R> {
    input: R,
    line: String,
    line_no: usize,
    fields: Vec<String>,
    n_fields: usize,
}

impl<R: BufRead> CsvReader<R> {
    pub fn new(input: R) -> Self {
        CsvReader {
            input,
            line: String::new(),
            line_no: 0,
            fields: Vec::new(),
            n_fields: 0,
        }
    }

    /// Advances to the next non-blank line and splits it; `false` at end of input.
    pub fn next_record(&mut self) -> io::Result<bool> {
        loop {
            self.line.clear();
            if self.input.read_line(&mut self.line)? == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            let trimmed = self.line.trim_end_matches(['\n', '\r']).len();
            self.line.truncate(trimmed);
            if !self.line.trim().is_empty() {
                self.n_fields = split_into(&self.line, &mut self.fields);
                return Ok(true);
            }
        }
    }

    /// The current line as read, without its line ending.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// 1-based number of the current line in the input.
    pub fn line_no(&self) -> usize {
        self.line_no
    }

    /// Fields of the current record.
    pub fn fields(&self) -> &[String] {
        &self.fields[..self.n_fields]
    }
}

/// Splits `line` into `out` (reusing its strings) and returns the field count.
fn split_into(line: &str, out: &mut Vec<String>) -> usize {
    let mut n = 0;
    let field = |out: &mut Vec<String>, n: &mut usize| -> usize {
        if *n == out.len() {
            out.push(String::new());
        }
        out[*n].clear();
        *n += 1;
        *n - 1
    };
    let mut i = field(out, &mut n);
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    out[i].push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                i = field(out, &mut n);
                at_start = true;
                continue;
            }
            _ => out[i].push(c),
        }
        at_start = false;
    }
    n
}

/// Splits one line into owned fields (for headers and tests).
pub fn split_line(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let n = split_into(line, &mut out);
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_plain_and_quoted_fields() {
        assert_eq!(split_line("a,b,,c"), ["a", "b", "", "c"]);
        assert_eq!(
            split_line(r#""x,y",2,"say ""hi""""#),
            ["x,y", "2", r#"say "hi""#]
        );
        assert_eq!(split_line(""), [""]);
        assert_eq!(split_line("1,"), ["1", ""]);
    }

    #[test]
    fn reads_records_with_line_numbers() {
        let data = "h1,h2\r\n1,2\n\n3,4\n";
        let mut r = CsvReader::new(data.as_bytes());
        assert!(r.next_record().unwrap());
        assert_eq!(r.fields(), ["h1", "h2"]);
        assert!(r.next_record().unwrap());
        assert_eq!((r.line(), r.line_no()), ("1,2", 2));
        assert!(r.next_record().unwrap());
        assert_eq!(r.line_no(), 4);
        assert_eq!(r.fields(), ["3", "4"]);
        assert!(!r.next_record().unwrap());
    }
}
