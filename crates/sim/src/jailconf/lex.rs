//! The jail.conf lexer: `jaillex.l` of freebsd-src 14.x `usr.sbin/jail/`, its token classes,
//! escapes, complaints and line counting. The grammar (`parse`) reads its tokens on demand.

/// A token of jaillex.l. `cont` is the lexer's `instr`: the piece follows the previous one
/// with no blank between (`STR1`/`VAR1`), so the grammar glues it to the same string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Tok {
    PlEq,
    /// `, ; = { }` and any character no other rule takes (a syntax error in the grammar).
    Ch(u8),
    Str {
        s: Vec<u8>,
        cont: bool,
    },
    Var {
        name: String,
        cont: bool,
    },
}

/// A token with the text it was read from (what `yyerror` prints) and `yylineno` after it.
#[derive(Clone, Debug)]
pub(super) struct Lexed {
    pub(super) tok: Tok,
    pub(super) text: String,
    pub(super) line: usize,
}

/// What one scanning step of [`Lexer::next`] found: a token, nothing yet (blanks, a comment,
/// a complaint, a change of start condition), or the end of input.
enum Step {
    Token(Lexed),
    Again,
    End,
}

impl From<Option<Lexed>> for Step {
    /// A rule that returns a token or, after a complaint, scans on.
    fn from(t: Option<Lexed>) -> Self {
        t.map_or(Step::Again, Step::Token)
    }
}

/// `jaillex.l`'s scanner over one file.
pub(super) struct Lexer<'a> {
    pub(super) s: &'a [u8],
    pub(super) i: usize,
    /// flex's `yylineno`: 1 + the newlines consumed so far.
    pub(super) line: usize,
    /// `instr`: a string is being built (no blank since the last piece).
    pub(super) instr: bool,
    /// The `DQ` start condition: inside a double-quoted string, after a variable.
    pub(super) dq: bool,
    pub(super) file: String,
    /// Complaints so far, as `warnx` prints them (without `jail: `).
    pub(super) errors: Vec<String>,
}

/// The unquoted-string characters of jaillex.l's atomic-string rule.
fn atomic(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"_!%&()-.:<>?@[]^`|~".contains(&c)
}

fn is_octal(c: u8) -> bool {
    (b'0'..=b'7').contains(&c)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// jaillex.l's `text2lval`: copy `t` handling backslash escapes; with `tovar`, stop at the
/// first unescaped `$` and return its offset. A NUL byte (from `\0`, `\x00`, or the file)
/// ends the value there, as the C string it becomes does.
fn text2lval(t: &[u8], tovar: bool) -> (Vec<u8>, Option<usize>) {
    let mut d = vec![];
    let mut k = 0;
    let mut stop = None;
    while k < t.len() {
        let c = t[k];
        if c != b'\\' {
            if tovar && c == b'$' {
                stop = Some(k);
                break;
            }
            d.push(c);
            k += 1;
            continue;
        }
        k += 1;
        let Some(&e) = t.get(k) else {
            // A lone backslash at the very end reads the terminating NUL.
            d.push(0);
            break;
        };
        k += 1;
        if is_octal(e) {
            let mut v = e - b'0';
            for _ in 0..2 {
                match t.get(k) {
                    Some(&o) if is_octal(o) => {
                        v = v.wrapping_mul(8).wrapping_add(o - b'0');
                        k += 1;
                    }
                    _ => break,
                }
            }
            d.push(v);
            continue;
        }
        match e {
            b'a' => d.push(7),
            b'b' => d.push(8),
            b'f' => d.push(12),
            b'n' => d.push(b'\n'),
            b'r' => d.push(b'\r'),
            b't' => d.push(b'\t'),
            b'v' => d.push(11),
            b'\n' => {}
            b'x' => {
                // `\x` with no hex digit is a NUL byte, as in text2lval.
                let mut v = 0u8;
                for _ in 0..2 {
                    match t.get(k).and_then(|&h| hex(h)) {
                        Some(h) => {
                            v = v.wrapping_mul(16).wrapping_add(h);
                            k += 1;
                        }
                        None => break,
                    }
                }
                d.push(v);
            }
            other => d.push(other),
        }
    }
    if let Some(z) = d.iter().position(|&b| b == 0) {
        d.truncate(z);
    }
    (d, stop)
}

impl Lexer<'_> {
    fn newlines(&mut self, from: usize, to: usize) {
        self.line += self.s[from..to].iter().filter(|&&c| c == b'\n').count();
    }
    fn complain(&mut self, what: &str) {
        self.errors
            .push(format!("{} line {}: {what}", self.file, self.line));
    }
    fn text(&self, from: usize, to: usize) -> String {
        String::from_utf8_lossy(&self.s[from..to]).into_owned()
    }
    fn piece(&mut self, s: Vec<u8>, from: usize, to: usize) -> Lexed {
        self.newlines(from, to);
        let cont = std::mem::replace(&mut self.instr, true);
        Lexed {
            tok: Tok::Str { s, cont },
            text: self.text(from, to),
            line: self.line,
        }
    }

    /// The end of a complete quoted string starting at `from` (the quote), after the closing
    /// quote: `q([^q\\]|\\(.|\n))*q`.
    fn quoted_end(&self, from: usize, q: u8) -> Option<usize> {
        let mut k = from + 1;
        while k < self.s.len() {
            match self.s[k] {
                b'\\' if k + 1 < self.s.len() => k += 2,
                b'\\' => return None,
                c if c == q => return Some(k + 1),
                _ => k += 1,
            }
        }
        None
    }

    /// The end of the unterminated form `q([^\nq\\]|\\.)*` starting at `from`.
    fn partial_end(&self, from: usize, stop: &[u8]) -> usize {
        let mut k = from + 1;
        while k < self.s.len() {
            match self.s[k] {
                b'\\' if self.s.get(k + 1).is_some_and(|&c| c != b'\n') => k += 2,
                c if c == b'\\' || stop.contains(&c) => break,
                _ => k += 1,
            }
        }
        k
    }

    /// A `${...}` variable at `from`: `Ok(end)` when complete, `Err(end)` of the unterminated
    /// form. Inside a double-quoted string a `"` also stops it.
    fn braced_var(&self, from: usize) -> Result<usize, usize> {
        let stops: &[u8] = if self.dq { b"\n{}\"" } else { b"\n{}" };
        let mut k = from + 2;
        while k < self.s.len() {
            match self.s[k] {
                b'\\' if k + 1 < self.s.len() => k += 2,
                b'}' => return Ok(k + 1),
                c if c == b'\\' || stops.contains(&c) => break,
                _ => k += 1,
            }
        }
        let mut k = from + 2;
        while k < self.s.len() {
            match self.s[k] {
                b'\\' if self.s.get(k + 1).is_some_and(|&c| c != b'\n') => k += 2,
                c if c == b'\\' || stops.contains(&c) || c == b'}' => break,
                _ => k += 1,
            }
        }
        Err(k)
    }

    /// `$name`, `${name}` or a lone `$` at `self.i`; `None` after a complaint.
    fn dollar(&mut self) -> Option<Lexed> {
        let from = self.i;
        let s = self.s;
        if s.get(from + 1) == Some(&b'{') {
            return match self.braced_var(from) {
                Ok(end) => {
                    let (name, _) = text2lval(&s[from + 2..end - 1], false);
                    Some(self.var(name, from, end))
                }
                Err(end) => {
                    self.i = end;
                    self.complain("unterminated variable");
                    None
                }
            };
        }
        if s.get(from + 1)
            .is_some_and(|&c| c.is_ascii_alphabetic() || c == b'_')
        {
            let mut end = from + 2;
            while s
                .get(end)
                .is_some_and(|&c| c.is_ascii_alphanumeric() || c == b'_')
            {
                end += 1;
            }
            return Some(self.var(s[from + 1..end].to_vec(), from, end));
        }
        self.i = from + 1;
        Some(self.piece(b"$".to_vec(), from, from + 1))
    }

    fn var(&mut self, name: Vec<u8>, from: usize, to: usize) -> Lexed {
        self.i = to;
        self.newlines(from, to);
        let cont = std::mem::replace(&mut self.instr, true);
        Lexed {
            tok: Tok::Var {
                name: String::from_utf8_lossy(&name).into_owned(),
                cont,
            },
            text: self.text(from, to),
            line: self.line,
        }
    }

    /// A backslash escape as one piece: `\\(.|\n|[0-7]{1,3}|x[0-9A-Fa-f]{1,2})`.
    fn escape(&mut self) -> Lexed {
        let from = self.i;
        let s = self.s;
        let end = match s.get(from + 1) {
            None => from + 1,
            Some(&c) if is_octal(c) => {
                let mut e = from + 2;
                while e < from + 4 && s.get(e).is_some_and(|&c| is_octal(c)) {
                    e += 1;
                }
                e
            }
            Some(b'x') => {
                let mut e = from + 2;
                while e < from + 4 && s.get(e).and_then(|&c| hex(c)).is_some() {
                    e += 1;
                }
                e
            }
            Some(_) => from + 2,
        };
        self.i = end;
        let (v, _) = text2lval(&s[from..end], false);
        self.piece(v, from, end)
    }

    /// The rest of a double-quoted string from `from` (its opening quote when `skip`),
    /// stopping before a variable (then the `DQ` condition takes the rest).
    fn dq_string(&mut self, from: usize, end: usize, skip: usize) -> Lexed {
        let (v, stop) = text2lval(&self.s[from + skip..end - 1], true);
        match stop {
            Some(at) => {
                self.dq = true;
                self.i = from + skip + at;
            }
            None => {
                self.dq = false;
                self.i = end;
            }
        }
        let to = self.i;
        self.piece(v, from, to)
    }

    /// The next token, or `None` at the end of the file (or at a NUL byte outside quotes,
    /// which flex hands to yacc as token 0, the end of input).
    pub(super) fn next(&mut self) -> Option<Lexed> {
        loop {
            let c = *self.s.get(self.i)?;
            let step = if self.dq {
                self.in_dq(c)
            } else {
                self.outside(c)
            };
            match step {
                Step::Token(t) => return Some(t),
                Step::Again => continue,
                Step::End => return None,
            }
        }
    }

    /// One scanning step in the `DQ` start condition (inside a double-quoted string, after a
    /// variable).
    fn in_dq(&mut self, c: u8) -> Step {
        let s = self.s;
        let from = self.i;
        match c {
            b'"' => {
                self.dq = false;
                self.i += 1;
                Step::Again
            }
            b'$' => Step::from(self.dollar()),
            b'\\' => Step::Token(self.escape()),
            _ => {
                // `[^"$\\]([^"\\]|\\(.|\n))*"`: the rest up to the closing quote.
                let mut k = from;
                let mut end = None;
                while k < s.len() {
                    match s[k] {
                        b'\\' if k + 1 < s.len() => k += 2,
                        b'\\' => break,
                        b'"' => {
                            end = Some(k + 1);
                            break;
                        }
                        _ => k += 1,
                    }
                }
                match end {
                    Some(end) => Step::Token(self.dq_string(from, end, 0)),
                    // The catch-all rule: leave DQ and scan again.
                    None => {
                        self.dq = false;
                        Step::Again
                    }
                }
            }
        }
    }

    /// One scanning step in the initial start condition.
    fn outside(&mut self, c: u8) -> Step {
        let s = self.s;
        let from = self.i;
        match c {
            b' ' | b'\t' | b'\r' | b'\n' => self.blanks(),
            0 => return Step::End,
            b'#' => self.line_comment(),
            b'/' if s.get(from + 1) == Some(&b'/') => self.line_comment(),
            b'/' if s.get(from + 1) == Some(&b'*') => self.block_comment(),
            b'+' if s.get(from + 1) == Some(&b'=') => {
                self.i += 2;
                self.instr = false;
                return Step::Token(Lexed {
                    tok: Tok::PlEq,
                    text: "+=".into(),
                    line: self.line,
                });
            }
            b',' | b';' | b'=' | b'{' | b'}' => {
                self.i += 1;
                self.instr = false;
                return Step::Token(Lexed {
                    tok: Tok::Ch(c),
                    text: (c as char).to_string(),
                    line: self.line,
                });
            }
            c if atomic(c) => {
                let mut end = from;
                while s.get(end).is_some_and(|&c| atomic(c)) {
                    end += 1;
                }
                self.i = end;
                return Step::Token(self.piece(s[from..end].to_vec(), from, end));
            }
            b'\\' => return Step::Token(self.escape()),
            b'$' => return Step::from(self.dollar()),
            b'*' | b'+' | b'/' => {
                self.i += 1;
                return Step::Token(self.piece(vec![c], from, from + 1));
            }
            b'\'' | b'"' => return self.quoted(c),
            _ => {
                // Any other character is a token of its own, which no grammar rule takes.
                self.i += 1;
                return Step::Token(Lexed {
                    tok: Tok::Ch(c),
                    text: String::from_utf8_lossy(&[c]).into_owned(),
                    line: self.line,
                });
            }
        }
        Step::Again
    }

    /// A run of blanks: they end the string being built.
    fn blanks(&mut self) {
        let from = self.i;
        while self
            .s
            .get(self.i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        {
            self.i += 1;
        }
        self.newlines(from, self.i);
        self.instr = false;
    }

    /// A `/* ... */` comment at `self.i`, or the complaint about an unterminated one.
    fn block_comment(&mut self) {
        let s = self.s;
        let from = self.i;
        let end = s[from + 2..]
            .windows(2)
            .position(|w| w == b"*/")
            .map(|p| from + 2 + p + 2);
        match end {
            Some(end) => {
                self.i = end;
                self.newlines(from, end);
                self.instr = false;
            }
            None => {
                // The unterminated form runs to the end of the file; flex has
                // counted its lines before the complaint names one.
                self.i = s.len();
                self.newlines(from, s.len());
                self.complain("unterminated comment");
            }
        }
    }

    /// A single- or double-quoted string (quote `q`) at `self.i`, or the complaint about an
    /// unterminated one.
    fn quoted(&mut self, q: u8) -> Step {
        let from = self.i;
        match (q, self.quoted_end(from, q)) {
            (b'\'', Some(end)) => {
                self.i = end;
                let (v, _) = text2lval(&self.s[from + 1..end - 1], false);
                Step::Token(self.piece(v, from, end))
            }
            (_, Some(end)) => Step::Token(self.dq_string(from, end, 1)),
            (_, None) => {
                let stop: &[u8] = if q == b'\'' { b"\n'" } else { b"\n\"" };
                self.i = self.partial_end(from, stop);
                self.complain("unterminated string");
                Step::Again
            }
        }
    }

    fn line_comment(&mut self) {
        while self.s.get(self.i).is_some_and(|&c| c != b'\n') {
            self.i += 1;
        }
        self.instr = false;
    }
}
